"""Filters, baseline, peer names, statistics and ladders: the parts every format shares."""

from __future__ import annotations

import json

import pytest

from sipauth_analyzer.correlate.model import exchange_messages
from sipauth_analyzer.pipeline import analyze
from sipauth_analyzer.primitives import Endpoint
from sipauth_analyzer.report.ladder import build_ladder, render_markdown, render_text
from sipauth_analyzer.report.view import (
    Filters,
    PeerNames,
    PeerSpec,
    ReportInputError,
    TimeBound,
    build_report,
    group_findings,
    load_baseline,
    median,
    percentile,
    verdict,
)
from tests.conftest import SAMPLE_PCAPS_DIR
from tests.rules import rule_scenarios
from tests.rules.sipbuild import UNAUTHORIZED, Wire, by_code, creds, exchange, findings, www


def test_percentiles_are_nearest_rank():
    assert percentile([], 0.95) is None
    assert percentile([5.0], 0.95) == 5.0
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert median([]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5", PeerSpec("10.0.0.5", None)),
        ("10.0.0.5:5060", PeerSpec("10.0.0.5", 5060)),
        ("::1", PeerSpec("::1", None)),
        ("[2001:db8::0001]:5061", PeerSpec("2001:db8::1", 5061)),
    ],
)
def test_peer_specs_parse(text, expected):
    assert PeerSpec.parse(text) == expected


@pytest.mark.parametrize("text", ["sbc.example.com", "10.0.0.5:x", "[::1", "10.0.0.5:70000"])
def test_bad_peer_specs_are_user_errors(text):
    with pytest.raises(ReportInputError):
        PeerSpec.parse(text)


def test_peer_names_prefer_the_exact_port():
    names = PeerNames.from_mapping({"10.0.0.5": "Edge", "10.0.0.5:5070": "Edge media proxy"})
    assert names.endpoint(Endpoint("10.0.0.5", 5060)) == "Edge (10.0.0.5:5060)"
    assert names.endpoint(Endpoint("10.0.0.5", 5070)) == "Edge media proxy (10.0.0.5:5070)"
    assert names.endpoint(Endpoint("10.0.0.9", 5060)) == "10.0.0.9:5060"
    assert names.ip("10.0.0.5") == "Edge (10.0.0.5)"


def test_time_bounds_parse():
    assert TimeBound.parse("90.5") == TimeBound(90.5, relative=True)
    absolute = TimeBound.parse("2026-01-31T14:05:00Z")
    assert not absolute.relative
    assert absolute.resolve(0.0) == pytest.approx(1769868300.0)
    assert TimeBound.parse("2026-01-31T14:05:00") == absolute  # no zone: UTC
    assert TimeBound.parse("12").resolve(1000.0) == 1012.0
    for bad in ("yesterday", "-5", "nan"):
        with pytest.raises(ReportInputError):
            TimeBound.parse(bad)


@pytest.fixture(scope="module")
def brute_force():
    return analyze([str(SAMPLE_PCAPS_DIR / "brute-force-svcrack.pcap")])


@pytest.fixture(scope="module")
def invite():
    return analyze([str(SAMPLE_PCAPS_DIR / "invite-407-success.pcap")])


def test_call_id_filter_keeps_only_that_call(brute_force):
    exchange = brute_force.correlation.exchanges[3]
    wanted = exchange.call_ids[0]
    run = build_report([(None, brute_force)], filters=Filters(call_ids=(wanted,))).runs[0]
    assert [e.id for e in run.exchanges] == [exchange.id]
    assert run.overall.requests == 1  # metrics recomputed over the kept exchanges
    # The brute-force finding spans many exchanges, this one included: it stays.
    assert {f.code for f in run.findings} == {f.code for f in brute_force.findings
                                              if exchange.id in f.exchange_ids
                                              or not f.exchange_ids}


def test_method_and_peer_filters(invite):
    methods = {e.method for e in invite.correlation.exchanges}
    assert "INVITE" in methods
    run = build_report([(None, invite)], filters=Filters(methods=("REGISTER",))).runs[0]
    assert run.exchanges == ()
    callee = build_report([(None, invite)], filters=Filters(peers=(PeerSpec("127.0.0.1", 5070),)))
    kept = callee.runs[0].exchanges
    assert kept and all(
        e.server == Endpoint("127.0.0.1", 5070) or e.client == Endpoint("127.0.0.1", 5070)
        for e in kept
    )
    assert len(kept) < len(invite.correlation.exchanges)


def test_time_filter_relative_to_capture_start(brute_force):
    everything = len(brute_force.correlation.exchanges)
    late = build_report([(None, brute_force)], filters=Filters(since=TimeBound(1.0, True)))
    early = build_report([(None, brute_force)], filters=Filters(until=TimeBound(1.0, True)))
    assert 0 < len(late.runs[0].exchanges) < everything
    assert 0 < len(early.runs[0].exchanges) < everything
    none = build_report([(None, brute_force)], filters=Filters(since=TimeBound(3600.0, True)))
    assert none.runs[0].exchanges == () and none.runs[0].findings == ()


def test_baseline_suppresses_known_fingerprints(tmp_path, brute_force):
    first = build_report([(None, brute_force)])
    baseline = tmp_path / "baseline.json"
    from sipauth_analyzer.report.json_report import build_document

    baseline.write_text(json.dumps(build_document(first)), encoding="utf-8")
    known = load_baseline(baseline)
    assert known == {f.fingerprint for f in brute_force.findings}
    second = build_report([(None, brute_force)], baseline=known)
    assert second.findings == [] and len(second.known) == len(brute_force.findings)
    assert second.failing() == []
    assert "no authentication problem found" in verdict(second)


def test_bad_baselines_are_user_errors(tmp_path):
    for content in ("not json", "[]", '{"findings": 3}'):
        path = tmp_path / "b.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ReportInputError):
            load_baseline(path)
    with pytest.raises(ReportInputError):
        load_baseline(tmp_path / "missing.json")


def test_fail_on_threshold(brute_force):
    codes = {f.severity.value for f in brute_force.findings}
    assert codes == {"error", "warning"}
    from sipauth_analyzer.rules.base import Severity

    assert build_report([(None, brute_force)], fail_on=Severity.ERROR).failing()
    assert build_report([(None, brute_force)], fail_on=None).failing() == []
    warning = build_report([(None, brute_force)], fail_on=Severity.WARNING).failing()
    assert len(warning) == len(brute_force.findings)


# -- ladders ------------------------------------------------------------------------------------


def test_ladder_rows_follow_the_frames_and_hide_secrets():
    result = analyze([str(SAMPLE_PCAPS_DIR / "register-success-qop.pcap")])
    exchange = result.correlation.exchanges[0]
    ladder = build_ladder(exchange_messages(exchange), title="t")
    assert [r.frame for r in ladder.rows] == [1, 2, 3, 4]
    assert [r.label for r in ladder.rows] == ["REGISTER", "401 Unauthorized", "REGISTER +auth",
                                              "200 OK"]
    assert ladder.rows[1].src == ladder.rows[0].dst
    credentials = exchange.attempts[1].request.credentials[0]
    assert credentials.response and credentials.cnonce
    for width in (40, 80, 132):
        lines = render_text(ladder, width)
        assert max(len(line) for line in lines) <= width
        text = "\n".join(lines)
        assert credentials.response not in text and credentials.cnonce not in text
    markdown = "\n".join(render_markdown(ladder))
    assert 'user="alice"' in markdown and "qop=auth" in markdown
    assert credentials.response not in markdown and credentials.cnonce not in markdown


def test_ladder_with_three_endpoints_and_long_names(invite):
    messages = [m for m in invite.correlation.messages]
    ladder = build_ladder(messages, name_endpoint=lambda e: f"A rather long peer name ({e})")
    assert len(ladder.endpoints) == 3
    lines = render_text(ladder, 80)
    assert lines[0].startswith("  A = A rather long peer name")  # legend, not overlapping
    assert max(len(line) for line in lines) <= 80
    arrows = [line for line in lines if "INVITE" in line]
    assert arrows and all(("-->" in a or "<--" in a or ">|" in a) for a in arrows)


def test_headline_and_metrics_agree_on_failed_for_a_ghost_call():
    # The authenticated INVITE retry is never answered (its fragments were dropped): one auth
    # failure, in the headline and in the metrics table alike.
    result = analyze([str(SAMPLE_PCAPS_DIR / "fragmented-invite-ghost.pcap")])
    report = build_report([(None, result)])
    assert ", 1 failed — " in verdict(report)
    assert report.overall().failed == 1
    assert report.overall().nonce_lifetime_s is None  # no nonce was ever accepted


def _looping_device(index: int) -> list[Wire]:
    """A device that answers every challenge with the same wrong password (SA301)."""
    responses = [(401, UNAUTHORIZED, [www(nonce=f"d{index}n{i}")]) for i in range(4)]
    retries = [[creds(nonce=f"d{index}n{i}", response_hash="f" * 32)] for i in range(3)]
    return exchange(responses=responses, retries=retries, t0=30.0 + index, step=0.05,
                    call_id=f"loop-{index}@192.0.2", src=Endpoint(f"192.0.2.{20 + index}", 5060))


def test_the_cause_covering_most_exchanges_leads_though_it_has_fewer_findings() -> None:
    # Eight guesses from one attacker: one SA601 finding over 8 exchanges. Three devices that
    # loop on a wrong password: three SA301 findings, one exchange each.
    users = [str(100 + i) for i in range(8)]
    wires = rule_scenarios.guesses(users)
    for index in range(3):
        wires += _looping_device(index)
    found = findings(wires)
    assert len(by_code(found, "SA601")) == 1
    assert len(by_code(found, "SA301")) == 3  # more findings than SA601...
    groups = group_findings(found)
    assert groups[0][0] == "SA601"  # ...but fewer exchanges
    assert [code for code, _ in groups].index("SA301") > 0
