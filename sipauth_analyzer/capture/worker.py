"""Reading in a second process, beside the analysis (``--jobs 2``): the pipe and its protocol.

Why a pipeline and not two readers splitting the file: parse → correlate → rules must see one
timeline, while reading and parsing (walking every record, rejecting RTP, splitting header
lines) need nothing from the rest. So a forked child runs the very same reader and parser
(pipeline.iter_sip) and streams what they yield to the parent, which correlates and runs the
rules at the same time. On a trunk capture (98 % RTP) the child does the per-packet work, only
the SIP messages cross the pipe, and the parent parses them (it would wait otherwise); on an
all-SIP storm the child parses too (sip/transfer.py ParseSplit decides, by SIP density).
``worth_a_reader_process`` keeps small inputs in one process (auto mode).

What crosses the pipe is plain data encoded with ``marshal`` (bytes, str, int, float, tuple,
list, dict, frozenset — nothing executable, and only what this module wrote in the child it
forked), in batches: every item, every note at the point the child added it (with its ``once``
key, so the parent's NoteSink applies its caps exactly as in one process), every progress
callback, then the final CaptureStats or the error that ended the read. The parent replays
them in order, so its results are identical to the single-process run (tests/capture/
test_worker.py compares messages, notes, stats and whole reports). This module holds the
protocol and the CapturedMessage codec; sip/transfer.py encodes parsed messages.

The pipe's buffer gives back-pressure: a child that runs ahead blocks on ``send`` after a few
batches, so memory stays bounded however large the capture is. The child is stopped when the
parent stops reading early (an error, Ctrl-C, a closed generator).
"""

from __future__ import annotations

import marshal
import multiprocessing
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.capture.model import CapturedMessage, CaptureStats, shared_size
from sipauth_analyzer.primitives import Endpoint, Note, NoteLevel, NoteSink, Transport

#: Inputs smaller than this are read in the analysing process in auto mode: starting the child
#: and handing messages over costs ≈ 40 ms, which a small capture does not win back.
AUTO_MIN_BYTES = 32 << 20

# Item tags of the wire format (first element of each marshalled tuple).
_ITEM, _NOTE, _PROGRESS, _END, _ERROR = range(5)
# A batch is sent when it holds this many items or this many payload bytes.
_BATCH_ITEMS = 1024
_BATCH_BYTES = 1 << 20
#: The pipe's kernel buffer, asked for when the reader process starts (Linux F_SETPIPE_SZ; the
#: default is 64 KiB, and 1 MiB is what /proc/sys/fs/pipe-max-size lets any user ask by
#: default). On an auth storm both processes are about equally busy, so each waits whenever
#: the other has a slow batch; with the default buffer the reader can only be part of a batch
#: ahead. Measured with bench.phases on the 200 k storm, six interleaved rounds: the
#: streaming's time beyond the reader's CPU, 0.58-1.18 s (median 0.86) with 64 KiB and
#: 0.34-0.61 s (median 0.45) with 1 MiB. It bounds what the pipe holds, not what it costs:
#: the kernel takes pages as the bytes arrive.
PIPE_BUFFER_BYTES = 1 << 20

_TRANSPORTS = {t.value: t for t in Transport}
_LEVELS = {level.value: level for level in NoteLevel}
_NO_FLAGS: frozenset[str] = frozenset()

_T = TypeVar("_T")


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _input_bytes(sources: Sequence[str]) -> int | None:
    """Bytes of the regular files ``sources`` name (directories: their entries); None for
    standard input, which only this process can read."""
    total = 0
    for source in sources:
        if source == "-":
            return None
        try:
            if os.path.isdir(source):
                with os.scandir(source) as entries:
                    total += sum(e.stat().st_size for e in entries if e.is_file())
            else:
                total += os.path.getsize(source)
        except OSError:
            continue  # the reader reports it, with its own message
    return total


def worth_a_reader_process(sources: Sequence[str], jobs: int) -> bool:
    """``jobs`` 1: never; 2 or more: whenever the input is files (fork needed); 0 (auto): also
    only with a second usable CPU and at least ``AUTO_MIN_BYTES`` of input."""
    if jobs == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    size = _input_bytes(sources)
    if size is None:
        return False
    if jobs >= 2:
        return True
    return usable_cpus() >= 2 and size >= AUTO_MIN_BYTES


class _ForwardingSink(NoteSink):
    """The child's sink: every note goes to the parent, uncapped; the parent's sink caps."""

    __slots__ = ("outbox",)

    def __init__(self, outbox: _Outbox) -> None:
        super().__init__()
        self.outbox = outbox

    def add(self, note: Note, *, once: str | None = None) -> None:
        self.outbox.put(
            (_NOTE, note.kind, note.detail, note.level.value, note.frames, note.file, once), 0
        )


class _Outbox:
    __slots__ = ("connection", "items", "size")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.items: list[tuple[Any, ...]] = []
        self.size = 0

    def put(self, item: tuple[Any, ...], size: int) -> None:
        self.items.append(item)
        self.size += size
        if len(self.items) >= _BATCH_ITEMS or self.size >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.connection.send_bytes(marshal.dumps(self.items))
            self.items = []
            self.size = 0


#: What the child runs: given its note sink, stats and progress callback (None when the parent
#: wants no progress), the items to stream, in order.
Producer = Callable[[NoteSink, CaptureStats, "Callable[[int], None] | None"], Iterator[_T]]
#: One item as plain data for the pipe (a tuple), and its payload size (for batching).
Encoder = Callable[[_T], tuple[tuple[Any, ...], int]]
#: The parent's inverse of the encoder (it may share equal values between items).
Decoder = Callable[[tuple[Any, ...]], _T]


def deepen_pipe(fd: int, size: int = PIPE_BUFFER_BYTES) -> int | None:
    """Ask for a ``size``-byte kernel buffer on pipe ``fd``; the size granted, or None where
    the system refuses (not Linux, above pipe-max-size, the user's pipe pages spent): the
    default buffer only costs some waiting, never a result."""
    try:
        import fcntl  # not on Windows, where there is no fork and so no reader process
    except ImportError:
        return None
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return None
    try:
        granted: int = fcntl.fcntl(fd, set_size, size)
    except OSError:  # EPERM, EBUSY, ENOMEM...: keep the default buffer
        return None
    return granted


def _run_in_child(produce: Producer[_T], encode: Encoder[_T], connection: Connection,
                  with_progress: bool, parent_end: Connection | None = None) -> None:
    # The fork copied the parent's reading end of the pipe. Left open here, it would keep the
    # pipe readable after the parent dies (SIGKILL, the OOM killer, a CI timeout): the next
    # send would block forever on a full pipe instead of failing with BrokenPipeError, and the
    # child would linger, holding its memory, until someone killed it.
    if parent_end is not None:
        parent_end.close()
    outbox = _Outbox(connection)
    try:
        stats = CaptureStats()
        progress: Callable[[int], None] | None = None
        if with_progress:
            def progress(done: int) -> None:
                outbox.put((_PROGRESS, done), 0)
        put = outbox.put
        for item in produce(_ForwardingSink(outbox), stats, progress):
            data, size = encode(item)
            put((_ITEM, data), size)
        outbox.put((_END, stats.files, stats.packets, stats.bytes, stats.sip_messages,
                    stats.linktypes, stats.tls_flows, stats.first_time, stats.last_time), 0)
        outbox.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        pass  # the parent is stopping (Ctrl-C reaches the whole process group) or is gone
    except CaptureError as error:
        _send_error(outbox, "capture", str(error))
    except MemoryError:
        outbox.items = []  # what was waiting to be sent, to make room for saying why
        _send_error(outbox, "memory", "the reader process ran out of memory")
    except BaseException as error:  # a bug in the child: the parent reports it like one
        _send_error(outbox, "internal", f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def _send_error(outbox: _Outbox, kind: str, text: str) -> None:
    try:
        outbox.put((_ERROR, kind, text), 0)
        outbox.flush()
    except (BrokenPipeError, OSError):
        pass


def stream_from_child(
    produce: Producer[_T],
    encode: Encoder[_T],
    decode: Decoder[_T],
    notes: NoteSink,
    stats: CaptureStats,
    *,
    progress: Callable[[int], None] | None = None,
) -> Generator[_T, None, None]:
    """Run ``produce`` in a forked child and yield its items here, decoded, in order.

    Notes the child adds reach ``notes`` at the same points of the stream, progress calls reach
    ``progress``, the child's final CaptureStats are copied into ``stats``, and a CaptureError
    the child raised is raised here at the same point, and so is a MemoryError (the child ran
    out of memory). Any other failure of the child is a RuntimeError (a bug), never a hang.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    deepen_pipe(sender.fileno())
    child = context.Process(
        target=_run_in_child,
        args=(produce, encode, sender, progress is not None, receiver),
        name="sipauth-reader",
        daemon=True,
    )
    child.start()
    sender.close()  # the child holds the only writing end: EOF when it ends
    try:
        while True:
            try:
                blob = receiver.recv_bytes()
            except EOFError:
                child.join()
                raise RuntimeError(
                    f"the reader process ended without finishing (exit code {child.exitcode})"
                ) from None
            for item in marshal.loads(blob):
                tag = item[0]
                if tag == _ITEM:
                    yield decode(item[1])
                elif tag == _NOTE:
                    _, kind, detail, level, note_frames, note_file, once = item
                    notes.add(Note(kind, detail, _LEVELS[level], note_frames, note_file),
                              once=once)
                elif tag == _PROGRESS:
                    if progress is not None:
                        progress(item[1])
                elif tag == _END:
                    (_, stats.files, stats.packets, stats.bytes, stats.sip_messages,
                     stats.linktypes, stats.tls_flows, stats.first_time, stats.last_time) = item
                    return
                else:
                    _, kind, text = item
                    if kind == "capture":
                        raise CaptureError(text)
                    if kind == "memory":
                        raise MemoryError(text)
                    raise RuntimeError(f"the reader process failed: {text}")
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


# -- CapturedMessage over the pipe -------------------------------------------------------------


def encode_captured(m: CapturedMessage) -> tuple[tuple[Any, ...], int]:
    src, dst = m.src, m.dst
    return (
        (m.data, m.file, m.frame, m.frames, m.time, src.ip, src.port, dst.ip, dst.port,
         m.transport.value, m.wire_size, m.ip_fragments, m.flags),
        len(m.data),
    )


class CapturedDecoder:
    """Rebuilds CapturedMessages, sharing Endpoint, file name and flag objects between them
    as the in-process demux does (one Endpoint per flow, not per message)."""

    __slots__ = ("endpoint_limit", "endpoints", "files", "flag_sets")

    def __init__(self, endpoint_limit: int) -> None:
        self.endpoints: dict[tuple[str, int], Endpoint] = {}
        self.endpoint_limit = endpoint_limit
        self.files: dict[str, str] = {}
        self.flag_sets: dict[frozenset[str], frozenset[str]] = {_NO_FLAGS: _NO_FLAGS}

    def _endpoint(self, ip: str, port: int) -> Endpoint:
        key = (ip, port)
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            if len(self.endpoints) >= self.endpoint_limit:
                self.endpoints.clear()
            endpoint = self.endpoints[key] = Endpoint(ip, port)
        return endpoint

    def __call__(self, item: tuple[Any, ...]) -> CapturedMessage:
        (data, file, frame, frames, time, sip, sport, dip, dport, transport, wire_size,
         fragments, flags) = item
        return CapturedMessage(
            data, self.files.setdefault(file, file), frame, frames, time,
            self._endpoint(sip, sport), self._endpoint(dip, dport), _TRANSPORTS[transport],
            shared_size(wire_size), fragments, self.flag_sets.setdefault(flags, flags),
        )
