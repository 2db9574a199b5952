"""Transport demultiplexing: UDP / TCP / SCTP payloads → SIP messages (``CapturedMessage``).

The file reader hands every UDP datagram, TCP segment and SCTP packet of one capture file to
a ``TransportDemux``. It recognises SIP by content on any port, unwraps HEP (v1/v2/v3) and
SIP over WebSocket (RFC 7118), reassembles TCP per direction and frames SIP messages on the
stream by Content-Length (RFC 3261 §18.3), and detects TLS (which it cannot read) once per
connection. Everything odd becomes a ``Note``; nothing here raises on bad input.

Provenance of a stream message: ``frames`` are all frames that supplied any of its bytes, in
capture order; ``frame``/``time`` are the last of those, i.e. the frame that *completed* it
(the same frame Wireshark shows the reassembled PDU in). With in-order delivery that is the
frame holding the message's last byte; with out-of-order delivery it is the frame that
filled the last hole, because the message did not exist before that frame.

Capture order: a message usually carries the frame being read, but one cut from bytes held
for a while (a TCP segment parked behind a hole, a partial message flushed by FIN, RST, idle
timeout or eviction) carries an older frame. ``held_floor`` is the smallest frame any future
message of this demux can carry, so the reader can put messages back in frame order with a
small buffer instead of sorting the whole capture.

Gaps: a TCP hole that never fills is never glued over. If the message in progress already
has its complete header block (start line through CRLFCRLF), it is emitted with
``FLAG_INCOMPLETE``: digest authentication lives entirely in the headers, so the user keeps
the evidence, and the flag tells later stages the body is partial. A message whose headers
were cut is discarded (a half Authorization header would produce wrong findings). Either
way a ``tcp-gap`` note names the frames around the hole and the missing byte count.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass

from sipauth_analyzer.capture.hep import (
    HEP3_MAGIC,
    HEP_PAYLOAD_SIP,
    HepError,
    hep3_length,
    looks_like_hep,
    parse_hep,
)
from sipauth_analyzer.capture.model import (
    FLAG_HEP,
    FLAG_INCOMPLETE,
    FLAG_TCP_REASSEMBLED,
    FLAG_TRUNCATED,
    FLAG_WEBSOCKET,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.sipframe import (
    CONTENT_LENGTH_INVALID,
    CONTENT_LENGTH_MISSING,
    START_LINE_LIMIT,
    START_NEED_MORE,
    content_length,
    find_start_line,
    header_end,
    skip_line_breaks,
    start_line_end,
    starts_with_known_method,
)
from sipauth_analyzer.capture.tcp import StreamMode, TcpDirection
from sipauth_analyzer.capture.websocket import (
    CONTROL_PAYLOAD_LIMIT,
    OPCODE_CONTINUATION,
    is_upgrade_request,
    is_upgrade_response,
    looks_like_sip_frame,
    parse_frame_header,
    unmask,
)
from sipauth_analyzer.primitives import Endpoint, Note, NoteLevel, NoteSink, Transport

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04

_SIP_OVER_TLS_PORT = 5061  # RFC 3261 §26.2 default for sips:

_EMPTY_FLAGS: frozenset[str] = frozenset()
_TRUNCATED = frozenset({FLAG_TRUNCATED})
_REASSEMBLED = frozenset({FLAG_TCP_REASSEMBLED})
_WEBSOCKET = frozenset({FLAG_WEBSOCKET})
_HEP = frozenset({FLAG_HEP})
# Heap entries beyond twice the open TCP directions that trigger a rebuild (see
# TransportDemux._compact_floor_heap); the slack keeps tiny tables from rebuilding on every push.
_FLOOR_HEAP_SLACK = 1_024

_HEP_TRANSPORTS = {17: Transport.UDP, 6: Transport.TCP, 132: Transport.SCTP}

StreamKey = tuple[str, int, str, int]


@dataclass(slots=True)
class TransportCounters:
    """What the demux saw and set aside; useful for the summary and for tests."""

    keepalives: int = 0
    tcp_retransmitted_segments: int = 0
    tcp_overlapping_bytes: int = 0
    tcp_gaps: int = 0
    tcp_gap_bytes: int = 0
    tcp_resyncs: int = 0
    tcp_streams_evicted: int = 0
    incomplete_messages: int = 0
    hep_packets: int = 0
    hep_malformed: int = 0
    websocket_messages: int = 0
    sctp_fragmented_chunks: int = 0
    internal_errors: int = 0


class TransportDemux:
    """Per-capture-file transport state. See the module docstring for the contract."""

    def __init__(
        self,
        options: CaptureOptions,
        notes: NoteSink,
        stats: CaptureStats,
        file: str,
    ) -> None:
        self._options = options
        self._notes = notes
        self._stats = stats
        self._file = file
        self._hep_ports = frozenset(options.hep_ports)
        self._endpoints: dict[tuple[str, int], Endpoint] = {}
        self._streams: OrderedDict[StreamKey, TcpDirection] = OrderedDict()
        self._sctp_pending: OrderedDict[
            StreamKey, dict[int, tuple[int, bytes, int, float]]
        ] = OrderedDict()
        self.counters = TransportCounters()
        # Lazy min-heap of (floor, tie, key, direction) with at most one entry per direction
        # that holds bytes (``TcpDirection.floor_queued``); see ``held_floor``. Public so the
        # reader's per-message fast path can test it without a call: empty means no direction
        # holds bytes (non-empty may still be only stale entries). Mutated in place only.
        self.floor_heap: list[tuple[int, int, StreamKey, TcpDirection]] = []
        self._floor_tie = itertools.count()

    # ------------------------------------------------------------------ public interface

    def udp(  # noqa: PLR0917 - the reader's fixed positional interface
        self,
        frame: int,
        time: float,
        frames: tuple[int, ...],
        src_ip: str,
        dst_ip: str,
        sport: int,
        dport: int,
        payload: bytes,
        wire_size: int,
        ip_fragments: int,
        flags: frozenset[str],
    ) -> list[CapturedMessage]:
        """One UDP datagram (RFC 3261 §18.3: one datagram carries one SIP message)."""
        if not payload:
            return []
        try:
            first = payload[0]
            if (
                first == 0x48 or first < 3 or sport in self._hep_ports or dport in self._hep_ports
            ) and looks_like_hep(payload):
                cut = len(payload) < wire_size
                return self._unwrap_hep(payload, frame, frames, time, flags, cut)
            if first in (13, 10):
                start = skip_line_breaks(payload, 0)
                if start == len(payload):
                    self.counters.keepalives += 1  # RFC 5626 §4.4.1 CRLF keep-alive
                    return []
                payload = payload[start:]
                wire_size -= start
            if start_line_end(payload) < 0:
                return []
            if wire_size > len(payload) and FLAG_INCOMPLETE not in flags:
                flags = flags | _TRUNCATED
            return [
                CapturedMessage(
                    payload,
                    self._file,
                    frame,
                    frames,
                    time,
                    self._endpoint(src_ip, sport),
                    self._endpoint(dst_ip, dport),
                    Transport.UDP,
                    wire_size,
                    ip_fragments,
                    flags,
                )
            ]
        except Exception as error:  # a bug must not abort the whole capture
            self._internal_error("UDP", frame, error)
            return []

    def tcp(  # noqa: PLR0917 - the reader's fixed positional interface
        self,
        frame: int,
        time: float,
        src_ip: str,
        dst_ip: str,
        sport: int,
        dport: int,
        seq: int,
        tcp_flags: int,
        payload: bytes,
        truncated: bool,
    ) -> list[CapturedMessage]:
        """One TCP segment; returns the SIP messages it completed (possibly several, or none)."""
        control = tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)
        if not payload and not control:
            return []  # a bare ACK
        key = (src_ip, sport, dst_ip, dport)
        out: list[CapturedMessage] = []
        try:
            self._tcp(key, frame, time, seq, tcp_flags, payload, truncated, out)
        except Exception as error:
            self._internal_error("TCP", frame, error)
            self._streams.pop(key, None)
        # Only ingestion makes a direction hold bytes, so a direction enters the floor heap
        # here; it leaves lazily, when ``held_floor`` finds it holds nothing any more.
        state = self._streams.get(key)
        if state is not None and not state.floor_queued:
            floor = state.floor()
            if floor is not None:
                state.floor_queued = True
                heapq.heappush(self.floor_heap, (floor, next(self._floor_tie), key, state))
                if len(self.floor_heap) > 2 * len(self._streams) + _FLOOR_HEAP_SLACK:
                    self._compact_floor_heap()
        return out

    def _compact_floor_heap(self) -> None:
        """Drop the heap entries of directions no longer open.

        Entries leave the heap lazily (``held_floor`` pops only the head), so directions
        flushed by eviction or idleness would stay referenced, buffers and all, until their
        entry reached the head: 100 k half-open connections kept ~250 MiB alive behind a
        ``max_tcp_streams`` of 20 k. Rebuilding once the heap holds twice the open directions
        keeps it O(open directions) at O(1) amortised cost per push.
        """
        streams = self._streams
        live = [entry for entry in self.floor_heap if streams.get(entry[2]) is entry[3]]
        heapq.heapify(live)
        # In place: the reader holds this list to test "anything held?" without a call.
        self.floor_heap[:] = live

    def sctp(  # noqa: PLR0917 - the reader's fixed positional interface
        self,
        frame: int,
        time: float,
        src_ip: str,
        dst_ip: str,
        sport: int,
        dport: int,
        payload: bytes,
    ) -> list[CapturedMessage]:
        """SCTP chunks (after the common header). RFC 4168 §5: one SIP message per user message."""
        out: list[CapturedMessage] = []
        try:
            self._sctp(frame, time, src_ip, dst_ip, sport, dport, payload, out)
        except Exception as error:
            self._internal_error("SCTP", frame, error)
        return out

    def held_floor(self) -> int | None:
        """The smallest frame a message this demux yields in the future can carry.

        None when no direction holds bytes (every future message then carries a frame not yet
        read). UDP and SCTP hold nothing that yields an older frame: an SCTP user message is
        completed by the chunk just read, which is its latest frame (RFC 9260 §6.9).

        A direction's floor only rises while it holds bytes (new bytes come from newer
        frames), so a stale heap entry is never above the true value: the head is refreshed
        until it is exact. O(log n) amortised; the heap has one entry per holding direction.
        """
        floors = self.floor_heap
        streams = self._streams
        while floors:
            value, _, key, state = floors[0]
            current = state.floor() if streams.get(key) is state else None
            if current == value:
                return value
            if current is None:
                heapq.heappop(floors)
                state.floor_queued = False
            else:
                heapq.heapreplace(floors, (current, next(self._floor_tie), key, state))
        return None

    def expire(self, now: float) -> list[CapturedMessage]:
        """Flush TCP directions idle for more than ``tcp_idle_timeout`` seconds of capture time."""
        out: list[CapturedMessage] = []
        cutoff = now - self._options.tcp_idle_timeout
        streams = self._streams
        while streams:
            key, state = next(iter(streams.items()))
            if state.last_time >= cutoff:
                break
            del streams[key]
            self._finalize(state, out, "was idle")
        return out

    def finish(self) -> list[CapturedMessage]:
        """End of the capture file: resolve every hole, report unfinished messages, drop state."""
        out: list[CapturedMessage] = []
        for pending in self._sctp_pending.values():
            if pending:
                self._note(
                    "sctp-incomplete",
                    f"{len(pending)} fragments of an SCTP user message never completed",
                    tuple(sorted({part[2] for part in pending.values()})),
                )
        self._sctp_pending.clear()
        streams = self._streams
        while streams:
            _, state = streams.popitem(last=False)
            try:
                self._finalize(state, out, "was still open at the end of the capture")
            except Exception as error:
                self._internal_error("TCP", state.last_frame, error)
        return out

    # ------------------------------------------------------------------ shared helpers

    def _endpoint(self, ip: str, port: int) -> Endpoint:
        key = (ip, port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            if len(self._endpoints) >= self._options.endpoint_cache_size:
                self._endpoints.clear()
            endpoint = self._endpoints[key] = Endpoint(ip, port)
        return endpoint

    def _note(
        self,
        kind: str,
        detail: str,
        frames: tuple[int, ...] = (),
        *,
        level: NoteLevel = NoteLevel.WARNING,
        once: str | None = None,
    ) -> None:
        # Repeats are capped per kind and file by the sink (CaptureOptions.max_notes_per_kind).
        self._notes.add(
            Note(kind, detail, level, frames, self._file),
            once=None if once is None else f"{kind}\x00{self._file}\x00{once}",
        )

    def _internal_error(self, where: str, frame: int, error: Exception) -> None:
        self.counters.internal_errors += 1
        self._note(
            "internal-error",
            f"{where} handling failed on this frame ({type(error).__name__}: {error}); "
            "its state was dropped. Please report this with the capture.",
            (frame,),
            level=NoteLevel.ERROR,
        )

    @staticmethod
    def _describe(state: TcpDirection) -> str:
        (src_ip, sport), (dst_ip, dport) = state.src, state.dst
        return f"{Endpoint(src_ip, sport)} → {Endpoint(dst_ip, dport)}"

    # ------------------------------------------------------------------ HEP

    def _unwrap_hep(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        payload: bytes,
        frame: int,
        frames: tuple[int, ...],
        time: float,
        flags: frozenset[str],
        truncated: bool,
    ) -> list[CapturedMessage]:
        self.counters.hep_packets += 1
        packet = parse_hep(payload, time, self._options.max_message_size)
        if isinstance(packet, HepError):
            self.counters.hep_malformed += 1
            cause = " (the frame was cut by the capture's snap length)" if truncated else ""
            self._note("hep-malformed", packet.detail + cause, (frame,))
            return []
        if packet.payload_type != HEP_PAYLOAD_SIP:
            return []  # HEP also carries RTCP reports, logs, QoS JSON: not ours
        data = packet.payload
        start = skip_line_breaks(data, 0)
        if start == len(data):
            return []
        if start:
            data = data[start:]
        if start_line_end(data) < 0:
            self.counters.hep_malformed += 1
            self._note(
                "hep-malformed",
                f"HEPv{packet.version} packet says it carries SIP but its payload does not start "
                "with a SIP start line",
                (frame,),
            )
            return []
        return [
            CapturedMessage(
                data,
                self._file,
                frame,
                frames,
                time if packet.time is None else packet.time,
                self._endpoint(packet.src_ip, packet.sport),
                self._endpoint(packet.dst_ip, packet.dport),
                _HEP_TRANSPORTS.get(packet.ip_proto, Transport.UDP),
                len(data),
                0,
                flags | _HEP,
            )
        ]

    # ------------------------------------------------------------------ SCTP

    def _sctp(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        frame: int,
        time: float,
        src_ip: str,
        dst_ip: str,
        sport: int,
        dport: int,
        payload: bytes,
        out: list[CapturedMessage],
    ) -> None:
        size = len(payload)
        offset = 0
        while offset + 4 <= size:
            chunk_type = payload[offset]
            chunk_flags = payload[offset + 1]
            length = int.from_bytes(payload[offset + 2 : offset + 4], "big")
            if length < 4 or offset + length > size:
                self._note(
                    "sctp-malformed",
                    f"SCTP chunk type {chunk_type} at offset {offset} has length {length}, "
                    f"beyond the {size} bytes captured",
                    (frame,),
                )
                return
            # RFC 9260 §3.3.1: DATA chunk; B (0x02) and E (0x01) both set = unfragmented.
            if chunk_type == 0 and length > 16:
                data = payload[offset + 16 : offset + length]
                if chunk_flags & 0x03 == 0x03:
                    self._sctp_message(data, ((frame, time),), src_ip, sport, dst_ip, dport, out)
                else:
                    tsn = int.from_bytes(payload[offset + 4 : offset + 8], "big")
                    self._sctp_fragment(
                        (src_ip, sport, dst_ip, dport), tsn, chunk_flags, data, frame, time, out
                    )
            offset += (length + 3) & ~3  # chunks are padded to 4 bytes (RFC 9260 §3.2)

    def _sctp_message(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        data: bytes,
        suppliers: tuple[tuple[int, float], ...],
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        out: list[CapturedMessage],
    ) -> None:
        start = skip_line_breaks(data, 0)
        if start == len(data):
            return
        if start:
            data = data[start:]
        if start_line_end(data) < 0:
            return
        frames = tuple(sorted({frame for frame, _ in suppliers}))
        time = dict(suppliers)[frames[-1]]
        out.append(
            CapturedMessage(
                data,
                self._file,
                frames[-1],
                frames,
                time,
                self._endpoint(src_ip, sport),
                self._endpoint(dst_ip, dport),
                Transport.SCTP,
                len(data),
            )
        )

    def _sctp_fragment(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        key: StreamKey,
        tsn: int,
        chunk_flags: int,
        data: bytes,
        frame: int,
        time: float,
        out: list[CapturedMessage],
    ) -> None:
        """RFC 9260 §6.9: a user message split over DATA chunks with consecutive TSNs, the first
        marked B and the last E. Reassembled per association direction, bounded in size."""
        self.counters.sctp_fragmented_chunks += 1
        pending = self._sctp_pending.get(key)
        if pending is None:
            if len(self._sctp_pending) >= self._options.max_sctp_reassemblies:
                self._sctp_pending.popitem(last=False)
                self._note(
                    "sctp-reassembly-limit",
                    f"more than {self._options.max_sctp_reassemblies} SCTP associations had "
                    "fragmented messages pending (max_sctp_reassemblies); the "
                    "oldest pending fragments were dropped",
                    (frame,),
                    once="limit",
                )
            pending = self._sctp_pending[key] = {}
        else:
            self._sctp_pending.move_to_end(key)
        if tsn in pending:
            return  # retransmitted chunk: the first copy wins
        pending[tsn] = (chunk_flags, data, frame, time)
        if sum(len(part[1]) for part in pending.values()) > self._options.max_message_size:
            frames = tuple(sorted({part[2] for part in pending.values()}))
            pending.clear()
            self._note(
                "sctp-malformed",
                "fragmented SCTP user message grew past CaptureOptions.max_message_size "
                f"({self._options.max_message_size}); its fragments were dropped",
                frames,
            )
            return
        for first_tsn, (flags, *_rest) in list(pending.items()):
            if not flags & 0x02:
                continue
            parts: list[int] = []
            current = first_tsn
            while current in pending:
                parts.append(current)
                if pending[current][0] & 0x01:
                    chunks = [pending.pop(number) for number in parts]
                    message = b"".join(chunk[1] for chunk in chunks)
                    suppliers = tuple((chunk[2], chunk[3]) for chunk in chunks)
                    self._sctp_message(message, suppliers, key[0], key[1], key[2], key[3], out)
                    break
                current = (current + 1) % (1 << 32)
                if len(parts) > len(pending):
                    break
        if not pending:
            del self._sctp_pending[key]

    # ------------------------------------------------------------------ TCP

    def _tcp(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        key: StreamKey,
        frame: int,
        time: float,
        seq: int,
        tcp_flags: int,
        payload: bytes,
        truncated: bool,
        out: list[CapturedMessage],
    ) -> None:
        streams = self._streams
        state = streams.get(key)
        syn = tcp_flags & TCP_SYN
        if state is None:
            if not payload and not syn:
                return  # FIN/RST of a connection we never saw data on
            state = self._new_stream(key, time, out)
        else:
            streams.move_to_end(key)
            state.last_time = time
        state.last_frame = frame
        if syn:
            data_seq = seq + 1  # the SYN occupies one sequence number (RFC 9293 §3.4)
            if state.isn_known:
                if state.syn_seen and state.offset_of(data_seq) == 0 and state.next_offset == 0:
                    pass  # retransmitted SYN
                elif state.syn_seen or state.next_offset or state.buffer.data:
                    # Same 4-tuple, new connection: finish the old one first.
                    self._finalize(state, out, "was replaced by a new connection (SYN)")
                    state = self._new_stream(key, time, out)
                    state.last_frame = frame
            if not state.isn_known or not state.syn_seen:
                state.start(data_seq)
                state.syn_seen = True
        else:
            data_seq = seq
        if state.mode is StreamMode.CLOSED and payload:
            if not state.isn_known or state.offset_of(data_seq + len(payload)) > state.next_offset:
                # New data after close: a new connection whose SYN we did not capture.
                state = self._new_stream(key, time, out)
                state.last_frame = frame
            else:
                self.counters.tcp_retransmitted_segments += 1
                return
        if payload:
            self._ingest(state, data_seq, payload, frame, time, truncated, out)
        if tcp_flags & TCP_RST:
            self._finalize(state, out, "was reset (RST)")
        elif tcp_flags & TCP_FIN and state.mode is not StreamMode.CLOSED:
            if not state.isn_known:
                state.start(data_seq)
            state.fin_offset = state.offset_of(data_seq + len(payload))
        if (
            state.fin_offset is not None
            and state.mode is not StreamMode.CLOSED
            and state.next_offset >= state.fin_offset
            and not state.out_of_order
        ):
            self._finalize(state, out, "was closed (FIN)")

    def _new_stream(
        self, key: StreamKey, time: float, out: list[CapturedMessage]
    ) -> TcpDirection:
        streams = self._streams
        old = streams.pop(key, None)
        if old is None and len(streams) >= self._options.max_tcp_streams:
            _, victim = streams.popitem(last=False)
            self.counters.tcp_streams_evicted += 1
            self._note(
                "tcp-streams-limit",
                f"more than {self._options.max_tcp_streams} TCP directions were open at once "
                "(CaptureOptions.max_tcp_streams); the least recently used ones were flushed "
                "early, so messages in progress on them may be missing or incomplete",
                (victim.last_frame,),
                once="limit",
            )
            self._finalize(victim, out, "was evicted (max_tcp_streams)")
        state = TcpDirection((key[0], key[1]), (key[2], key[3]), time)
        streams[key] = state
        return state

    def _ingest(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        state: TcpDirection,
        seq: int,
        payload: bytes,
        frame: int,
        time: float,
        truncated: bool,
        out: list[CapturedMessage],
    ) -> None:
        mode = state.mode
        if not state.isn_known:
            state.start(seq)  # capture began mid-connection: anchor at the first byte we see
        offset = state.offset_of(seq)
        end = offset + len(payload)
        if state.gap_after_truncation and offset > state.next_offset and not state.out_of_order:
            state.gap_after_truncation = False
            self._gap(state, offset, frame, out, "a segment was cut by the snap length")
        if end <= state.next_offset:
            self.counters.tcp_retransmitted_segments += 1
            return
        if mode is StreamMode.TLS or mode is StreamMode.IGNORED:
            # Track the sequence space only, so nothing is buffered for unreadable streams.
            if offset <= state.next_offset:
                state.next_offset = end
                state.next_seq = (seq + len(payload)) % (1 << 32)
            return
        if offset < state.next_offset:
            self.counters.tcp_overlapping_bytes += state.next_offset - offset
            payload = payload[state.next_offset - offset :]
            offset = state.next_offset
        if offset == state.next_offset:
            state.advance(payload, frame, time)
            if state.out_of_order:
                duplicates, overlap = state.drain()
                self.counters.tcp_retransmitted_segments += duplicates
                self.counters.tcp_overlapping_bytes += overlap
        else:
            duplicate = state.park(offset, payload, frame, time)
            if duplicate:
                self.counters.tcp_overlapping_bytes += duplicate
        if truncated:
            state.gap_after_truncation = True
            state.truncated_frame = frame
        self._frame(state, out)
        # Out-of-order data beyond the per-direction budget: the hole is not going to fill
        # in any reasonable time, so give it up rather than grow without bound.
        limit = self._options.max_tcp_buffer
        while state.out_of_order and state.buffered_bytes() > limit:
            first = state.first_parked()
            assert first is not None
            self._gap(
                state,
                first,
                state.out_of_order[first][1],
                out,
                f"more than {limit} bytes waited behind it (CaptureOptions.max_tcp_buffer)",
            )
            duplicates, overlap = state.drain()
            self.counters.tcp_retransmitted_segments += duplicates
            self.counters.tcp_overlapping_bytes += overlap
            self._frame(state, out)

    def _gap(
        self,
        state: TcpDirection,
        to_offset: int,
        frame_after: int,
        out: list[CapturedMessage],
        cause: str,
    ) -> None:
        """Give up on the bytes between ``next_offset`` and ``to_offset``."""
        missing = to_offset - state.next_offset
        frame_before = state.buffer.last_frame() or state.truncated_frame
        fate = self._abandon_partial(state, out)
        self.counters.tcp_gaps += 1
        self.counters.tcp_gap_bytes += missing
        frames = tuple(sorted({f for f in (frame_before, frame_after) if f}))
        if state.mode not in (StreamMode.TLS, StreamMode.IGNORED, StreamMode.CLOSED):
            self._note(
                "tcp-gap",
                f"TCP {self._describe(state)}: {missing} bytes were never captured "
                f"({cause}); {fate}",
                frames,
            )
        state.skip_to(to_offset)
        state.resync = True
        state.line_start = False
        state.ws_fragments.clear()
        state.ws_fragment_bytes = 0
        state.ws_times.clear()
        state.ws_discard = 0

    def _abandon_partial(self, state: TcpDirection, out: list[CapturedMessage]) -> str:
        """Deal with the bytes of an unfinished message; say what happened to them."""
        buffer = state.buffer
        data = buffer.data
        if state.mode is StreamMode.SIP and not state.resync and data:
            pos = skip_line_breaks(data, 0)
            if pos == len(data):
                buffer.drop(pos)
                return "no message was in progress"
            line_end = start_line_end(data, pos)
            end = header_end(data, pos) if line_end >= 0 else -1
            if end > 0:
                declared = content_length(data, pos, end)
                buffer.drop(pos)
                size = len(data)
                chunk, suppliers = buffer.take(size)
                wire_size = end - pos + declared if declared >= 0 else size
                out.append(
                    self._stream_message(
                        state, chunk, suppliers, Transport.TCP, frozenset({FLAG_INCOMPLETE}),
                        max(wire_size, size),
                    )
                )
                self.counters.incomplete_messages += 1
                return (
                    f"the message in progress had complete headers and was kept "
                    f"({size} of {max(wire_size, size)} bytes), flagged incomplete"
                )
        if state.mode is StreamMode.WEBSOCKET and (data or state.ws_fragments):
            size = len(data) + state.ws_fragment_bytes
            buffer.drop(len(data))
            return f"{size} bytes of a partial WebSocket message were discarded"
        size = len(data)
        buffer.drop(size)
        if state.mode is StreamMode.SIP and not state.resync and size:
            return f"{size} bytes of a message whose headers were cut were discarded"
        return "no message was in progress"

    def _finalize(self, state: TcpDirection, out: list[CapturedMessage], why: str) -> None:
        """The direction will get no more bytes: resolve holes, report leftovers, close."""
        if state.mode is StreamMode.CLOSED:
            return
        while state.out_of_order:
            first = state.first_parked()
            assert first is not None
            self._gap(state, first, state.out_of_order[first][1], out, f"the connection {why}")
            duplicates, overlap = state.drain()
            self.counters.tcp_retransmitted_segments += duplicates
            self.counters.tcp_overlapping_bytes += overlap
            self._frame(state, out)
        pending = bool(skip_line_breaks(state.buffer.data, 0) < len(state.buffer.data))
        if (pending and not state.resync) or state.ws_fragments:
            frames = tuple(f for f in (state.buffer.last_frame() or state.last_frame,) if f)
            if state.gap_after_truncation:
                cause = "its last segment was cut by the snap length"
            else:
                cause = f"the connection {why}"
            fate = self._abandon_partial(state, out)
            if state.mode in (StreamMode.SIP, StreamMode.WEBSOCKET, StreamMode.HEP):
                self._note(
                    "tcp-unfinished",
                    f"TCP {self._describe(state)}: a message was still unfinished when {cause}; "
                    f"{fate}",
                    frames,
                )
        state.buffer.clear_to(state.next_offset)
        state.ws_fragments.clear()
        state.ws_times.clear()
        state.mode = StreamMode.CLOSED

    def _stream_message(  # noqa: PLR0917 - mirrors the per-packet interface
        self,
        state: TcpDirection,
        data: bytes,
        suppliers: list[tuple[int, float]],
        transport: Transport,
        flags: frozenset[str],
        wire_size: int,
    ) -> CapturedMessage:
        if len(suppliers) == 1:
            frame, time = suppliers[0]
            frames: tuple[int, ...] = (frame,)
        else:
            times = dict(suppliers)
            frames = tuple(sorted(times))
            frame = frames[-1]
            time = times[frame]
            if len(frames) > 1:
                flags = flags | _REASSEMBLED
        src_ip, sport = state.src
        dst_ip, dport = state.dst
        return CapturedMessage(
            data,
            self._file,
            frame,
            frames,
            time,
            self._endpoint(src_ip, sport),
            self._endpoint(dst_ip, dport),
            transport,
            wire_size,
            0,
            flags,
        )

    # ------------------------------------------------------------------ stream framing

    def _frame(self, state: TcpDirection, out: list[CapturedMessage]) -> None:
        """Cut the in-order bytes into messages according to what the stream carries."""
        for _ in range(8):  # each pass either settles the mode or returns
            mode = state.mode
            if mode is StreamMode.SIP:
                self._frame_sip(state, out)
                return
            if mode is StreamMode.WEBSOCKET:
                self._frame_websocket(state, out)
                return
            if mode is StreamMode.HEP:
                self._frame_hep(state, out)
                return
            if mode is StreamMode.UNKNOWN:
                if not self._classify(state):
                    return
            elif mode is StreamMode.WS_HANDSHAKE:
                if not self._handshake(state):
                    return
            else:  # TLS, IGNORED, CLOSED: nothing readable
                state.buffer.clear_to(state.next_offset)
                return

    def _classify(self, state: TcpDirection) -> bool:
        """Decide what a direction carries from its first bytes; False while undecidable."""
        buffer = state.buffer
        data = buffer.data
        if state.resync:
            # After a gap before classification we are mid-stream: only SIP can be found again.
            state.mode = StreamMode.SIP
            return True
        start = skip_line_breaks(data, 0)
        if start:
            buffer.drop(start)
        if not data:
            return False
        first = data[0]
        if 0x14 <= first <= 0x17:
            # TLS record header (RFC 8446 §5.1): content type, legacy version 0x03 0x0X.
            if len(data) < 3:
                return False
            ports = (state.src[1], state.dst[1])
            if data[1] == 3 and data[2] <= 4 and (first == 0x16 or _SIP_OVER_TLS_PORT in ports):
                self._mark_tls(state)
                return True
        if first == 0x48 and len(data) < 4:
            return False
        if data.startswith(HEP3_MAGIC):
            state.mode = StreamMode.HEP
            return True
        if data.startswith((b"GET ", b"HTTP/1.")):
            state.mode = StreamMode.WS_HANDSHAKE
            return True
        if first in (0x81, 0x82, 0x01, 0x02) and looks_like_sip_frame(data, 0):
            state.mode = StreamMode.WEBSOCKET  # capture began after the handshake
            return True
        found = start_line_end(data, 0)
        if found == START_NEED_MORE:
            return False
        state.mode = StreamMode.SIP
        if found < 0 or not (
            state.syn_seen or data.startswith(b"SIP/2.0 ") or starts_with_known_method(data)
        ):
            # Without the SYN we may be inside a line (see starts_with_known_method).
            state.resync = True
            state.line_start = state.syn_seen
        return True

    def _mark_tls(self, state: TcpDirection) -> None:
        state.mode = StreamMode.TLS
        state.buffer.clear_to(state.next_offset)
        reverse = self._streams.get((state.dst[0], state.dst[1], state.src[0], state.src[1]))
        if reverse is not None and reverse.mode is StreamMode.TLS:
            return  # this connection was counted when its other direction was seen
        self._stats.tls_flows += 1
        ends = sorted([f"{Endpoint(*state.src)}", f"{Endpoint(*state.dst)}"])
        self._note(
            "tls-flow",
            f"TCP {ends[0]} ⇄ {ends[1]} carries TLS: SIP over TLS (or secure WebSocket) cannot "
            "be read without the session keys; try --engine tshark with a TLS key log file "
            "(SSLKEYLOGFILE)",
            (state.last_frame,),
            level=NoteLevel.INFO,
            once=" ".join(ends),
        )

    def _handshake(self, state: TcpDirection) -> bool:
        """RFC 6455 §4: consume the HTTP upgrade request or response head."""
        buffer = state.buffer
        data = buffer.data
        end = header_end(data, 0)
        if end < 0:
            if len(data) > self._options.max_http_head:
                state.mode = StreamMode.IGNORED
                return True
            return False
        if data.startswith(b"GET "):
            upgrade = is_upgrade_request(data, 0, end)
        else:
            upgrade = bool(is_upgrade_response(data, 0, end))
        buffer.drop(end)
        state.mode = StreamMode.WEBSOCKET if upgrade else StreamMode.IGNORED
        return True

    def _frame_sip(self, state: TcpDirection, out: list[CapturedMessage]) -> None:
        """RFC 3261 §18.3: on a stream, a message ends Content-Length bytes after CRLFCRLF."""
        buffer = state.buffer
        data = buffer.data
        max_size = self._options.max_message_size
        while data:
            if state.resync and not self._resync_sip(state):
                return
            start = skip_line_breaks(data, 0)
            if start:
                buffer.drop(start)
                state.line_start = True
                if not data:
                    return
            line_end = start_line_end(data, 0)
            if line_end == START_NEED_MORE:
                return
            if line_end < 0:
                state.resync = True
                state.line_start = True
                continue
            scan_from = max(line_end - 2, state.header_scan_from - buffer.start)
            end = header_end(data, scan_from)
            if end < 0:
                if len(data) > max_size:
                    self._oversized(state, f"its header block did not end within {max_size} bytes")
                    buffer.drop(line_end)
                    continue
                state.header_scan_from = buffer.start + max(line_end - 2, len(data) - 3)
                return
            if end > max_size:
                # The whole header block can arrive in one read (a 64 KiB loopback segment), so
                # the bound must hold when its end is found too, not only while it is awaited.
                self._oversized(state, f"its header block did not end within {max_size} bytes")
                buffer.drop(line_end)
                continue
            body = content_length(data, 0, end)
            if body == CONTENT_LENGTH_MISSING:
                # RFC 3261 §18.3 makes Content-Length mandatory on streams; assume no body.
                self._note(
                    "sip-no-content-length",
                    f"TCP {self._describe(state)}: a SIP message has no Content-Length, which "
                    "RFC 3261 §18.3 requires on stream transports; assumed an empty body",
                    (state.last_frame,),
                    level=NoteLevel.INFO,
                    once=f"{state.src} {state.dst}",
                )
                body = 0
            elif body == CONTENT_LENGTH_INVALID:
                self._note(
                    "sip-bad-content-length",
                    f"TCP {self._describe(state)}: a SIP message has an invalid or conflicting "
                    "Content-Length, so its end cannot be found; skipped to the next start line",
                    tuple(sorted({frame for _, frame, _ in buffer.spans})),
                )
                buffer.drop(line_end)
                state.resync = True
                state.line_start = True
                continue
            if body > max_size:
                # An absurd Content-Length would make us buffer (and later glue) unrelated
                # messages; headers are already bounded by max_size above.
                self._oversized(state, f"its Content-Length is {body}")
                buffer.drop(line_end)
                continue
            total = end + body
            if len(data) < total:
                return
            chunk, suppliers = buffer.take(total)
            state.header_scan_from = buffer.start
            state.had_sip = True
            out.append(
                self._stream_message(state, chunk, suppliers, Transport.TCP, _EMPTY_FLAGS, total)
            )

    def _oversized(self, state: TcpDirection, why: str) -> None:
        self._note(
            "sip-too-large",
            f"TCP {self._describe(state)}: a SIP message was skipped because {why}, more than "
            f"CaptureOptions.max_message_size ({self._options.max_message_size}); "
            "resynchronised at the next start line",
            tuple(sorted({frame for _, frame, _ in state.buffer.spans})),
        )
        state.resync = True
        state.line_start = False

    def _resync_sip(self, state: TcpDirection) -> bool:
        """Skip to the next SIP start line; False when none is buffered yet."""
        buffer = state.buffer
        data = buffer.data
        found = find_start_line(data, 0, at_line_start=state.line_start)
        if found >= 0:
            skipped = state.scanned_without_sip + found
            frames = buffer.drop(found)
            state.resync = False
            state.line_start = True
            state.scanned_without_sip = 0
            if skipped:
                self.counters.tcp_resyncs += 1
                self._note(
                    "tcp-resync",
                    f"TCP {self._describe(state)}: skipped {skipped} bytes that were not a SIP "
                    "message (capture started mid-connection, or after a gap or unusable "
                    "message) and resumed at the next SIP start line",
                    tuple(frames[-1:]) or (state.last_frame,),
                    level=NoteLevel.INFO,
                    once=f"{state.src} {state.dst}",
                )
            return True
        # Keep only the last, possibly unfinished line: a start line may be forming there.
        last_line = data.rfind(b"\n") + 1
        keep_from = max(last_line, len(data) - START_LINE_LIMIT)
        if keep_from > 0:
            buffer.drop(keep_from)
            state.scanned_without_sip += keep_from
            state.line_start = keep_from == last_line
        if not state.had_sip and state.scanned_without_sip > self._options.max_resync_scan:
            state.mode = StreamMode.IGNORED  # never carried SIP: stop looking
            buffer.clear_to(state.next_offset)
        return False

    def _frame_websocket(self, state: TcpDirection, out: list[CapturedMessage]) -> None:
        """RFC 6455 §5: frames → messages; RFC 7118 §5: one SIP message per WebSocket message."""
        buffer = state.buffer
        data = buffer.data
        max_size = self._options.max_message_size
        while data:
            if state.ws_discard:
                count = min(state.ws_discard, len(data))
                buffer.drop(count)
                state.ws_discard -= count
                continue
            if state.resync and not self._resync_websocket(state):
                return
            header = parse_frame_header(data, 0)
            if header is None:
                return
            opcode = header.opcode
            control = opcode >= 8
            if opcode not in (0, 1, 2, 8, 9, 10) or (
                control and (header.payload_size > CONTROL_PAYLOAD_LIMIT or not header.fin)
            ):
                self._note(
                    "ws-malformed",
                    f"TCP {self._describe(state)}: invalid WebSocket frame header "
                    f"(opcode {opcode}, length {header.payload_size}); looking for the next "
                    "frame that carries SIP",
                    (state.last_frame,),
                )
                self._reset_ws_message(state)
                buffer.drop(1)
                state.resync = True
                continue
            if header.payload_size > max_size:
                self._note(
                    "ws-frame-too-large",
                    f"TCP {self._describe(state)}: a WebSocket frame of {header.payload_size} "
                    f"bytes exceeds CaptureOptions.max_message_size ({max_size}) and was skipped",
                    (state.last_frame,),
                )
                buffer.drop(header.header_size)
                state.ws_discard = header.payload_size
                self._reset_ws_message(state)
                state.ws_opcode = -1  # drop the rest of this message too
                continue
            total = header.header_size + header.payload_size
            if len(data) < total:
                return
            chunk, suppliers = buffer.take(total)
            if control:
                continue  # close/ping/pong carry no SIP (they may sit between fragments, §5.4)
            payload = chunk[header.header_size :]
            if header.masked:
                payload = unmask(payload, header.mask)
            if opcode == OPCODE_CONTINUATION:
                if state.ws_opcode == 0:
                    self._note(
                        "ws-malformed",
                        f"TCP {self._describe(state)}: WebSocket continuation frame without a "
                        "first frame; ignored",
                        (state.last_frame,),
                    )
                    continue
            else:
                if state.ws_fragments:
                    self._note(
                        "ws-malformed",
                        f"TCP {self._describe(state)}: a new WebSocket message began before the "
                        "previous one finished; the unfinished one was dropped",
                        (state.last_frame,),
                    )
                self._reset_ws_message(state)
                state.ws_opcode = opcode
                if header.rsv & 0x4:
                    # RFC 7692 permessage-deflate: context takeover makes messages depend on
                    # each other; we do not inflate them.
                    self._note(
                        "ws-compressed",
                        f"TCP {self._describe(state)}: WebSocket messages are compressed "
                        "(permessage-deflate) and cannot be read",
                        (state.last_frame,),
                        once=f"{state.src} {state.dst}",
                    )
                    state.ws_opcode = -1
            if state.ws_opcode > 0:
                state.ws_fragments.append(payload)
                state.ws_fragment_bytes += len(payload)
                state.note_ws_suppliers(suppliers)
                if state.ws_fragment_bytes > max_size:
                    self._note(
                        "ws-frame-too-large",
                        f"TCP {self._describe(state)}: a fragmented WebSocket message grew past "
                        f"CaptureOptions.max_message_size ({max_size}) and was skipped",
                        (state.last_frame,),
                    )
                    self._reset_ws_message(state)
                    state.ws_opcode = -1
            if header.fin:
                if state.ws_opcode > 0:
                    self._emit_ws(state, out)
                self._reset_ws_message(state)

    def _emit_ws(self, state: TcpDirection, out: list[CapturedMessage]) -> None:
        message = b"".join(state.ws_fragments)
        start = skip_line_breaks(message, 0)
        if start:
            message = message[start:]
        if not message or start_line_end(message) < 0:
            return  # a keep-alive or a non-SIP sub-protocol message
        self.counters.websocket_messages += 1
        state.had_sip = True
        suppliers = list(state.ws_times.items())
        out.append(
            self._stream_message(
                state, message, suppliers, Transport.WS, _WEBSOCKET, len(message)
            )
        )

    @staticmethod
    def _reset_ws_message(state: TcpDirection) -> None:
        state.ws_fragments.clear()
        state.ws_fragment_bytes = 0
        state.ws_times.clear()
        state.ws_opcode = 0

    def _resync_websocket(self, state: TcpDirection) -> bool:
        """After a gap, find the next frame header whose payload starts a SIP message."""
        buffer = state.buffer
        data = buffer.data
        limit = min(len(data), self._options.max_ws_resync_scan)
        for opener in range(limit):
            if data[opener] in (0x81, 0x82) and looks_like_sip_frame(data, opener):
                buffer.drop(opener)
                state.resync = False
                return True
        # Keep a tail long enough to hold a frame header plus the peeked payload.
        keep = 14 + 256
        if len(data) > keep:
            buffer.drop(len(data) - keep)
        return False

    def _frame_hep(self, state: TcpDirection, out: list[CapturedMessage]) -> None:
        """A TCP stream of HEPv3 packets, each framed by its total length."""
        buffer = state.buffer
        data = buffer.data
        max_size = self._options.max_message_size + 4096  # payload plus generous chunk overhead
        while len(data) >= 6:
            if not data.startswith(HEP3_MAGIC):
                found = data.find(HEP3_MAGIC, 1)
                self._note(
                    "hep-malformed",
                    f"TCP {self._describe(state)}: lost HEP framing; skipped to the next HEP3 "
                    "header",
                    (state.last_frame,),
                )
                if found < 0:
                    buffer.drop(len(data) - 3)
                    return
                buffer.drop(found)
                continue
            total = hep3_length(data)
            if total < 6 or total > max_size:
                self._note(
                    "hep-malformed",
                    f"TCP {self._describe(state)}: HEPv3 packet announces length {total}",
                    (state.last_frame,),
                )
                buffer.drop(4)
                continue
            if len(data) < total:
                return
            chunk, suppliers = buffer.take(total)
            frames = tuple(sorted({frame for frame, _ in suppliers}))
            times = dict(suppliers)
            flags = _REASSEMBLED if len(frames) > 1 else _EMPTY_FLAGS
            out.extend(
                self._unwrap_hep(chunk, frames[-1], frames, times[frames[-1]], flags, False)
            )
