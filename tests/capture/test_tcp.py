"""TCP reassembly and SIP stream framing in ``TransportDemux``, driven by synthetic segments."""

from __future__ import annotations

import itertools

from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_TCP_REASSEMBLED,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.transport import TCP_FIN, TCP_RST, TCP_SYN, TransportDemux
from sipauth_analyzer.primitives import Endpoint, NoteSink, Transport

ACK = 0x10


def sip(first_line: str, body: bytes = b"", *, compact: bool = False, extra: str = "") -> bytes:
    length = f"l: {len(body)}" if compact else f"Content-Length: {len(body)}"
    head = (
        f"{first_line}\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
        f"Call-ID: abc@host\r\nCSeq: 1 REGISTER\r\n{extra}{length}\r\n\r\n"
    )
    return head.encode() + body


REGISTER = sip("REGISTER sip:example.com SIP/2.0")
UNAUTHORIZED = sip("SIP/2.0 401 Unauthorized")
INVITE = sip("INVITE sip:bob@example.com SIP/2.0", b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n")


class Wire:
    """One TCP direction 10.0.0.1:40000 → 10.0.0.2:5060 whose segments get frame numbers."""

    def __init__(self, options: CaptureOptions | None = None, isn: int = 1000) -> None:
        self.notes = NoteSink()
        self.stats = CaptureStats()
        self.demux = TransportDemux(options or CaptureOptions(), self.notes, self.stats, "t.pcap")
        self.frame = 0
        self.isn = isn
        self.out: list[CapturedMessage] = []

    def send(
        self,
        offset: int,
        data: bytes,
        flags: int = ACK,
        *,
        truncated: bool = False,
        reverse: bool = False,
        time: float | None = None,
    ) -> list[CapturedMessage]:
        """Send ``data`` at stream ``offset`` (0 = first data byte after the SYN)."""
        self.frame += 1
        src, dst = ("10.0.0.2", 5060), ("10.0.0.1", 40000)
        if not reverse:
            src, dst = dst, src
        seq = (self.isn + 1 + offset) % (1 << 32)
        got = self.demux.tcp(
            self.frame, 100.0 + self.frame if time is None else time, src[0], dst[0], src[1],
            dst[1], seq, flags, data, truncated,
        )
        self.out += got
        return got

    def syn(self) -> None:
        self.frame += 1
        self.demux.tcp(self.frame, 100.0 + self.frame, "10.0.0.1", "10.0.0.2", 40000, 5060,
                       self.isn, TCP_SYN, b"", False)

    def finish(self) -> list[CapturedMessage]:
        got = self.demux.finish()
        self.out += got
        return got

    def kinds(self) -> list[str]:
        return [note.kind for note in self.notes.notes]


def test_message_in_one_segment() -> None:
    wire = Wire()
    wire.syn()
    [message] = wire.send(0, REGISTER)
    assert message.data == REGISTER
    assert (message.frame, message.frames, message.time) == (2, (2,), 102.0)
    assert message.transport is Transport.TCP
    assert message.src == Endpoint("10.0.0.1", 40000)
    assert message.dst == Endpoint("10.0.0.2", 5060)
    assert message.flags == frozenset()
    assert message.wire_size == len(REGISTER)
    assert wire.notes.notes == []


def test_two_messages_in_one_segment_and_keepalives_between() -> None:
    wire = Wire()
    wire.syn()
    got = wire.send(0, b"\r\n\r\n" + REGISTER + b"\r\n" + INVITE)
    assert [m.data for m in got] == [REGISTER, INVITE]
    assert [m.frames for m in got] == [(2,), (2,)]
    assert all(not m.flags for m in got)


def test_one_message_over_many_segments_with_body_split() -> None:
    wire = Wire()
    wire.syn()
    cuts = [0, 10, 40, len(INVITE) - 5, len(INVITE)]
    results = [wire.send(a, INVITE[a:b]) for a, b in itertools.pairwise(cuts)]
    assert [len(r) for r in results] == [0, 0, 0, 1]
    message = results[-1][0]
    assert message.data == INVITE
    assert message.frames == (2, 3, 4, 5)
    assert message.frame == 5 and message.time == 105.0
    assert message.flags == frozenset({FLAG_TCP_REASSEMBLED})


def test_second_message_starts_in_segment_that_ends_first() -> None:
    wire = Wire()
    wire.syn()
    stream = REGISTER + INVITE
    split = len(REGISTER) + 7
    first = wire.send(0, stream[:split])
    second = wire.send(split, stream[split:])
    assert [m.frames for m in first] == [(2,)]
    assert [m.frames for m in second] == [(2, 3)]
    assert second[0].data == INVITE


def test_compact_content_length_with_whitespace() -> None:
    body = b"hello body"
    message = sip("MESSAGE sip:bob@example.com SIP/2.0", body, compact=True)
    message = message.replace(b"l: ", b"L  :\t")
    wire = Wire()
    wire.syn()
    got = wire.send(0, message + REGISTER)
    assert [m.data for m in got] == [message, REGISTER]


def test_out_of_order_segments_are_reordered() -> None:
    wire = Wire()
    wire.syn()
    a, b = 30, 90
    assert wire.send(b, INVITE[b:]) == []
    assert wire.send(a, INVITE[a:b]) == []
    [message] = wire.send(0, INVITE[:a])
    assert message.data == INVITE
    # Completed by frame 4 (the last to arrive), built from all three.
    assert message.frames == (2, 3, 4) and message.frame == 4 and message.time == 104.0
    assert wire.notes.notes == []


def test_retransmission_is_counted_and_ignored() -> None:
    wire = Wire()
    wire.syn()
    [first] = wire.send(0, REGISTER)
    assert wire.send(0, REGISTER) == []
    assert wire.demux.counters.tcp_retransmitted_segments == 1
    [second] = wire.send(len(REGISTER), UNAUTHORIZED.replace(b"SIP/2.0 401", b"SIP/2.0 402"))
    assert first.data == REGISTER and second.frames == (4,)


def test_overlap_first_received_bytes_win() -> None:
    wire = Wire()
    wire.syn()
    wire.send(0, REGISTER[:50])
    # The retransmission overlaps 20 already-received bytes with different content.
    tampered = b"X" * 20 + REGISTER[50:]
    [message] = wire.send(30, tampered)
    assert message.data == REGISTER
    assert wire.demux.counters.tcp_overlapping_bytes == 20


def test_sequence_number_wraparound() -> None:
    wire = Wire(isn=(1 << 32) - 40)
    wire.syn()
    got = wire.send(0, REGISTER[:100]) + wire.send(100, REGISTER[100:])
    assert [m.data for m in got] == [REGISTER]
    assert got[0].frames == (2, 3)


def test_gap_with_complete_headers_emits_incomplete_message() -> None:
    wire = Wire()
    wire.syn()
    head_end = INVITE.index(b"\r\n\r\n") + 4
    wire.send(0, INVITE[: head_end + 3])
    # The rest of the body (frame 3's bytes) never arrives; a later message does.
    after = len(INVITE) + 50
    wire.send(after, REGISTER, flags=ACK)
    got = wire.finish()
    assert [m.data for m in got] == [INVITE[: head_end + 3], REGISTER]
    incomplete = got[0]
    assert incomplete.flags == frozenset({FLAG_INCOMPLETE})
    assert incomplete.wire_size == len(INVITE)
    assert got[1].frames == (3,)
    [gap] = [n for n in wire.notes.notes if n.kind == "tcp-gap"]
    assert gap.frames == (2, 3)
    assert f"{len(INVITE) + 50 - head_end - 3} bytes were never captured" in gap.detail


def test_gap_inside_headers_discards_partial_message() -> None:
    wire = Wire()
    wire.syn()
    wire.send(0, REGISTER[:40])
    wire.send(len(REGISTER) + 10, INVITE)
    got = wire.finish()
    assert [m.data for m in got] == [INVITE]
    [gap] = [n for n in wire.notes.notes if n.kind == "tcp-gap"]
    assert "40 bytes of a message whose headers were cut were discarded" in gap.detail


def test_gap_resolved_when_out_of_order_buffer_exceeds_limit() -> None:
    wire = Wire(CaptureOptions(max_tcp_buffer=2000))
    wire.syn()
    wire.send(0, REGISTER[:20])
    offset = len(REGISTER) + 100
    got: list[CapturedMessage] = []
    for _ in range(30):  # parked behind the hole until the budget is exceeded
        got += wire.send(offset, INVITE)
        offset += len(INVITE)
    assert got, "the hole must be given up once max_tcp_buffer is exceeded"
    assert all(m.data == INVITE for m in got)
    assert "tcp-gap" in wire.kinds()
    assert "max_tcp_buffer" in next(n.detail for n in wire.notes.notes if n.kind == "tcp-gap")


def test_fin_flushes_and_reports_unfinished_message() -> None:
    wire = Wire()
    wire.syn()
    wire.send(0, REGISTER + INVITE[:30])
    assert wire.send(len(REGISTER) + 30, b"", flags=ACK | TCP_FIN) == []
    [note] = [n for n in wire.notes.notes if n.kind == "tcp-unfinished"]
    assert "closed (FIN)" in note.detail and note.frames == (2,)
    # State is closed: a late retransmission is recognised, not re-emitted.
    assert wire.send(0, REGISTER) == []
    assert wire.demux.counters.tcp_retransmitted_segments == 1


def test_fin_waits_for_hole_then_closes() -> None:
    wire = Wire()
    wire.syn()
    wire.send(60, REGISTER[60:], flags=ACK | TCP_FIN)
    [message] = wire.send(0, REGISTER[:60])
    assert message.data == REGISTER and message.frames == (2, 3)
    assert wire.finish() == []
    assert wire.notes.notes == []


def test_rst_drops_state_with_note() -> None:
    wire = Wire()
    wire.syn()
    head_end = INVITE.index(b"\r\n\r\n") + 4
    wire.send(0, INVITE[:head_end])
    [incomplete] = wire.send(head_end, b"", flags=ACK | TCP_RST)
    assert incomplete.flags == frozenset({FLAG_INCOMPLETE})
    assert "reset (RST)" in next(n.detail for n in wire.notes.notes if n.kind == "tcp-unfinished")
    assert wire.finish() == []


def test_truncated_segment_makes_a_gap() -> None:
    wire = Wire()
    wire.syn()
    wire.send(0, REGISTER[:70], truncated=True)  # the real segment was the whole message
    [message] = wire.send(len(REGISTER), INVITE)
    assert message.data == INVITE
    gap = next(n for n in wire.notes.notes if n.kind == "tcp-gap")
    assert "snap length" in gap.detail and gap.frames == (2, 3)


def test_midstream_start_resynchronises() -> None:
    wire = Wire()
    tail = b"a=rtpmap:0 PCMU/8000\r\nsome body text\r\n"
    got = wire.send(500, tail + REGISTER)
    assert [m.data for m in got] == [REGISTER]
    [note] = wire.notes.notes
    assert note.kind == "tcp-resync" and f"skipped {len(tail)} bytes" in note.detail


def test_resync_does_not_accept_suffix_of_a_request_line() -> None:
    cut = b"NVITE sip:bob@example.com SIP/2.0\r\nX: y\r\n\r\n"
    wire = Wire()  # no SYN: the first segment may begin inside a line
    assert [m.data for m in wire.send(500, cut + REGISTER)] == [REGISTER]
    wire = Wire()
    wire.syn()
    wire.send(0, REGISTER[:40])
    wire.send(len(REGISTER) + 10, cut + INVITE)  # first segment after a gap
    assert [m.data for m in wire.finish()] == [INVITE]


def test_midstream_segment_starting_with_a_message_is_kept() -> None:
    wire = Wire()
    assert [m.data for m in wire.send(500, UNAUTHORIZED + REGISTER)] == [UNAUTHORIZED, REGISTER]
    assert wire.notes.notes == []


def test_non_sip_stream_is_eventually_ignored() -> None:
    wire = Wire()
    wire.syn()
    offset = 0
    chunk = b"\x00\x01binary-ish protocol line\n" * 40
    for _ in range(100):
        wire.send(offset, chunk)
        offset += len(chunk)
    state = next(iter(wire.demux._streams.values()))
    assert len(state.buffer.data) == 0
    assert wire.out == [] and wire.notes.notes == []


def test_absurd_content_length_is_noted_and_skipped() -> None:
    wire = Wire(CaptureOptions(max_message_size=4096))
    wire.syn()
    bad = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 999999")
    got = wire.send(0, bad + INVITE)
    assert [m.data for m in got] == [INVITE]
    assert "sip-too-large" in wire.kinds()


def test_conflicting_content_length_is_noted() -> None:
    wire = Wire()
    wire.syn()
    bad = sip("REGISTER sip:example.com SIP/2.0", extra="Content-Length: 5\r\n")
    got = wire.send(0, bad + INVITE)
    assert [m.data for m in got] == [INVITE]
    assert "sip-bad-content-length" in wire.kinds()


def test_stream_limit_evicts_least_recently_used() -> None:
    notes = NoteSink()
    demux = TransportDemux(CaptureOptions(max_tcp_streams=2), notes, CaptureStats(), "t.pcap")
    partial = REGISTER[: REGISTER.index(b"\r\n\r\n") + 4 - 10]
    for port in (1, 2, 3):
        demux.tcp(port, 1.0, "10.0.0.1", "10.0.0.2", port, 5060, 0, ACK, partial, False)
    assert len(demux._streams) == 2
    assert [(k[1]) for k in demux._streams] == [2, 3]
    assert demux.counters.tcp_streams_evicted == 1
    limit = next(n for n in notes.notes if n.kind == "tcp-streams-limit")
    assert "max_tcp_streams" in limit.detail and limit.frames == (1,)


def test_evicted_streams_leave_the_floor_heap() -> None:
    """Flushed directions must not stay referenced by the heap of held frames (they leave it
    lazily): 100 k half-open connections behind a 20 k limit once kept ~250 MiB alive."""
    from sipauth_analyzer.capture.transport import _FLOOR_HEAP_SLACK

    limit = 50
    demux = TransportDemux(CaptureOptions(max_tcp_streams=limit), NoteSink(), CaptureStats(),
                           "t.pcap")
    partial = REGISTER[: REGISTER.index(b"\r\n\r\n") + 4 - 10]
    streams = 10 * (limit + _FLOOR_HEAP_SLACK)
    for port in range(1, streams + 1):
        demux.tcp(port, 1.0, "10.0.0.1", "10.0.0.2", port, 5060, 0, ACK, partial, False)
        assert len(demux.floor_heap) <= 2 * limit + _FLOOR_HEAP_SLACK + 1
    assert demux.counters.tcp_streams_evicted == streams - limit
    live = {id(state) for state in demux._streams.values()}
    assert {id(entry[3]) for entry in demux.floor_heap} >= live
    # Frames still held are the live directions': the oldest of them is the floor.
    assert demux.held_floor() == min(state.last_frame for state in demux._streams.values())


def test_expire_flushes_idle_streams_only() -> None:
    wire = Wire(CaptureOptions(tcp_idle_timeout=10.0))
    wire.syn()
    wire.send(0, REGISTER[:60], time=100.0)
    wire.send(0, INVITE[:60], reverse=True, time=200.0)
    assert wire.demux.expire(205.0) == []
    assert len(wire.demux._streams) == 1
    [note] = [n for n in wire.notes.notes if n.kind == "tcp-unfinished"]
    assert "idle" in note.detail


def test_new_syn_on_same_tuple_starts_a_new_connection() -> None:
    wire = Wire()
    wire.syn()
    wire.send(0, REGISTER)
    wire.isn = 777_777
    wire.syn()
    [message] = wire.send(0, INVITE)
    assert message.data == INVITE


def test_tls_detected_once_per_connection() -> None:
    wire = Wire()
    wire.syn()
    hello = bytes([0x16, 0x03, 0x01, 0x00, 0x05]) + b"\x01\x00\x00\x01\x00"
    wire.send(0, hello)
    wire.send(0, bytes([0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00]), reverse=True)
    wire.send(len(hello), bytes([0x17, 0x03, 0x03, 0x00, 0x01, 0x00]) + REGISTER)
    assert wire.stats.tls_flows == 1
    assert wire.kinds() == ["tls-flow"]
    assert wire.notes.notes[0].frames == (2,)
    assert wire.out == []


def test_application_data_midstream_on_5061_is_tls() -> None:
    notes = NoteSink()
    stats = CaptureStats()
    demux = TransportDemux(CaptureOptions(), notes, stats, "t.pcap")
    record = bytes([0x17, 0x03, 0x03, 0x00, 0x10]) + bytes(16)
    demux.tcp(1, 1.0, "10.0.0.1", "10.0.0.2", 40000, 5061, 5, ACK, record, False)
    assert stats.tls_flows == 1
    assert [n.kind for n in notes.notes] == ["tls-flow"]


def test_bad_input_never_raises() -> None:
    import random

    rng = random.Random(7)
    demux = TransportDemux(CaptureOptions(max_message_size=2048), NoteSink(), CaptureStats(), "f")
    corpus = [REGISTER, INVITE, b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", b"HEP3\x00\x10"]
    for frame in range(1, 3000):
        base = rng.choice(corpus)
        cut = base[: rng.randrange(len(base) + 1)]
        data = bytes(rng.choice((b, rng.randrange(256))) for b in cut)
        demux.tcp(frame, float(frame), "1.1.1.1", "2.2.2.2", rng.choice((1, 2)), 5060,
                  rng.randrange(1 << 32) if rng.random() < 0.1 else frame * 40,
                  rng.choice((ACK, ACK, ACK, TCP_SYN, TCP_FIN, TCP_RST)), data, rng.random() < 0.05)
        demux.udp(frame, 1.0, (frame,), "1.1.1.1", "2.2.2.2", 1, 2, data, len(data), 0, frozenset())
        demux.sctp(frame, 1.0, "1.1.1.1", "2.2.2.2", 1, 2, data)
    demux.finish()
    assert demux.counters.internal_errors == 0
