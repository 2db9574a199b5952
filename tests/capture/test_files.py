"""Capture files: pcap / pcapng readers, sources (files, directories, stdin, gzip), bad input.

Files are built byte by byte so every field is known: both pcap byte orders and resolutions,
pcapng with several sections / interfaces / resolutions and every packet block type, and
hostile files (wrong magic, empty, absurd record lengths, cut short).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import sys
import time
from pathlib import Path

import pytest

from sipauth_analyzer.capture.files import (
    CaptureError,
    RawRecord,
    expand_sources,
    iter_pcap_records,
    iter_pcapng_records,
    iter_records,
    open_capture,
)
from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.primitives import NoteSink
from tests.capture.test_decode import (
    INVITE,
    REAL_PCAPS,
    RTP,
    ether,
    ipv4,
    needs_real,
    pcap_bytes,
    read_file,
    sip_udp4,
    udp,
)

BASE = 1_700_000_000.0


def records(path: Path | str, chunk_size: int | None = None) -> tuple[list[RawRecord], NoteSink]:
    notes = NoteSink()
    with open_capture(str(path)) as capture:
        if chunk_size is None:
            found = list(iter_records(capture, notes))
        else:
            options = CaptureOptions(read_chunk_size=chunk_size)
            walk = iter_pcap_records if capture.pcap_header is not None else iter_pcapng_records
            found = list(walk(capture, notes, options))
    return found, notes


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- pcapng builders ----------------------------------------------------------------------


def block(block_type: int, body: bytes, order: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


def shb(order: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def idb(linktype: int, snaplen: int = 0, tsresol: int | None = None,
        tsoffset: int | None = None, order: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += option(0, b"", order)
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, order)


def epb(iface: int, ts: int, data: bytes, order: str = "<", wire: int | None = None) -> bytes:
    head = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       len(data) if wire is None else wire)
    return block(6, head + data, order)


def spb(data: bytes, wire: int | None = None, order: str = "<") -> bytes:
    return block(3, struct.pack(order + "I", len(data) if wire is None else wire) + data, order)


def obsolete_pb(iface: int, ts: int, data: bytes, order: str = "<") -> bytes:
    head = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       len(data))
    return block(2, head + data, order)


# -- classic pcap -------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str,
                                                  nanos: bool) -> None:
    packets = [ether(sip_udp4()), (ether(sip_udp4())[:60], 200), ether(b"")]
    path = write(tmp_path, "x.pcap", pcap_bytes(packets, 1, order=order, nanos=nanos,
                                                base=BASE + 0.123456789 if nanos else BASE,
                                                step=1.5))
    found, notes = records(path)
    assert notes.notes == []
    assert [r.frame for r in found] == [1, 2, 3]
    assert [r.linktype for r in found] == [1, 1, 1]
    assert [r.wire_length for r in found] == [len(packets[0]), 200, 14]  # type: ignore[arg-type]
    assert found[1].data == ether(sip_udp4())[:60]
    first = BASE + 0.123456789 if nanos else BASE
    assert found[0].time == pytest.approx(first, abs=1e-9 if nanos else 1e-6)
    assert found[2].time - found[0].time == pytest.approx(3.0, abs=1e-6)
    with open_capture(str(path)) as capture:
        assert capture.pcap_header is not None
        assert capture.pcap_header.nanosecond is nanos
        assert capture.pcap_header.byte_order == order
        assert capture.pcap_header.snaplen == 65535


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 100, 1 << 20])
def test_records_spanning_chunk_boundaries(tmp_path: Path, chunk_size: int) -> None:
    packets = [ether(sip_udp4(INVITE * (i % 3 + 1))) for i in range(20)]
    path = write(tmp_path, "x.pcap", pcap_bytes(packets))
    found, notes = records(path, chunk_size)
    assert [r.data for r in found] == packets and notes.notes == []


# -- pcapng -------------------------------------------------------------------------------


def two_section_pcapng() -> bytes:
    """Section 1 (LE): 3 interfaces, EPB/unknown/SPB/PB; section 2 (BE): its own interface."""
    eth_sip = ether(sip_udp4())
    raw_sip = sip_udp4()
    return b"".join([
        shb("<"),
        idb(1, snaplen=50),                                        # 0: Ethernet, µs, snap 50
        idb(101, tsresol=9),                                       # 1: raw IP, ns
        idb(1, tsresol=0x8A, tsoffset=100),                        # 2: Ethernet, 2^-10 s, +100 s
        epb(0, int(BASE * 1e6), eth_sip),                          # frame 1
        epb(1, int(BASE * 1e9) + 250_000_000, raw_sip),            # frame 2
        block(0xF0F, b"unknown block, skipped"),                   # not a frame
        spb(eth_sip),                                              # frame 3: iface 0, snap 50
        obsolete_pb(2, int(BASE * 1024) + 512, eth_sip),           # frame 4
        block(0x00000005, b"\x00" * 8),                            # ISB: skipped
        shb(">"),
        idb(228, order=">"),                                       # new section: 0 is raw IPv4
        epb(0, int((BASE + 10) * 1e6), raw_sip, ">"),              # frame 5
    ])


@pytest.mark.parametrize("chunk_size", [None, 1, 13, 64])
def test_pcapng_sections_interfaces_and_block_types(tmp_path: Path,
                                                    chunk_size: int | None) -> None:
    path = write(tmp_path, "two.pcapng", two_section_pcapng())
    found, notes = records(path, chunk_size)
    assert notes.notes == []
    assert [r.frame for r in found] == [1, 2, 3, 4, 5]
    assert [r.linktype for r in found] == [1, 101, 1, 1, 228]
    assert [r.interface for r in found] == [0, 1, 0, 2, 0]
    times = [r.time for r in found]
    assert times[0] == pytest.approx(BASE, abs=1e-6)
    assert times[1] == pytest.approx(BASE + 0.25, abs=1e-6)
    assert times[2] == times[1]  # an SPB has no timestamp: the previous packet's is reused
    assert times[3] == pytest.approx(BASE + 0.5 + 100, abs=1e-6)
    assert times[4] == pytest.approx(BASE + 10, abs=1e-6)
    assert len(found[2].data) == 50 and found[2].wire_length == len(ether(sip_udp4()))
    assert found[0].data == ether(sip_udp4())


def test_pcapng_through_read_messages(tmp_path: Path) -> None:
    path = write(tmp_path, "two.pcapng", two_section_pcapng())
    _, _, stats, messages = read_file(path)
    assert [m.frame for m in messages] == [1, 2, 3, 4, 5]
    # frame 3 (an SPB) was cut to interface 0's snap length of 50 bytes
    assert [sorted(m.flags) for m in messages] == [[], [], ["truncated"], [], []]
    assert len(messages[2].data) == 50 - 42 and messages[2].wire_size == len(INVITE)
    assert stats.linktypes == {"ETHERNET": 3, "RAW": 1, "IPV4": 1}
    assert stats.packets == 5


def test_pcapng_packet_naming_a_missing_interface(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.pcapng", shb() + idb(1) + epb(3, 0, b"x") + epb(0, 0, b"y"))
    found, notes = records(path)
    assert [(r.frame, r.data) for r in found] == [(2, b"y")]
    assert [n.kind for n in notes.notes] == ["capture-malformed"]
    assert "interface 3" in notes.notes[0].detail


# -- sources ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["plain.pcap", "no_extension", "x.pcapng"])
@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_gzip_is_detected_by_magic_not_name(tmp_path: Path, name: str, kind: str) -> None:
    raw = pcap_bytes([ether(sip_udp4())] * 3) if kind == "pcap" else shb() + idb(1) + b"".join(
        epb(0, i, ether(sip_udp4())) for i in range(3))
    path = write(tmp_path, name, gzip.compress(raw))
    with open_capture(str(path)) as capture:
        assert capture.compressed
    found, notes = records(path)
    assert len(found) == 3 and notes.notes == []
    _, _, stats, messages = read_file(path)
    assert len(messages) == 3 and stats.packets == 3


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_is_read_as_a_stream(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    raw = pcap_bytes([ether(sip_udp4()), ether(ipv4(udp(RTP, 9, 9)))] * 4)

    class FakeStdin:
        buffer = io.BufferedReader(io.BytesIO(gzip.compress(raw) if compress else raw))  # type: ignore[arg-type]

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    _, _, stats, messages = read_file("-")
    assert stats.packets == 8 and [m.frame for m in messages] == [1, 3, 5, 7]
    assert stats.files == ["-"] and all(m.file == "-" for m in messages)


def test_directory_in_name_order_skipping_non_captures(tmp_path: Path) -> None:
    folder = tmp_path / "caps"
    folder.mkdir()
    write(folder, "b.pcap", pcap_bytes([ether(sip_udp4())] * 2))
    write(folder, "a.pcapng", shb() + idb(1) + epb(0, 5, ether(sip_udp4())))
    write(folder, "c.pcap.gz", gzip.compress(pcap_bytes([ether(sip_udp4())])))
    write(folder, "notes.txt", b"hello, not a capture")
    write(folder, ".hidden.pcap", pcap_bytes([ether(sip_udp4())]))
    (folder / "sub").mkdir()
    notes = NoteSink()
    stats = CaptureStats()
    from tests.capture.test_decode import Recorder

    messages = list(read_messages([str(folder)], CaptureOptions(), notes, stats,
                                  demux_factory=lambda o, n, s, f: Recorder(f)))
    names = [os.path.basename(f) for f in stats.files]
    assert names == ["a.pcapng", "b.pcap", "c.pcap.gz"]
    assert [(os.path.basename(m.file), m.frame) for m in messages] == [
        ("a.pcapng", 1), ("b.pcap", 1), ("b.pcap", 2), ("c.pcap.gz", 1)]
    assert [n.kind for n in notes.notes] == ["not-a-capture"]
    assert "notes.txt" in notes.notes[0].detail


def test_message_file_is_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    write(tmp_path, "x.pcap", pcap_bytes([ether(sip_udp4())]))
    monkeypatch.chdir(tmp_path)
    _, _, stats, messages = read_file("x.pcap")
    assert messages[0].file == "x.pcap" and stats.files == ["x.pcap"]


# -- files that cannot be read at all -----------------------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"GIF89a" + b"\x00" * 40, "unknown magic 47494638"),
    (os.urandom(0) + bytes(range(256)) * 4, "unknown magic 00010203"),
    (struct.pack("<I", 0xA1B2C3D4) + b"\x02\x00", "file ends inside the pcap header (6 of 24"),
    (gzip.compress(b"not a capture at all"), "unknown magic 6e6f7420"),
    (b"\x1f\x8b\x08\x00garbage-gzip", "corrupt gzip"),
])
def test_unreadable_files_raise_one_line_capture_error(tmp_path: Path, content: bytes,
                                                       message: str) -> None:
    path = write(tmp_path, "bad.pcap", content)
    with pytest.raises(CaptureError) as info:
        list(read_messages([str(path)], CaptureOptions(), NoteSink(), CaptureStats()))
    assert message in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file or directory"):
        expand_sources([str(tmp_path / "nope.pcap")], NoteSink())
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError, match="holds no pcap or pcapng files"):
        expand_sources([str(tmp_path / "empty")], NoteSink())


def test_a_bad_source_fails_before_any_message_is_yielded(tmp_path: Path) -> None:
    good = write(tmp_path, "good.pcap", pcap_bytes([ether(sip_udp4())]))
    bad = write(tmp_path, "bad.pcap", b"nonsense")
    stats = CaptureStats()
    iterator = read_messages([str(good), str(bad)], CaptureOptions(), NoteSink(), stats)
    with pytest.raises(CaptureError, match=r"bad\.pcap"):
        next(iterator)
    assert stats.packets == 0


# -- files that go bad part-way -----------------------------------------------------------


def test_two_gigabyte_record_length_stops_with_a_note(tmp_path: Path) -> None:
    good = pcap_bytes([ether(sip_udp4())] * 2)
    hostile = good + struct.pack("<IIII", 1, 0, 0x80000000, 0x80000000) + b"\x00" * 100
    path = write(tmp_path, "huge.pcap", hostile)
    start = time.perf_counter()
    _, notes, stats, messages = read_file(path)
    assert time.perf_counter() - start < 1
    assert len(messages) == 2 and stats.packets == 2
    (note,) = notes.notes
    assert note.kind == "capture-truncated"
    assert "record 3 claims 2147483648 bytes" in note.detail
    assert note.detail.endswith("analysed up to frame 2")
    found, notes = records(path)
    assert len(found) == 2 and notes.notes[0].detail == note.detail


def test_max_record_length_comes_from_the_options(tmp_path: Path) -> None:
    small, large = ether(sip_udp4()), ether(sip_udp4(b"x" * 600))
    path = write(tmp_path, "mixed.pcap", pcap_bytes([small, small, large, small]))
    limit = len(small) + 10
    _, notes, stats, messages = read_file(path, CaptureOptions(max_record_length=limit))
    assert len(messages) == 2 and stats.packets == 2
    (note,) = notes.notes
    assert note.kind == "capture-truncated"
    assert f"record 3 claims {len(large)} bytes, more than max_record_length={limit}" in note.detail
    pcapng = write(tmp_path, "mixed.pcapng", shb() + idb(1) + epb(0, 1, small) + epb(0, 2, large))
    with open_capture(str(pcapng)) as capture:
        found = list(iter_records(capture, notes, CaptureOptions(max_record_length=limit + 64)))
    assert len(found) == 1
    assert notes.notes[-1].kind == "capture-truncated"


@pytest.mark.parametrize("length", [0x80000000, 0xFFFFFFF0, 8, 30])
def test_pcapng_absurd_block_length_stops_with_a_note(tmp_path: Path, length: int) -> None:
    good = shb() + idb(1) + epb(0, 1, ether(sip_udp4()))
    path = write(tmp_path, "huge.pcapng", good + struct.pack("<II", 6, length) + b"\x00" * 64)
    start = time.perf_counter()
    _, notes, stats, messages = read_file(path)
    assert time.perf_counter() - start < 1
    assert len(messages) == 1 and stats.packets == 1
    (note,) = notes.notes
    assert note.kind == "capture-truncated"
    assert f"invalid length {length}" in note.detail
    assert note.detail.endswith("analysed up to frame 1")


def test_last_record_cut_short(tmp_path: Path) -> None:
    data = pcap_bytes([ether(sip_udp4())] * 3)
    path = write(tmp_path, "cut.pcap", data[:-150])
    _, notes, stats, messages = read_file(path)
    assert [m.frame for m in messages] == [1, 2] and stats.packets == 2
    (note,) = notes.notes
    assert (note.kind, note.frames) == ("capture-truncated", (2,))
    assert "ends inside record 3; analysed up to frame 2" in note.detail


def test_pcapng_cut_mid_block(tmp_path: Path) -> None:
    data = shb() + idb(1) + b"".join(epb(0, i, ether(sip_udp4())) for i in range(3))
    path = write(tmp_path, "cut.pcapng", data[:-40])
    _, notes, stats, _ = read_file(path)
    assert stats.packets == 2
    assert [n.kind for n in notes.notes] == ["capture-truncated"]
    assert notes.notes[0].detail.endswith("analysed up to frame 2")


def test_garbage_after_a_valid_header_never_raises(tmp_path: Path) -> None:
    rng = bytes((i * 7919 + 13) % 251 for i in range(200_000))
    for head in (pcap_bytes([]), shb() + idb(1)):
        path = write(tmp_path, "garbage.pcap", head + rng)
        start = time.perf_counter()
        _, notes, _, _ = read_file(path)
        assert time.perf_counter() - start < 2
        assert [n.kind for n in notes.notes][-1:] == ["capture-truncated"]


def test_input_is_never_modified(tmp_path: Path) -> None:
    path = write(tmp_path, "x.pcap", pcap_bytes([ether(sip_udp4())] * 5))
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    read_file(path)
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert sorted(os.listdir(tmp_path)) == ["x.pcap"]


# -- real captures: frame counts as capinfos / tshark count them ---------------------------

REAL_COUNTS = {
    "OISF_suricata-verify/sip-method__sip.pcap": (691, "ETHERNET"),
    "OISF_suricata-verify/sip-body-large__sip-body-large.pcap": (16, "NULL"),
    "ntop_nDPI/gre_sip.pcapng": (36, "ETHERNET"),
    "ntop_nDPI/sip_hello.pcapng": (30, "ETHERNET"),
    "sipcapture_heplify/erspan_sip_ipv4_udp.pcapng": (140, "ETHERNET"),
    "sipcapture_heplify/ipip0.pcap": (8, "RAW"),
    "sipcapture_heplify/sip_ipv4_tcp_fragmented.pcap": (1542, "ETHERNET"),
    "sipcapture_heplify/sip_sctp.pcap": (5, "LINUX_SLL"),
    "arkime_arkime/gtp-iphone.pcap": (106, "LINUX_SLL"),
    "irontec_sngrep/ipv6frag.pcap": (34, "LINUX_SLL"),
}


@needs_real
@pytest.mark.parametrize("name", sorted(REAL_COUNTS))
def test_real_capture_frame_counts(name: str) -> None:
    count, linktype = REAL_COUNTS[name]
    found, notes = records(REAL_PCAPS / name)
    assert [r.frame for r in found] == list(range(1, count + 1))
    assert notes.notes == []
    _, _, stats, _ = read_file(REAL_PCAPS / name)
    assert stats.packets == count and stats.linktypes == {linktype: count}
    assert stats.bytes == sum(len(r.data) for r in found)
    assert stats.first_time == found[0].time and stats.last_time == found[-1].time


@pytest.mark.parametrize("chunk_size", [1 << 20, 1, 50, 333])
def test_pcapng_hot_path_matches_general_decoder(tmp_path: Path, chunk_size: int) -> None:
    from tests.capture.test_decode import decode_packets, mixed_packets

    packets = mixed_packets()
    ts = [int((BASE + i * 0.02) * 1e6) for i in range(len(packets))]
    # Section 1 (LE): interface 0 is unsupported, so interface 1 gets the fast path; then a
    # big-endian section whose interface 0 is Ethernet with nanosecond stamps.
    half = len(packets) // 2
    data = shb("<") + idb(147) + idb(1) + b"".join(
        epb(1, ts[i], packets[i]) for i in range(half))
    data += shb(">") + idb(1, tsresol=9, order=">") + b"".join(
        epb(0, ts[i] * 1000, packets[i], ">") for i in range(half, len(packets)))
    path = write(tmp_path, "mixed.pcapng", data)
    expected, _, _ = decode_packets(packets)
    recorder, notes, stats, messages = read_file(path, CaptureOptions(read_chunk_size=chunk_size))
    assert recorder.calls == expected.calls
    assert [m.frame for m in messages] == [2, 4, 6]
    assert stats.packets == len(packets) and stats.linktypes == {"ETHERNET": len(packets)}
    assert stats.bytes == sum(map(len, packets))
    assert stats.first_time == pytest.approx(BASE, abs=1e-6)
    assert stats.last_time == pytest.approx(BASE + 0.02 * (len(packets) - 1), abs=1e-6)
    assert notes.notes == []


@pytest.mark.parametrize("damage", ["cut", "corrupt"])
def test_damaged_gzip_stops_with_a_note(tmp_path: Path, damage: str) -> None:
    raw = pcap_bytes([ether(sip_udp4(INVITE + os.urandom(0) + bytes(range(200)) * i))
                      for i in range(300)])
    packed = bytearray(gzip.compress(raw, compresslevel=1))
    if damage == "cut":
        packed = packed[: len(packed) // 2]
    else:
        middle = len(packed) // 2
        packed[middle : middle + 64] = b"\xff" * 64
    path = write(tmp_path, "damaged.pcap", bytes(packed))
    _, notes, stats, messages = read_file(path, CaptureOptions(read_chunk_size=4096))
    assert 0 < stats.packets < 300 and len(messages) <= stats.packets
    note = notes.notes[-1]
    assert note.kind == "capture-truncated"
    expected = "compressed data ends early" if damage == "cut" else "compressed data is corrupt"
    assert expected in note.detail
    assert note.detail.endswith(f"analysed up to frame {stats.packets}")
