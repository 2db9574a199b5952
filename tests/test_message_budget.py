"""The message budget (CorrelateOptions.max_kept_messages): past it, exchanges that end are
counted and let go whatever they hold, so memory stays bounded on a capture of any length,
and the report says where diagnosis stopped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bench.generate import StormParams, generate_storm
from sipauth_analyzer.correlate import CorrelateOptions, Correlator
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze
from sipauth_analyzer.primitives import NoteLevel
from sipauth_analyzer.report.json_report import metrics_record
from sipauth_analyzer.report.view import Filters, TimeBound, build_report, build_run, verdict
from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.retention import plain_exchange_test
from tests.correlate.sipfactory import Flow, correlate_tracking_peak, digest_challenge
from tests.fuzz.exhaust import measure

UNDIAGNOSED = "correlate-exchanges-undiagnosed"
ORPHANS = "correlate-orphans-undiagnosed"
TABLES = CorrelateOptions(max_transactions=50, max_open_exchanges=50)


def _storm(tmp_path: Path) -> Path:
    # A brute-forcer and a looping trunk against one PBX: every exchange challenged.
    return generate_storm(StormParams(messages=6_000), tmp_path).path


def _analyze(capture: Path, budget: int) -> AnalysisResult:
    options = dataclasses.replace(TABLES, max_kept_messages=budget)
    return analyze([str(capture)], AnalysisOptions(correlate=options, jobs=1))


def test_past_the_budget_challenged_exchanges_are_counted_and_let_go(tmp_path: Path) -> None:
    capture = _storm(tmp_path)
    full = _analyze(capture, 1_000_000)
    capped = _analyze(capture, 1_000)
    assert full.correlation.undiagnosed_exchanges == 0
    assert not [n for n in full.notes if n.kind == UNDIAGNOSED]
    correlation = capped.correlation
    undiagnosed = correlation.undiagnosed_exchanges
    assert undiagnosed > 400
    assert correlation.unlisted_exchanges == undiagnosed  # nothing in a storm is plain
    # Kept: the budget, plus what was still open (tables of 50) when it was reached.
    assert 1_000 <= len(correlation.messages) <= 1_000 + 600
    assert len(correlation.messages) + correlation.unlisted_messages == len(
        full.correlation.messages
    )
    # The metrics still count every exchange, exactly.
    assert metrics_record(correlation.overall) == metrics_record(full.correlation.overall)
    assert verdict(build_report([(None, capped)])) == verdict(build_report([(None, full)]))
    # The rules saw the capture up to the budget: what they report is a subset.
    assert {f.code for f in capped.findings} <= {f.code for f in full.findings}
    (note,) = [n for n in capped.notes if n.kind == UNDIAGNOSED]
    assert note.level is NoteLevel.WARNING
    # The 1,001st message kept is where the budget was passed.
    assert note.detail.startswith(
        f"max_kept_messages=1000 was reached at frame 1001: {undiagnosed} exchange(s) that ended"
    )
    assert "editcap" in note.detail


def test_the_correlator_never_holds_much_more_than_the_budget() -> None:
    flow = Flow()
    for index in range(20_000):
        register = flow.request(
            "REGISTER", call_id=f"r{index}", branch=f"z9hG4bK-r{index}", from_tag=f"t{index}"
        )
        flow.response(register, 401, challenge=digest_challenge(f"n{index}"))
    correlator = Correlator(
        CorrelateOptions(max_transactions=100, max_open_exchanges=100, max_kept_messages=2_000),
        retirable=plain_exchange_test(RuleOptions()),
    )
    correlation, longest = correlate_tracking_peak(correlator, flow.messages)
    assert correlation.undiagnosed_exchanges > 18_000
    assert correlation.overall.requests == 20_000
    assert correlation.overall.challenged == 20_000
    # The budget, the open tables, and at most COMPACT_MIN_RETIRED objects awaiting compaction
    # (3 per exchange: itself, its transaction and 2 messages → about 2,048 messages).
    assert longest < 2_000 + 2 * 100 + 2_100
    assert len(correlation.messages) < 2_000 + 2 * 100


def test_orphan_responses_past_the_budget_are_counted_not_kept() -> None:
    flow = Flow()
    for index in range(10_000):
        flow.response(
            flow.request("REGISTER", call_id=f"o{index}", branch=f"z9hG4bK-o{index}"), 401,
            challenge=digest_challenge(f"n{index}"),
        )
    # Only the responses: a capture of one direction, every one an orphan.
    responses = [m for m in flow.messages if not m.is_request]
    correlator = Correlator(CorrelateOptions(max_kept_messages=500))
    for message in responses:
        correlator.add(message)
    correlation = correlator.finish()
    # The 501st message is one over the budget: from there on nothing more is kept.
    assert len(correlation.orphan_responses) == 500
    assert correlation.undiagnosed_orphans == 10_000 - 500
    assert len(correlation.messages) == 500
    (note,) = [n for n in correlation.notes if n.kind == ORPHANS]
    assert note.level is NoteLevel.WARNING
    assert note.detail.startswith(
        f"max_kept_messages=500 was reached at frame {responses[500].source.frame}: 9500 "
        "response(s)"
    )


def test_views_and_json_say_how_many_exchanges_went_undiagnosed(tmp_path: Path) -> None:
    capture = _storm(tmp_path)
    full = _analyze(capture, 1_000_000)
    capped = _analyze(capture, 1_000)
    second_half = Filters(since=TimeBound(1.0, relative=True))
    shown, reference = build_run(capped, filters=second_half), build_run(full, filters=second_half)
    assert shown.undiagnosed_exchanges > 0
    assert shown.undiagnosed_exchanges == shown.unlisted_exchanges
    assert len(shown.exchanges) + shown.unlisted_exchanges == len(reference.exchanges)
    # A filtered view counts an undiagnosed exchange's request and success only.
    assert shown.overall.requests == reference.overall.requests
    assert shown.overall.successes_2xx == reference.overall.successes_2xx
    # ... and its counters, but not its samples (retry delays, attempts until success).
    assert shown.overall.challenged == reference.overall.challenged
    assert shown.overall.failed == reference.overall.failed
    assert shown.overall.challenges_401 == reference.overall.challenges_401
    assert shown.overall.challenges_407 == reference.overall.challenges_407
    assert len(shown.overall.challenge_to_retry_ms) < len(reference.overall.challenge_to_retry_ms)

    from io import StringIO

    from sipauth_analyzer.report import json_report
    from sipauth_analyzer.report.formats import Style

    out = StringIO()
    json_report.render(build_report([(None, capped)]), out, Style())
    summary = json.loads(out.getvalue())["summary"]
    assert summary["exchanges_undiagnosed"] == capped.correlation.undiagnosed_exchanges
    assert summary["exchanges_unlisted"] == capped.correlation.unlisted_exchanges


def test_peak_memory_follows_the_budget_not_the_capture(tmp_path: Path) -> None:
    """Measured in a child process of its own (tests/fuzz/exhaust.py): an all-challenged storm
    analysed with and without a small budget. Each kept message costs 1.5-2 KB, so holding
    about 35,000 fewer makes a difference of tens of MiB that allocator noise cannot hide
    (measured: 96 MiB without the budget, 62 MiB with it)."""
    capture = generate_storm(StormParams(messages=40_000), tmp_path).path
    # Small open tables, so that exchanges end (and are let go) long before the capture does.
    tables = {"max_open_exchanges": 500, "max_transactions": 1_000}
    unbounded = measure("analyze", capture, {"correlate": tables})
    bounded = measure("analyze", capture, {"correlate": {**tables, "max_kept_messages": 2_000}})
    assert unbounded.returncode == bounded.returncode == 0, bounded.stderr
    assert UNDIAGNOSED not in unbounded.notes
    assert bounded.notes.get(UNDIAGNOSED) == 1
    assert bounded.messages == unbounded.messages == 40_000  # every message was analysed
    assert bounded.peak_rss_mib < unbounded.peak_rss_mib - 20, (bounded, unbounded)


def test_text_and_markdown_say_before_the_findings_that_diagnosis_stopped(
    tmp_path: Path,
) -> None:
    from io import StringIO

    from sipauth_analyzer.report import markdown, terminal
    from sipauth_analyzer.report.formats import Style

    capture = _storm(tmp_path)
    capped, full = _analyze(capture, 1_000), _analyze(capture, 1_000_000)
    count = capped.correlation.undiagnosed_exchanges
    wanted = (
        "Findings cover the capture only up to the message budget (max-kept-messages=1000): "
        f"{count} exchanges after it were counted"
    )
    for result, shown in ((capped, True), (full, False)):
        report = build_report([(None, result)])
        text = StringIO()
        terminal.render(report, text, Style(color=False, width=1000))
        head = text.getvalue().split("Findings ─")[0]
        assert (wanted in head) is shown
        document = "\n".join(markdown.render_lines(report, 1000))
        assert (f"> **Warning:** {wanted}" in document.split("## Findings")[0]) is shown


def test_every_capture_reports_in_every_format_with_no_budget_at_all() -> None:
    """A budget of 0: every exchange that seals is let go undiagnosed. Over every capture we
    have, the metrics and the verdict stay exact, every format renders, and the findings are
    a subset (the rules saw less)."""
    from io import StringIO

    from sipauth_analyzer.report.formats import ReportFormat, Style, reporter_for
    from tests.test_retention import EARLY_SEAL, _corpus

    corpus = _corpus()
    assert len(corpus) >= 20
    undiagnosed_total = 0
    for path in corpus:
        results = [
            analyze([str(path)], AnalysisOptions(
                correlate=dataclasses.replace(EARLY_SEAL, max_kept_messages=budget), jobs=1))
            for budget in (1_000_000, 0)
        ]
        full, none_kept = results
        undiagnosed_total += none_kept.correlation.undiagnosed_exchanges
        assert metrics_record(none_kept.correlation.overall) == metrics_record(
            full.correlation.overall
        ), path.name
        report = build_report([(None, none_kept)])
        assert verdict(report).split(" — ")[0] == verdict(
            build_report([(None, full)])
        ).split(" — ")[0], path.name
        fingerprints = {f.fingerprint for f in full.findings}
        assert {f.fingerprint for f in none_kept.findings} <= fingerprints, path.name
        for output_format in ReportFormat:
            out = StringIO()
            reporter_for(output_format)(report, out, Style(color=False, width=100))
            assert out.getvalue(), (path.name, output_format)
    assert undiagnosed_total > 50  # not vacuous: exchanges seal early in tables of two
