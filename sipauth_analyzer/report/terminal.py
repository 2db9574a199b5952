"""``--format text``: the report a person reads at a terminal, verdict first.

Order: verdict and counts → findings grouped by cause (rule) and severity, each with its
evidence (frames, times, Call-IDs, redacted header lines), the Wireshark display filter, the
remediation, and the ladder of the exchanges behind error findings → per-trunk metrics → notes.

Everything from the capture is printed as rich ``Text`` (never as markup), so a Call-ID such as
``[bold]x`` is shown as sent. Laid out for 80 columns; colour only when the console has it.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.rule import Rule
from rich.text import Text

from sipauth_analyzer.correlate.model import AuthExchange, Metrics, PeerPair, exchange_messages
from sipauth_analyzer.primitives import NoteLevel
from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.ladder import build_ladder, render_text
from sipauth_analyzer.report.view import (
    PeerNames,
    ReportInput,
    RunReport,
    challenge_ratio,
    counts_line,
    group_findings,
    iso_time,
    median,
    percentile,
    printable,
    rules_by_code,
    undiagnosed_line,
    verdict,
)
from sipauth_analyzer.rules.base import Finding, Severity

MAX_FINDINGS_PER_GROUP = 5  # shown per rule; the rest are counted (all are in --format json)
MAX_EVIDENCE_SHOWN = 4  # evidence messages per finding; the JSON report has them all
MAX_LADDERS = 6  # ladders in one report, however many error findings there are
MAX_NOTES = 20  # notes listed; the rest are counted

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_NOTE_STYLE = {NoteLevel.ERROR: "red", NoteLevel.WARNING: "yellow", NoteLevel.INFO: "dim"}


def _wrapped(text: str, width: int, indent: str, hanging: str | None = None) -> Text:
    """``text`` wrapped to ``width``; continuation lines indented by ``hanging``."""
    lines = textwrap.wrap(
        printable(text),
        width=max(width, 30),
        initial_indent=indent,
        subsequent_indent=hanging if hanging is not None else indent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [""]
    return Text("\n".join(lines))


def _findings_with_runs(report: ReportInput) -> list[tuple[RunReport, Finding]]:
    return [(run, f) for run in report.runs for f in run.findings]


def _capture_line(report: ReportInput, width: int) -> Text:
    packets = sum(r.result.stats.packets for r in report.runs)
    messages = sum(r.result.stats.sip_messages for r in report.runs)
    starts = [r.result.stats.first_time for r in report.runs if r.result.stats.first_time]
    ends = [r.result.stats.last_time for r in report.runs if r.result.stats.last_time]
    files = report.sources
    names = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    line = f"{names}: {packets} packets, {messages} SIP messages"
    if starts and ends:
        first, last = min(starts), max(ends)
        line += f", {iso_time(first)} → {iso_time(last)} ({last - first:.3f} s)"
    if report.per_file:
        line += ", analysed per file"
    if report.filters.active:
        line += ", filtered (exchanges and findings)"
    text = _wrapped(line, width, "")
    text.stylize("dim")
    return text


def _evidence_lines(finding: Finding, origin: float | None, width: int) -> list[RenderableType]:
    out: list[RenderableType] = []
    for item in finding.evidence[:MAX_EVIDENCE_SHOWN]:
        offset = f" t+{item.time - origin:.3f}s" if origin is not None else ""
        head = Text(f"    frame {item.frame}{offset}  ", style="bold")
        head.append(Text(printable(item.summary), style=""))
        out.append(head)
        for part in item.excerpt.split(" | ") if item.excerpt else []:
            out.append(_wrapped(part, width, "      "))
    hidden = len(finding.evidence) - MAX_EVIDENCE_SHOWN
    if hidden > 0:
        out.append(Text(f"    … {hidden} more evidence messages (all are in --format json)",
                        style="dim"))
    return out


def _finding_block(
    index: int,
    finding: Finding,
    run: RunReport,
    report: ReportInput,
    *,
    width: int,
    exchanges: dict[int, AuthExchange],
    ladders_left: list[int],
) -> list[RenderableType]:
    peers = report.peers
    origin = run.result.stats.first_time
    parts: list[RenderableType] = [
        _wrapped(f"{index}. {finding.message}", width, "  ", " " * (len(str(index)) + 4))
    ]
    where: list[str] = []
    if finding.client is not None or finding.server is not None:
        where.append(f"{peers.endpoint(finding.client)} → {peers.endpoint(finding.server)}")
    if finding.frames:
        shown = ", ".join(str(f) for f in finding.frames[:12])
        more = f" (+{len(finding.frames) - 12})" if len(finding.frames) > 12 else ""
        where.append(f"frames {shown}{more}")
    if finding.evidence:
        where.append(f"at {iso_time(finding.evidence[0].time)}")
    if finding.call_ids:
        ids = ", ".join(finding.call_ids[:3])
        more = f" (+{len(finding.call_ids) - 3})" if len(finding.call_ids) > 3 else ""
        where.append(f"Call-ID {ids}{more}")
    if run.label is not None:
        where.append(f"file {run.label}")
    elif len(report.sources) > 1:
        # Frame numbers restart in every file: say which one to open in Wireshark.
        files = sorted({e.file for e in finding.evidence})
        if files:
            where.append("file " + ", ".join(files))
    parts.append(_wrapped(" · ".join(where), width, "     "))
    parts.extend(_evidence_lines(finding, origin, width))
    # Cut at the width, never at spaces, so the pieces join back into the exact filter.
    parts.append(Text("    Wireshark display filter:", style="bold"))
    room = max(width - 6, 20)
    text = printable(finding.display_filter)
    parts.append(Text("\n".join("      " + text[i : i + room] for i in range(0, len(text), room))))
    if report.ladders and finding.severity is Severity.ERROR:
        for exchange_id in finding.exchange_ids[: report.max_ladders_per_finding]:
            exchange = exchanges.get(exchange_id)
            if exchange is None or ladders_left[0] <= 0:
                continue
            ladders_left[0] -= 1
            retransmitted = frozenset(
                id(m) for a in exchange.attempts for m in a.retransmissions
            )
            ladder = build_ladder(
                exchange_messages(exchange),
                title=f"    Exchange {exchange.id}: {exchange.method} "
                f"({exchange.outcome.value})",
                name_endpoint=peers.endpoint,
                retransmissions=retransmitted,
            )
            parts.append(Text(printable("\n".join(render_text(ladder, width))), style="dim"))
    return parts


def _findings_section(report: ReportInput, width: int) -> list[RenderableType]:
    out: list[RenderableType] = []
    pairs = _findings_with_runs(report)
    if not pairs:
        return out
    out.append(Text(""))
    out.append(Rule("Findings", style="bold", align="left"))
    run_of = {id(f): run for run, f in pairs}
    codes = rules_by_code()
    exchanges_by_run = {id(run): {e.id: e for e in run.exchanges} for run in report.runs}
    ladders_left = [MAX_LADDERS]
    for code, findings in group_findings(f for _, f in pairs):
        first = findings[0]
        head = Text()
        head.append(f"{first.severity.value.upper():<8}", style=_SEVERITY_STYLE[first.severity])
        head.append(f"{code} {first.name}", style="bold")
        head.append(f"  ({len(findings)} finding{'s' if len(findings) != 1 else ''})")
        out.append(Text(""))
        out.append(head)
        rule = codes.get(code)
        if rule is not None:
            out.append(_wrapped(rule.META.summary, width, "  "))
            fix = _wrapped("Fix: " + rule.META.remediation, width, "  ")
            fix.stylize("green")
            out.append(fix)
            if rule.META.references:
                out.append(Text("  See: " + ", ".join(rule.META.references), style="dim"))
        for index, finding in enumerate(findings[:MAX_FINDINGS_PER_GROUP], start=1):
            run = run_of[id(finding)]
            out.extend(
                _finding_block(
                    index,
                    finding,
                    run,
                    report,
                    width=width,
                    exchanges=exchanges_by_run[id(run)],
                    ladders_left=ladders_left,
                )
            )
        hidden = len(findings) - MAX_FINDINGS_PER_GROUP
        if hidden > 0:
            out.append(
                Text(f"  … {hidden} more {code} findings (all are in --format json)", style="dim")
            )
    return out


def _ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else "-"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def metrics_rows(metrics: Metrics) -> list[tuple[str, str]]:
    """(label, value) pairs shared by the terminal and Markdown reports."""
    ratio = challenge_ratio(metrics)
    attempts = median(float(a) for a in metrics.attempts_until_success)
    latencies = metrics.challenge_to_retry_ms
    return [
        ("requests", str(metrics.requests)),
        ("challenged", str(metrics.challenged)),
        ("succeeded after auth", str(metrics.succeeded_after_auth)),
        ("failed", str(metrics.failed)),
        ("401 / 407", f"{metrics.challenges_401} / {metrics.challenges_407}"),
        ("2xx", str(metrics.successes_2xx)),
        ("401+407 per 2xx", f"{ratio:.2f}" if ratio is not None else "-"),
        ("failures / hour", f"{metrics.auth_failures_per_hour:.1f}"),
        ("attempts to success", f"{attempts:g} (median)" if attempts is not None else "-"),
        ("nonce lifetime", f"{metrics.nonce_lifetime_s:.1f} s"
         if metrics.nonce_lifetime_s is not None else "-"),
        ("challenge→retry", f"{_ms(median(latencies))} median, "
         f"{_ms(percentile(latencies, 0.95))} p95" if latencies else "-"),
        ("algorithms offered", _counts(metrics.algorithms_offered)),
        ("algorithms used", _counts(metrics.algorithms_used)),
        ("qop offered", _counts(metrics.qop_offered)),
        ("qop used", _counts(metrics.qop_used)),
    ]


def _metrics_block(title: str, metrics: Metrics, width: int) -> list[RenderableType]:
    # Plain aligned lines rather than a rich Table: nothing to break at 80 columns, and no
    # padding to the table's width in copied text.
    out: list[RenderableType] = [Text("  " + title, style="bold")]
    label_width = max(len(label) for label, _ in metrics_rows(metrics)) + 2
    for label, value in metrics_rows(metrics):
        line = Text(f"    {label:<{label_width}}", style="dim")
        wrapped = textwrap.wrap(value, width=max(width - 4 - label_width, 20)) or [""]
        line.append(wrapped[0])
        for more in wrapped[1:]:
            line.append("\n" + " " * (4 + label_width) + more)
        out.append(line)
    out.append(Text(""))
    return out


def _metrics_section(report: ReportInput, width: int) -> list[RenderableType]:
    pairs = report.pairs()
    if not pairs:
        return []
    out: list[RenderableType] = [
        Text(""),
        Rule("Metrics per trunk", style="bold", align="left"),
    ]
    for run, pair, metrics in pairs:
        title = pair_title(report.peers, pair)
        if run.label is not None:
            title += f"  [{run.label}]"
        out.extend(_metrics_block(title, metrics, width))
    if len(pairs) > 1:
        out.extend(_metrics_block("All trunks", report.overall(), width))
    return out


def pair_title(peers: PeerNames, pair: PeerPair) -> str:
    return f"{peers.ip(pair.client)} → {peers.ip(pair.server)}"


MAX_VERIFICATIONS_SHOWN = 10  # verdict lines listed; all are in --format json


def _verification_section(report: ReportInput, width: int) -> list[RenderableType]:
    verdicts = [v for run in report.runs for v in run.result.verifications.values()]
    if not verdicts:
        return []
    counts = Counter(v.verdict.value for v in verdicts)
    out: list[RenderableType] = [
        Text(""),
        Rule("Credential checks (known credentials)", style="bold", align="left"),
        _wrapped(", ".join(f"{n} {verdict}" for verdict, n in counts.most_common()), width, "  "),
    ]
    # Verified requests prove nothing is wrong; list the others first.
    interesting = [v for v in verdicts if v.verdict.value != "verified"]
    for item in interesting[:MAX_VERIFICATIONS_SHOWN]:
        out.append(
            _wrapped(
                f"frame {item.frame} {item.method}: {item.verdict.value} — {item.detail}",
                width,
                "  ",
                "    ",
            )
        )
    hidden = len(interesting) - MAX_VERIFICATIONS_SHOWN
    if hidden > 0:
        out.append(Text(f"  … {hidden} more (all are in --format json)", style="dim"))
    return out


_NOTE_ORDER = {NoteLevel.ERROR: 0, NoteLevel.WARNING: 1, NoteLevel.INFO: 2}


def _notes_section(report: ReportInput, width: int) -> list[RenderableType]:
    # Most severe first (in their order otherwise), so the MAX_NOTES shown never leave out a
    # warning for an information note.
    notes = sorted(report.notes, key=lambda note: _NOTE_ORDER[note.level])
    if not notes:
        return []
    out: list[RenderableType] = [Rule("Notes", style="bold", align="left")]
    for note in notes[:MAX_NOTES]:
        where = ""
        if note.frames:
            shown = ", ".join(str(f) for f in note.frames[:6])
            more = f" (+{len(note.frames) - 6})" if len(note.frames) > 6 else ""
            where = f" [frame{'s' if len(note.frames) > 1 else ''} {shown}{more}]"
        line = _wrapped(f"{note.level.value}: {note.kind}: {note.detail}{where}", width, "  ")
        line.stylize(_NOTE_STYLE[note.level])
        out.append(line)
    if len(notes) > MAX_NOTES:
        out.append(Text(f"  … {len(notes) - MAX_NOTES} more notes (all are in --format json)"))
    return out


def renderables(report: ReportInput, width: int) -> Iterable[RenderableType]:
    head = _wrapped(verdict(report), width, "")
    head.stylize("bold")
    yield head
    counts = Text(counts_line(report))
    failing = report.failing()
    if failing and report.fail_on is not None:
        counts.append(f" — {len(failing)} at or above --fail-on {report.fail_on.value}",
                      style="bold red")
    yield counts
    partial = undiagnosed_line(report)
    if partial:
        warning = _wrapped(partial, width, "")
        warning.stylize("bold yellow")
        yield warning
    yield _capture_line(report, width)
    yield from _findings_section(report, width)
    if report.known:
        yield Text(
            f"{len(report.known)} known finding(s) matched the baseline "
            f"{report.baseline or ''} and are not shown: "
            + ", ".join(sorted({f.code for f in report.known})),
            style="dim",
        )
    yield from _verification_section(report, width)
    yield from _metrics_section(report, width)
    yield from _notes_section(report, width)


def make_console(out: TextIO, style: Style) -> Console:
    return Console(
        file=out,
        width=style.width,
        color_system="auto" if style.color else None,
        force_terminal=style.color,
        no_color=not style.color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )


def render(report: ReportInput, out: TextIO, style: Style) -> None:
    console = make_console(out, style)
    console.print(Group(*renderables(report, style.width)))
