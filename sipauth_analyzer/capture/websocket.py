"""WebSocket framing (RFC 6455 §5) for SIP over WebSocket (RFC 7118).

Only what a passive reader needs: the opening handshake's shape (an HTTP ``GET`` with
``Upgrade: websocket`` answered by ``101 Switching Protocols``, RFC 6455 §4), the frame header
(FIN, RSV, opcode, 7/16/64-bit payload length, optional 4-byte masking key), and unmasking.
Reassembling fragmented messages and bounding their size is the stream reader's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipauth_analyzer.capture.sipframe import START_NO, Buffer, start_line_end

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

# RFC 6455 §5.5: control frames carry at most 125 bytes and are never fragmented.
CONTROL_PAYLOAD_LIMIT = 125


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """A parsed WebSocket frame header. ``header_size`` includes the masking key."""

    fin: bool
    rsv: int  # RSV1-3 bits; RSV1 set means permessage-deflate (RFC 7692)
    opcode: int
    masked: bool
    mask: bytes
    payload_size: int
    header_size: int


def parse_frame_header(data: Buffer, pos: int = 0) -> FrameHeader | None:
    """The frame header at ``pos``, or None when more bytes are needed to read it."""
    available = len(data) - pos
    if available < 2:
        return None
    first = data[pos]
    second = data[pos + 1]
    size = second & 0x7F
    header = 2
    if size == 126:
        header = 4
        if available < header:
            return None
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
    elif size == 127:
        header = 10
        if available < header:
            return None
        # RFC 6455 §5.2: the most significant bit MUST be 0; masking it keeps the value sane.
        size = int.from_bytes(data[pos + 2 : pos + 10], "big") & 0x7FFF_FFFF_FFFF_FFFF
    masked = bool(second & 0x80)
    mask = b""
    if masked:
        if available < header + 4:
            return None
        mask = bytes(data[pos + header : pos + header + 4])
        header += 4
    return FrameHeader(
        fin=bool(first & 0x80),
        rsv=(first >> 4) & 0x7,
        opcode=first & 0x0F,
        masked=masked,
        mask=mask,
        payload_size=size,
        header_size=header,
    )


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeating 4-byte ``mask`` (RFC 6455 §5.3), as one big-int XOR."""
    size = len(payload)
    if not mask or size == 0:
        return payload
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(size, "big")


def is_upgrade_request(head: Buffer, start: int, end: int) -> bool:
    """True when the HTTP request head ``head[start:end]`` asks to upgrade to WebSocket."""
    block = bytes(head[start:end]).lower()
    return block.startswith(b"get ") and b"\nupgrade:" in block and b"websocket" in block


def is_upgrade_response(head: Buffer, start: int, end: int) -> bool | None:
    """For an HTTP response head: True on ``101`` (switching), False on any other status."""
    block = bytes(head[start:end])
    if not block.startswith(b"HTTP/1."):
        return None
    # "HTTP/1.1 101 Switching Protocols": the status code sits at bytes 9-11.
    return block[9:12] == b"101" and (len(block) == 12 or block[12] in (32, 13, 10))


def looks_like_sip_frame(data: Buffer, pos: int = 0) -> bool:
    """Heuristic for a capture that starts after the handshake: a complete-enough text/binary
    data frame at ``pos`` whose (unmasked) payload begins with a SIP start line."""
    header = parse_frame_header(data, pos)
    if header is None or header.rsv or header.opcode not in (OPCODE_TEXT, OPCODE_BINARY):
        return False
    begin = pos + header.header_size
    peek = bytes(data[begin : begin + min(header.payload_size, 256)])
    if header.masked:
        peek = unmask(peek, header.mask)
    # START_NEED_MORE (a start line longer than the peek) still counts as plausible.
    return len(peek) >= 16 and start_line_end(peek, 0) != START_NO
