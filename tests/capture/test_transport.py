"""UDP and SCTP demultiplexing, SIP recognition by content, and real captures end to end."""

from __future__ import annotations

import struct
import subprocess
import time as clock
from pathlib import Path

import pytest

from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_IP_REASSEMBLED,
    FLAG_TCP_REASSEMBLED,
    FLAG_TRUNCATED,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.sipframe import (
    CONTENT_LENGTH_INVALID,
    CONTENT_LENGTH_MISSING,
    START_NEED_MORE,
    START_NO,
    content_length,
    find_start_line,
    header_end,
    start_line_end,
)
from sipauth_analyzer.capture.transport import TransportDemux
from sipauth_analyzer.primitives import Endpoint, NoteSink, Transport
from tests.capture.test_tcp import INVITE, REGISTER, UNAUTHORIZED
from tests.capture.transport_driver import REAL_PCAPS, drive


def make() -> tuple[TransportDemux, NoteSink]:
    notes = NoteSink()
    return TransportDemux(CaptureOptions(), notes, CaptureStats(), "u.pcap"), notes


def udp(demux: TransportDemux, payload: bytes, *, wire: int | None = None,
        flags: frozenset[str] = frozenset(), frames: tuple[int, ...] = (9,)) -> list:
    return demux.udp(frames[-1], 12.5, frames, "10.0.0.1", "10.0.0.2", 5060, 5060, payload,
                     len(payload) if wire is None else wire, len(frames) if len(frames) > 1 else 0,
                     flags)


# ---------------------------------------------------------------- recognising SIP


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"INVITE sip:bob@example.com SIP/2.0\r\n", True),
        (b"X-CUSTOM sip:bob@example.com SIP/2.0\n", True),
        (b"SIP/2.0 401 Unauthorized\r\n", True),
        (b"SIP/2.0 200\r\n", True),
        (b"SIP/2.0 20 OK\r\n", False),
        (b"SIP/2.0/UDP host\r\n", False),
        (b"GET / HTTP/1.1\r\n", False),
        (b"INVITE  SIP/2.0\r\n", False),
        (b"INVITE sip:bob@example.com SIP/3.0\r\n", False),
        (b"\x00\x01\x00\x00\x21\x12\xa4\x42", False),  # STUN binding request
        (b"IN\x01VITE sip:x SIP/2.0\r\n", False),
    ],
)
def test_start_line_recognition(line: bytes, expected: bool) -> None:
    assert (start_line_end(line) >= 0) is expected


def test_start_line_undecided_until_line_ends() -> None:
    assert start_line_end(b"INVITE sip:bob@exa") == START_NEED_MORE
    assert start_line_end(b"I" * 5000) == START_NO


def test_find_start_line_requires_line_start_after_gap() -> None:
    data = b"garbage SIP/2.0 text\r\nbody line\r\n" + REGISTER
    assert find_start_line(data, 0, at_line_start=False) == data.index(b"REGISTER")
    assert find_start_line(b"xSIP/2.0 200 OK\r\n", 0, at_line_start=False) == -1


def test_header_end_and_content_length() -> None:
    assert header_end(REGISTER, 0) == len(REGISTER)
    assert header_end(b"INVITE x SIP/2.0\nl: 3\n\nabc", 0) == 23
    assert content_length(INVITE, 0, header_end(INVITE, 0)) == 35
    assert content_length(b"A\r\nX: 1\r\n\r\n", 0, 11) == CONTENT_LENGTH_MISSING
    assert content_length(b"A\r\ncontent-length: x1\r\n\r\n", 0, 26) == CONTENT_LENGTH_INVALID
    assert content_length(b"A\r\nLocation: 1\r\nl:7\r\n\r\n", 0, 23) == 7


# ---------------------------------------------------------------- UDP


def test_udp_request_and_response() -> None:
    demux, notes = make()
    [request] = udp(demux, REGISTER)
    [response] = udp(demux, UNAUTHORIZED)
    assert request.data == REGISTER and request.transport is Transport.UDP
    assert (request.frame, request.frames, request.time) == (9, (9,), 12.5)
    assert request.src == Endpoint("10.0.0.1", 5060) and request.wire_size == len(REGISTER)
    assert request.flags == frozenset() and response.data == UNAUTHORIZED
    assert request.src is response.src  # endpoints are cached
    assert notes.notes == []


def test_udp_non_sip_is_rejected_quietly() -> None:
    demux, notes = make()
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12)
    dns = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for payload in (b"", stun, dns, b"\r\n\r\n", b"\r\n", b"hello world\r\n", bytes(4)):
        assert udp(demux, payload) == []
    assert demux.counters.keepalives == 2
    assert notes.notes == []


def test_udp_leading_crlf_is_skipped() -> None:
    demux, _ = make()
    [message] = udp(demux, b"\r\n" + REGISTER)
    assert message.data == REGISTER and message.wire_size == len(REGISTER)


def test_udp_truncated_and_incomplete_flags() -> None:
    demux, _ = make()
    [cut] = udp(demux, REGISTER[:80], wire=len(REGISTER))
    assert cut.flags == frozenset({FLAG_TRUNCATED}) and cut.wire_size == len(REGISTER)
    incomplete = frozenset({FLAG_IP_REASSEMBLED, FLAG_INCOMPLETE})
    [partial] = udp(demux, REGISTER[:80], wire=len(REGISTER), flags=incomplete, frames=(3, 4))
    assert partial.flags == incomplete
    assert (partial.frame, partial.frames, partial.ip_fragments) == (4, (3, 4), 2)


def test_udp_fast_path_speed() -> None:
    demux, _ = make()
    payload = REGISTER
    loops = 20_000
    start = clock.perf_counter()
    for frame in range(loops):
        demux.udp(frame, 1.0, (frame,), "10.0.0.1", "10.0.0.2", 5060, 5060, payload,
                  len(payload), 0, frozenset())
    per_message = (clock.perf_counter() - start) / loops
    # A generous bound (CI machines vary); measured ~4.5 µs per message on the development
    # machine, most of it building the frozen CapturedMessage.
    assert per_message < 20e-6


# ---------------------------------------------------------------- SCTP


def data_chunk(payload: bytes, *, tsn: int, flags: int = 0x03) -> bytes:
    chunk = struct.pack("!BBHIHHI", 0, flags, 16 + len(payload), tsn, 0, 0, 0) + payload
    return chunk + bytes(-len(chunk) % 4)


def test_sctp_data_chunks_bundled_with_sack() -> None:
    demux, notes = make()
    sack = struct.pack("!BBHIIHH", 3, 0, 16, 1, 1000, 0, 0)
    packet = sack + data_chunk(REGISTER + b"x", tsn=7) + data_chunk(UNAUTHORIZED, tsn=8)
    got = demux.sctp(4, 2.0, "10.0.0.1", "10.0.0.2", 5060, 5060, packet)
    assert [m.data for m in got] == [REGISTER + b"x", UNAUTHORIZED]
    assert all(m.transport is Transport.SCTP and m.frames == (4,) for m in got)
    assert notes.notes == []


def test_sctp_fragmented_user_message_is_reassembled() -> None:
    demux, notes = make()
    parts = [INVITE[:50], INVITE[50:120], INVITE[120:]]
    got = []
    got += demux.sctp(1, 1.0, "a", "b", 1, 2, data_chunk(parts[0], tsn=10, flags=0x02))
    got += demux.sctp(2, 2.0, "a", "b", 1, 2, data_chunk(parts[2], tsn=12, flags=0x01))
    got += demux.sctp(3, 3.0, "a", "b", 1, 2, data_chunk(parts[1], tsn=11, flags=0x00))
    [message] = got
    assert message.data == INVITE and message.frames == (1, 2, 3) and message.frame == 3
    assert demux.finish() == [] and notes.notes == []


def test_sctp_bad_chunk_length_is_noted() -> None:
    demux, notes = make()
    assert demux.sctp(1, 1.0, "a", "b", 1, 2, struct.pack("!BBH", 0, 3, 400) + b"x" * 20) == []
    assert [n.kind for n in notes.notes] == ["sctp-malformed"]


# ---------------------------------------------------------------- real captures


def real(path: str) -> Path:
    full = REAL_PCAPS / path
    if not full.exists():
        pytest.skip(f"real captures not available at {REAL_PCAPS}")
    return full


def tshark_sip_frames(path: Path, *extra: str) -> list[tuple[int, str]]:
    try:
        done = subprocess.run(
            ["tshark", "-r", str(path), *extra, "-Y", "sip", "-T", "fields",
             "-e", "frame.number", "-e", "tcp.segment"],
            capture_output=True, text=True, timeout=120, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        pytest.skip("tshark is not available")
    rows = []
    for line in done.stdout.splitlines():
        frame, _, segments = line.partition("\t")
        rows.append((int(frame), segments))
    return rows


@pytest.mark.realsip
def test_junk_datagram_before_request() -> None:
    result = drive(real("zeek_zeek/sip-junk-before-request.pcap"))
    # tshark: frame 1 (four zero bytes) is data, frame 2 is the REGISTER.
    assert [(m.frame, m.data[:8]) for m in result.messages] == [(2, b"REGISTER")]


@pytest.mark.realsip
def test_invite_over_three_tcp_segments() -> None:
    result = drive(real("aboutsip_pkts/fragmented_tcp_sip.pcap"))
    first = result.messages[0]
    assert (first.frame, first.frames) == (8, (4, 6, 8))  # tshark: reassembled from 4,6,8
    assert first.flags == frozenset({FLAG_TCP_REASSEMBLED})
    assert [m.frame for m in result.messages] == [8, 10, 11, 14, 15, 16]
    assert result.notes.notes == []


@pytest.mark.realsip
def test_large_body_over_five_segments() -> None:
    result = drive(real("OISF_suricata-verify/sip-body-large__sip-body-large.pcap"))
    invite, trying = result.messages
    assert invite.frames == (5, 6, 7, 8, 9) and invite.frame == 9
    assert len(invite.data) == 65793 and invite.data.endswith(b"\r\n") is not None
    assert trying.frame == 11
    assert result.notes.notes == []


@pytest.mark.realsip
def test_sip_on_nonstandard_port() -> None:
    result = drive(real("OISF_suricata-verify/sip-tcp-pattern-matching__sip.pcap"))
    assert [(m.frame, m.dst.port if m.data.startswith(b"REG") else m.src.port)
            for m in result.messages] == [(4, 5062), (6, 5062)]


@pytest.mark.realsip
@pytest.mark.tshark
def test_heplify_tcp_fragmented_matches_tshark() -> None:
    path = real("sipcapture_heplify/sip_ipv4_tcp_fragmented.pcap")
    expected = tshark_sip_frames(path, "-d", "tcp.port==6060,sip")
    result = drive(path)
    assert len(result.messages) == 406 == len(expected)
    ours = [(m.frame, ",".join(map(str, m.frames)) if len(m.frames) > 1 else "")
            for m in result.messages]
    assert ours == expected
    assert sum(1 for m in result.messages if len(m.frames) > 1) == 234
    assert result.notes.notes == []


@pytest.mark.realsip
def test_retransmitted_segment_is_not_a_second_message() -> None:
    result = drive(real("sipcapture_heplify/sip_ipv4_tcp_retrans.pcap"))
    tcp = [m.frame for m in result.messages if m.transport is Transport.TCP]
    assert tcp == [28, 32, 33, 36]  # frame 38 is tshark's "[TCP Retransmission]" of 36
    assert result.demux.counters.tcp_retransmitted_segments == 1
    assert [m.frame for m in result.messages if m.transport is Transport.UDP] == [30, 31, 34, 35]


@pytest.mark.realsip
def test_tls_capture_is_counted_not_read() -> None:
    result = drive(real("irontec_sngrep/tlssaved.pcap"))
    assert result.messages == []
    assert result.stats.tls_flows == 2
    assert [n.kind for n in result.notes.notes] == ["tls-flow", "tls-flow"]


@pytest.mark.realsip
def test_sctp_capture_matches_tshark() -> None:
    result = drive(real("sipcapture_heplify/sip_sctp.pcap"))
    assert [(m.frame, m.frames) for m in result.messages] == [
        (2, (1, 2)), (3, (3,)), (4, (4,)), (5, (5,))]
    assert all(m.transport is Transport.SCTP for m in result.messages)
