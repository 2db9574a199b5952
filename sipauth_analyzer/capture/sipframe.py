"""Recognising SIP by content and framing SIP messages on a byte stream.

Everything here works on ``bytes`` or ``bytearray`` with explicit offsets so the stream
reassembler never copies its buffer just to look at it. The start-line check runs on every
non-RTP UDP datagram, so it does a handful of ``find``/``startswith`` calls and no regex.

Leading junk: ``tshark -r zeek_zeek/sip-junk-before-request.pcap -Y sip -V`` shows the "junk"
(four zero bytes) as its own datagram (frame 1, dissected as ``data``), and frame 2 as SIP
because its payload *begins* with the request line. Wireshark's SIP heuristic wants the start
line at the first byte of a datagram; we do the same, except that we skip leading CR/LF bytes,
which RFC 3261 §7.5 says implementations SHOULD ignore before a start line (and which RFC 5626
§4.4.1 keep-alives leave between messages on streams). On streams, after a gap or when the
capture starts mid-connection, we resynchronise at the next line that is a SIP start line.
"""

from __future__ import annotations

import re
from typing import TypeAlias

# Longest start line we look at (RFC 3261 sets no limit; 2 KiB leaves room for long
# Request-URIs with many parameters while keeping the per-datagram check bounded).
START_LINE_LIMIT = 2048

START_NO = -1  # the bytes at this offset are not a SIP start line
START_NEED_MORE = -2  # cannot tell yet: the line has not ended and the buffer ended first

_SIP_VERSION = b"SIP/2.0"
_STATUS_PREFIX = b"SIP/2.0 "
_REQUEST_SUFFIX = b" SIP/2.0"
# RFC 3261 §25.1 token characters; a method is a token.
_TOKEN_CHARS = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~"
)

# Methods registered with IANA that SIP trunks use (RFC 3261 §7.1, RFC 3262 PRACK, RFC 6665
# SUBSCRIBE/NOTIFY, RFC 3903 PUBLISH, RFC 6086 INFO, RFC 3515 REFER, RFC 3428 MESSAGE,
# RFC 3311 UPDATE). Used only where a line may have been cut at its left edge (resync).
KNOWN_METHODS = frozenset(
    b"INVITE ACK BYE CANCEL REGISTER OPTIONS PRACK SUBSCRIBE NOTIFY PUBLISH INFO REFER "
    b"MESSAGE UPDATE".split()
)

# RFC 3261 §20.14 / §7.3.3: Content-Length or its compact form "l", names case-insensitive,
# whitespace allowed around the colon. Only ever run on one header block, never a payload.
_CONTENT_LENGTH = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)

Buffer: TypeAlias = bytes | bytearray


def start_line_end(data: Buffer, pos: int = 0) -> int:
    """Offset just past the start line if ``data[pos:]`` begins with a SIP start line.

    A request line is ``Method SP Request-URI SP SIP/2.0`` and a status line is
    ``SIP/2.0 SP 3DIGIT [SP Reason-Phrase]`` (RFC 3261 §7.1, §7.2). Returns ``START_NO`` or,
    when the line is unfinished and could still become one, ``START_NEED_MORE``.
    """
    size = len(data)
    if pos >= size:
        return START_NEED_MORE
    first = data[pos]
    # Every method token we care about and "SIP/2.0" start with a letter: rejects binary
    # (STUN, DNS, TLS, HEP, zero padding) on the first byte.
    if not (65 <= first <= 90 or 97 <= first <= 122):
        return START_NO
    newline = data.find(b"\n", pos, pos + START_LINE_LIMIT)
    if newline < 0:
        if size - pos < START_LINE_LIMIT:
            # Could still be a start line if it is a prefix of one; cheap plausibility check
            # so a stream of text without newlines is not buffered for ever.
            return START_NEED_MORE
        return START_NO
    end = newline - 1 if data[newline - 1] == 13 else newline
    if data.startswith(_STATUS_PREFIX, pos):
        length = end - pos
        if length < 11 or not data[pos + 8 : pos + 11].isdigit():
            return START_NO
        if length > 11 and data[pos + 11] != 32:
            return START_NO
        return newline + 1
    if end - pos < 12 or not data.startswith(_REQUEST_SUFFIX, end - 8):
        return START_NO
    space = data.find(b" ", pos, end - 8)
    if space <= pos or space + 1 >= end - 8:
        return START_NO
    if bytes(data[pos:space]).translate(None, _TOKEN_CHARS):
        return START_NO
    return newline + 1


def find_start_line(data: Buffer, pos: int, *, at_line_start: bool) -> int:
    """Offset of the first SIP start line that begins a line at or after ``pos``, or -1.

    ``at_line_start`` says whether ``pos`` itself begins a line (false after a gap, when we are
    somewhere inside a line and a suffix such as ``NVITE sip:x SIP/2.0`` must not be taken for
    a request). Candidates are found by searching for ``SIP/2.0``, so the cost is a few
    ``find`` calls per SIP message, not a Python loop per line.
    """
    size = len(data)
    hit = data.find(_SIP_VERSION, pos)
    while hit >= 0:
        # Status line: "SIP/2.0 " at the beginning of a line.
        if (data[hit - 1] == 10 if hit > pos else at_line_start) and start_line_end(
            data, hit
        ) >= 0:
            return hit
        # Request line: " SIP/2.0" at the end of a line.
        after = hit + 7
        if hit > pos and data[hit - 1] == 32 and after < size and data[after] in (13, 10):
            line = data.rfind(b"\n", pos, hit) + 1
            if line == 0:
                line = pos
                if not at_line_start and not starts_with_known_method(data, pos):
                    hit = data.find(_SIP_VERSION, after)
                    continue
            if start_line_end(data, line) >= 0:
                return line
        hit = data.find(_SIP_VERSION, after)
    return -1


def starts_with_known_method(data: Buffer, pos: int = 0) -> bool:
    """True when ``data[pos:]`` begins with a registered method followed by a space.

    Where a buffer may begin in the middle of a line (the first segment after a gap, or of a
    capture that started mid-connection) this tells ``INVITE sip:…`` from its suffix
    ``NVITE sip:…``: a cut line cannot be told apart by syntax alone.
    """
    space = data.find(b" ", pos, pos + 12)
    return space > pos and bytes(data[pos:space]) in KNOWN_METHODS


def header_end(data: Buffer, start: int, end: int | None = None) -> int:
    """Offset just past the blank line that ends the header block searched from ``start``.

    RFC 3261 §7 uses CRLF, but bare-LF messages exist in the field (and Wireshark reads them),
    so an empty line made of LF LF is accepted too. Returns -1 when not (yet) present.
    """
    limit = len(data) if end is None else end
    crlf = data.find(b"\r\n\r\n", start, limit)
    lf_limit = limit if crlf < 0 else crlf
    bare = data.find(b"\n\n", start, lf_limit)
    if bare >= 0:
        return bare + 2
    if crlf >= 0:
        return crlf + 4
    return -1


CONTENT_LENGTH_MISSING = -1
CONTENT_LENGTH_INVALID = -2


def content_length(data: Buffer, start: int, end: int) -> int:
    """The body length declared in the header block ``data[start:end]``.

    Returns ``CONTENT_LENGTH_MISSING`` when there is no Content-Length (RFC 3261 §18.3 makes it
    mandatory on streams) and ``CONTENT_LENGTH_INVALID`` when it is not a number or several
    Content-Length headers disagree (a request-smuggling shape on stream transports).
    """
    found = CONTENT_LENGTH_MISSING
    for match in _CONTENT_LENGTH.finditer(data, start, end):
        text = match.group(1).strip()
        if not text.isdigit() or len(text) > 12:
            return CONTENT_LENGTH_INVALID
        value = int(text)
        if found not in (CONTENT_LENGTH_MISSING, value):
            return CONTENT_LENGTH_INVALID
        found = value
    return found


def skip_line_breaks(data: Buffer, pos: int) -> int:
    """Offset of the first byte at or after ``pos`` that is not CR or LF (RFC 5626 keep-alives)."""
    size = len(data)
    while pos < size and data[pos] in (13, 10):
        pos += 1
    return pos
