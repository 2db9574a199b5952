"""The capture stage's entry point and its hot per-packet loop.

``read_messages`` walks every packet of every source, decodes it (``decode.PacketDecoder``),
feeds one ``TransportDemux`` per file and yields the SIP-bearing messages in capture order.

SBC captures are 95–99 % RTP and many gigabytes, so classic pcap files get a hand-tuned loop:
records are walked in multi-megabyte buffers with one precompiled struct that reads the record
header *and* the few Ethernet/SLL/raw-IP, IPv4 and UDP bytes needed to recognise an untunnelled,
unfragmented IPv4/UDP packet whose payload starts with a byte ≥ 0x80. That byte is RTP version 2
(RFC 3550 §5.1) or another binary protocol, never the first byte of a SIP start line (RFC 3261
§7.1, §25.1), so such packets are dropped with no object created and no function called. The
struct reads the network fields in the *file's* byte order; the constants they are compared
with are converted to match once per file. pcapng Enhanced Packet Blocks of a fast-path
interface get the same test; everything else goes to the complete decoder.

Once a record is dropped, the rest of its run (the RTP between two SIP packets, ~50 records on
a trunk) goes to ``drop_run`` (capture/_droprun.c) when that was built: the same test in C,
16 ns per record against 276 ns for this loop (200,000 RTP records in memory, best of five).
Without it (no compiler at install) the loop drops every record itself, with the same result
(tests/capture/test_droprun.py). On an all-SIP capture it is never called.

Capture order: most messages carry the frame just read, but some come out late — a datagram
abandoned with fragments missing (its last fragment's frame), TCP bytes parked behind a hole or
flushed by FIN/RST/idle/eviction (the latest frame that supplied them). The IP reassembler and
the transport demux each report a *floor*, the smallest frame any message they yield later can
carry; a small heap releases every message at or below it, so when nothing is pending messages
pass straight through and the order is exactly a stable sort by frame, without holding the
capture. ``CaptureOptions.max_reorder_messages`` bounds the heap.
"""

from __future__ import annotations

import heapq
import itertools
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Literal

from sipauth_analyzer.capture.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSDOS,
    LINKTYPE_RAW_OPENBSD,
    Demux,
    PacketDecoder,
    linktype_name,
)
from sipauth_analyzer.capture.files import (
    STOP,
    CaptureFile,
    CaptureFormat,
    ChunkedStream,
    PcapngParser,
    expand_sources,
    open_capture,
    record_too_long,
    truncated_note,
)
from sipauth_analyzer.capture.model import CapturedMessage, CaptureOptions, CaptureStats
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink

DemuxFactory = Callable[[CaptureOptions, NoteSink, CaptureStats, str], Demux]

# The drop path in C (capture/_droprun.c), built at install when a compiler is there. The loops
# below hand it the rest of each run of dropped records; without it they drop every record
# themselves, with the same result. Read once per file, so a test can set it to None.
DropRun = Callable[[bytes, int, int, bool, bool, int, int, int, int, int, int, int, int, int,
                    int, int], tuple[int, int, int, int, int]]
native_drop_run: DropRun | None
try:
    from sipauth_analyzer.capture._droprun import drop_run as native_drop_run
except ImportError:  # pragma: no cover - depends on the install
    native_drop_run = None


def _default_demux(options: CaptureOptions, notes: NoteSink, stats: CaptureStats,
                   file: str) -> Demux:
    from sipauth_analyzer.capture.transport import TransportDemux

    return TransportDemux(options, notes, stats, file)


def read_messages(
    sources: Sequence[str],
    options: CaptureOptions,
    notes: NoteSink,
    stats: CaptureStats,
    *,
    demux_factory: DemuxFactory | None = None,
    progress: Callable[[int], None] | None = None,
    ordered: bool = True,
) -> Iterator[CapturedMessage]:
    """Every candidate SIP message of every source, in capture order, file after file.

    Raises :class:`~sipauth_analyzer.capture.files.CaptureError` (before yielding anything)
    when a source cannot be read at all. Frame numbers restart in each file. ``progress``, if
    given, is called with the bytes of input read so far (all files) after every chunk.

    ``ordered`` False yields messages as they complete, so one completed late (see the module
    docstring) comes after later frames; for consumers that do not care and for tests.
    """
    paths = expand_sources(sources, notes)
    factory = demux_factory or _default_demux
    done_before = 0
    for path in paths:
        with open_capture(path) as capture:
            if progress is not None:
                capture.on_read = _progress_reporter(progress, capture, done_before)
            stats.files.append(path)
            demux = factory(options, notes, stats, path)
            decoder = PacketDecoder(options, notes, path, demux)
            held_floor, ip_open, tcp_held = _floors(decoder, demux)
            reorder = ReorderBuffer(options.max_reorder_messages, notes, path)
            waiting = reorder.heap  # tested as a plain list: len() would cost a call
            if capture.format is CaptureFormat.PCAP:
                walk = _walk_pcap(capture, decoder, notes, stats, options)
            else:
                walk = _walk_pcapng(capture, decoder, notes, stats, options)
            for batch in walk:
                stats.sip_messages += len(batch)
                if not ordered:
                    yield from batch
                elif len(batch) > 1 or waiting or ip_open or tcp_held:
                    yield from reorder.release(batch, held_floor())
                else:
                    # The common case, tested without a call: one message, nothing held back,
                    # nothing being reassembled that could still come out with an older frame.
                    yield batch[0]
            final = decoder.finish()
            stats.sip_messages += len(final)
            yield from (reorder.release(final, None) if ordered else final)
            done_before += capture.input_position()


class ReorderBuffer:
    """Messages of one capture file held back until no earlier frame can still come out.

    ``release(batch, floor)`` takes the messages one packet produced and returns, in order,
    every held message whose frame is at or below ``floor`` — the smallest frame any message
    still to come can carry (None: nothing is pending, release all). Ties keep arrival order,
    and a message arriving later with the floor's own frame sorts after those released, so the
    output is exactly the stable sort by frame. Past ``limit`` held messages the smallest goes
    out early and a ``reorder-limit`` note (once per file) says from which frame order may be
    off.
    """

    __slots__ = ("_arrival", "_file", "_limit", "_notes", "heap")

    def __init__(self, limit: int, notes: NoteSink, file: str) -> None:
        self._limit = max(limit, 0)
        self._notes = notes
        self._file = file
        # (frame, arrival, message); read-only outside: empty means nothing is held.
        self.heap: list[tuple[int, int, CapturedMessage]] = []
        self._arrival = itertools.count()

    def __len__(self) -> int:
        return len(self.heap)

    def release(self, batch: Iterable[CapturedMessage],
                floor: int | None) -> list[CapturedMessage]:
        heap = self.heap
        arrival = self._arrival
        for message in batch:
            heapq.heappush(heap, (message.frame, next(arrival), message))
        out: list[CapturedMessage] = []
        while heap and (floor is None or heap[0][0] <= floor):
            out.append(heapq.heappop(heap)[2])
        if len(heap) > self._limit:
            early = heapq.heappop(heap)[2]
            self._note_limit(early.frame, floor)
            out.append(early)
            while len(heap) > self._limit:
                out.append(heapq.heappop(heap)[2])
        return out

    def _note_limit(self, frame: int, floor: int | None) -> None:
        self._notes.add(Note(
            kind="reorder-limit",
            detail=f"more than max_reorder_messages={self._limit} SIP messages waited for frame "
            f"{floor} and earlier to finish reassembling; messages from frame {frame} on were "
            "passed on early, so a message completed late may be out of capture order",
            level=NoteLevel.WARNING, frames=(frame,), file=self._file),
            once=f"reorder-limit:{self._file}")


def _floors(decoder: PacketDecoder, demux: Demux,
            ) -> tuple[Callable[[], int | None], Sized, Sized]:
    """How the reorder buffer learns what is pending in one file's decoder and demux.

    Returns ``held_floor()`` — the smallest frame a message yielded in the future can carry,
    None when any — and the two containers that are empty whenever nothing is pending (IP
    datagrams open, TCP directions holding bytes), for a call-free fast path.
    """
    # The decoder owns its IP reassembler; decode.PacketDecoder has no public accessor yet.
    reassembler = decoder._reassembler
    ip_floor = reassembler.held_floor
    tcp_floor: Callable[[], int | None] | None = getattr(demux, "held_floor", None)
    tcp_held: Sized | None = getattr(demux, "floor_heap", None)
    if tcp_floor is None or tcp_held is None:
        # A demux that cannot tell what it holds: hold every message to the end of the file.
        return (lambda: 0), reassembler.opened, (True,)
    transport_floor = tcp_floor

    def held_floor() -> int | None:
        low = ip_floor()
        other = transport_floor()
        if low is None or (other is not None and other < low):
            return other
        return low

    return held_floor, reassembler.opened, tcp_held


def _progress_reporter(
    progress: Callable[[int], None], capture: CaptureFile, done_before: int
) -> Callable[[], None]:
    return lambda: progress(done_before + capture.input_position())


def _note_times(stats: CaptureStats, first: float | None, last: float | None) -> None:
    if first is not None and (stats.first_time is None or first < stats.first_time):
        stats.first_time = first
    if last is not None and (stats.last_time is None or last > stats.last_time):
        stats.last_time = last


def _walk_pcapng(capture: CaptureFile, decoder: PacketDecoder, notes: NoteSink,
                 stats: CaptureStats, options: CaptureOptions,
                 ) -> Iterator[list[CapturedMessage]]:
    """The pcapng hot loop: Enhanced Packet Blocks of one fast-path interface are checked
    inline like classic pcap records; every other block goes through ``PcapngParser``.
    Yields the messages of each packet that produced any, as one list (see ReorderBuffer)."""
    parser = PcapngParser(capture.path, notes, options.max_record_length)
    block = parser.block
    packet = decoder.packet
    chunks = ChunkedStream(capture.stream, capture.initial, options.read_chunk_size,
                           capture.on_read)
    counts: dict[int, int] = {}
    first: float | None = None
    last: float | None = None
    size = 0
    frame = 0
    generation = -1
    # fast-path configuration for the current section (see _configure below)
    fast_unpack = _NEVER.unpack_from
    fast_span = 1 << 62
    fast_iface = -1
    fast_linktype = 0
    fast_units = 1.0
    fast_offset = 0
    want = check_mask = frag_mask = min_caplen = 0
    native: NativeLayout = (True, 0, 0, 0, 0, 0, 0, 0, 0, 0)  # set with the fast struct
    drop_run = native_drop_run
    fast_count = 0
    last_hi = last_lo = -1  # raw timestamp of the last fast-path packet, when it was last
    buf = b""
    off = 0
    nxt = 0
    try:
        while True:
            end = len(buf)
            while True:
                if generation != parser.generation:
                    generation = parser.generation
                    if fast_count:
                        counts[fast_linktype] = counts.get(fast_linktype, 0) + fast_count
                        fast_count = 0
                    fast_iface = -1
                    fast_span = 1 << 62
                    for index, iface in enumerate(parser.interfaces):
                        config = _fast_config(parser.order, iface.linktype, 7)
                        if config is not None:
                            fast, want, check_mask, frag_mask, min_caplen, native = config
                            fast_unpack = fast.unpack_from
                            fast_span = fast.size
                            fast_iface = index
                            fast_linktype = iface.linktype
                            fast_units = iface.units_per_second
                            fast_offset = iface.offset_seconds
                            break
                if off + fast_span <= end:
                    (block_type, total, iface_id, ts_hi, ts_lo, caplen, wire, check, frag,
                     proto, first_byte) = fast_unpack(buf, off)
                    if (block_type == 6 and iface_id == fast_iface and caplen <= total - 32
                            and off + total <= end):
                        frame += 1
                        fast_count += 1
                        size += caplen
                        last_hi = ts_hi
                        last_lo = ts_lo
                        if (check & check_mask == want and proto == 17 and not frag & frag_mask
                                and first_byte >= 0x80 and caplen >= min_caplen):
                            if first is None:
                                first = ((ts_hi << 32) | ts_lo) / fast_units + fast_offset
                            off += total
                            if drop_run is not None:  # the rest of the run, in C
                                off, skipped, skipped_bytes, hi, lo = drop_run(
                                    buf, off, end, True, *native, 0, fast_iface)
                                if skipped:
                                    frame += skipped
                                    fast_count += skipped
                                    size += skipped_bytes
                                    last_hi = hi
                                    last_lo = lo
                            continue
                        time = ((ts_hi << 32) | ts_lo) / fast_units + fast_offset
                        if first is None:
                            first = time
                        messages = packet(frame, time, fast_linktype,
                                          buf[off + 28 : off + 28 + caplen], wire)
                        off += total
                        if messages:
                            yield messages
                        continue
                # Anything else: one block through the parser, its state kept in step.
                if last_hi >= 0:
                    parser.last_time = ((last_hi << 32) | last_lo) / fast_units + fast_offset
                    last_hi = -1
                parser.frame = frame
                nxt, record = block(buf, off)
                frame = parser.frame
                if nxt < 0:
                    break
                off = nxt
                if record is not None:
                    size += len(record.data)
                    counts[record.linktype] = counts.get(record.linktype, 0) + 1
                    if first is None:
                        first = record.time
                    messages = packet(record.frame, record.time, record.linktype, record.data,
                                      record.wire_length)
                    if messages:
                        yield messages
            if nxt == STOP:
                return
            if chunks.eof:
                if chunks.error:
                    notes.add(truncated_note(capture.path, frame, chunks.error))
                elif off < end:
                    notes.add(truncated_note(capture.path, frame,
                                             "the file ends inside a pcapng block"))
                return
            buf = chunks.refill(buf, off, parser.need(buf, off))
            off = 0
    finally:
        if fast_count:
            counts[fast_linktype] = counts.get(fast_linktype, 0) + fast_count
        if last_hi >= 0:
            parser.last_time = ((last_hi << 32) | last_lo) / fast_units + fast_offset
        if frame:
            last = parser.last_time
        stats.packets += frame
        stats.bytes += size
        for linktype, count in counts.items():
            name = linktype_name(linktype)
            stats.linktypes[name] = stats.linktypes.get(name, 0) + count
        _note_times(stats, first, last)


_NEVER = struct.Struct("<I")


#: drop_run's arguments after (buf, off, end, pcapng) and before (max_record_length, iface):
#: byte order, offsets of the checked word, fragment field, protocol and first payload byte
#: from the record's start, the span they cover, want, mask, fragment mask and minimum caplen.
NativeLayout = tuple[bool, int, int, int, int, int, int, int, int, int]


def _fast_config(order: str, linktype: int, header_words: int,
                 ) -> tuple[struct.Struct, int, int, int, int, NativeLayout] | None:
    """The fast struct and constants for a link type: (struct, want, mask, frag mask, min,
    the same for the C drop path).

    The struct reads ``header_words`` 4-byte record/block header words (4 for a pcap record,
    7 for an Enhanced Packet Block), then the checked word, the IPv4 fragment field, protocol
    and first UDP payload byte, all in the file's byte order.
    """
    layout = _fast_path_layout(linktype)
    if layout is None:
        return None
    check_off, ip_off, want_raw, mask_raw = layout
    endian: Literal["little", "big"] = "little" if order == "<" else "big"
    gap = ip_off + 6 - (check_off + 4)
    fast = struct.Struct(f"{order}{'I' * header_words}{check_off}xI{gap}xHxB18xB")
    want = int.from_bytes(want_raw, endian)
    mask = int.from_bytes(mask_raw, endian)
    # MF flag and fragment offset (RFC 791 §3.1), as the file-order read sees them
    frag_mask = int.from_bytes(b"\x3f\xff", endian)
    min_caplen = ip_off + 29
    data = 4 * header_words
    native: NativeLayout = (
        endian == "little", data + check_off, data + ip_off + 6, data + ip_off + 9,
        data + ip_off + 28, fast.size, want, mask, frag_mask, min_caplen,
    )
    return fast, want, mask, frag_mask, min_caplen, native


def _fast_path_layout(linktype: int) -> tuple[int, int, bytes, bytes] | None:
    """(offset of the 4 bytes checked, offset of the IPv4 header, want, mask) or None.

    Ethernet / SLL: the ethertype (0x0800) and the IPv4 version+IHL byte (0x45) are adjacent.
    SLL2's protocol field is not adjacent to its IP header, so like raw IP only 0x45 is checked:
    a non-IP packet dropped by mistake can never have carried SIP anyway.
    """
    if linktype == LINKTYPE_ETHERNET:
        return 12, 14, b"\x08\x00\x45\x00", b"\xff\xff\xff\x00"
    if linktype == LINKTYPE_LINUX_SLL:
        return 14, 16, b"\x08\x00\x45\x00", b"\xff\xff\xff\x00"
    if linktype == LINKTYPE_LINUX_SLL2:
        return 20, 20, b"\x45\x00\x00\x00", b"\xff\x00\x00\x00"
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSDOS, LINKTYPE_IPV4):
        return 0, 0, b"\x45\x00\x00\x00", b"\xff\x00\x00\x00"
    return None


def _walk_pcap(capture: CaptureFile, decoder: PacketDecoder, notes: NoteSink,
               stats: CaptureStats, options: CaptureOptions,
               ) -> Iterator[list[CapturedMessage]]:
    """The hot loop. See the module docstring; keep it free of calls on the drop path (one
    ``drop_run`` call per run of dropped records, not per record).
    Yields the messages of each packet that produced any, as one list (see ReorderBuffer)."""
    # Options are bound to locals once, here: nothing in the per-packet loop looks one up.
    max_record_length = options.max_record_length
    header = capture.pcap_header
    assert header is not None
    order = header.byte_order
    linktype = header.linktype
    scale = header.fraction_scale
    path = capture.path
    record_header = struct.Struct(order + "IIII").unpack_from
    config = _fast_config(order, linktype, 4)
    drop_run = native_drop_run
    if config is not None:
        fast, want, check_mask, frag_mask, min_caplen, native = config
        fast_span = fast.size
    else:
        want = check_mask = frag_mask = min_caplen = 0
        native = (True, 0, 0, 0, 0, 0, 0, 0, 0, 0)  # never used, like the struct below
        fast = struct.Struct(order + "IIIIIIII")  # never used: fast_span is never reached
        fast_span = 1 << 62
    fast_unpack = fast.unpack_from
    packet = decoder.packet

    chunks = ChunkedStream(capture.stream, capture.initial, options.read_chunk_size,
                           capture.on_read)
    buf = b""
    off = 0
    frame = 0
    size = 0
    first: float | None = None
    last_sec = 0
    last_frac = 0
    try:
        while True:
            end = len(buf)
            if first is None and off + 16 <= end:
                # Times are computed lazily, so take the first record's here, once.
                first_sec, first_frac = record_header(buf, off)[:2]
                first = first_sec + first_frac * scale
            # Fast loop: while a whole fast-struct read fits in the buffer.
            limit = end - fast_span
            while off <= limit:
                sec, frac, caplen, wire, check, frag, proto, first_byte = fast_unpack(buf, off)
                nxt = off + 16 + caplen
                if nxt > end or caplen > max_record_length:
                    break
                frame += 1
                size += caplen
                last_sec = sec
                last_frac = frac
                if (check & check_mask == want and proto == 17 and not frag & frag_mask
                        and first_byte >= 0x80 and caplen >= min_caplen):
                    off = nxt
                    if drop_run is not None:  # the rest of the run, in C
                        off, skipped, skipped_bytes, sec, frac = drop_run(
                            buf, off, end, False, *native, max_record_length, 0)
                        if skipped:
                            frame += skipped
                            size += skipped_bytes
                            last_sec = sec
                            last_frac = frac
                    continue
                time = sec + frac * scale
                messages = packet(frame, time, linktype, buf[off + 16 : nxt], wire)
                off = nxt
                if messages:
                    yield messages
            # Tail of the buffer (and files whose link type has no fast path): one at a time.
            while off + 16 <= end:
                sec, frac, caplen, wire = record_header(buf, off)
                if caplen > max_record_length:
                    notes.add(truncated_note(path, frame, record_too_long(
                        frame + 1, caplen, max_record_length)))
                    return
                nxt = off + 16 + caplen
                if nxt > end:
                    break
                frame += 1
                size += caplen
                last_sec = sec
                last_frac = frac
                time = sec + frac * scale
                messages = packet(frame, time, linktype, buf[off + 16 : nxt], wire)
                off = nxt
                if messages:
                    yield messages
            if chunks.eof:
                if chunks.error:
                    notes.add(truncated_note(path, frame, chunks.error))
                elif off < end:
                    notes.add(truncated_note(path, frame,
                                             f"the file ends inside record {frame + 1}"))
                return
            need = 16 + record_header(buf, off)[2] if off + 16 <= end else 16
            buf = chunks.refill(buf, off, need)
            off = 0
    finally:
        stats.packets += frame
        stats.bytes += size
        if frame:
            name = linktype_name(linktype)
            stats.linktypes[name] = stats.linktypes.get(name, 0) + frame
            _note_times(stats, first, last_sec + last_frac * scale)
