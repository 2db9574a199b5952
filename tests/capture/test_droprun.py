"""The reader's C drop path (capture/_droprun.c) against the Python loop it accelerates.

The Python fast loops of capture/reader.py are the reference: with ``native_drop_run`` set to
None they drop every record themselves. Every capture must read the same both ways (messages,
statistics, notes), and ``drop_run`` itself must agree with a model of the Python test on
hostile buffers, never reading past them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import TrunkParams, generate_trunk
from sipauth_analyzer.capture import reader
from sipauth_analyzer.capture.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
)
from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.primitives import NoteSink
from tests.conftest import (
    every_capture,
)

NATIVE = reader.native_drop_run
needs_native = pytest.mark.skipif(
    NATIVE is None,
    reason="capture/_droprun.c is not built in this install (no C compiler or Python headers "
    "when it was installed); the reader runs its Python loop alone",
)


def _read(paths: list[Path], drop_run: Any, monkeypatch: pytest.MonkeyPatch,
          options: CaptureOptions | None = None) -> tuple[Any, ...]:
    monkeypatch.setattr(reader, "native_drop_run", drop_run)
    notes, stats = NoteSink(), CaptureStats()
    messages = [
        (m.file, m.frame, m.frames, m.time, m.data, m.wire_size, m.src, m.dst, m.transport,
         m.ip_fragments, m.flags)
        for m in reader.read_messages([str(p) for p in paths], options or CaptureOptions(),
                                      notes, stats)
    ]
    return (
        messages,
        (stats.packets, stats.bytes, stats.sip_messages, stats.linktypes, stats.first_time,
         stats.last_time),
        [(n.kind, n.detail, n.frames, n.level) for n in notes.notes],
    )


def _counting(calls: list[int]) -> Callable[..., tuple[int, int, int, int, int]]:
    assert NATIVE is not None

    def drop_run(*args: Any) -> tuple[int, int, int, int, int]:
        result = NATIVE(*args)
        calls.append(result[1])
        return result

    return drop_run


# -- converted copies of the generated trunk: pcapng, big-endian pcap, nanosecond pcap ---------


def _records(data: bytes) -> tuple[bytes, list[tuple[int, int, bytes, int]]]:
    """A little-endian microsecond pcap's header and its records (sec, usec, data, wire)."""
    header, off, out = data[:24], 24, []
    while off + 16 <= len(data):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", data, off)
        out.append((sec, usec, data[off + 16 : off + 16 + caplen], wire))
        off += 16 + caplen
    return header, out


def _as_pcapng(data: bytes, big: bool) -> bytes:
    o = ">" if big else "<"
    _, records = _records(data)
    shb_body = struct.pack(f"{o}IHHq", 0x1A2B3C4D, 1, 0, -1)
    out = [struct.pack(f"{o}II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body
           + struct.pack(f"{o}I", 12 + len(shb_body))]
    idb_body = struct.pack(f"{o}HHI", LINKTYPE_ETHERNET, 0, 262144)
    out.append(struct.pack(f"{o}II", 1, 12 + len(idb_body)) + idb_body
               + struct.pack(f"{o}I", 12 + len(idb_body)))
    for sec, usec, packet, wire in records:
        stamp = sec * 1_000_000 + usec
        padded = packet + b"\0" * (-len(packet) % 4)
        total = 32 + len(padded)
        out.append(struct.pack(f"{o}IIIIIII", 6, total, 0, stamp >> 32, stamp & 0xFFFFFFFF,
                               len(packet), wire) + padded + struct.pack(f"{o}I", total))
    return b"".join(out)


def _as_big_endian_pcap(data: bytes) -> bytes:
    header, records = _records(data)
    fields = struct.unpack("<IHHiIII", header)
    out = [struct.pack(">IHHiIII", *fields)]
    for sec, usec, packet, wire in records:
        out.append(struct.pack(">IIII", sec, usec, len(packet), wire) + packet)
    return b"".join(out)


def _relinked(data: bytes, linktype: int, link_header: Callable[[bytes], bytes]) -> bytes:
    """The Ethernet pcap with every frame's 14-byte Ethernet header replaced."""
    header, records = _records(data)
    fields = list(struct.unpack("<IHHiIII", header))
    fields[6] = linktype
    out = [struct.pack("<IHHiIII", *fields)]
    for sec, usec, packet, wire in records:
        relinked = link_header(packet[12:14]) + packet[14:]
        out.append(struct.pack("<IIII", sec, usec, len(relinked), wire - len(packet)
                               + len(relinked)) + relinked)
    return b"".join(out)


def _sll(ethertype: bytes) -> bytes:  # Linux cooked capture v1: protocol at offset 14
    return struct.pack("!HHH8s", 0, 1, 6, bytes(8)) + ethertype


def _sll2(ethertype: bytes) -> bytes:  # v2: protocol first, 20 bytes in all
    return ethertype + struct.pack("!HIHBB8s", 0, 1, 1, 0, 6, bytes(8))


@pytest.fixture(scope="module")
def trunk_variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated trunk (mostly RTP, with fragmented INVITEs) in seven encodings: each byte
    order of pcap and pcapng, and the other link layers with a fast path."""
    directory = tmp_path_factory.mktemp("droprun")
    pcap = generate_trunk(TrunkParams(packets=20_000), directory).path
    data = pcap.read_bytes()
    variants = {"pcap": pcap}
    for name, content in (
        ("pcapng-le.pcapng", _as_pcapng(data, big=False)),
        ("pcapng-be.pcapng", _as_pcapng(data, big=True)),
        ("pcap-be.pcap", _as_big_endian_pcap(data)),
        ("raw-ip.pcap", _relinked(data, LINKTYPE_RAW, lambda ethertype: b"")),
        ("sll.pcap", _relinked(data, LINKTYPE_LINUX_SLL, _sll)),
        ("sll2.pcap", _relinked(data, LINKTYPE_LINUX_SLL2, _sll2)),
    ):
        path = directory / name
        path.write_bytes(content)
        variants[name] = path
    return variants


@needs_native
@pytest.mark.parametrize(
    "variant",
    ["pcap", "pcapng-le.pcapng", "pcapng-be.pcapng", "pcap-be.pcap", "raw-ip.pcap", "sll.pcap",
     "sll2.pcap"],
)
def test_a_trunk_reads_the_same_with_the_c_drop_path(
    variant: str, trunk_variants: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = trunk_variants[variant]
    python = _read([path], None, monkeypatch)
    calls: list[int] = []
    native = _read([path], _counting(calls), monkeypatch)
    assert native == python
    # The C path did the dropping: nearly every RTP record went through it, not the loop.
    assert python[1][0] == 20_000 and len(python[0]) > 300
    assert sum(calls) > 15_000, calls[:20]


@needs_native
@pytest.mark.parametrize("variant", ["pcap", "pcapng-be.pcapng"])
def test_runs_cut_by_the_read_buffer_read_the_same(
    variant: str, trunk_variants: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small, odd-sized read chunks cut records everywhere: drop_run must stop before a record
    the buffer does not hold whole, and the loop carry on after the refill."""
    path = trunk_variants[variant]
    for chunk in (4093, 65_537):
        options = CaptureOptions(read_chunk_size=chunk)
        calls: list[int] = []
        native = _read([path], _counting(calls), monkeypatch, options)
        assert native == _read([path], None, monkeypatch, options)
        assert native == _read([path], None, monkeypatch)  # and what one buffer gives
        assert sum(calls) > 15_000


@needs_native
def test_a_damaged_trunk_reads_the_same_with_the_c_drop_path(
    trunk_variants: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Seeded random byte damage over the whole file, read through small buffers."""
    import random

    data = trunk_variants["pcap"].read_bytes()
    rng = random.Random(20261207)
    options = CaptureOptions(read_chunk_size=32_771)
    for case in range(12):
        damaged = bytearray(data)
        for _ in range(40):
            damaged[rng.randrange(24, len(damaged))] = rng.randrange(256)
        path = tmp_path / f"damaged-{case}.pcap"
        path.write_bytes(bytes(damaged))
        assert _read([path], NATIVE, monkeypatch, options) == _read(
            [path], None, monkeypatch, options
        ), case


@needs_native
def test_every_capture_we_have_reads_the_same_with_the_c_drop_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = every_capture()
    assert len(paths) > 40
    for path in paths:
        assert _read([path], NATIVE, monkeypatch) == _read([path], None, monkeypatch), path


# -- drop_run itself, against a model of the Python loops' test --------------------------------

# Ethernet + IPv4 + UDP, as reader._fast_config lays it out for a pcap record (4 header words).
_PCAP_LAYOUT = reader._fast_config("<", LINKTYPE_ETHERNET, 4)
_PCAPNG_LAYOUT = reader._fast_config("<", LINKTYPE_ETHERNET, 7)


def _model(buf: bytes, off: int, end: int, pcapng: bool, native: reader.NativeLayout,
           max_record_length: int, iface: int) -> tuple[int, int, int, int, int]:
    """What the Python loops drop from ``off``, written from the loops' conditions."""
    (little, check_at, frag_at, proto_at, first_at, span, want, mask, frag_mask,
     min_caplen) = native
    end = min(end, len(buf))
    o = "<" if little else ">"
    records = captured = 0
    last = (-1, -1)
    while off + span <= end:
        if pcapng:
            kind, total, if_id, hi, lo, caplen = struct.unpack_from(f"{o}6I", buf, off)
            if kind != 6 or if_id != iface or caplen > total - 32 or off + total > end:
                break
            nxt, stamp = off + total, (hi, lo)
        else:
            sec, frac, caplen = struct.unpack_from(f"{o}3I", buf, off)
            if caplen > max_record_length or off + 16 + caplen > end:
                break
            nxt, stamp = off + 16 + caplen, (sec, frac)
        (check,) = struct.unpack_from(f"{o}I", buf, off + check_at)
        (frag,) = struct.unpack_from(f"{o}H", buf, off + frag_at)
        if (check & mask != want or buf[off + proto_at] != 17 or frag & frag_mask
                or buf[off + first_at] < 0x80 or caplen < min_caplen):
            break
        records += 1
        captured += caplen
        last = stamp
        off = nxt
    return off, records, captured, *last


def _rtp_record(pcapng: bool, payload: int, stamp: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + payload, 0, 0x4000, 64, 17, 0,
                     bytes(4), bytes(4))
    packet = bytes(12) + b"\x08\x00" + ip + struct.pack("!HHHH", 4000, 4002, 8 + payload, 0)
    packet += b"\x80" + bytes(payload - 1)
    if pcapng:
        padded = packet + b"\0" * (-len(packet) % 4)
        total = 32 + len(padded)
        return (struct.pack("<7I", 6, total, 0, 0, stamp, len(packet), len(packet)) + padded
                + struct.pack("<I", total))
    return struct.pack("<4I", stamp, 0, len(packet), len(packet)) + packet


@needs_native
@settings(max_examples=400, deadline=None)
@given(
    pcapng=st.booleans(),
    payloads=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 2000),
    start=st.integers(-4, 64),
    end_slack=st.integers(-8, 64),
)
def test_drop_run_agrees_with_the_python_test_on_damaged_runs(
    pcapng: bool, payloads: list[int], edits: list[tuple[int, int]], cut: int, start: int,
    end_slack: int,
) -> None:
    assert NATIVE is not None and _PCAP_LAYOUT is not None and _PCAPNG_LAYOUT is not None
    native = (_PCAPNG_LAYOUT if pcapng else _PCAP_LAYOUT)[5]
    buf = bytearray(b"".join(_rtp_record(pcapng, p, i) for i, p in enumerate(payloads)))
    for index, value in edits:
        if index < len(buf):
            buf[index] = value
    data = bytes(buf[: max(cut, 0)] if cut < len(buf) else buf)
    end = len(data) + end_slack  # past the buffer's end too: drop_run must clip it
    got = NATIVE(data, max(start, 0), end, pcapng, *native, 120, 0)
    assert got == _model(data, max(start, 0), end, pcapng, native, 120, 0)


@needs_native
def test_drop_run_reads_nothing_outside_its_arguments() -> None:
    assert NATIVE is not None and _PCAP_LAYOUT is not None
    native = _PCAP_LAYOUT[5]
    run = b"".join(_rtp_record(False, 20, i) for i in range(5))
    assert NATIVE(run, 0, len(run), False, *native, 65535, 0)[:3] == (len(run), 5, 5 * 62)
    # A caplen above max_record_length stops it before that record.
    assert NATIVE(run, 0, len(run), False, *native, 61, 0)[:2] == (0, 0)
    # Offsets that leave no whole record, and nonsensical layouts, skip nothing.
    for off in (len(run), len(run) + 100, -1):
        assert NATIVE(run, off, len(run), False, *native, 65535, 0) == (off, 0, 0, -1, -1)
    little, *offsets = native
    broken = (little, 10_000, *offsets[1:])  # a field beyond the span
    assert NATIVE(run, 0, len(run), False, *broken, 65535, 0) == (0, 0, 0, -1, -1)
    # pcapng: blocks of another interface are left to the Python loop.
    assert _PCAPNG_LAYOUT is not None
    block = _rtp_record(True, 20, 7)
    assert NATIVE(block, 0, len(block), True, *_PCAPNG_LAYOUT[5], 0, 1)[:2] == (0, 0)
    assert NATIVE(block, 0, len(block), True, *_PCAPNG_LAYOUT[5], 0, 0) == (len(block), 1, 62,
                                                                             0, 7)


# Per field, a value that makes the Python loop look at the record (offsets in the packet):
# the EtherType, the IPv4 version/IHL, the MF flag, a fragment offset, the protocol, the first
# payload byte (0x7f is the highest byte a SIP start line could begin with, per the loop's test).
_KEPT_BY = {
    "ethertype 0x86dd": (12, b"\x86\xdd"),
    "IPv4 options (IHL 6)": (14, b"\x46"),
    "more fragments": (20, b"\x20\x00"),
    "fragment offset": (20, b"\x00\x01"),
    "TCP": (23, b"\x06"),
    "payload byte 0x7f": (42, b"\x7f"),
    "payload byte 0x00": (42, b"\x00"),
}


@needs_native
@pytest.mark.parametrize("pcapng", [False, True])
@pytest.mark.parametrize("field", sorted(_KEPT_BY))
def test_drop_run_stops_at_the_first_record_the_loop_must_see(pcapng: bool, field: str) -> None:
    assert NATIVE is not None and _PCAP_LAYOUT is not None and _PCAPNG_LAYOUT is not None
    native = (_PCAPNG_LAYOUT if pcapng else _PCAP_LAYOUT)[5]
    records = [bytearray(_rtp_record(pcapng, 20, i)) for i in range(5)]
    at, value = _KEPT_BY[field]
    start = 28 if pcapng else 16
    records[2][start + at : start + at + len(value)] = value
    buf = b"".join(records)
    assert NATIVE(buf, 0, len(buf), pcapng, *native, 65535, 0) == (
        2 * len(records[0]), 2, 2 * 62, *((0, 1) if pcapng else (1, 0)))
    assert _model(buf, 0, len(buf), pcapng, native, 65535, 0)[:2] == (2 * len(records[0]), 2)


@needs_native
@pytest.mark.parametrize("total", [0, 4, 16, 28, 31, 32 + 60])
def test_drop_run_leaves_a_pcapng_block_too_short_for_its_packet_to_the_parser(
    total: int,
) -> None:
    """Block lengths below 32 + caplen are the block parser's to report (and 0 would loop)."""
    assert NATIVE is not None and _PCAPNG_LAYOUT is not None
    block = bytearray(_rtp_record(True, 20, 0))
    block[4:8] = struct.pack("<I", total)
    buf = bytes(block) + _rtp_record(True, 20, 1)
    assert NATIVE(buf, 0, len(buf), True, *_PCAPNG_LAYOUT[5], 0, 0)[:2] == (0, 0)
