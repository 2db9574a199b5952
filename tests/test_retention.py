"""Plain exchanges let go past max_listed_plain_exchanges: nothing any rule or metric says changes.

The equivalence test is what keeps rules/retention.py honest: over every capture we have, it
analyses twice with tables small enough that exchanges seal early, once listing every plain
exchange and once listing none, and requires the same findings, metrics and notes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bench.generate import TrunkParams, generate_trunk
from sipauth_analyzer.capture.model import FLAG_TRUNCATED
from sipauth_analyzer.correlate import CorrelateOptions, Correlator
from sipauth_analyzer.correlate.model import AuthExchange, Correlation
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze
from sipauth_analyzer.report.json_report import metrics_record
from sipauth_analyzer.report.view import (
    Filters,
    PeerSpec,
    RunReport,
    TimeBound,
    build_report,
    build_run,
    verdict,
)
from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.retention import plain_exchange_test
from tests.conftest import CAPTURES_DIR, REAL_PCAPS_DIR, SAMPLE_PCAPS_DIR, capture_files
from tests.correlate.sipfactory import (
    Flow,
    correlate_tracking_peak,
    digest_challenge,
    digest_credentials,
)
from tests.fuzz.exhaust import build

UNLISTED = "correlate-plain-exchanges-unlisted"
# Small enough that most exchanges seal (leave every table) long before the capture ends.
EARLY_SEAL = CorrelateOptions(max_transactions=2, max_open_exchanges=2)


def _corpus() -> list[Path]:
    return [
        *capture_files(CAPTURES_DIR, recursive=True),
        *capture_files(SAMPLE_PCAPS_DIR),
        *capture_files(REAL_PCAPS_DIR, recursive=True),
    ]


def _analyze(path: Path, listed: int) -> AnalysisResult:
    correlate = dataclasses.replace(EARLY_SEAL, max_listed_plain_exchanges=listed)
    return analyze([str(path)], AnalysisOptions(correlate=correlate, jobs=1))


def _findings(result: AnalysisResult) -> list[tuple[Any, ...]]:
    return [
        (f.code, f.message, f.frames, f.call_ids, f.fingerprint, f.evidence, f.exchange_ids)
        for f in result.findings
    ]


def _metrics(correlation: Correlation) -> list[Any]:
    pairs = [(pair, metrics_record(m)) for pair, m in correlation.metrics_by_pair.items()]
    return [pairs, metrics_record(correlation.overall)]


def test_every_capture_gives_the_same_findings_metrics_and_notes_when_plain_exchanges_go(
    tmp_path: Path,
) -> None:
    corpus = _corpus()
    assert len(corpus) >= 20, "the committed synthetic captures alone are more than this"
    # A bench trunk (calls, BYEs, REGISTERs): enough plain exchanges to let go even where the
    # real captures are absent (95 of them; our committed captures have a dozen).
    corpus.append(generate_trunk(TrunkParams(packets=50_000), tmp_path).path)
    unlisted_total = 0
    views_checked = 0
    for path in corpus:
        kept = _analyze(path, listed=1_000_000)
        dropped = _analyze(path, listed=0)
        assert kept.correlation.unlisted_exchanges == 0
        unlisted = dropped.correlation.unlisted_exchanges
        unlisted_total += unlisted
        assert _findings(dropped) == _findings(kept), path.name
        assert _metrics(dropped.correlation) == _metrics(kept.correlation), path.name
        assert [n for n in dropped.notes if n.kind != UNLISTED] == kept.notes, path.name
        kept_ids = [e.id for e in kept.correlation.exchanges]
        listed_ids = [e.id for e in dropped.correlation.exchanges]
        assert set(listed_ids) <= set(kept_ids)
        assert len(kept_ids) - len(listed_ids) == unlisted, path.name
        listed_messages = len(dropped.correlation.messages)
        assert listed_messages + dropped.correlation.unlisted_messages == len(
            kept.correlation.messages
        ), path.name
        # The report's verdict still counts every exchange and trunk, in every view.
        assert verdict(build_report([(None, dropped)])) == verdict(build_report([(None, kept)]))
        for filters in _views(kept.correlation):
            shown, full = build_run(dropped, filters=filters), build_run(kept, filters=filters)
            assert _view(shown) == _view(full), (path.name, filters)
            views_checked += 1
    # Not vacuous: the corpus has plain traffic (OPTIONS, BYE, unanswered requests) to let go.
    assert unlisted_total > 50
    assert views_checked > 4 * 50


def _views(correlation: Correlation) -> list[Filters]:
    """Filters a user would try on this capture: by time (the second half), by peer, method
    and Call-ID of a middle exchange."""
    if not correlation.exchanges or correlation.first_time is None:
        return []
    middle = correlation.exchanges[len(correlation.exchanges) // 2]
    half = ((correlation.last_time or correlation.first_time) - correlation.first_time) / 2
    views = [
        Filters(since=TimeBound(half, relative=True)),
        Filters(until=TimeBound(half, relative=True)),
        Filters(peers=(PeerSpec(middle.client.ip, None),)),
        Filters(methods=(middle.method,)),
    ]
    if middle.call_ids:
        views.append(Filters(call_ids=(middle.call_ids[0],)))
    return views


def _view(run: RunReport) -> list[Any]:
    pairs = [(pair, metrics_record(m)) for pair, m in run.metrics_by_pair.items()]
    return [
        len(run.exchanges) + run.unlisted_exchanges,
        pairs,
        metrics_record(run.overall),
        [f.fingerprint for f in run.findings],
    ]


def test_a_flood_of_unanswered_registers_keeps_only_the_open_tables(tmp_path: Path) -> None:
    capture = tmp_path / "call-ids.pcap"
    build("call-ids", capture, 3_000)
    options = CorrelateOptions(
        max_transactions=200, max_open_exchanges=100, max_listed_plain_exchanges=50
    )
    result = analyze([str(capture)], AnalysisOptions(correlate=options, jobs=1))
    correlation = result.correlation
    # 50 listed once sealed, plus what is still in the transaction table at the end.
    assert len(correlation.exchanges) == 50 + 200
    assert len(correlation.messages) == len(correlation.transactions) == 250
    assert correlation.unlisted_exchanges == correlation.unlisted_messages == 3_000 - 250
    assert correlation.overall.requests == 3_000
    (note,) = [n for n in result.notes if n.kind == UNLISTED]
    assert note.detail.startswith("2750 exchange(s) that never touched authentication")
    assert len(correlation.unlisted) == 2750
    assert "max_listed_plain_exchanges=50" in note.detail
    assert note.frames[:2] == (51, 52)  # the first 50 to seal are listed, the next let go
    report = build_report([(None, result)])
    assert report.unlisted_exchanges == 2_750
    assert verdict(report).startswith("3000 auth exchanges on 250 trunks, 0 failed")


def _sealed(flow: Flow, options: RuleOptions | None = None) -> list[tuple[int, bool]]:
    """(first frame, plain?) of each exchange, as the rule stage judges it when it seals."""
    test = plain_exchange_test(options or RuleOptions())
    judged: list[tuple[int, bool]] = []

    def record(exchange: AuthExchange) -> bool:
        judged.append((exchange.first.request.source.frame, test(exchange)))
        return False

    correlator = Correlator(
        CorrelateOptions(max_transactions=1, max_open_exchanges=1), retirable=record
    )
    for message in flow.messages:
        correlator.add(message)
    return judged


def _spacer(flow: Flow, index: int) -> None:
    """An unrelated OPTIONS that pushes earlier transactions out of the one-entry tables."""
    flow.request("OPTIONS", call_id=f"spacer-{index}", branch=f"z9hG4bK-s{index}")


def test_only_exchanges_no_rule_reads_are_plain() -> None:
    flow = Flow()
    ok = flow.request("OPTIONS", call_id="ok", branch="z9hG4bK-ok")
    flow.response(ok, 200)
    _spacer(flow, 1)
    challenged = flow.request("REGISTER", call_id="ch", branch="z9hG4bK-ch")
    flow.response(challenged, 401, challenge=digest_challenge("n1"))
    _spacer(flow, 2)
    flow.request("REGISTER", call_id="cr", branch="z9hG4bK-cr", auth=digest_credentials("n2"))
    _spacer(flow, 3)
    for status in (403, 404):
        probe = flow.request("REGISTER", call_id=f"p{status}", branch=f"z9hG4bK-{status}")
        flow.response(probe, status)
        _spacer(flow, status)
    _spacer(flow, 5)
    judged = dict(_sealed(flow))
    assert judged[ok.source.frame] is True
    assert judged[challenged.source.frame] is False
    assert judged[flow.messages[6].source.frame] is False  # credentials, never answered
    assert judged[flow.messages[8].source.frame] is False  # 403
    assert judged[flow.messages[11].source.frame] is False  # 404
    assert judged[flow.messages[2].source.frame] is True  # a spacer is plain itself


@pytest.mark.parametrize(
    ("change", "plain"),
    [
        (lambda m: m, True),
        (lambda m: _with_header(m, "User-Agent: friendly-scanner"), False),
        (lambda m: _with_header(m, "User-Agent: Linphone/5.2"), True),
        (lambda m: _with_header(m, "X-Pad: " + "x" * 1400), False),  # over udp_size_warning
        (lambda m: dataclasses.replace(m, flags=frozenset({FLAG_TRUNCATED})), False),
    ],
)
def test_scanners_oversize_udp_and_cut_messages_are_not_plain(change: Any, plain: bool) -> None:
    flow = Flow()
    request = flow.request("OPTIONS", call_id="one", branch="z9hG4bK-one")
    flow.messages[0] = _reparse(change(request.source))
    _spacer(flow, 1)
    _spacer(flow, 2)
    assert dict(_sealed(flow))[1] is plain


def _with_header(source: Any, line: str) -> Any:
    text = source.data.decode().replace("Content-Length: 0", f"{line}\r\nContent-Length: 0")
    data = text.encode()
    return dataclasses.replace(source, data=data, wire_size=len(data))


def _reparse(source: Any) -> Any:
    from sipauth_analyzer.sip.message import parse_message

    parsed = parse_message(source)
    assert not isinstance(parsed, Exception) and hasattr(parsed, "source"), parsed
    return parsed


def test_per_file_overall_counts_the_unlisted_exchanges_of_every_run(tmp_path: Path) -> None:
    options = AnalysisOptions(
        correlate=CorrelateOptions(
            max_transactions=20, max_open_exchanges=10, max_listed_plain_exchanges=5
        ),
        jobs=1,
    )
    results = []
    for size in (300, 200):
        capture = tmp_path / f"flood-{size}.pcap"
        build("call-ids", capture, size)
        results.append((capture.name, analyze([str(capture)], options)))
    report = build_report(results)
    assert [run.unlisted_exchanges for run in report.runs] == [300 - 25, 200 - 25]
    overall = report.overall()
    assert overall.requests == 500
    assert overall.failed == 0 and overall.challenged == 0


def test_plain_exchanges_are_dropped_during_the_run_when_they_are_a_small_share() -> None:
    """One plain OPTIONS for every nine challenged REGISTERs: the let-go messages leave the
    correlator's lists as the run goes, not only at the end."""
    flow = Flow()
    for index in range(30_000):
        if index % 10 == 0:
            ping = flow.request("OPTIONS", call_id=f"o{index}", branch=f"z9hG4bK-o{index}")
            flow.response(ping, 200)
        else:
            register = flow.request("REGISTER", call_id=f"r{index}", branch=f"z9hG4bK-r{index}")
            flow.response(register, 401, challenge=digest_challenge(f"n{index}"))
    test = plain_exchange_test(RuleOptions())
    correlator = Correlator(
        CorrelateOptions(max_transactions=100, max_open_exchanges=100,
                         max_listed_plain_exchanges=0),
        retirable=test,
    )
    correlation, longest = correlate_tracking_peak(correlator, flow.messages)
    assert correlation.unlisted_exchanges > 2_900
    kept = len(correlation.messages)
    assert kept == 60_000 - 2 * correlation.unlisted_exchanges
    # Compaction waits for 4,096 retired objects (4 per plain exchange: itself, its transaction
    # and 2 messages), so about 2,048 let-go messages at most; without compaction during the
    # run the list would reach all 60,000.
    assert longest < kept + 3_000
