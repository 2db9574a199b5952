"""Mutations of real captures through the reader: truncation at every offset, every absurd value
of every length / count field, seeded random mutations; and the cut-off-rotation cases.

What must hold (issue 6): no exception escapes ``read_sip`` other than ``CaptureError`` for a
file that cannot be read at all; a file that ends mid-record is read up to its last complete
record with a ``capture-truncated`` note; nothing hangs (a SIGALRM watchdog turns a hang into a
failure — the bound is a safety net, not a timing assertion). Every case is deterministic.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.harness import (
    CAPTURES_DIR,
    REAL_PCAPS_DIR,
    REPO_ROOT,
    analyze_case,
    read_case,
    seed_captures,
    write_case,
)
from tests.fuzz.mutate import interesting_values, locate_fields, stacked
from tests.fuzz.watchdog import watchdog

#: Per-case safety net. A small capture reads in about a millisecond; 20 s means stuck.
CASE_BOUND = 20.0
SURICATA_SIP = REAL_PCAPS_DIR / "OISF_suricata-verify" / "sip-pattern-matching__sip.pcap"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

# UDP-only captures: a prefix's messages are exactly the full capture's messages up to the last
# complete record (TCP and fragments may legitimately flush a partial message instead).
TRUNCATION_CAPTURES = {
    "link_ethernet.pcap": True,
    "pcap_big_endian.pcap": True,
    "pcapng_block_types.pcapng": True,
    "pcapng_two_interfaces.pcapng": True,
    "hep3.pcap": True,
    "websocket.pcap": False,
    "tcp_split3.pcap": False,
    "frag4_two.pcap": False,
}


def _capture(name: str) -> Path:
    if name == "suricata":
        if not SURICATA_SIP.exists():
            pytest.skip(f"real capture {SURICATA_SIP} is absent (the shared collection lives "
                        "beside the repository, not in it)")
        return SURICATA_SIP
    return CAPTURES_DIR / name


@pytest.mark.parametrize(
    ("name", "udp_only"), [*TRUNCATION_CAPTURES.items(), ("suricata", True)]
)
def test_truncation_at_every_offset(name: str, udp_only: bool, tmp_path: Path) -> None:
    """Every prefix of the file: refused only while the file header is incomplete; otherwise
    exactly the complete records are read, and a cut inside a record is noted."""
    source = _capture(name)
    data = source.read_bytes()
    layout = locate_fields(data)
    pcapng = data[:4] == PCAPNG_MAGIC
    header_size = 4 if pcapng else 24  # below this the format cannot even be recognised
    boundaries = {0 if pcapng else 24, *(end for _start, end in layout.records)}
    full = read_case(source).read
    assert full is not None
    full_frames = [m.source.frame for m in full.messages]
    assert full_frames, "the seed capture must contain SIP for this test to mean anything"
    case = tmp_path / source.name
    for offset in range(len(data)):
        write_case(case, data[:offset])
        with watchdog(CASE_BOUND, f"{name} cut at {offset}"):
            outcome = read_case(case)
        if offset < header_size:
            assert outcome.read is None, f"{name} cut at {offset}: a headless file was accepted"
            continue
        assert outcome.read is not None, f"{name} cut at {offset} refused: {outcome.refused}"
        read = outcome.read
        complete = sum(1 for end in layout.packet_ends if end <= offset)
        assert read.stats.packets == complete, f"{name} cut at {offset}"
        truncated = [n for n in read.notes if n.kind == "capture-truncated"]
        assert bool(truncated) == (offset not in boundaries), f"{name} cut at {offset}"
        if udp_only:
            frames = [m.source.frame for m in read.messages]
            assert frames == [f for f in full_frames if f <= complete], f"{name} cut at {offset}"


FIELD_CAPTURES = ("link_ethernet.pcap", "pcapng_two_interfaces.pcapng",
                  "pcapng_block_types.pcapng", "hep3.pcap", "websocket.pcap", "tcp_split3.pcap",
                  "frag4_two.pcap", "link_sll2.pcap", "ipv6_ext_headers.pcap")


@pytest.mark.parametrize("name", FIELD_CAPTURES)
def test_every_length_field_at_every_boundary_value(name: str, tmp_path: Path) -> None:
    """Each located field (snap length, link type, record and block lengths, IDB options and
    if_tsresol, EPB lengths, IPv4/IPv6/UDP/TCP lengths and offsets, HEP3 chunk and WebSocket
    payload lengths) set in turn to each boundary value: 0, 1, all-ones, 2^31, 256 MiB + 1..."""
    data = (CAPTURES_DIR / name).read_bytes()
    layout = locate_fields(data)
    assert len(layout.fields) > 20
    case = tmp_path / name
    cases = 0
    for field in layout.fields:
        current = int.from_bytes(data[field.offset : field.offset + field.size],
                                 "little" if field.order == "<" else "big")
        for value in interesting_values(field.size, current):
            mutated = bytearray(data)
            mutated[field.offset : field.offset + field.size] = value.to_bytes(
                field.size, "little" if field.order == "<" else "big")
            write_case(case, bytes(mutated))
            with watchdog(CASE_BOUND, f"{name} {field.name}@{field.offset}={value}"):
                read_case(case)
            cases += 1
    assert cases >= 200


@pytest.mark.parametrize("seed_index", range(4))
def test_seeded_random_mutations(seed_index: int, tmp_path: Path) -> None:
    """Stacked random mutations (bit flips, field smashes, Content-Length lies, duplicated,
    dropped and swapped records, fills, inserts, splices) of every small seed capture; every
    eighth case also runs the whole pipeline (correlation and all rules)."""
    seeds = seed_captures()
    assert seeds
    rng = random.Random(0x5EED + seed_index)
    case = tmp_path / "case"
    for index in range(len(seeds) * 12):
        seed = seeds[index % len(seeds)]
        data = seed.read_bytes()
        name, mutated = stacked(data, rng)
        write_case(case, mutated)
        with watchdog(CASE_BOUND, f"{seed.name} {name} (case {index}, seed {seed_index})"):
            read_case(case)
            if index % 8 == 0:
                analyze_case(case)


# --- captures cut off by a rotating tcpdump ------------------------------------------------


def _run_messages(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "from sipauth_analyzer.cli import main; main()",
         "messages", "--format", "json", str(path)],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=path.parent)


def test_capture_cut_mid_record_is_read_up_to_last_record(tmp_path: Path) -> None:
    data = (CAPTURES_DIR / "link_ethernet.pcap").read_bytes()
    layout = locate_fields(data)
    last_start, last_end = layout.records[-1]
    cut = tmp_path / "rotating.pcap"
    cut.write_bytes(data[: last_start + 16 + (last_end - last_start - 16) // 2])
    result = _run_messages(cut)
    assert result.returncode == 0, result.stderr
    assert "capture-truncated" in result.stderr
    frames = [m["frame"] for m in __import__("json").loads(result.stdout)]
    assert frames == list(range(1, len(layout.records)))


def test_last_record_header_claims_more_than_snaplen_and_file(tmp_path: Path) -> None:
    """tcpdump wrote the last record header but not its bytes yet; the global header's snap
    length is small and the record claims more than both the snap length and the file hold."""
    data = bytearray((CAPTURES_DIR / "link_ethernet.pcap").read_bytes())
    snaplen = 1600
    struct.pack_into("<I", data, 16, snaplen)
    layout = locate_fields(bytes(data))
    last_start, _ = layout.records[-1]
    struct.pack_into("<I", data, last_start + 8, snaplen + 4000)
    cut = tmp_path / "growing.pcap"
    cut.write_bytes(bytes(data[: last_start + 16 + 40]))
    outcome = read_case(cut)
    assert outcome.read is not None
    kinds = [n.kind for n in outcome.read.notes]
    assert kinds.count("capture-truncated") == 1, kinds
    assert outcome.read.stats.packets == len(layout.records) - 1
    result = _run_messages(cut)
    assert result.returncode == 0, result.stderr
    assert "capture-truncated" in result.stderr


def test_absurd_record_length_stops_with_note(tmp_path: Path) -> None:
    data = bytearray((CAPTURES_DIR / "link_ethernet.pcap").read_bytes())
    layout = locate_fields(bytes(data))
    second = layout.records[1][0]
    struct.pack_into("<I", data, second + 8, 0xFFFFFFF0)
    path = tmp_path / "absurd.pcap"
    path.write_bytes(bytes(data))
    with watchdog(CASE_BOUND, "absurd record length"):
        outcome = read_case(path)
    assert outcome.read is not None
    assert outcome.read.stats.packets == 1
    assert [n.kind for n in outcome.read.notes].count("capture-truncated") == 1


def test_gzip_capture_cut_short_never_raises(tmp_path: Path) -> None:
    """A rotated, compressed capture cut at any point: refused while its header cannot be
    inflated, otherwise read up to the last complete record with a note."""
    data = (CAPTURES_DIR / "gzip_pcap.pcap").read_bytes()
    case = tmp_path / "cut.pcap.gz"
    accepted = 0
    for offset in range(len(data)):
        write_case(case, data[:offset])
        with watchdog(CASE_BOUND, f"gzip cut at {offset}"):
            outcome = read_case(case)
        if outcome.read is not None:
            accepted += 1
            if offset < len(data):
                assert any(n.kind == "capture-truncated" for n in outcome.read.notes), offset
    assert accepted > 0
