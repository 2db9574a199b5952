"""SIP over WebSocket (RFC 7118) through ``TransportDemux``: handshake, framing, masking."""

from __future__ import annotations

import os

import pytest

from sipauth_analyzer.capture.model import FLAG_TCP_REASSEMBLED, FLAG_WEBSOCKET
from sipauth_analyzer.capture.websocket import parse_frame_header, unmask
from sipauth_analyzer.primitives import Transport
from tests.capture.test_tcp import INVITE, REGISTER, UNAUTHORIZED, Wire
from tests.capture.transport_driver import REAL_PCAPS, drive

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
)
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n\r\n"
)


def frame(payload: bytes, *, opcode: int = 1, fin: bool = True, mask: bytes | None = None,
          force_64: bool = False) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    mask_bit = 0x80 if mask else 0
    if force_64 or size > 0xFFFF:
        header = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    elif size > 125:
        header = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | size])
    if mask:
        return header + mask + unmask(payload, mask)
    return header + payload


def handshake(wire: Wire) -> tuple[int, int]:
    wire.syn()
    wire.send(0, UPGRADE)
    wire.send(0, SWITCHING, reverse=True)
    return len(UPGRADE), len(SWITCHING)


def test_unmask_is_its_own_inverse() -> None:
    mask = os.urandom(4)
    data = os.urandom(1001)
    assert unmask(unmask(data, mask), mask) == data
    assert unmask(b"abcd", b"\x01\x02\x03\x04") == bytes([0x60, 0x60, 0x60, 0x60])


def test_frame_header_lengths() -> None:
    assert parse_frame_header(frame(b"x" * 10)).payload_size == 10  # type: ignore[union-attr]
    h16 = parse_frame_header(frame(b"x" * 300))
    assert h16 is not None and (h16.payload_size, h16.header_size) == (300, 4)
    h64 = parse_frame_header(frame(b"x" * 5, force_64=True, mask=b"abcd"))
    assert h64 is not None and (h64.payload_size, h64.header_size, h64.masked) == (5, 14, True)
    assert parse_frame_header(frame(b"x" * 300)[:3]) is None


def test_masked_client_and_unmasked_server_messages() -> None:
    wire = Wire()
    client_at, server_at = handshake(wire)
    [request] = wire.send(client_at, frame(REGISTER, mask=b"\x11\x22\x33\x44"))
    [response] = wire.send(server_at, frame(UNAUTHORIZED), reverse=True)
    assert request.data == REGISTER and response.data == UNAUTHORIZED
    assert request.transport is Transport.WS and response.transport is Transport.WS
    assert request.flags == frozenset({FLAG_WEBSOCKET})
    assert (request.frame, request.frames) == (4, (4,))
    assert wire.notes.notes == []


def test_16_and_64_bit_lengths_and_frame_split_over_segments() -> None:
    wire = Wire()
    client_at, _ = handshake(wire)
    big = INVITE.replace(b"s=-\r\n", b"s=" + b"x" * 400 + b"\r\n").replace(
        b"Content-Length: 37", f"Content-Length: {37 + 400}".encode())
    data = frame(big, mask=b"abcd") + frame(REGISTER, mask=b"wxyz", force_64=True)
    first = wire.send(client_at, data[:100])
    second = wire.send(client_at + 100, data[100:])
    assert first == []
    assert [m.data for m in second] == [big, REGISTER]
    assert second[0].frames == (4, 5) and FLAG_TCP_REASSEMBLED in second[0].flags
    assert second[1].frames == (5,)


def test_fragmented_message_with_interleaved_ping() -> None:
    wire = Wire()
    client_at, _ = handshake(wire)
    parts = [REGISTER[:20], REGISTER[20:70], REGISTER[70:]]
    out = []
    offset = client_at
    chunks = [
        frame(parts[0], fin=False, mask=b"1234"),
        frame(b"ping", opcode=9, mask=b"5678"),
        frame(parts[1], opcode=0, fin=False, mask=b"9abc"),
        frame(parts[2], opcode=0, mask=b"defg"),
    ]
    for chunk in chunks:
        out += wire.send(offset, chunk)
        offset += len(chunk)
    [message] = out
    assert message.data == REGISTER
    # The ping's frame (5) carried no SIP bytes.
    assert message.frames == (4, 6, 7) and message.frame == 7


def test_keepalive_and_close_frames_produce_nothing() -> None:
    wire = Wire()
    client_at, _ = handshake(wire)
    data = frame(b"\r\n\r\n", mask=b"aaaa") + frame(b"\x03\xe8", opcode=8, mask=b"bbbb")
    assert wire.send(client_at, data) == []
    assert wire.notes.notes == []


def test_reserved_opcode_is_noted_and_resynchronised() -> None:
    wire = Wire()
    client_at, _ = handshake(wire)
    data = bytes([0x83, 0x01, 0x00]) + frame(REGISTER, mask=b"abcd")
    [message] = wire.send(client_at, data)
    assert message.data == REGISTER
    assert "ws-malformed" in wire.kinds()


def test_oversized_frame_is_skipped() -> None:
    from sipauth_analyzer.capture.model import CaptureOptions

    wire = Wire(CaptureOptions(max_message_size=1024))
    client_at, _ = handshake(wire)
    data = frame(b"A" * 5000, mask=b"abcd") + frame(REGISTER, mask=b"abcd")
    got = wire.send(client_at, data[:3000]) + wire.send(client_at + 3000, data[3000:])
    assert [m.data for m in got] == [REGISTER]
    assert "ws-frame-too-large" in wire.kinds()


def test_refused_upgrade_is_ignored() -> None:
    wire = Wire()
    wire.syn()
    wire.send(0, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n" + REGISTER)
    assert wire.out == []


def test_capture_starting_after_handshake_finds_ws_frames() -> None:
    wire = Wire()
    [message] = wire.send(777, frame(REGISTER, mask=b"abcd"))
    assert message.transport is Transport.WS


@pytest.mark.realsip
def test_real_websocket_capture_matches_tshark() -> None:
    path = REAL_PCAPS / "sipcapture_heplify" / "sip_tcp_websocket.pcap"
    if not path.exists():
        pytest.skip(f"real captures not available at {REAL_PCAPS}")
    result = drive(path)
    ws = [m for m in result.messages if m.transport is Transport.WS]
    udp = [m for m in result.messages if m.transport is Transport.UDP]
    # tshark -Y sip: 39 SIP messages, 11 over WebSocket and 28 over UDP.
    assert (len(ws), len(udp)) == (11, 28)
    assert [m.frame for m in ws] == [11, 13, 15, 18, 19, 24, 34, 46, 49, 52, 56]
    assert [m.frames for m in ws if len(m.frames) > 1] == [(10, 11), (16, 18), (33, 34), (45, 46)]
    assert all(m.data.startswith((b"INVITE", b"SIP/2.0", b"ACK", b"BYE")) for m in ws)
    assert result.notes.notes == []
