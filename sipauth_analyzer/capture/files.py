"""Capture files: opening sources and walking pcap / pcapng records.

A *source* is a path, a directory (its capture files in name order) or ``-`` (stdin, read as a
stream). Gzip is recognised by its magic bytes (1f 8b), never by the file name. The input is
only ever read.

Two ways to walk records:

* :func:`iter_records` yields one :class:`RawRecord` per packet record, for any format. Simple,
  and what tests and slow paths use.
* :class:`ChunkedStream` hands out large buffers holding whole classic-pcap records, so the hot
  loop in :mod:`sipauth_analyzer.capture.reader` can reject RTP without creating an object per
  packet. A classic pcap's records are self-delimiting after its 24-byte header, so a later
  change can split one file at record boundaries (seek + :class:`ChunkedStream`) across
  processes.

Frame numbers are Wireshark's: the 1-based index of packet records (pcap records; pcapng EPB,
SPB and obsolete PB blocks) across the whole file, every section included.

Bad input: :class:`CaptureError` (the CLI maps it to exit code 2) only when a source cannot be
read at all (missing, empty, wrong magic, header cut short). A file that goes bad part-way
(absurd record length, ends mid-record) stops with a ``capture-truncated`` :class:`Note`.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import io
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sipauth_analyzer.capture.model import CaptureOptions
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink

PCAP_MAGIC_MICRO = 0xA1B2C3D4
PCAP_MAGIC_NANO = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
GZIP_MAGIC = b"\x1f\x8b"

# pcapng block types (draft-ietf-opsawg-pcapng §4)
_BLOCK_IDB = 0x00000001
_BLOCK_PB = 0x00000002  # obsolete Packet Block, still written by old tools
_BLOCK_SPB = 0x00000003
_BLOCK_EPB = 0x00000006
_OPT_END = 0
_OPT_IF_TSRESOL = 9
_OPT_IF_TSOFFSET = 14


class CaptureError(Exception):
    """A source cannot be read at all. The message is one line, fit for the user."""


class CaptureFormat(enum.Enum):
    PCAP = "pcap"
    PCAPNG = "pcapng"


@dataclass(frozen=True, slots=True)
class PcapHeader:
    """The classic pcap global header. ``byte_order`` is a struct prefix, ``<`` or ``>``."""

    byte_order: str
    nanosecond: bool
    version: tuple[int, int]
    snaplen: int
    linktype: int

    @property
    def fraction_scale(self) -> float:
        return 1e-9 if self.nanosecond else 1e-6


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One packet record as stored: captured bytes and the length the packet had on the wire."""

    frame: int
    time: float
    linktype: int
    data: bytes
    wire_length: int
    interface: int = 0


class _PrefixedStream(io.RawIOBase):
    """Serves bytes already read (while sniffing magic) and then the rest of a stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping because gzip and pipes return short reads."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = stream.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the compressed data ends early"
    if isinstance(exc, zlib.error | gzip.BadGzipFile):
        return f"the compressed data is corrupt ({exc})"
    return f"read error ({exc})"


class ChunkedStream:
    """Large-buffer reader: ``refill`` keeps the unconsumed tail and appends fresh bytes."""

    def __init__(self, stream: BinaryIO, initial: bytes, chunk_size: int,
                 on_read: Callable[[], None] | None = None) -> None:
        self._stream = stream
        self._initial = initial
        # At least one byte per read: a zero chunk size (from a configuration file) would
        # otherwise never reach the end of the stream.
        self.chunk_size = max(1, chunk_size)
        # Called after each chunk is read (every few MiB, never per packet): progress display.
        self._on_read = on_read
        self.eof = False
        #: Why reading stopped early (corrupt gzip data, an I/O error), or None at a clean EOF.
        self.error: str | None = None

    def refill(self, buf: bytes, consumed: int, need: int = 0) -> bytes:
        """Return ``buf[consumed:]`` plus at least one more chunk (or ``need`` bytes in total).

        Sets :attr:`eof` when the stream is exhausted; the result may then be just the tail.
        """
        rest = buf[consumed:] if consumed else buf
        if self._initial:
            rest = self._initial + rest
            self._initial = b""
        want = max(self.chunk_size, need - len(rest))
        try:
            data = _read_exactly(self._stream, want)
        except (OSError, EOFError, zlib.error) as exc:
            # gzip raises EOFError for a stream cut short and zlib.error / BadGzipFile (an
            # OSError) for corrupt data; either way the rest of the file cannot be read.
            self.eof = True
            self.error = _read_error(exc)
            return rest
        if len(data) < want:
            self.eof = True
        if self._on_read is not None:
            self._on_read()
        return rest + data if rest else data


@dataclass(slots=True)
class CaptureFile:
    """An opened capture: its format, parsed global header (classic pcap) and byte stream.

    ``initial`` holds bytes already read past the classic header (none) or the whole pcapng
    prefix read while sniffing, so walkers start from ``initial`` and continue with ``stream``.
    """

    path: str
    format: CaptureFormat
    stream: BinaryIO
    initial: bytes
    pcap_header: PcapHeader | None
    compressed: bool
    _owned: list[BinaryIO]
    #: Called after each chunk the walkers read; see :meth:`input_position`.
    on_read: Callable[[], None] | None = None

    def input_position(self) -> int:
        """Bytes of the file (compressed bytes for gzip) read so far; 0 for stdin."""
        if not self._owned:
            return 0
        try:
            return self._owned[0].tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        for stream in reversed(self._owned):
            with contextlib.suppress(OSError):
                stream.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_pcap_header(path: str, head: bytes) -> PcapHeader:
    if len(head) < 24:
        raise CaptureError(f"{path}: file ends inside the pcap header ({len(head)} of 24 bytes)")
    for order in ("<", ">"):
        (magic,) = struct.unpack_from(order + "I", head)
        if magic in (PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO):
            major, minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
                order + "HHiIII", head, 4
            )
            # The upper bits of the link-type word carry FCS length flags (pcap-savefile(5)).
            return PcapHeader(
                byte_order=order,
                nanosecond=magic == PCAP_MAGIC_NANO,
                version=(major, minor),
                snaplen=snaplen,
                linktype=network & 0x0FFFFFFF,
            )
    raise CaptureError(f"{path}: not a pcap header")  # pragma: no cover - caller checked magic


def _format_of(head: bytes) -> CaptureFormat | None:
    if len(head) < 4:
        return None
    if head[:4] == struct.pack("<I", PCAPNG_SHB):
        return CaptureFormat.PCAPNG
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", head)[0] in (PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO):
            return CaptureFormat.PCAP
    return None


def _describe_magic(head: bytes) -> str:
    if not head:
        return "the file is empty"
    return f"unknown magic {head[:4].hex()} (expected a pcap or pcapng file)"


def open_capture(path: str) -> CaptureFile:
    """Open one capture file (or ``-`` for stdin) and read its header. Raises CaptureError."""
    owned: list[BinaryIO] = []
    try:
        if path == "-":
            raw: BinaryIO = sys.stdin.buffer
        else:
            raw = open(path, "rb")  # noqa: SIM115 - closed by CaptureFile.close
            owned.append(raw)
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        sniff = _read_exactly(raw, 24)
        stream: BinaryIO = raw
        compressed = False
        if sniff[:2] == GZIP_MAGIC:
            compressed = True
            gz = gzip.GzipFile(fileobj=_PrefixedStream(sniff, raw), mode="rb")
            owned.append(gz)  # type: ignore[arg-type]
            stream = gz  # type: ignore[assignment]
            try:
                sniff = _read_exactly(stream, 24)
            except (OSError, EOFError, zlib.error) as exc:
                raise CaptureError(f"{path}: corrupt gzip data: {exc}") from None
        fmt = _format_of(sniff)
        if fmt is None:
            raise CaptureError(f"{path}: {_describe_magic(sniff)}")
        if fmt is CaptureFormat.PCAP:
            header = _parse_pcap_header(path, sniff)
            return CaptureFile(path, fmt, stream, b"", header, compressed, owned)
        return CaptureFile(path, fmt, stream, sniff, None, compressed, owned)
    except OSError as exc:
        for s in owned:
            s.close()
        raise CaptureError(f"{path}: read error: {exc}") from None
    except BaseException:
        for s in owned:
            s.close()
        raise


def sniff_capture(path: str) -> CaptureFormat | None:
    """The format of a regular file by its first bytes (gzip looked through), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head[:2] == GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                    head = gz.read(4)
    except (OSError, EOFError, zlib.error):
        return None
    return _format_of(head)


def expand_sources(sources: Sequence[str], notes: NoteSink) -> list[str]:
    """Resolve sources to the files to read, in order; check each explicit file opens.

    Raises CaptureError for a missing path, an unreadable explicit file or a directory with no
    captures. Non-captures inside a directory are skipped with an ``not-a-capture`` note.
    """
    paths: list[str] = []
    for source in sources:
        if source == "-":
            paths.append(source)
            continue
        if os.path.isdir(source):
            found = 0
            for name in sorted(os.listdir(source)):
                full = os.path.join(source, name)
                if name.startswith(".") or not os.path.isfile(full):
                    continue
                if sniff_capture(full) is None:
                    notes.add(
                        Note(
                            kind="not-a-capture",
                            detail=f"{full}: skipped, not a pcap or pcapng file",
                            level=NoteLevel.INFO,
                            file=full,
                        )
                    )
                    continue
                paths.append(full)
                found += 1
            if not found:
                raise CaptureError(f"{source}: directory holds no pcap or pcapng files")
            continue
        if not os.path.exists(source):
            raise CaptureError(f"{source}: no such file or directory")
        with open_capture(source):
            pass
        paths.append(source)
    return _without_repeats(paths, notes)


def _without_repeats(paths: list[str], notes: NoteSink) -> list[str]:
    """Each file once: ``a.pcap a.pcap`` or a directory plus a file in it would otherwise
    count every packet twice and show every message twice."""
    seen: set[str] = set()
    kept: list[str] = []
    for path in paths:
        identity = path if path == "-" else os.path.realpath(path)
        if identity in seen:
            notes.add(
                Note(
                    kind="capture-repeated",
                    detail=f"{path}: given more than once; read once",
                    level=NoteLevel.INFO,
                    file=path,
                )
            )
            continue
        seen.add(identity)
        kept.append(path)
    return kept


def truncated_note(path: str, last_frame: int, reason: str) -> Note:
    """The note for a file that cannot be read to its end."""
    return Note(
        kind="capture-truncated",
        detail=f"{path}: {reason}; analysed up to frame {last_frame}",
        level=NoteLevel.WARNING,
        frames=(last_frame,) if last_frame else (),
        file=path,
    )


def record_too_long(record: int, caplen: int, max_record_length: int) -> str:
    """Why reading stopped at a record whose length field is past ``max_record_length``."""
    return (f"record {record} claims {caplen} bytes, more than "
            f"max_record_length={max_record_length}")


def iter_records(capture: CaptureFile, notes: NoteSink,
                 options: CaptureOptions | None = None) -> Iterator[RawRecord]:
    """Every packet record of an opened capture, in file order."""
    if capture.format is CaptureFormat.PCAP:
        return iter_pcap_records(capture, notes, options)
    return iter_pcapng_records(capture, notes, options)


def iter_pcap_records(
    capture: CaptureFile, notes: NoteSink, options: CaptureOptions | None = None
) -> Iterator[RawRecord]:
    """Records of a classic pcap (its header already parsed by :func:`open_capture`)."""
    options = options or CaptureOptions()
    header = capture.pcap_header
    assert header is not None
    unpack = struct.Struct(header.byte_order + "IIII").unpack_from
    scale = header.fraction_scale
    linktype = header.linktype
    max_record_length = options.max_record_length
    chunks = ChunkedStream(capture.stream, capture.initial, options.read_chunk_size)
    buf = b""
    off = 0
    frame = 0
    while True:
        end = len(buf)
        while off + 16 <= end:
            sec, frac, caplen, wire = unpack(buf, off)
            if caplen > max_record_length:
                notes.add(truncated_note(capture.path, frame,
                                         record_too_long(frame + 1, caplen, max_record_length)))
                return
            nxt = off + 16 + caplen
            if nxt > end:
                break
            frame += 1
            yield RawRecord(frame, sec + frac * scale, linktype, buf[off + 16 : nxt], wire)
            off = nxt
        if chunks.eof:
            if chunks.error:
                notes.add(truncated_note(capture.path, frame, chunks.error))
            elif off < end:
                notes.add(truncated_note(capture.path, frame,
                                         f"the file ends inside record {frame + 1}"))
            return
        need = 16
        if off + 16 <= end:
            need = 16 + unpack(buf, off)[2]
        buf = chunks.refill(buf, off, need)
        off = 0


@dataclass(frozen=True, slots=True)
class PcapngInterface:
    """One Interface Description Block: link type, snap length and timestamp scale."""

    linktype: int
    snaplen: int
    units_per_second: float
    offset_seconds: int

    def time(self, ts_high: int, ts_low: int) -> float:
        return ((ts_high << 32) | ts_low) / self.units_per_second + self.offset_seconds


def _parse_idb_options(body: bytes, order: str, start: int, end: int) -> tuple[float, int]:
    units = 1e6
    offset = 0
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", body, pos)
        pos += 4
        if code == _OPT_END:
            break
        if pos + length > end:
            break
        if code == _OPT_IF_TSRESOL and length >= 1:
            res = body[pos]
            # MSB set: negative power of 2; clear: negative power of 10 (pcapng §4.2).
            exponent = res & 0x7F
            units = float(2**exponent) if res & 0x80 else float(10**exponent)
        elif code == _OPT_IF_TSOFFSET and length >= 8:
            (offset,) = struct.unpack_from(order + "q", body, pos)
        pos += (length + 3) & ~3
    return units, offset


NEED_MORE = -1  # PcapngParser.block: the block is not wholly in the buffer yet
STOP = -2  # PcapngParser.block: the file is unreadable from here (a note was added)


class PcapngParser:
    """pcapng block-by-block state: byte order, interfaces of the current section, frame count.

    ``block`` parses one block from a buffer; the record walkers (``iter_pcapng_records`` and
    the hot loop in ``reader``) call it and own the buffering. ``generation`` changes whenever
    a section or interface block changes how later packet blocks must be read, so a caller
    that caches per-interface decisions knows when to redo them.
    """

    def __init__(self, path: str, notes: NoteSink, max_record_length: int) -> None:
        self.path = path
        self.notes = notes
        self.max_record_length = max_record_length
        self.order = "<"
        self.interfaces: list[PcapngInterface] = []
        self.frame = 0
        self.last_time = 0.0
        self.generation = 0
        self._bad_interface_noted = False

    def _stop(self, reason: str) -> tuple[int, RawRecord | None]:
        self.notes.add(truncated_note(self.path, self.frame, reason))
        return STOP, None

    def need(self, buf: bytes, off: int) -> int:
        """How many bytes from ``off`` the next block needs (a lower bound when unknown)."""
        if off + 12 > len(buf):
            return 12
        order = self.order
        if buf[off : off + 4] == b"\x0a\x0d\x0d\x0a":
            # A section header may switch byte order; its length was checked in ``block``.
            order = "<" if buf[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        return int(struct.unpack_from(order + "I", buf, off + 4)[0])

    def block(self, buf: bytes, off: int) -> tuple[int, RawRecord | None]:
        """Parse the block at ``off``: (offset after it or NEED_MORE / STOP, packet or None)."""
        end = len(buf)
        if off + 12 > end:
            return NEED_MORE, None
        if buf[off : off + 4] == b"\x0a\x0d\x0d\x0a":
            magic_raw = buf[off + 8 : off + 12]
            if magic_raw == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic_raw == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                return self._stop("a pcapng section header has an unknown byte-order magic "
                                  f"{magic_raw.hex()}")
            (total,) = struct.unpack_from(order + "I", buf, off + 4)
            if total < 28 or total % 4 or total > self.max_record_length:
                return self._stop(f"a pcapng section header claims an invalid length {total}")
            if off + total > end:
                return NEED_MORE, None
            self.order = order
            self.interfaces = []  # interface ids are per section (pcapng §4.1)
            self.generation += 1
            return off + total, None
        order = self.order
        block_type, total = struct.unpack_from(order + "II", buf, off)
        if total < 12 or total % 4 or total > self.max_record_length:
            return self._stop(f"a pcapng block (type 0x{block_type:x}) claims an invalid "
                              f"length {total}")
        nxt = off + total
        if nxt > end:
            return NEED_MORE, None
        body_start = off + 8
        body_end = nxt - 4
        if block_type in (_BLOCK_EPB, _BLOCK_PB):
            self.frame += 1
            if body_end - body_start < 20:
                return nxt, None
            if block_type == _BLOCK_EPB:
                iface_id, ts_hi, ts_lo, caplen, wire = struct.unpack_from(order + "IIIII", buf,
                                                                          body_start)
            else:
                iface_id, _drops, ts_hi, ts_lo, caplen, wire = struct.unpack_from(
                    order + "HHIIII", buf, body_start)
            data_start = body_start + 20
            caplen = min(caplen, body_end - data_start)
            if iface_id >= len(self.interfaces):
                if not self._bad_interface_noted:
                    self._bad_interface_noted = True
                    self.notes.add(Note(
                        kind="capture-malformed",
                        detail=f"{self.path}: frame {self.frame} names interface {iface_id}, "
                        "which no interface block describes; such packets skipped",
                        frames=(self.frame,), file=self.path))
                return nxt, None
            iface = self.interfaces[iface_id]
            self.last_time = iface.time(ts_hi, ts_lo)
            return nxt, RawRecord(self.frame, self.last_time, iface.linktype,
                                  buf[data_start : data_start + caplen], wire, iface_id)
        if block_type == _BLOCK_SPB:
            self.frame += 1
            if not self.interfaces or body_end - body_start < 4:
                return nxt, None
            (wire,) = struct.unpack_from(order + "I", buf, body_start)
            iface = self.interfaces[0]  # an SPB always belongs to interface 0 (pcapng §4.4)
            caplen = min(wire, body_end - body_start - 4)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            # No timestamp in an SPB: reuse the previous packet's, as Wireshark does.
            return nxt, RawRecord(self.frame, self.last_time, iface.linktype,
                                  buf[body_start + 4 : body_start + 4 + caplen], wire, 0)
        if block_type == _BLOCK_IDB and body_end - body_start >= 8:
            linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, body_start)
            units, tsoffset = _parse_idb_options(buf, order, body_start + 8, body_end)
            self.interfaces.append(PcapngInterface(linktype, snaplen, units, tsoffset))
            self.generation += 1
        # Every other block type (statistics, name resolution, custom...) is skipped.
        return nxt, None


def iter_pcapng_records(
    capture: CaptureFile, notes: NoteSink, options: CaptureOptions | None = None
) -> Iterator[RawRecord]:
    """Packet records of a pcapng file: every section, every interface, EPB / SPB / PB."""
    options = options or CaptureOptions()
    parser = PcapngParser(capture.path, notes, options.max_record_length)
    chunks = ChunkedStream(capture.stream, capture.initial, options.read_chunk_size)
    block = parser.block
    buf = b""
    off = 0
    while True:
        while True:
            nxt, record = block(buf, off)
            if nxt < 0:
                break
            off = nxt
            if record is not None:
                yield record
        if nxt == STOP:
            return
        if chunks.eof:
            if chunks.error:
                notes.add(truncated_note(capture.path, parser.frame, chunks.error))
            elif off < len(buf):
                notes.add(truncated_note(capture.path, parser.frame,
                                         "the file ends inside a pcapng block"))
            return
        buf = chunks.refill(buf, off, parser.need(buf, off))
        off = 0
