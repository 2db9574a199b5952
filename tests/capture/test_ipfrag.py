"""IP fragment reassembly: the reassembler itself, then through the decoder and real captures.

The case that matters most in the field: a large authenticated INVITE is fragmented and a
firewall drops the second fragment. The partial INVITE must still reach the transport layer,
flagged incomplete, with the size the UDP header promised.
"""

from __future__ import annotations

import struct

import pytest

from sipauth_analyzer.capture.ipfrag import IpReassembler
from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_IP_REASSEMBLED,
    FLAG_TRUNCATED,
    CaptureOptions,
)
from sipauth_analyzer.primitives import NoteSink
from tests.capture.test_decode import (
    INVITE,
    PROXY,
    PROXY6,
    REAL_PCAPS,
    UA,
    UA6,
    decode_packets,
    ether,
    ipv4,
    ipv6,
    needs_real,
    read_file,
    udp,
)

BIG_INVITE = INVITE.replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 3000\r\n\r\n") + bytes(
    (i % 94) + 33 for i in range(3000))
DATAGRAM = udp(BIG_INVITE)  # 8 + len(BIG_INVITE) bytes of IPv4 payload


def v4_fragments(payload: bytes = DATAGRAM, size: int = 1480, ident: int = 0x1234,
                 src: str = UA) -> list[bytes]:
    """IPv4 fragments (Ethernet frames) of ``payload``, ``size`` bytes each (multiple of 8)."""
    out = []
    for off in range(0, len(payload), size):
        more = 0x2000 if off + size < len(payload) else 0
        out.append(ether(ipv4(payload[off : off + size], ident=ident, frag=more | off // 8,
                              src=src)))
    return out


def v6_fragments(payload: bytes = DATAGRAM, size: int = 1448, ident: int = 77) -> list[bytes]:
    out = []
    for off in range(0, len(payload), size):
        more = 1 if off + size < len(payload) else 0
        frag_header = struct.pack("!BBHI", 17, 0, off | more, ident)
        out.append(ether(ipv6(frag_header + payload[off : off + size], next_header=44), 0x86DD))
    return out


def reassembler(**options: float) -> tuple[IpReassembler, NoteSink]:
    notes = NoteSink()
    return IpReassembler(CaptureOptions(**options), notes, "f.pcap"), notes  # type: ignore[arg-type]


def add(r: IpReassembler, offset: int, data: bytes, frame: int, more: bool = True,
        time: float = 0.0, ident: int = 1) -> list:  # type: ignore[type-arg]
    return r.add(version=4, src=UA, dst=PROXY, ident=ident, proto=17, offset=offset,
                 more_fragments=more, payload=data, frame=frame, time=time)


# -- the reassembler ----------------------------------------------------------------------


def test_in_order_completion_numbered_by_the_completing_frame() -> None:
    r, notes = reassembler()
    assert add(r, 0, b"A" * 16, 1) == []
    (done,) = add(r, 16, b"B" * 5, 2, more=False, time=1.5)
    assert (done.payload, done.frames, done.frame, done.time, done.complete) == (
        b"A" * 16 + b"B" * 5, (1, 2), 2, 1.5, True)
    assert len(r) == 0 and notes.notes == []


def test_out_of_order_and_duplicates() -> None:
    r, notes = reassembler()
    assert add(r, 16, b"C" * 4, 1, more=False) == []
    assert add(r, 0, b"A" * 8, 2) == []
    assert add(r, 0, b"A" * 8, 3) == []  # exact duplicate: contributes nothing, no note
    (done,) = add(r, 8, b"B" * 8, 4)
    assert done.payload == b"A" * 8 + b"B" * 8 + b"C" * 4
    assert done.frames == (1, 2, 4) and done.frame == 4
    assert notes.notes == []


def test_overlap_first_wins_with_a_note() -> None:
    r, notes = reassembler()
    add(r, 0, b"A" * 16, 1)
    (done,) = add(r, 8, b"X" * 16, 2, more=False)
    assert done.payload == b"A" * 16 + b"X" * 8
    (note,) = notes.notes
    assert note.kind == "ip-fragments-overlap" and note.frames == (2,)


def test_conflicting_ends_are_noted() -> None:
    r, notes = reassembler()
    add(r, 8, b"A" * 16, 1, more=False)  # ends at 24 ...
    add(r, 16, b"A" * 16, 2, more=False)  # ... or at 32?
    assert [n.kind for n in notes.notes] == ["ip-fragments-overlap"]


def test_late_duplicate_after_completion_is_ignored() -> None:
    r, notes = reassembler(ip_reassembly_timeout=30.0)
    add(r, 0, b"A" * 8, 1, time=10.0)
    assert len(add(r, 8, b"B", 2, more=False, time=10.0)) == 1
    assert add(r, 8, b"B", 3, more=False, time=11.0) == []
    assert len(r) == 0 and r.finish() == [] and notes.notes == []
    # long after, the same identification is a new datagram (IP IDs wrap)
    assert add(r, 8, b"B", 4, more=False, time=100.0) == []
    assert len(r) == 1


def test_keys_separate_datagrams() -> None:
    r, _ = reassembler()
    add(r, 0, b"A" * 8, 1, ident=1)
    add(r, 0, b"B" * 8, 2, ident=2)
    r.add(version=4, src=UA, dst=PROXY, ident=1, proto=6, offset=0, more_fragments=True,
          payload=b"T" * 8, frame=3, time=0)  # same id, other protocol: another datagram
    (done,) = add(r, 8, b"b", 4, more=False, ident=2)
    assert done.payload == b"B" * 8 + b"b" and len(r) == 2


def test_timeout_by_capture_time_gives_an_incomplete_datagram() -> None:
    r, notes = reassembler(ip_reassembly_timeout=30.0)
    add(r, 0, b"A" * 16, 1, time=100.0)
    add(r, 32, b"C" * 8, 2, more=False, time=101.0)
    assert r.expire(129.0) == []
    (gone,) = r.expire(131.0)
    assert (gone.complete, gone.payload, gone.frames, gone.frame) == (False, b"A" * 16, (1, 2), 2)
    (note,) = notes.notes
    assert note.kind == "ip-fragments-incomplete" and note.frames == (1, 2)
    assert "covering 24 of 40 bytes" in note.detail and "30 s of capture time" in note.detail


def test_finish_reports_every_open_datagram() -> None:
    r, notes = reassembler()
    add(r, 8, b"B" * 8, 5, ident=1)
    add(r, 0, b"A" * 8, 6, ident=2)
    gone = r.finish()
    assert [(g.frames, g.payload) for g in gone] == [((5,), b""), ((6,), b"A" * 8)]
    assert [n.kind for n in notes.notes] == ["ip-fragments-incomplete"] * 2
    assert "capture ended" in notes.notes[0].detail and len(r) == 0


def test_eviction_when_too_many_are_open_names_the_limit() -> None:
    r, notes = reassembler(max_ip_reassemblies=3)
    for ident in range(6):
        evicted = add(r, 0, b"A" * 8, ident + 1, ident=ident)
        assert len(evicted) == (1 if ident >= 3 else 0)
    assert len(r) == 3
    kinds = [n.kind for n in notes.notes]
    assert kinds.count("ip-reassembly-limit") == 1  # once per file
    assert kinds.count("ip-fragments-incomplete") == 3
    limit_note = next(n for n in notes.notes if n.kind == "ip-reassembly-limit")
    assert "max_ip_reassemblies=3" in limit_note.detail


def test_incomplete_notes_are_capped_with_a_summary() -> None:
    notes = NoteSink(max_per_kind=5)
    r = IpReassembler(CaptureOptions(), notes, "f.pcap")
    for ident in range(12):
        add(r, 8, b"B" * 8, ident + 1, ident=ident)
    assert len(r.finish()) == 12
    assert len(notes.notes) == 5
    notes.close()  # the pipeline closes its sink once, after every stage
    assert len(notes.notes) == 6
    assert notes.notes[-1].kind == "ip-fragments-incomplete"
    assert "7 more ip-fragments-incomplete notes were left out" in notes.notes[-1].detail


def test_fragment_past_the_maximum_size_is_ignored() -> None:
    r, notes = reassembler()
    assert add(r, 65528, b"A" * 16, 1) == []
    assert len(r) == 0 and [n.kind for n in notes.notes] == ["ip-fragment-invalid"]


def test_many_hostile_fragments_stay_bounded() -> None:
    r, notes = reassembler(max_ip_reassemblies=100)
    for i in range(5000):
        add(r, (i * 8) % 60000, b"Z" * 8, i + 1, ident=i % 300, time=i * 0.001)
        assert len(r) <= 100
    assert sum(n.kind == "ip-reassembly-limit" for n in notes.notes) == 1


# -- through the decoder ------------------------------------------------------------------


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0, 2], [0, 0, 1, 2]])
def test_ipv4_reassembled_in_any_order(order: list[int]) -> None:
    fragments = v4_fragments(size=1200)
    assert len(fragments) == 3
    recorder, notes, _ = decode_packets([fragments[i] for i in order])
    (call,) = recorder.of("udp")
    assert call["payload"] == BIG_INVITE and call["wire_size"] == len(BIG_INVITE)
    frames = tuple(sorted({order.index(i) + 1 for i in range(3)}))
    assert call["frames"] == frames and call["frame"] == max(frames)
    assert call["ip_fragments"] == 3
    assert call["flags"] == frozenset({FLAG_IP_REASSEMBLED})
    assert notes.notes == []


def test_ipv4_second_fragment_dropped_gives_a_flagged_partial_invite() -> None:
    first, _second, third = v4_fragments(size=1200)
    recorder, notes, _ = decode_packets([first, third, ether(ipv4(udp(INVITE)))])
    calls = recorder.of("udp")
    assert [c["frame"] for c in calls] == [3, 2]  # the partial one is known only at the end
    partial = calls[1]
    assert partial["payload"] == BIG_INVITE[: 1200 - 8]
    assert partial["wire_size"] == len(BIG_INVITE)
    # Two fragments arrived and at least one was lost: at least three were sent.
    assert partial["frames"] == (1, 2) and partial["ip_fragments"] == 3
    assert partial["flags"] == frozenset({FLAG_INCOMPLETE, FLAG_IP_REASSEMBLED})
    (note,) = notes.notes
    assert note.kind == "ip-fragments-incomplete" and note.frames == (1, 2)


def test_only_the_first_fragment_gives_an_incomplete_not_reassembled_message() -> None:
    recorder, _, _ = decode_packets([v4_fragments()[0]])
    (call,) = recorder.of("udp")
    # One fragment arrived, so the datagram was fragmented: at least two were sent.
    assert call["flags"] == frozenset({FLAG_INCOMPLETE}) and call["ip_fragments"] == 2


def test_first_fragment_missing_gives_a_note_but_no_message() -> None:
    recorder, notes, _ = decode_packets(v4_fragments()[1:])
    assert recorder.calls == []
    assert [n.kind for n in notes.notes] == ["ip-fragments-incomplete"]


def test_timeout_while_reading_delivers_the_partial_in_capture_time() -> None:
    first = v4_fragments()[0]
    filler = [ether(ipv4(udp(b"\r\n\r\n")))] * 1600  # 32 s at 20 ms per frame
    recorder, notes, _ = decode_packets([first, *filler], options=CaptureOptions(
        ip_reassembly_timeout=10.0))
    partial = [c for c in recorder.of("udp") if FLAG_INCOMPLETE in c["flags"]]  # type: ignore[operator]
    assert len(partial) == 1
    position = recorder.calls.index(("udp", partial[0]))
    assert 500 <= position <= 560  # reported about 10 s (500 frames) later, not at the end
    assert "10 s of capture time" in notes.notes[0].detail


def test_non_udp_partial_datagram_is_only_a_note() -> None:
    payload = struct.pack("!HHIIBBHHH", 5060, 5060, 1, 0, 0x50, 0x18, 100, 0, 0) + INVITE * 10
    first = ether(ipv4(payload[:800], proto=6, frag=0x2000))
    recorder, notes, _ = decode_packets([first])
    assert recorder.calls == [] and [n.kind for n in notes.notes] == ["ip-fragments-incomplete"]


def test_snap_cut_fragment_marks_the_datagram_truncated() -> None:
    first, second = v4_fragments(size=1480)[:2]
    recorder, _, _ = decode_packets([first, (second[:600], len(second))])
    (call,) = recorder.of("udp")
    assert FLAG_INCOMPLETE in call["flags"] and FLAG_TRUNCATED in call["flags"]  # type: ignore[operator]


def test_ipv6_fragments_complete_and_incomplete() -> None:
    fragments = v6_fragments(size=1448)
    assert len(fragments) == 3
    recorder, notes, _ = decode_packets(fragments)
    (call,) = recorder.of("udp")
    assert (call["src"], call["dst"]) == (UA6, PROXY6)
    assert call["payload"] == BIG_INVITE and call["frames"] == (1, 2, 3)
    assert notes.notes == []
    recorder, notes, _ = decode_packets([fragments[0], fragments[2]])
    (call,) = recorder.of("udp")
    assert call["flags"] == frozenset({FLAG_INCOMPLETE, FLAG_IP_REASSEMBLED})
    assert call["wire_size"] == len(BIG_INVITE)
    assert [n.kind for n in notes.notes] == ["ip-fragments-incomplete"]


def test_ipv6_atomic_fragment_is_not_reassembled() -> None:
    atomic = struct.pack("!BBHI", 17, 0, 0, 5) + udp(INVITE)  # offset 0, M=0 (RFC 6946)
    recorder, notes, _ = decode_packets([ether(ipv6(atomic, next_header=44), 0x86DD)])
    (call,) = recorder.of("udp")
    assert call["payload"] == INVITE and call["flags"] == frozenset() and notes.notes == []


# -- real captures ------------------------------------------------------------------------


@needs_real
def test_real_incomplete_ipv4_fragmentation() -> None:
    _, notes, _, messages = read_file(REAL_PCAPS / "aboutsip_pkts"
                                             / "fragmented_udp_sip.pcap")
    (note,) = notes.notes
    assert note.kind == "ip-fragments-incomplete" and note.frames == (1,)
    partial = next(m for m in messages if m.frame == 1)
    assert partial.flags == frozenset({FLAG_INCOMPLETE})
    assert partial.data.startswith(b"INVITE sip:")
    assert partial.wire_size > len(partial.data) == 1480 - 8
    assert len(messages) == 6


@needs_real
def test_real_ipv6_fragments() -> None:
    _, notes, stats, messages = read_file(REAL_PCAPS / "irontec_sngrep" / "ipv6frag.pcap")
    rebuilt = [m for m in messages if FLAG_IP_REASSEMBLED in m.flags]
    assert len(rebuilt) == 2
    assert all(m.ip_fragments == 2 and len(m.frames) == 2 and m.frame == m.frames[-1]
               for m in rebuilt)
    assert all(m.data.startswith(b"INVITE ") for m in rebuilt)
    assert all(len(m.data) == m.wire_size for m in rebuilt)
    assert notes.notes == [] and stats.packets == 34
