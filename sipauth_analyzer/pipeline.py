"""Wires the stages together: capture → sip → correlate → rules. Nothing else lives here.

``read_sip`` stops after the SIP stage (what ``sipauth messages`` shows); ``analyze`` runs the
whole pipeline and returns one ``AnalysisResult`` that every report format renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_TRUNCATED,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.correlate import CorrelateOptions, Correlation, Correlator
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink
from sipauth_analyzer.rules.base import Finding, RuleOptions
from sipauth_analyzer.rules.engine import run_rules
from sipauth_analyzer.sip.message import SipMessage, parse_message
from sipauth_analyzer.sip.model import ParseProblem

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
    engine: str = "native"  # "native" (pure Python, fast) or "tshark" (pyshark; TLS with a key log)
    tls_keylog: str | None = None


@dataclass(slots=True)
class AnalysisResult:
    """One analysis, rendered by every report format (they never re-run anything)."""

    sources: list[str]
    stats: CaptureStats
    correlation: Correlation
    findings: list[Finding]
    notes: list[Note]
    options: AnalysisOptions


def captured_messages(
    sources: Sequence[str],
    capture_options: CaptureOptions,
    sink: NoteSink,
    stats: CaptureStats,
    *,
    engine: str = "native",
    tls_keylog: str | None = None,
) -> Iterator[CapturedMessage]:
    """The capture stage, by the chosen engine."""
    if engine == "tshark":
        from sipauth_analyzer.capture.tshark_engine import read_messages_tshark

        return read_messages_tshark(sources, capture_options, sink, stats, tls_keylog=tls_keylog)
    return read_messages(sources, capture_options, sink, stats)


def iter_sip(
    sources: Sequence[str],
    capture_options: CaptureOptions,
    sink: NoteSink,
    stats: CaptureStats,
    *,
    engine: str = "native",
    tls_keylog: str | None = None,
) -> Iterator[SipMessage]:
    """Parse every captured message, turning unparseable ones and oddities into notes."""
    captured_stream = captured_messages(
        sources, capture_options, sink, stats, engine=engine, tls_keylog=tls_keylog
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
        parsed = parse_message(captured)
        if isinstance(parsed, ParseProblem):
            sink.add(_problem_note(captured, parsed))
            continue
        cut_short = bool(captured.flags & _CUT_SHORT_FLAGS)
        for problem in parsed.problems:
            # A message cut by the snap length or by missing fragments lacks its tail by
            # definition; the truncation / incomplete-datagram note already says so.
            if cut_short and problem.kind in _CONSEQUENCES_OF_CUT:
                continue
            sink.add(_problem_note(captured, problem))
        yield parsed


def read_sip(
    sources: Sequence[str],
    capture_options: CaptureOptions | None = None,
    *,
    engine: str = "native",
    tls_keylog: str | None = None,
) -> SipRead:
    sink = NoteSink()
    stats = CaptureStats()
    stream = iter_sip(
        sources,
        capture_options or CaptureOptions(),
        sink,
        stats,
        engine=engine,
        tls_keylog=tls_keylog,
    )
    messages = in_capture_order(stream, stats)
    return SipRead(messages=messages, notes=sink.notes, stats=stats)


def in_capture_order(messages: Iterable[SipMessage], stats: CaptureStats) -> list[SipMessage]:
    """Messages ordered by file (as read) and Wireshark frame number.

    The reader yields a datagram whose fragments never all arrived only when it gives up on
    it (timeout or end of file), i.e. after later frames; every consumer wants frame order.
    """
    collected = list(messages)
    file_rank = {path: rank for rank, path in enumerate(stats.files)}
    collected.sort(key=lambda m: (file_rank.get(m.source.file, 0), m.source.frame))
    return collected


def analyze(sources: Sequence[str], options: AnalysisOptions | None = None) -> AnalysisResult:
    """Run every stage over ``sources`` (read as one timeline) and return the result."""
    options = options or AnalysisOptions()
    sink = NoteSink()
    stats = CaptureStats()
    correlator = Correlator(options.correlate)
    stream = iter_sip(
        sources, options.capture, sink, stats, engine=options.engine, tls_keylog=options.tls_keylog
    )
    for message in in_capture_order(stream, stats):
        correlator.add(message)
    correlation = correlator.finish()
    findings = run_rules(
        correlation,
        options.rules,
        options.select,
        options.ignore,
        redact=options.redact,
        notes=sink,
    )
    # Digest headers are parsed lazily, some only by the rules: their problems surface now.
    for message in correlation.messages:
        for problem in message.problems:
            if problem.kind.startswith("auth"):
                sink.add(_problem_note(message.source, problem))
    notes = [*sink.notes, *correlation.notes]
    return AnalysisResult(
        sources=list(sources),
        stats=stats,
        correlation=correlation,
        findings=findings,
        notes=notes,
        options=options,
    )


def _problem_note(captured: CapturedMessage, problem: ParseProblem) -> Note:
    return Note(
        kind=f"sip-{problem.kind}" if not problem.kind.startswith("sip-") else problem.kind,
        detail=problem.detail,
        level=NoteLevel.WARNING,
        frames=(captured.frame,),
        file=captured.file,
    )
