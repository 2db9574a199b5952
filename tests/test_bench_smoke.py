"""Smoke test of the benchmark generator: tiny captures read back independently of our reader.

The bench's numbers are only meaningful if its captures are what they claim to be, so this
reads them with scapy's RawPcapReader (raw bytes, no dissection) and checks every invariant by
hand: valid IPv4 checksums, fragments that reassemble, a correct Content-Length on every SIP
message (RFC 3261 §20.14), RTP sequence/timestamp continuity (RFC 3550 §5.1), ordered time.
No timing is asserted anywhere.
"""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.generate import (
    RTP_SAMPLES,
    GeneratedCapture,
    StormParams,
    TrunkParams,
    generate_storm,
    generate_trunk,
)

scapy_utils = pytest.importorskip("scapy.utils")

SIP_START = (b"INVITE ", b"ACK ", b"BYE ", b"REGISTER ", b"CANCEL ", b"OPTIONS ", b"SIP/2.0 ")


@dataclass
class ReadBack:
    """What an independent pass over a capture found."""

    packets: int = 0
    times: list[float] = field(default_factory=list)
    sip_packets: int = 0
    sip_messages: list[bytes] = field(default_factory=list)
    fragment_packets: int = 0
    reassembled: int = 0
    rtp_packets: int = 0
    rtp_streams: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    bad_checksums: int = 0


def _ipv4_checksum_ok(header: bytes) -> bool:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def _read_back(path: Path) -> ReadBack:
    result = ReadBack()
    pending: dict[tuple[bytes, bytes, int], dict[int, bytes]] = defaultdict(dict)
    last_fragment_seen: dict[tuple[bytes, bytes, int], int] = {}
    streams: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for frame, meta in scapy_utils.RawPcapReader(str(path)):
        result.packets += 1
        result.times.append(meta.sec + meta.usec / 1e6)
        assert frame[12:14] == b"\x08\x00", "every frame is Ethernet/IPv4"
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if not _ipv4_checksum_ok(ip[:ihl]):
            result.bad_checksums += 1
        total_len, ident, flags_frag = struct.unpack("!HHH", ip[2:8])
        assert ip[9] == 17, "every packet is UDP"
        assert total_len == len(ip), "IPv4 total length matches the captured bytes"
        more, offset = bool(flags_frag & 0x2000), (flags_frag & 0x1FFF) * 8
        body = ip[ihl:total_len]
        if more or offset:
            result.fragment_packets += 1
            result.sip_packets += 1
            key = (ip[12:16], ip[16:20], ident)
            pending[key][offset] = body
            if not more:
                last_fragment_seen[key] = offset + len(body)
            if key in last_fragment_seen:
                parts = pending[key]
                datagram = b"".join(parts[o] for o in sorted(parts))
                if len(datagram) == last_fragment_seen[key]:
                    udp_len = struct.unpack("!H", datagram[4:6])[0]
                    assert udp_len == len(datagram), "reassembled UDP length matches"
                    result.sip_messages.append(datagram[8:])
                    result.reassembled += 1
                    del pending[key], last_fragment_seen[key]
            continue
        _, _, udp_len = struct.unpack("!HHH", body[:6])
        assert udp_len == len(body)
        payload = body[8:]
        if payload.startswith(SIP_START):
            result.sip_packets += 1
            result.sip_messages.append(payload)
        else:
            assert payload[0] == 0x80, "RTP version 2, no padding/extension/CSRC"
            seq, timestamp, ssrc = struct.unpack("!HII", payload[2:12])
            assert len(payload) == 12 + RTP_SAMPLES, "G.711 20 ms: 172-byte UDP payload"
            streams[ssrc].append((seq, timestamp))
            result.rtp_packets += 1
    assert not pending, "every fragmented datagram completes inside the capture"
    result.rtp_streams = dict(streams)
    return result


def _content_length_ok(message: bytes) -> bool:
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            return int(value.strip()) == len(body)
    return False


@pytest.fixture(scope="module")
def trunk(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCapture:
    return generate_trunk(TrunkParams(packets=2_000), tmp_path_factory.mktemp("bench"))


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCapture:
    return generate_storm(StormParams(messages=500), tmp_path_factory.mktemp("bench"))


def test_trunk_packets_and_sip_share(trunk: GeneratedCapture) -> None:
    seen = _read_back(trunk.path)
    assert seen.packets == trunk.packets == 2_000
    assert seen.bad_checksums == 0
    assert seen.sip_packets == trunk.sip_packets
    assert len(seen.sip_messages) == trunk.sip_messages
    # ~2 % SIP by design; a 2 k-packet capture holds only ~45 SIP packets, hence the band.
    assert 0.01 <= seen.sip_packets / seen.packets <= 0.04
    assert seen.rtp_packets == seen.packets - seen.sip_packets
    assert seen.times == sorted(seen.times), "timestamps never go backwards"


def test_trunk_has_fragmented_invites_that_reassemble(trunk: GeneratedCapture) -> None:
    seen = _read_back(trunk.path)
    assert trunk.fragmented_messages >= 1
    assert seen.reassembled == trunk.fragmented_messages
    assert seen.fragment_packets >= 2 * seen.reassembled
    big = [m for m in seen.sip_messages if len(m) > 1500]
    assert big and all(m.startswith(b"INVITE ") for m in big)
    assert any(b"\r\nProxy-Authorization: Digest " in m for m in big)


def test_trunk_sip_is_realistic(trunk: GeneratedCapture) -> None:
    seen = _read_back(trunk.path)
    assert all(_content_length_ok(m) for m in seen.sip_messages)
    starts = {
        m.split(b"\r\n", 1)[0].split(b" ")[0 if not m.startswith(b"SIP") else 1]
        for m in seen.sip_messages
    }
    assert {b"INVITE", b"ACK", b"407", b"REGISTER", b"401"} <= starts
    with_sdp = [m for m in seen.sip_messages if b"\r\nContent-Type: application/sdp" in m]
    assert with_sdp
    assert all(len(m) >= 600 for m in with_sdp)
    assert all(len(m) <= 1100 for m in with_sdp if len(m) <= 1500)
    # The looping call retries with the same nonce and is challenged again (wrong password).
    loop_retries = [
        m for m in seen.sip_messages if m.startswith(b"INVITE ") and b"nc=00000002" in m
    ]
    assert loop_retries


def test_trunk_rtp_streams_are_continuous(trunk: GeneratedCapture) -> None:
    seen = _read_back(trunk.path)
    assert len(seen.rtp_streams) >= 4, "several concurrent streams"
    for packets in seen.rtp_streams.values():
        for (seq_a, ts_a), (seq_b, ts_b) in itertools.pairwise(packets):
            assert seq_b == (seq_a + 1) & 0xFFFF
            assert ts_b == (ts_a + RTP_SAMPLES) & 0xFFFFFFFF


def test_storm_is_all_sip_with_many_call_ids(storm: GeneratedCapture) -> None:
    seen = _read_back(storm.path)
    assert seen.packets == storm.packets == 500
    assert seen.sip_packets == 500 and seen.rtp_packets == 0
    assert seen.bad_checksums == 0
    assert all(_content_length_ok(m) for m in seen.sip_messages)
    call_ids = set()
    for message in seen.sip_messages:
        for line in message.split(b"\r\n"):
            if line.startswith(b"Call-ID: "):
                call_ids.add(line[9:])
    assert len(call_ids) == storm.call_ids
    assert 30 <= len(call_ids) <= 80, "about one Call-ID per 10 messages"
    challenges = sum(m.startswith((b"SIP/2.0 401", b"SIP/2.0 407")) for m in seen.sip_messages)
    assert challenges >= len(seen.sip_messages) // 3


def test_generation_is_deterministic_and_cached(tmp_path: Path) -> None:
    first = generate_trunk(TrunkParams(packets=1_000), tmp_path / "a")
    second = generate_trunk(TrunkParams(packets=1_000), tmp_path / "b")
    assert first.path.name == second.path.name
    assert first.path.read_bytes() == second.path.read_bytes()
    mtime = first.path.stat().st_mtime_ns
    again = generate_trunk(TrunkParams(packets=1_000), tmp_path / "a")
    assert again == first and again.path.stat().st_mtime_ns == mtime
    other = generate_trunk(TrunkParams(packets=1_000, seed=7), tmp_path / "a")
    assert other.path != first.path


@pytest.mark.tshark
def test_tshark_sees_the_same_sip(trunk: GeneratedCapture, storm: GeneratedCapture) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed (make tshark)")
    for capture in (trunk, storm):
        out = subprocess.run(
            [
                tshark,
                "-n",
                "-r",
                str(capture.path),
                "-Y",
                "sip",
                "-T",
                "fields",
                "-e",
                "frame.number",
            ],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        assert len(out.splitlines()) == capture.sip_messages


def test_exhaustion_workload_measures_every_capture(tmp_path: Path) -> None:
    """``bench.run --exhaustion`` builds each capture and measures the whole tool on it: every
    capture gets a peak RSS and a verdict (tiny sizes here)."""
    from bench.run import EXHAUSTION_CAPTURES, exhaustion_verdicts, measure_exhaustion

    rows = measure_exhaustion(tmp_path, divisor=1000)
    assert [row["capture"] for row in rows] == [kind for kind, _, _ in EXHAUSTION_CAPTURES]
    for row in rows:
        assert row["unavailable"] is None, row
        assert row["peak_rss_mib"] > 0 and (tmp_path / row["path"]).stat().st_size > 0
    # Each verdict follows from its figure. (The figure itself is not asserted: a child
    # spawned from a large pytest process reports that process's resident size as its own
    # peak, since Linux carries the high-water mark across vfork and exec.)
    verdicts = exhaustion_verdicts(rows)
    for row, verdict in zip(rows, verdicts, strict=True):
        expected = "PASS" if row["peak_rss_mib"] < verdict["threshold"] else "MISS"
        assert verdict["status"] == expected and verdict["value"] == row["peak_rss_mib"]
        assert row["capture"] in verdict["target"]


def test_bench_writes_bytecode_even_when_the_environment_forbids_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Timed commands must not compile the package from source (an installed copy never does),
    # also on machines that set PYTHONDONTWRITEBYTECODE, as this sandbox and some CI images do.
    import importlib.util
    import os

    from bench.run import compile_bytecode
    from sipauth_analyzer import pipeline

    cached = Path(importlib.util.cache_from_source(pipeline.__file__))
    cached.unlink(missing_ok=True)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    compile_bytecode()
    assert cached.is_file()
    assert cached.stat().st_mtime >= os.stat(pipeline.__file__).st_mtime
