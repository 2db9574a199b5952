"""Capture order from a bounded reorder buffer (capture.reader.ReorderBuffer and the floors).

The reader used to be followed by a sort of the whole capture by (file, frame). It now
releases each message once no earlier frame can still come out, so the order must be exactly
that stable sort — checked here against the reader's own unordered stream on every synthetic,
sample and real capture, and on random interleavings of fragmented UDP and segmented TCP.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipauth_analyzer.capture.model import CapturedMessage, CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import ReorderBuffer, read_messages
from sipauth_analyzer.capture.tcp import StreamBuffer, TcpDirection
from sipauth_analyzer.primitives import NoteSink
from tests.conftest import (
    CAPTURES_DIR,
    REAL_PCAPS_DIR,
    REAL_PCAPS_MISSING,
    SAMPLE_PCAPS_DIR,
    capture_files,
)

Key = tuple[str, int, tuple[int, ...], bytes]


def _key(message: CapturedMessage) -> Key:
    return (message.file, message.frame, message.frames, message.data)


def _read(paths: list[Path], options: CaptureOptions | None = None, *, ordered: bool = True
          ) -> tuple[list[CapturedMessage], NoteSink, CaptureStats]:
    notes = NoteSink()
    stats = CaptureStats()
    messages = list(read_messages([str(p) for p in paths], options or CaptureOptions(), notes,
                                  stats, ordered=ordered))
    return messages, notes, stats


def _sorted_as_before(messages: list[CapturedMessage], files: list[str]) -> list[Key]:
    """What the pipeline's materialise-and-sort produced: a stable sort by (file rank, frame)."""
    rank = {path: index for index, path in enumerate(files)}
    return [_key(m) for m in sorted(messages, key=lambda m: (rank[m.file], m.frame))]


def _assert_capture_order(paths: list[Path], options: CaptureOptions | None = None) -> int:
    """Ordered output == stable sort of the unordered output; returns how many were late."""
    raw, _, raw_stats = _read(paths, options, ordered=False)
    ordered, notes, stats = _read(paths, options)
    assert [_key(m) for m in ordered] == _sorted_as_before(raw, raw_stats.files)
    assert stats.sip_messages == raw_stats.sip_messages == len(ordered)
    assert not [n for n in notes.notes if n.kind == "reorder-limit"]
    return sum(1 for a, b in zip(raw, ordered, strict=True) if _key(a) != _key(b))


# -- the committed captures ---------------------------------------------------------------------

SYNTHETIC = capture_files(CAPTURES_DIR)


@pytest.mark.parametrize("path", SYNTHETIC, ids=[p.name for p in SYNTHETIC])
def test_synthetic_capture_comes_out_in_capture_order(path: Path) -> None:
    _assert_capture_order([path])


def _late_capture(folder: Path) -> Path:
    """Frame 1: the first fragment of a UDP INVITE whose second never arrives; 2: a whole UDP
    message; 3: a TCP SYN; 4: the TCP segment sent second; 5: the one sent first. Read as is,
    the messages come out as frames 2, 5, 4 and (at the end of the file) 1."""
    b = _builder()
    ua, proxy = "192.0.2.10", "198.51.100.20"
    invite = b.udp(ua, proxy, 5060, 5060, _sip("lost-fragment", 700))
    first_fragment = b.fragment_ipv4(ua, proxy, invite, 0x4242, 512)[0]
    whole = b.ipv4(ua, proxy, 17, b.udp(ua, proxy, 5060, 5060, _sip("whole", 10)))
    first, second = _sip("tcp-first", 20), _sip("tcp-second", 30)
    segment_two = b.ipv4(ua, proxy, 6, b.tcp(ua, proxy, 40000, 5060, 1000 + len(first), 1,
                                             0x18, second))
    segment_one = b.ipv4(ua, proxy, 6, b.tcp(ua, proxy, 40000, 5060, 1000, 1, 0x18, first))
    syn = b.ipv4(ua, proxy, 6, b.tcp(ua, proxy, 40000, 5060, 999, 0, 0x02, b""))
    packets = [first_fragment, whole, syn, segment_two, segment_one]
    path = folder / "late.pcap"
    path.write_bytes(b.pcap_bytes(b.LINKTYPE_ETHERNET, b.timed([b.ether_ip(p) for p in packets])))
    return path


def test_late_messages_are_put_back_in_frame_order(tmp_path: Path) -> None:
    path = _late_capture(tmp_path)
    raw, _, _ = _read([path], ordered=False)
    assert [m.frame for m in raw] == [2, 5, 4, 1]
    ordered, _, _ = _read([path])
    assert [m.frame for m in ordered] == [1, 2, 4, 5]
    assert _assert_capture_order([path]) == 3  # all but frame 4 moved


@pytest.mark.skipif(not REAL_PCAPS_DIR.is_dir(), reason=REAL_PCAPS_MISSING)
def test_real_lost_fragment_is_put_back_first() -> None:
    """aboutsip_pkts/fragmented_udp_sip.pcap: frame 1 is half an INVITE (SOURCES.md)."""
    path = REAL_PCAPS_DIR / "aboutsip_pkts" / "fragmented_udp_sip.pcap"
    raw, _, _ = _read([path], ordered=False)
    ordered, _, _ = _read([path])
    assert [m.frame for m in raw] == [2, 3, 4, 5, 6, 1]
    assert [m.frame for m in ordered] == [1, 2, 3, 4, 5, 6]


def test_several_files_keep_file_order() -> None:
    _assert_capture_order([CAPTURES_DIR / "frag4_incomplete.pcap",
                           CAPTURES_DIR / "tcp_out_of_order.pcap",
                           CAPTURES_DIR / "frag6_incomplete.pcap"])


SAMPLES = capture_files(SAMPLE_PCAPS_DIR)


@pytest.mark.skipif(not SAMPLES, reason=f"no sample captures in {SAMPLE_PCAPS_DIR}")
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_capture_comes_out_in_capture_order(path: Path) -> None:
    _assert_capture_order([path])


REAL = capture_files(REAL_PCAPS_DIR, recursive=True)


@pytest.mark.skipif(not REAL_PCAPS_DIR.is_dir(), reason=REAL_PCAPS_MISSING)
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_capture_comes_out_in_capture_order(path: Path) -> None:
    _assert_capture_order([path])


# -- the limit ----------------------------------------------------------------------------------


def test_limit_releases_early_with_one_note(tmp_path: Path) -> None:
    """With no room to hold anything, each packet's messages go out at once (sorted among
    themselves), so the lost fragment's message stays last, and one note says so."""
    path = _late_capture(tmp_path)
    limited, notes, _ = _read([path], CaptureOptions(max_reorder_messages=0))
    assert [m.frame for m in limited] == [2, 4, 5, 1]
    limit_notes = [n for n in notes.notes if n.kind == "reorder-limit"]
    assert len(limit_notes) == 1
    assert limit_notes[0].file == str(path)
    assert limit_notes[0].frames == (2,)
    assert "max_reorder_messages=0" in limit_notes[0].detail


def test_limit_of_one_still_fixes_what_fits(tmp_path: Path) -> None:
    path = _late_capture(tmp_path)
    limited, notes, _ = _read([path], CaptureOptions(max_reorder_messages=1))
    # Frame 2 waits for frame 1 (still open): held. Frame 5 brings 5 and 4 at once: three
    # held, two over the limit, so 2 and 4 leave early (smallest first) and 5 waits for 1.
    assert [m.frame for m in limited] == [2, 4, 1, 5]
    assert [n.kind for n in notes.notes].count("reorder-limit") == 1


def test_reorder_buffer_bounds_what_it_holds() -> None:
    notes = NoteSink()
    buffer = ReorderBuffer(3, notes, "f.pcap")
    held = [_message(frame) for frame in (10, 11, 12, 13, 14)]
    out = buffer.release(held[:3], 5)
    assert out == [] and len(buffer) == 3
    out = buffer.release(held[3:], 5)  # two over the limit: the two smallest leave early
    assert [m.frame for m in out] == [10, 11]
    assert len(buffer) == 3
    assert [n.frames for n in notes.notes] == [(10,)]
    assert [m.frame for m in buffer.release([], None)] == [12, 13, 14]


def test_reorder_buffer_keeps_arrival_order_on_equal_frames() -> None:
    buffer = ReorderBuffer(100, NoteSink(), "f.pcap")
    first, second, third = _message(7, b"a"), _message(7, b"b"), _message(6, b"c")
    assert buffer.release([first, second], 6) == []
    assert buffer.release([third], 7) == [third, first, second]


def _message(frame: int, data: bytes = b"x") -> CapturedMessage:
    from sipauth_analyzer.primitives import Endpoint, Transport

    here = Endpoint("192.0.2.1", 5060)
    return CapturedMessage(data, "f.pcap", frame, (frame,), 0.0, here, here, Transport.UDP,
                           len(data))


# -- the floors ---------------------------------------------------------------------------------


def test_stream_buffer_floor_follows_what_is_held() -> None:
    buffer = StreamBuffer()
    assert buffer.floor() is None
    buffer.append(b"aaaa", 5, 0.0)
    buffer.append(b"bbbb", 9, 0.0)
    buffer.append(b"cc", 7, 0.0)  # a parked segment joining late carries an older frame
    assert buffer.floor() == 5
    buffer.take(4)
    assert buffer.floor() == 7
    buffer.drop(5)  # the rest of frame 9 and one byte of frame 7
    assert buffer.floor() == 7
    buffer.drop(1)
    assert buffer.floor() is None
    buffer.append(b"dd", 12, 0.0)
    buffer.clear_to(100)
    assert buffer.floor() is None


def test_direction_floor_covers_parked_and_websocket_bytes() -> None:
    state = TcpDirection(("192.0.2.1", 1), ("192.0.2.2", 2), 0.0)
    state.start(0)
    assert state.floor() is None
    state.park(100, b"later", 4, 0.0)
    assert state.floor() == 4
    state.advance(b"x" * 100, 6, 0.0)
    state.drain()
    assert not state.out_of_order
    assert state.floor() == 4  # the parked bytes are in the buffer now
    state.buffer.drop(len(state.buffer.data))
    state.note_ws_suppliers([(3, 0.0), (8, 0.0)])
    assert state.floor() == 3
    state.ws_times.clear()
    assert state.floor() is None


# -- random interleavings -----------------------------------------------------------------------


def _builder() -> ModuleType:
    name = "build_captures"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, CAPTURES_DIR / "build_captures.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look the module up
        spec.loader.exec_module(module)
    return module


def _sip(tag: str, body_size: int) -> bytes:
    body = b"v=0\r\n" + b"a" * body_size
    return (f"OPTIONS sip:{tag}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK"
            f"{tag}\r\nCall-ID: {tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _scenario(rng: random.Random) -> list[tuple[float, bytes]]:
    """Fragmented UDP (some fragments lost or reordered) and segmented TCP (split, coalesced,
    reordered, lost segments, FIN/RST) on several flows, interleaved at random; times jump now
    and then past the (shortened) reassembly and idle timeouts."""
    b = _builder()
    flows: list[list[bytes]] = []
    for index in range(rng.randint(1, 4)):  # UDP datagrams, each maybe fragmented
        packets: list[bytes] = []
        for number in range(rng.randint(1, 4)):
            src, dst = f"192.0.2.{10 + index}", "198.51.100.20"
            datagram = b.udp(src, dst, 5060, 5060, _sip(f"u{index}x{number}", rng.randint(0, 600)))
            if rng.random() < 0.6:
                pieces = b.fragment_ipv4(src, dst, datagram, 0x100 * index + number,
                                         rng.choice((64, 128, 256)))
                if len(pieces) > 1 and rng.random() < 0.3:
                    del pieces[rng.randrange(len(pieces))]
                if rng.random() < 0.3:
                    rng.shuffle(pieces)
            else:
                pieces = [b.ipv4(src, dst, 17, datagram, ident=0x100 * index + number)]
            packets += [b.ether_ip(piece) for piece in pieces]
        flows.append(packets)
    for index in range(rng.randint(1, 4)):  # TCP directions
        src, dst, sport = f"192.0.2.{50 + index}", "198.51.100.20", 40000 + index
        seq = 1000
        stream = b"".join(_sip(f"t{index}x{n}", rng.randint(0, 400))
                          for n in range(rng.randint(1, 4)))
        cuts = sorted(rng.sample(range(1, len(stream)), k=min(rng.randint(0, 6), len(stream) - 1)))
        bounds = [0, *cuts, len(stream)]
        segments = [(seq + a, stream[a:c]) for a, c in itertools.pairwise(bounds)]
        if len(segments) > 1 and rng.random() < 0.2:
            del segments[rng.randrange(len(segments))]  # a hole that never fills
        for _ in range(rng.randint(0, 3)):  # out of order, locally
            if len(segments) > 1:
                at = rng.randrange(len(segments) - 1)
                segments[at], segments[at + 1] = segments[at + 1], segments[at]
        packets = [b.ether_ip(b.ipv4(src, dst, 6, b.tcp(src, dst, sport, 5060, number, 1,
                                                        0x18, data)))
                   for number, data in segments]
        if rng.random() < 0.8:  # without the SYN, the first segment seen anchors the stream
            packets.insert(0, b.ether_ip(b.ipv4(src, dst, 6, b.tcp(
                src, dst, sport, 5060, seq - 1, 0, 0x02, b""))))
        ending = rng.choice((None, 0x11, 0x14))  # open, FIN, RST
        if ending is not None:
            packets.append(b.ether_ip(b.ipv4(src, dst, 6, b.tcp(
                src, dst, sport, 5060, seq + len(stream), 1, ending, b""))))
        flows.append(packets)
    merged: list[bytes] = []
    cursors = [0] * len(flows)
    while True:
        open_flows = [i for i, flow in enumerate(flows) if cursors[i] < len(flow)]
        if not open_flows:
            break
        chosen = rng.choice(open_flows)
        merged.append(flows[chosen][cursors[chosen]])
        cursors[chosen] += 1
    timed: list[tuple[float, bytes]] = []
    when = float(b.BASE_TIME)
    for data in merged:
        when += rng.choice((0.01, 0.01, 0.01, 0.5, 2.0))
        timed.append((when, data))
    return timed


@settings(max_examples=150, deadline=None, derandomize=True)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_interleavings_come_out_in_capture_order(seed: int, tmp_path_factory: pytest.
                                                         TempPathFactory) -> None:
    rng = random.Random(seed)
    b = _builder()
    folder = tmp_path_factory.mktemp("interleavings")
    paths = []
    for number in range(rng.randint(1, 2)):
        path = folder / f"mix{number}.pcap"
        path.write_bytes(b.pcap_bytes(b.LINKTYPE_ETHERNET, _scenario(rng)))
        paths.append(path)
    options = CaptureOptions(ip_reassembly_timeout=1.0, tcp_idle_timeout=3.0)
    _assert_capture_order(paths, options)
