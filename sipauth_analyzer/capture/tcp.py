"""TCP byte-stream reassembly for one direction of a connection, with per-byte frame provenance.

``TcpDirection`` orders segments by sequence number (RFC 9293 §3.4: 32-bit sequence space
that wraps, so offsets are unwrapped relative to the next expected byte), drops
retransmitted and overlapping bytes (the first copy received wins, as in Wireshark's default
"reassemble out-of-order segments"), parks out-of-order segments until the hole before them
fills, and keeps the contiguous bytes in a ``StreamBuffer`` that remembers which frame
supplied which byte range. It never decides what a gap *means*; the demux does (it has to
finish or drop the message around it), so gap handling is expressed as ``skip_to``.

Each direction also knows its *floor*: the smallest frame number among the bytes it still
holds. A message cut from those bytes later carries the largest frame that supplied it (see
``transport``), so it can never carry a frame below the floor; the reader's reorder buffer
uses this to release messages in capture order without waiting for the end of the file.
"""

from __future__ import annotations

import enum
from collections import deque

SEQ_SPACE = 1 << 32
_HALF_SEQ_SPACE = 1 << 31


class StreamMode(enum.IntEnum):
    """What a TCP direction carries, decided from its first bytes."""

    UNKNOWN = 0  # nothing classified yet
    SIP = 1  # SIP framed by Content-Length (RFC 3261 §18.3)
    WEBSOCKET = 2  # RFC 6455 frames carrying SIP (RFC 7118)
    WS_HANDSHAKE = 3  # waiting for the HTTP head that precedes WebSocket frames
    HEP = 4  # a stream of HEPv3 packets
    TLS = 5  # encrypted: ignored (counted once per connection)
    IGNORED = 6  # not SIP (plain HTTP, unknown binary): bytes are dropped
    CLOSED = 7  # FIN/RST processed: only remembered so late retransmissions are recognised


class StreamBuffer:
    """Contiguous in-order bytes of a stream and the frames that supplied them.

    ``spans`` holds ``(end_offset, frame, time)`` per appended segment, in stream order; a
    span starts where the previous one ended (or at ``start``), so attributing a byte range to
    frames is a walk from the left that stops at the range's end.

    ``lows`` is a monotonic queue over the spans' frames — ``(end_offset, frame)`` with frames
    strictly increasing from the left — so the smallest frame still held (:meth:`floor`) is
    its head, in O(1) amortised per append/removal. Span frames are usually increasing, but
    segments parked out of order join the stream later than younger ones.
    """

    __slots__ = ("data", "lows", "spans", "start")

    def __init__(self, start: int = 0) -> None:
        self.data = bytearray()
        self.start = start  # stream offset of data[0]
        self.spans: deque[tuple[int, int, float]] = deque()
        self.lows: deque[tuple[int, int]] = deque()

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, chunk: bytes, frame: int, time: float) -> None:
        self.data += chunk
        end = self.start + len(self.data)
        self.spans.append((end, frame, time))
        lows = self.lows
        while lows and lows[-1][1] >= frame:
            lows.pop()
        lows.append((end, frame))

    def floor(self) -> int | None:
        """The smallest frame that supplied a byte still buffered, or None when empty."""
        return self.lows[0][1] if self.data else None

    def _forget_lows(self) -> None:
        # A span is gone once its end is at or before ``start`` (as in take/drop).
        lows = self.lows
        start = self.start
        while lows and lows[0][0] <= start:
            lows.popleft()

    def take(self, size: int) -> tuple[bytes, list[tuple[int, float]]]:
        """Remove the first ``size`` bytes; return them and the (frame, time) of each supplier."""
        limit = self.start + size
        suppliers: list[tuple[int, float]] = []
        spans = self.spans
        while spans:
            end, frame, time = spans[0]
            suppliers.append((frame, time))
            if end > limit:
                break
            spans.popleft()
            if end == limit:
                break
        chunk = bytes(self.data[:size])
        del self.data[:size]
        self.start = limit
        self._forget_lows()
        return chunk, suppliers

    def drop(self, size: int) -> list[int]:
        """Discard the first ``size`` bytes; return the frames that had supplied them."""
        if size <= 0:
            return []
        limit = self.start + size
        frames: list[int] = []
        spans = self.spans
        while spans:
            end, frame, _ = spans[0]
            frames.append(frame)
            if end > limit:
                break
            spans.popleft()
            if end == limit:
                break
        del self.data[:size]
        self.start = limit
        self._forget_lows()
        return frames

    def clear_to(self, offset: int) -> list[int]:
        """Discard everything and restart the buffer at stream ``offset`` (after a gap)."""
        frames = [frame for _, frame, _ in self.spans]
        self.data.clear()
        self.spans.clear()
        self.lows.clear()
        self.start = offset
        return frames

    def last_frame(self) -> int | None:
        return self.spans[-1][1] if self.spans else None


class TcpDirection:
    """Reassembly state of one direction (src ip/port → dst ip/port) of a TCP connection."""

    __slots__ = (
        "buffer",
        "dst",
        "fin_offset",
        "floor_queued",
        "gap_after_truncation",
        "had_sip",
        "header_scan_from",
        "isn_known",
        "last_frame",
        "last_time",
        "line_start",
        "mode",
        "next_offset",
        "next_seq",
        "out_of_order",
        "out_of_order_bytes",
        "parked_floor",
        "resync",
        "scanned_without_sip",
        "src",
        "syn_seen",
        "truncated_frame",
        "ws_discard",
        "ws_floor",
        "ws_fragment_bytes",
        "ws_fragments",
        "ws_opcode",
        "ws_times",
    )

    def __init__(self, src: tuple[str, int], dst: tuple[str, int], time: float) -> None:
        self.src = src
        self.dst = dst
        self.mode = StreamMode.UNKNOWN
        self.last_time = time
        self.last_frame = 0  # most recent frame of this direction (for notes)
        self.isn_known = False
        self.syn_seen = False
        self.next_seq = 0  # sequence number (mod 2**32) of next_offset
        self.next_offset = 0  # unwrapped stream offset of the next in-order byte
        self.buffer = StreamBuffer()
        self.out_of_order: dict[int, tuple[bytes, int, float]] = {}
        self.out_of_order_bytes = 0
        # Smallest frame parked since ``out_of_order`` was last empty: a lower bound of the
        # frames parked now (exact unless a partial drain removed the oldest), kept in O(1).
        self.parked_floor = 0
        self.fin_offset: int | None = None
        self.gap_after_truncation = False
        self.truncated_frame: int | None = None
        # SIP framing state
        self.resync = False  # looking for the next start line
        self.line_start = True  # buffer.data[0] begins a line
        self.had_sip = False
        self.scanned_without_sip = 0
        self.header_scan_from = 0  # stream offset where the CRLFCRLF search resumes
        # WebSocket state
        self.ws_discard = 0  # payload bytes of an oversized frame still to skip
        self.ws_fragments: list[bytes] = []
        self.ws_fragment_bytes = 0
        self.ws_times: dict[int, float] = {}  # frames of the message in progress → time
        self.ws_opcode = 0
        self.ws_floor = 0  # smallest frame in ws_times (meaningful only while it is non-empty)
        self.floor_queued = False  # the demux's floor heap holds an entry for this direction

    def start(self, seq: int) -> None:
        """Anchor the sequence space: ``seq`` is the first data byte's sequence number."""
        self.isn_known = True
        self.next_seq = seq % SEQ_SPACE
        self.next_offset = 0
        self.buffer = StreamBuffer(0)

    def offset_of(self, seq: int) -> int:
        """Unwrap a 32-bit sequence number to a stream offset near ``next_offset``."""
        delta = (seq - self.next_seq) % SEQ_SPACE
        if delta >= _HALF_SEQ_SPACE:
            delta -= SEQ_SPACE
        return self.next_offset + delta

    def advance(self, chunk: bytes, frame: int, time: float) -> None:
        """Append in-order bytes (the caller has trimmed them to start at ``next_offset``)."""
        self.buffer.append(chunk, frame, time)
        self.next_offset += len(chunk)
        self.next_seq = (self.next_seq + len(chunk)) % SEQ_SPACE

    def park(self, offset: int, chunk: bytes, frame: int, time: float) -> int:
        """Keep an out-of-order segment; returns how many of its bytes were duplicates."""
        existing = self.out_of_order.get(offset)
        if existing is not None:
            if len(existing[0]) >= len(chunk):
                return len(chunk)
            # The first copy wins for the bytes it has; keep only the new tail.
            duplicate = len(existing[0])
            self.park(offset + duplicate, chunk[duplicate:], frame, time)
            return duplicate
        if not self.out_of_order:
            self.parked_floor = frame
        self.out_of_order[offset] = (chunk, frame, time)
        self.out_of_order_bytes += len(chunk)
        return 0

    def drain(self) -> tuple[int, int]:
        """Move parked segments that now touch ``next_offset`` into the buffer.

        Returns (segments that were pure duplicates, overlapping bytes trimmed).
        """
        duplicates = overlap = 0
        parked = self.out_of_order
        while parked:
            first = min(parked)
            if first > self.next_offset:
                break
            chunk, frame, time = parked.pop(first)
            self.out_of_order_bytes -= len(chunk)
            end = first + len(chunk)
            if end <= self.next_offset:
                duplicates += 1
                continue
            if first < self.next_offset:
                overlap += self.next_offset - first
                chunk = chunk[self.next_offset - first :]
            self.advance(chunk, frame, time)
        return duplicates, overlap

    def first_parked(self) -> int | None:
        return min(self.out_of_order) if self.out_of_order else None

    def skip_to(self, offset: int) -> None:
        """Jump over a hole that will never fill: the next in-order byte is ``offset``."""
        delta = offset - self.next_offset
        self.next_offset = offset
        self.next_seq = (self.next_seq + delta) % SEQ_SPACE
        self.buffer.clear_to(offset)
        self.header_scan_from = offset

    def note_ws_suppliers(self, suppliers: list[tuple[int, float]]) -> None:
        """Remember the frames of a WebSocket fragment held until its message is complete."""
        if not suppliers:
            return
        low = min(frame for frame, _ in suppliers)
        if not self.ws_times or low < self.ws_floor:
            self.ws_floor = low
        self.ws_times.update(suppliers)

    def floor(self) -> int | None:
        """The smallest frame a message still to come from the bytes held here can carry.

        None when nothing is held: the next message will need bytes from a later frame. A
        message carries the *largest* frame among its suppliers, so the smallest held frame
        is a lower bound; bytes that arrive later come from later frames.
        """
        low = self.buffer.floor()
        if self.out_of_order and (low is None or self.parked_floor < low):
            low = self.parked_floor
        if self.ws_times and (low is None or self.ws_floor < low):
            low = self.ws_floor
        return low

    def buffered_bytes(self) -> int:
        return len(self.buffer.data) + self.out_of_order_bytes
