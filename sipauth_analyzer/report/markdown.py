"""``--format markdown``: the report to paste into a ticket (GitHub / GitLab / Jira Markdown).

Same content and order as the terminal report: verdict, findings by cause with evidence and
remediation (and the ladder of exchanges behind error findings), per-trunk metrics, notes.
Everything taken from the capture is escaped or put in code blocks, so a hostile Call-ID cannot
inject Markdown or HTML into the ticket.
"""

from __future__ import annotations

from typing import TextIO

from sipauth_analyzer.correlate.model import exchange_messages
from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.ladder import build_ladder, render_text
from sipauth_analyzer.report.terminal import (
    MAX_FINDINGS_PER_GROUP,
    MAX_LADDERS,
    metrics_rows,
    pair_title,
)
from sipauth_analyzer.report.view import (
    ReportInput,
    counts_line,
    group_findings,
    iso_time,
    printable,
    rules_by_code,
    undiagnosed_line,
    verdict,
)
from sipauth_analyzer.rules.base import Severity

# Inline markup and HTML; "(" is inert once "[" and "]" are escaped, "#"/"+" only start a line.
_MD_SPECIAL = "\\`*_{}[]<>|"


def escape(text: str) -> str:
    """Markdown-inert text: punctuation that could start markup or HTML is backslashed."""
    out = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in printable(text))
    return out.replace("\n", " ")


def code(text: str) -> str:
    """Inline code that survives backticks inside ``text`` (CommonMark §6.1)."""
    text = printable(text)
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(lines: list[str]) -> list[str]:
    lines = [printable(line) for line in lines]
    fence = "```"
    while any(fence in line for line in lines):
        fence += "`"
    return [fence + "text", *lines, fence]


def render_lines(report: ReportInput, width: int = 80) -> list[str]:
    lines = ["# SIP digest authentication report", ""]
    lines += [f"**{escape(verdict(report))}**", "", escape(counts_line(report)), ""]
    partial = undiagnosed_line(report)
    if partial:
        lines += [f"> **Warning:** {escape(partial)}", ""]
    files = ", ".join(code(s) for s in report.sources)
    lines.append(f"Captures: {files}")
    lines.append("")
    codes = rules_by_code()
    run_of = {id(f): run for run in report.runs for f in run.findings}
    exchanges_by_run = {id(run): {e.id: e for e in run.exchanges} for run in report.runs}
    ladders_left = MAX_LADDERS
    groups = group_findings(report.findings)
    if groups:
        lines += ["## Findings", ""]
        lines.append("| Severity | Rule | Findings | Summary |")
        lines.append("|---|---|---:|---|")
        for rule_code, findings in groups:
            rule = codes.get(rule_code)
            summary = rule.META.summary if rule is not None else ""
            lines.append(
                f"| {findings[0].severity.value} | {rule_code} {findings[0].name} | "
                f"{len(findings)} | {escape(summary)} |"
            )
        lines.append("")
    for rule_code, findings in groups:
        first = findings[0]
        lines += [f"### {first.severity.value.upper()} {rule_code} {first.name}", ""]
        rule = codes.get(rule_code)
        if rule is not None:
            lines += [escape(rule.META.summary), ""]
            lines += [f"**Fix:** {escape(rule.META.remediation)}", ""]
            if rule.META.references:
                lines += ["References: " + ", ".join(rule.META.references), ""]
        for index, finding in enumerate(findings[:MAX_FINDINGS_PER_GROUP], start=1):
            run = run_of[id(finding)]
            lines.append(f"{index}. {escape(finding.message)}")
            where = []
            if finding.client is not None or finding.server is not None:
                where.append(
                    escape(
                        f"{report.peers.endpoint(finding.client)} → "
                        f"{report.peers.endpoint(finding.server)}"
                    )
                )
            if finding.frames:
                where.append("frames " + ", ".join(str(f) for f in finding.frames[:20])
                             + (" …" if len(finding.frames) > 20 else ""))
            if finding.evidence:
                where.append(f"at {iso_time(finding.evidence[0].time)}")
            if finding.call_ids:
                where.append("Call-ID " + ", ".join(code(c) for c in finding.call_ids[:5]))
            if run.label is not None:
                where.append(f"file {code(run.label)}")
            lines.append("   - " + " · ".join(where))
            lines.append(f"   - Wireshark display filter: {code(finding.display_filter)}")
            evidence_lines: list[str] = []
            for item in finding.evidence:
                evidence_lines.append(f"frame {item.frame}: {item.summary}")
                if item.excerpt:
                    evidence_lines.extend("  " + part for part in item.excerpt.split(" | "))
            if evidence_lines:
                lines.append("")
                lines.extend("   " + line for line in _fenced(evidence_lines))
            if report.ladders and finding.severity is Severity.ERROR:
                for exchange_id in finding.exchange_ids[: report.max_ladders_per_finding]:
                    exchange = exchanges_by_run[id(run)].get(exchange_id)
                    if exchange is None or ladders_left <= 0:
                        continue
                    ladders_left -= 1
                    ladder = build_ladder(
                        exchange_messages(exchange),
                        title=f"Exchange {exchange.id}: {exchange.method} "
                        f"({exchange.outcome.value})",
                        name_endpoint=report.peers.endpoint,
                    )
                    lines.append("")
                    lines.extend("   " + line for line in _fenced(render_text(ladder, width)))
            lines.append("")
        hidden = len(findings) - MAX_FINDINGS_PER_GROUP
        if hidden > 0:
            lines += [f"… {hidden} more {rule_code} findings (all are in the JSON report)", ""]
    if report.known:
        lines.append(
            f"{len(report.known)} known finding(s) matched the baseline and are not shown: "
            + ", ".join(sorted({f.code for f in report.known}))
        )
        lines.append("")
    pairs = report.pairs()
    if pairs:
        lines += ["## Metrics per trunk", ""]
        titles = []
        columns = []
        for run, pair, metrics in pairs:
            title = pair_title(report.peers, pair)
            if run.label is not None:
                title += f" ({run.label})"
            titles.append(escape(title))
            columns.append(metrics_rows(metrics))
        if len(pairs) > 1:
            titles.append("All trunks")
            columns.append(metrics_rows(report.overall()))
        lines.append("| Metric | " + " | ".join(titles) + " |")
        lines.append("|---|" + "---:|" * len(titles))
        for row_index, (label, _) in enumerate(columns[0]):
            values = [escape(column[row_index][1]) for column in columns]
            lines.append(f"| {label} | " + " | ".join(values) + " |")
        lines.append("")
    if report.notes:
        lines += ["## Notes", ""]
        for note in report.notes:
            frames = f" (frames {', '.join(str(f) for f in note.frames[:10])})" if note.frames \
                else ""
            lines.append(f"- {note.level.value}: {code(note.kind)}: {escape(note.detail)}{frames}")
        lines.append("")
    lines.append(f"_Generated by sipauth {escape(report.version)}._")
    return lines


def render(report: ReportInput, out: TextIO, style: Style) -> None:
    out.write("\n".join(render_lines(report, style.width)) + "\n")
