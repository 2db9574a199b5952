"""The message budget (CorrelateOptions.max_kept_messages): past it, exchanges that end are
counted and let go whatever they hold, so memory stays bounded on a capture of any length,
and the report says where diagnosis stopped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bench.generate import StormParams, generate_storm
from sipauth_analyzer.correlate import CorrelateOptions, Correlator
from sipauth_analyzer.correlate.model import Correlation, call_id_digest
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze
from sipauth_analyzer.primitives import NoteLevel
from sipauth_analyzer.report.json_report import metrics_record
from sipauth_analyzer.report.view import Filters, TimeBound, build_report, build_run, verdict
from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.retention import plain_exchange_test
from tests.correlate.sipfactory import (
    Flow,
    correlate_tracking_peak,
    digest_challenge,
    digest_credentials,
)
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
    # Kept: the exchanges that had ended when the budget was reached (at the 1,001st message);
    # the ones still open then went when they ended, or at the end of the capture.
    assert 0 < len(correlation.messages) <= 1_000
    assert max(m.source.frame for m in correlation.messages) <= 1_000
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
        "message(s) that joined nothing"
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


def _correlate(flow: Flow, budget: int) -> Correlation:
    correlator = Correlator(
        CorrelateOptions(max_kept_messages=budget), retirable=plain_exchange_test(RuleOptions())
    )
    for message in flow.messages:
        correlator.add(message)
    return correlator.finish()


def test_a_let_go_exchange_is_found_by_any_of_its_call_ids() -> None:
    """A retry under a new Call-ID (same From URI and tag) joins the exchange: a --call-id
    view must find it by either."""
    flow = Flow()
    first = flow.request("REGISTER", call_id="first-call", branch="z9hG4bK-a1")
    flow.response(first, 401, challenge=digest_challenge("n1"))
    retry = flow.request("REGISTER", call_id="second-call", cseq=2, branch="z9hG4bK-a2",
                         auth=digest_credentials("n1"))
    flow.response(retry, 200)
    (row,) = list(_correlate(flow, 0).unlisted)
    assert row.call_id_digests == (call_id_digest("first-call"), call_id_digest("second-call"))
    assert not row.plain and row.counts.challenged == 1


def test_acks_and_cancels_that_match_nothing_are_let_go_past_the_budget() -> None:
    for method in ("ACK", "CANCEL"):
        flow = Flow()
        for index in range(300):
            flow.request(method, call_id=f"x{index}", branch=f"z9hG4bK-x{index}")
        correlation = _correlate(flow, 100)
        assert len(correlation.messages) == 100, method
        assert len(correlation.transactions) == (100 if method == "CANCEL" else 0)
        assert correlation.unlisted_messages == correlation.undiagnosed_orphans == 200
        assert [n.kind for n in correlation.notes].count(ORPHANS) == 1


def test_a_late_answer_to_a_cancel_keeps_its_exchange_until_it_can_come() -> None:
    """The CANCEL's transaction keeps the cancelled INVITE's exchange unsealed, so a late copy
    of its 200 joins that exchange instead of staying behind, kept by nothing."""
    flow = Flow()
    invite = flow.request("INVITE", call_id="c1", branch="z9hG4bK-i1", at=0.0)
    cancel = flow.request("CANCEL", call_id="c1", branch="z9hG4bK-i1", at=1.0)
    flow.response(invite, 487, at=1.1)
    flow.request("ACK", call_id="c1", branch="z9hG4bK-i1", at=1.2)
    ok = flow.response(cancel, 200, at=5.0)
    # After the INVITE's table entries expire (240 s after its last message, 1.2 s), before the
    # CANCEL's (240 s after its 200, at 5 s).
    flow.again(ok, at=243.0)
    correlation = _correlate(flow, 0)
    assert correlation.messages == [] and correlation.orphan_responses == []
    assert correlation.unlisted_messages == 6 and correlation.undiagnosed_exchanges == 1


def test_past_the_budget_the_rules_see_no_exchange_that_ended_after_it() -> None:
    """Nothing is kept once the budget is reached, not even an exchange still open at the end:
    otherwise the rules would judge it without the exchanges let go around it. Here the
    client's credentialed REGISTER is let go; keeping its later unanswered challenge alone made
    SA305 say it never sends credentials."""
    from sipauth_analyzer.rules.engine import run_rules

    flow = Flow()
    a, b = "10.0.0.1:5060", "10.0.0.2:5060"
    reverse = flow.request("REGISTER", src=b, dst=a, call_id="rev", branch="z9hG4bK-rev",
                           auth=digest_credentials("rn", user="b"))
    flow.response(reverse, 200)
    first = flow.request("REGISTER", src=a, dst=b, call_id="fwd", branch="z9hG4bK-x1",
                         at=2000.0)
    flow.response(first, 401, challenge=digest_challenge("n1"))
    retry = flow.request("REGISTER", src=a, dst=b, call_id="fwd", cseq=2, branch="z9hG4bK-x2",
                         auth=digest_credentials("n1"))
    flow.response(retry, 200)
    later = flow.request("REGISTER", src=a, dst=b, call_id="fwd2", from_tag="ft2",
                         branch="z9hG4bK-y", at=3000.0)
    flow.response(later, 401, challenge=digest_challenge("n2"))
    full = _correlate(flow, 1_000)
    assert "SA302" in {f.code for f in run_rules(full)}
    capped = _correlate(flow, 3)
    assert all(m.source.frame <= 3 for m in capped.messages)
    assert not {f.code for f in run_rules(capped)} - {f.code for f in run_rules(full)}


def test_a_storm_finding_does_not_call_the_budgeted_part_the_whole_capture(
    tmp_path: Path,
) -> None:
    capture = _storm(tmp_path)
    for budget, scope in ((1_000_000, "in the whole capture"),
                          (2_000, "before the message budget was reached")):
        storms = [f for f in _analyze(capture, budget).findings if f.code == "SA304"]
        assert storms and all(scope in f.message for f in storms), (budget, storms)


def test_the_budget_can_be_set_on_the_command_line(capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SAMPLE_PCAPS_DIR
    from tests.test_cli import run_main

    capture = str(SAMPLE_PCAPS_DIR / "brute-force-svcrack.pcap")
    _, out, _ = run_main(["analyze", capture, "--format", "json"], capsys)
    full = json.loads(out)
    _, out, _ = run_main(
        ["analyze", capture, "--format", "json", "--max-kept-messages", "0"], capsys
    )
    capped = json.loads(out)
    assert full["summary"]["exchanges_undiagnosed"] == 0
    assert capped["summary"]["exchanges_undiagnosed"] == full["summary"]["exchanges"] > 0
    assert capped["metrics"]["overall"] == full["metrics"]["overall"]
    (note,) = [n for n in capped["notes"] if n["kind"] == UNDIAGNOSED]
    assert "--max-kept-messages" in note["detail"]
    code, _, err = run_main(["analyze", capture, "--max-kept-messages", "-1"], capsys)
    assert code == 2 and "--max-kept-messages" in err
