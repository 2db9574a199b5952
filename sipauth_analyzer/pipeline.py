"""Wires the stages together: capture → sip → correlate → verify → rules. Nothing else lives here.

``read_sip`` stops after the SIP stage (what ``sipauth messages`` shows); ``analyze`` runs the
whole pipeline and returns one ``AnalysisResult`` that every report format renders.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_TRUNCATED,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.capture.worker import stream_from_child, worth_a_reader_process
from sipauth_analyzer.correlate import CorrelateOptions, Correlation, Correlator
from sipauth_analyzer.memory import MemoryLimit, Usage, current_usage, detect_limit, size_text
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink
from sipauth_analyzer.rules.base import Finding, RuleOptions
from sipauth_analyzer.rules.engine import run_rules
from sipauth_analyzer.rules.retention import plain_exchange_test
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import ParseProblem
from sipauth_analyzer.sip.parser import ANALYSIS_PARSE_OPTIONS, SipParseOptions, parse
from sipauth_analyzer.sip.transfer import ParseSplit, SipDecoder, encode_item
from sipauth_analyzer.verify import (
    VERIFICATIONS_CACHE_KEY,
    WEAK_PASSWORDS_CACHE_KEY,
    KnownCredential,
    ProgressCallback,
    Verifications,
    VerifyOptions,
    WeakPasswordHit,
    audit_wordlist,
    read_wordlist,
    verify_correlation,
)

#: Whether a run pauses the cyclic garbage collector. A run allocates millions of long-lived
#: container objects (messages, header lists, transactions) and makes no cyclic garbage while it
#: reads (measured: only the correlator's retry indexes become cyclic garbage, once, when it is
#: dropped at the end). With the collector on, each of those objects is scanned at least once
#: by a young-generation pass and many more times at the default threshold (700): 35-40 % of an
#: auth storm's analysis; raising the thresholds still leaves 15-20 %. The collector is restored
#: (and catches up) as soon as the run returns; docs/performance.md has the figures.
PAUSE_GC_DURING_RUN = True

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Messages correlated between two looks at this process's memory (one read of
#: /proc/self/statm, about 10 µs: 0.01 µs per message).
MEMORY_CHECK_EVERY = 1024
#: Share of the memory limit at which nothing more is kept for the rules
#: (Correlator.reach_budget). The rest is for the exchanges still open, the rules' indexes, the
#: report and, with ``--jobs 2``, the reader process (in the same cgroup, ≈ 30 MiB of its own).
MEMORY_KEEP_SHARE = 0.6
#: Past that point, open exchanges may hold this share more messages than were held then;
#: beyond it the ones idle longest are let go (Correlator.shed).
MEMORY_OPEN_HEADROOM = 0.2
#: Share of the limit past which the open exchanges get no more room than they have.
MEMORY_SHED_SHARE = 0.8


class MemoryGuard:
    """Keeps an analysis within a memory limit (``AnalysisOptions.max_memory``).

    Correlation holds every message of an exchange the rules may report on until the report,
    so an auth storm's memory grows with the capture; inside a container with a memory limit
    the kernel then kills the run without a word. Every MEMORY_CHECK_EVERY messages the guard
    compares the process's resident set (and virtual size, against ``ulimit -v``) with the
    limit. At MEMORY_KEEP_SHARE of it the correlator stops keeping (``reach_budget``: the
    report then says where diagnosis stopped, as with ``max_kept_messages``); from then on the
    open exchanges are held to MEMORY_OPEN_HEADROOM more messages (``shed``). The resident set
    does not shrink when objects are freed (the allocator keeps its arenas), but freed space is
    reused: holding the message count flat holds the memory flat.
    """

    __slots__ = ("limit", "max_held", "usage")

    def __init__(self, limit: MemoryLimit, usage: Callable[[], Usage | None] | None = None
                 ) -> None:
        self.limit = limit
        self.usage = usage if usage is not None else current_usage
        self.max_held: int | None = None  # set once the budget is reached

    def share(self, usage: Usage) -> float:
        """How much of the limit ``usage`` takes (the larger of the two kinds)."""
        shares = [0.0]
        if self.limit.resident:
            shares.append(usage.resident / self.limit.resident)
        if self.limit.virtual:
            shares.append(usage.virtual / self.limit.virtual)
        return max(shares)

    def check(self, correlator: Correlator) -> None:
        usage = self.usage()
        if usage is None:
            return
        share = self.share(usage)
        held = correlator.held_messages
        if self.max_held is None:
            if share < MEMORY_KEEP_SHARE:
                return
            correlator.reach_budget(
                f"the memory budget ({MEMORY_KEEP_SHARE:.0%} of {self.limit.describe()}; "
                f"{size_text(usage.resident)} resident then)",
                "give the analysis more memory (a higher container limit, or --max-memory / "
                "max-memory in sipauth.toml when it was set lower than the machine has), or cut "
                "the capture (editcap -A/-B) around the time to diagnose",
            )
            self.max_held = int(held * (1 + MEMORY_OPEN_HEADROOM))
        if share >= MEMORY_SHED_SHARE:
            self.max_held = min(self.max_held, held)
        if held > self.max_held:
            # Down to 90 %, so that shedding comes in bursts rather than at every check.
            correlator.shed(int(self.max_held * 0.9))


def memory_guard(max_memory: int | None, notes: NoteSink) -> MemoryGuard | None:
    """The guard for ``AnalysisOptions.max_memory``: None (detect the limit this process runs
    under), 0 (none), or a limit in bytes; None when no limit applies."""
    if max_memory == 0:
        return None
    if max_memory is None:
        limit = detect_limit()
        return MemoryGuard(limit) if limit is not None else None
    if current_usage() is None:
        notes.add(Note(
            kind="memory-unmeasured",
            detail="--max-memory has no effect here: this system does not report a process's "
            "memory use (/proc/self/statm)",
            level=NoteLevel.WARNING,
        ))
        return None
    detected = detect_limit()
    virtual = detected.virtual if detected is not None else None
    return MemoryGuard(MemoryLimit(max_memory, virtual, "set by --max-memory / max-memory"))


def _gc_paused(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` with the cyclic GC paused (see ``PAUSE_GC_DURING_RUN``)."""

    @functools.wraps(func)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        pause = PAUSE_GC_DURING_RUN and gc.isenabled()
        if pause:
            gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if pause:
                gc.enable()

    return run


_CUT_SHORT_FLAGS = frozenset({FLAG_TRUNCATED, FLAG_INCOMPLETE})
_CONSEQUENCES_OF_CUT = frozenset({"missing-header", "headers-unterminated", "body-short"})
@dataclass(slots=True)
class SipRead:
    """The SIP messages of one or more captures, with what the reader had to say about them."""

    messages: list[SipMessage]
    notes: list[Note]
    stats: CaptureStats


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """Everything that shapes one analysis, from the CLI flags and the configuration file."""

    capture: CaptureOptions = field(default_factory=CaptureOptions)
    correlate: CorrelateOptions = field(default_factory=CorrelateOptions)
    rules: RuleOptions = field(default_factory=RuleOptions)
    select: tuple[str, ...] | None = None  # rule codes / prefixes / names; None = all
    ignore: tuple[str, ...] = ()
    redact: bool = True  # hide digest response/cnonce values in evidence (--show-secrets clears it)
    # "native" (pure Python, fast) or "tshark" (a tshark subprocess: TLS with a key log).
    engine: str = "native"
    tls_keylog: str | None = None
    decode_as: tuple[str, ...] = ()  # tshark -d rules, e.g. "tls.port==5062,sip" (tshark engine)
    # Processes for the native engine: 1 reads in this process; 2 reads in a child process
    # beside the analysis (capture/worker.py); 0 decides by input size and CPUs.
    jobs: int = 0
    # Known credentials (--credentials / --password-env / --ask-password): every authenticated
    # request gets a verdict. Never printed: KnownCredential hides its secrets from repr.
    credentials: tuple[KnownCredential, ...] = ()
    wordlist: str | None = None  # --wordlist FILE: weak-password audit
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    # The memory an analysis may use, in bytes (--max-memory): None finds the limit it runs
    # under (cgroup, available memory, ulimit -v), 0 sets none. See MemoryGuard.
    max_memory: int | None = None


@dataclass(slots=True)
class AnalysisResult:
    """One analysis, rendered by every report format (they never re-run anything)."""

    sources: list[str]
    stats: CaptureStats
    correlation: Correlation
    findings: list[Finding]
    notes: list[Note]
    options: AnalysisOptions
    # (file, frame) → verdict for each request carrying digest credentials, when credentials
    # were given; JSON renders each as ``"verification": {"verdict": ..., "detail": ...}``.
    verifications: Verifications = field(default_factory=dict)
    # Requests whose response a --wordlist word reproduces (password only with --show-secrets).
    weak_passwords: list[WeakPasswordHit] = field(default_factory=list)


def captured_messages(
    sources: Sequence[str],
    capture_options: CaptureOptions,
    sink: NoteSink,
    stats: CaptureStats,
    *,
    engine: str = "native",
    tls_keylog: str | None = None,
    decode_as: Sequence[str] = (),
    read_progress: Callable[[int], None] | None = None,
) -> Iterator[CapturedMessage]:
    """The capture stage, by the chosen engine. ``read_progress(bytes_read)`` follows the
    native reader through its input (tshark reads on its own and reports nothing)."""
    if engine == "tshark":
        from sipauth_analyzer.capture.tshark_engine import read_messages_tshark

        return read_messages_tshark(
            sources, capture_options, sink, stats, tls_keylog=tls_keylog, decode_as=decode_as
        )
    return read_messages(sources, capture_options, sink, stats, progress=read_progress)


def iter_sip(
    sources: Sequence[str],
    capture_options: CaptureOptions,
    sink: NoteSink,
    stats: CaptureStats,
    *,
    engine: str = "native",
    tls_keylog: str | None = None,
    decode_as: Sequence[str] = (),
    read_progress: Callable[[int], None] | None = None,
    parse_options: SipParseOptions | None = None,
    jobs: int = 1,
) -> Iterator[SipMessage]:
    """Parse every captured message, turning unparseable ones and oddities into notes.

    ``parse_options`` None parses in full (every header, body and payload kept); ``analyze``
    passes the analysis profile (sip/parser.py ANALYSIS_PARSE_OPTIONS).

    ``jobs`` (native engine, see ``AnalysisOptions.jobs``): with a reader process, reading runs
    there (capture/worker.py, sip/transfer.py), and parsing runs there too while SIP is dense;
    sparse SIP (a trunk capture, mostly RTP) is handed over raw and parsed here, where the time
    is (sip/transfer.py ParseSplit). Messages, notes and stats are the same either way.

    Repeated notes are capped by ``sink`` itself (see :class:`NoteSink`); whoever made the
    sink closes it once every stage is done.
    """
    if engine == "native" and worth_a_reader_process(sources, jobs):
        paths = list(sources)

        def produce(
            child_sink: NoteSink,
            child_stats: CaptureStats,
            child_progress: Callable[[int], None] | None,
        ) -> Iterator[SipMessage | CapturedMessage]:
            split = ParseSplit()
            for captured in _noted_captures(
                paths, capture_options, child_sink, child_stats, engine="native",
                tls_keylog=None, decode_as=(), read_progress=child_progress,
            ):
                if not split.in_reader(captured):
                    yield captured
                elif (parsed := _parse_noted(captured, child_sink, parse_options)) is not None:
                    yield parsed

        profile_kept = parse_options.keep_headers if parse_options is not None else None
        return _parse_handed_over(
            stream_from_child(
                produce,
                lambda item: encode_item(item, profile_kept),
                SipDecoder(parse_options, capture_options.endpoint_cache_size),
                sink,
                stats,
                progress=read_progress,
            ),
            sink,
            parse_options,
        )
    captured_stream = _noted_captures(
        sources, capture_options, sink, stats, engine=engine, tls_keylog=tls_keylog,
        decode_as=decode_as, read_progress=read_progress,
    )
    return (
        parsed
        for captured in captured_stream
        if (parsed := _parse_noted(captured, sink, parse_options)) is not None
    )


def _parse_handed_over(
    items: Generator[SipMessage | CapturedMessage, None, None],
    sink: NoteSink,
    parse_options: SipParseOptions | None,
) -> Iterator[SipMessage]:
    """The reader process's messages, parsing here those it handed over raw."""
    try:
        for item in items:
            if isinstance(item, SipMessage):
                yield item
            elif (parsed := _parse_noted(item, sink, parse_options)) is not None:
                yield parsed
    finally:
        # Stopping early (an error, a closed generator) stops the reader process now, not
        # whenever the stream is collected.
        items.close()


def _noted_captures(
    sources: Sequence[str],
    capture_options: CaptureOptions,
    sink: NoteSink,
    stats: CaptureStats,
    *,
    engine: str,
    tls_keylog: str | None,
    decode_as: Sequence[str],
    read_progress: Callable[[int], None] | None,
) -> Iterator[CapturedMessage]:
    """The captured messages, with a note at the first one the snap length cut, per file."""
    captured_stream = captured_messages(
        sources,
        capture_options,
        sink,
        stats,
        engine=engine,
        tls_keylog=tls_keylog,
        decode_as=decode_as,
        read_progress=read_progress,
    )
    files_warned_truncated: set[str] = set()
    for captured in captured_stream:
        if FLAG_TRUNCATED in captured.flags and captured.file not in files_warned_truncated:
            files_warned_truncated.add(captured.file)
            sink.add(
                Note(
                    kind="snaplen-truncated",
                    detail="SIP messages were cut short by the capture's snap length "
                    f"(first at frame {captured.frame}); recapture with -s 0 to see whole messages",
                    frames=(captured.frame,),
                    file=captured.file,
                )
            )
        yield captured


def _parse_noted(
    captured: CapturedMessage, sink: NoteSink, parse_options: SipParseOptions | None
) -> SipMessage | None:
    """``captured`` parsed, its problems added to ``sink``; None when it is not SIP."""
    # parser.parse itself: parse_message imports it at each call, ≈ 1.2 µs per message in
    # the reader process, which bounds an auth storm's streaming.
    parsed = parse(captured, parse_options)
    if isinstance(parsed, ParseProblem):
        sink.add(_problem_note(captured, parsed))
        return None
    cut_short = bool(captured.flags & _CUT_SHORT_FLAGS)
    for problem in parsed.problems:
        # A message cut by the snap length or by missing fragments lacks its tail by
        # definition; the truncation / incomplete-datagram note already says so.
        if cut_short and problem.kind in _CONSEQUENCES_OF_CUT:
            continue
        sink.add(_problem_note(captured, problem))
    return parsed


class SipStream:
    """The SIP messages of one or more captures, one at a time, in capture order; ``notes`` and
    ``stats`` are complete once the iteration has ended. Iterate once.

    What ``sipauth messages --format json`` and ``sipauth flow`` read: each message can be
    written out or dropped as it comes, so memory stays flat however large the capture
    (``read_sip`` keeps them all).
    """

    def __init__(
        self,
        sources: Sequence[str],
        capture_options: CaptureOptions | None = None,
        *,
        engine: str = "native",
        tls_keylog: str | None = None,
        decode_as: Sequence[str] = (),
        jobs: int = 1,
    ) -> None:
        capture_options = capture_options or CaptureOptions()
        self._sink = NoteSink(max_per_kind=capture_options.max_notes_per_kind)
        self.stats = CaptureStats()
        self._messages = iter_sip(
            sources,
            capture_options,
            self._sink,
            self.stats,
            engine=engine,
            tls_keylog=tls_keylog,
            decode_as=decode_as,
            jobs=jobs,
        )
        self._done = False

    def __iter__(self) -> Iterator[SipMessage]:
        # Both engines yield in capture order (file by file, then Wireshark frame number): the
        # native reader restores it with a bounded reorder buffer (capture.reader.ReorderBuffer),
        # tshark prints each message in the frame that completes it, frame after frame.
        yield from self._messages
        self._sink.close()
        self._done = True

    @property
    def notes(self) -> list[Note]:
        if not self._done:
            raise RuntimeError("SipStream.notes is complete only after the iteration")
        return self._sink.notes


def _collected(open_stream: Callable[_P, SipStream]) -> Callable[_P, SipRead]:
    """A function taking ``open_stream``'s arguments and returning all its messages at once."""

    def read(*args: _P.args, **kwargs: _P.kwargs) -> SipRead:
        stream = open_stream(*args, **kwargs)
        messages = list(stream)
        return SipRead(messages=messages, notes=stream.notes, stats=stream.stats)

    return read


#: Every SIP message of the captures in one list, with the notes and stats (``sipauth messages``
#: as text, the tests); takes SipStream's arguments. Holds the whole capture's messages.
read_sip = _gc_paused(_collected(SipStream))


@_gc_paused
def analyze(
    sources: Sequence[str],
    options: AnalysisOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    read_progress: Callable[[int], None] | None = None,
) -> AnalysisResult:
    """Run every stage over ``sources`` (read as one timeline) and return the result.

    ``read_progress(bytes_read)`` follows the reading of the captures; ``progress(done,
    total)`` follows the wordlist audit, the other stage that can take long.
    Raises ``WordlistError`` when the wordlist cannot be read (a broken run).
    """
    options = options or AnalysisOptions()
    sink = NoteSink(max_per_kind=options.capture.max_notes_per_kind)
    stats = CaptureStats()
    correlator = Correlator(options.correlate, retirable=plain_exchange_test(options.rules))
    stream = iter_sip(
        sources,
        options.capture,
        sink,
        stats,
        engine=options.engine,
        tls_keylog=options.tls_keylog,
        decode_as=options.decode_as,
        read_progress=read_progress,
        parse_options=ANALYSIS_PARSE_OPTIONS,
        jobs=options.jobs,
    )
    guard = memory_guard(options.max_memory, sink)
    if guard is None:
        for message in stream:  # in capture order (see read_sip): nothing is materialised
            correlator.add(message)
    else:
        for count, message in enumerate(stream, 1):
            correlator.add(message)
            if not count % MEMORY_CHECK_EVERY:
                guard.check(correlator)
    correlation = correlator.finish()
    verifications: Verifications = {}
    if options.credentials:
        verifications = verify_correlation(correlation, options.credentials, options.verify, sink)
    weak_passwords: list[WeakPasswordHit] = []
    if options.wordlist is not None:
        words = read_wordlist(options.wordlist, options.verify, sink)
        weak_passwords = audit_wordlist(
            correlation,
            words,
            options.verify,
            reveal=not options.redact,
            progress=progress,
            notes=sink,
        )
    findings = run_rules(
        correlation,
        options.rules,
        options.select,
        options.ignore,
        redact=options.redact,
        notes=sink,
        cache={
            VERIFICATIONS_CACHE_KEY: verifications,
            WEAK_PASSWORDS_CACHE_KEY: tuple(weak_passwords),
        },
    )
    # Digest headers are parsed lazily, some only by the rules: their problems surface now.
    for message in correlation.messages:
        for problem in message.problems:
            if problem.kind.startswith("auth"):
                sink.add(_problem_note(message.source, problem))
    sink.close()
    notes = [*sink.notes, *correlation.notes]
    return AnalysisResult(
        sources=list(sources),
        stats=stats,
        correlation=correlation,
        findings=findings,
        notes=notes,
        options=options,
        verifications=verifications,
        weak_passwords=weak_passwords,
    )


def _problem_note(captured: CapturedMessage, problem: ParseProblem) -> Note:
    return Note(
        kind=f"sip-{problem.kind}" if not problem.kind.startswith("sip-") else problem.kind,
        detail=problem.detail,
        level=NoteLevel.WARNING,
        frames=(captured.frame,),
        file=captured.file,
    )
