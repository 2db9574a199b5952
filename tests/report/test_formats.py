"""Every report format, rendered from the one shared analysis: snapshots and structure."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest

from sipauth_analyzer import __version__
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze
from sipauth_analyzer.primitives import REDACTED
from sipauth_analyzer.report.formats import ReportFormat, reporter_for
from sipauth_analyzer.report.json_report import SCHEMA_VERSION
from sipauth_analyzer.report.view import ReportInput, build_report
from sipauth_analyzer.rules.base import Finding, Severity
from sipauth_analyzer.rules.registry import ALL_RULES
from tests.conftest import REPO_ROOT, SAMPLE_PCAPS_DIR
from tests.report.conftest import render
from tests.report.schema_check import validate

SCHEMA = json.loads((REPO_ROOT / "docs" / "sipauth-report.schema.json").read_text("utf-8"))
_SUFFIX = {
    ReportFormat.TEXT: "txt",
    ReportFormat.JSON: "json",
    ReportFormat.JUNIT: "xml",
    ReportFormat.SARIF: "sarif",
    ReportFormat.MARKDOWN: "md",
}


@pytest.mark.parametrize("output_format", list(ReportFormat))
def test_every_format_matches_its_snapshot(output_format, shared_report, snapshot):
    snapshot(f"shared.{_SUFFIX[output_format]}", render(shared_report, output_format))


def test_every_format_has_a_reporter():
    assert {f for f in ReportFormat if callable(reporter_for(f))} == set(ReportFormat)


def test_shared_result_has_what_the_snapshots_are_meant_to_show(shared_result):
    codes = {f.code for f in shared_result.findings}
    assert {"SA303", "SA403", "SA401", "SA402"} <= codes
    severities = {f.severity for f in shared_result.findings}
    assert {Severity.ERROR, Severity.WARNING} <= severities


# -- terminal -----------------------------------------------------------------------------------


def test_terminal_report_fits_80_columns_and_is_verdict_first(shared_report):
    text = render(shared_report, ReportFormat.TEXT, width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("2 auth exchanges on 1 trunk, 2 failed — main cause:")
    assert "\x1b[" not in text  # no colour when not asked
    # From the verdict to the frames: the display filter and the ladder are there.
    assert 'sip.Call-ID == "1-20016@127.0.0.1" && frame.number in {3, 4}' in text
    assert "|<---------------------- 403 Forbidden -----------------------|" in text
    assert "Kamailio (127.0.0.1:5060)" in text


@pytest.mark.parametrize(
    "capture", sorted(p.name for p in SAMPLE_PCAPS_DIR.glob("*.pcap"))
)
def test_terminal_report_of_every_sample_fits_80_columns(capture):
    result = analyze([str(SAMPLE_PCAPS_DIR / capture)])
    report = build_report([(None, result)], version=__version__)
    for output_format in (ReportFormat.TEXT,):
        lines = render(report, output_format, width=80).splitlines()
        too_long = [line for line in lines if len(line) > 80]
        assert not too_long, too_long[:3]


def test_terminal_report_in_colour_has_escape_codes(shared_report):
    import io

    from sipauth_analyzer.report.formats import Style

    out = io.StringIO()
    reporter_for(ReportFormat.TEXT)(shared_report, out, Style(color=True, width=80))
    assert "\x1b[" in out.getvalue()


def test_no_ladders_when_disabled(shared_result):
    report = build_report([(None, shared_result)], ladders=False)
    text = render(report, ReportFormat.TEXT)
    assert "403 Forbidden ---" not in text
    assert "frame 4" in text  # the evidence is still there


# -- JSON ---------------------------------------------------------------------------------------


def test_json_conforms_to_the_documented_schema(shared_report):
    document = json.loads(render(shared_report, ReportFormat.JSON))
    assert validate(document, SCHEMA, SCHEMA) == []
    assert document["schema_version"] == SCHEMA_VERSION == 1
    finding = next(f for f in document["findings"] if f["code"] == "SA303")
    assert finding["frames"] == [3, 4]
    assert finding["call_ids"] == ["1-20016@127.0.0.1"]
    assert finding["server_name"] == "Kamailio"
    assert document["summary"]["exit_code"] == 1
    assert {e["outcome"] for e in document["exchanges"]} == {"rejected", "no-response"}
    overall = document["metrics"]["overall"]
    assert overall["requests"] == 2
    assert overall["challenge_to_retry_ms"]["count"] == 2


def test_the_schema_checker_catches_a_wrong_document(shared_report):
    document = json.loads(render(shared_report, ReportFormat.JSON))
    document["findings"][0]["severity"] = "fatal"
    document["findings"][0]["surprise"] = 1
    del document["metrics"]["overall"]["failed"]
    errors = validate(document, SCHEMA, SCHEMA)
    assert any("fatal" in e for e in errors)
    assert any("surprise" in e for e in errors)
    assert any("'failed'" in e for e in errors)


def test_json_of_a_clean_capture_has_empty_findings():
    result = analyze([str(SAMPLE_PCAPS_DIR / "register-success.pcap")])
    document = json.loads(render(build_report([(None, result)]), ReportFormat.JSON))
    assert document["findings"] == []
    assert document["summary"]["exit_code"] == 0
    assert validate(document, SCHEMA, SCHEMA) == []


def test_json_of_an_empty_run_is_valid():
    result = analyze([str(SAMPLE_PCAPS_DIR / "register-success.pcap")],
                     AnalysisOptions(select=("SA999",)))
    report = build_report([(None, result)], fail_on=None)
    document = json.loads(render(report, ReportFormat.JSON))
    assert document["findings"] == []
    assert validate(document, SCHEMA, SCHEMA) == []


# -- JUnit --------------------------------------------------------------------------------------


def test_junit_has_a_case_per_rule_and_fails_only_at_the_threshold(shared_report):
    root = ET.fromstring(render(shared_report, ReportFormat.JUNIT))
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = suites[0].findall("testcase")
    names = [c.get("name") for c in cases]
    assert names[0] == "capture read"
    assert names[1:] == [f"{r.META.code} {r.META.name}" for r in ALL_RULES]
    failed = sorted(c.get("name", "")[:5] for c in cases if c.find("failure") is not None)
    assert failed == ["SA303", "SA403"]
    sa401 = next(c for c in cases if c.get("name", "").startswith("SA401"))
    assert sa401.find("failure") is None
    assert "SA401" in (sa401.findtext("system-out") or "")  # warning listed, not failed
    assert root.get("failures") == "2"


def test_junit_partitions_findings_without_comparing_them(shared_report, monkeypatch):
    # Was `f not in failing`: every finding compared with the failing ones, quadratic on a storm.
    run = shared_report.runs[0]
    sa303 = next(f for f in run.findings if f.code == "SA303")
    copies = tuple(dataclasses.replace(sa303, message=f"copy {i}") for i in range(300))
    storm = dataclasses.replace(
        shared_report, runs=(dataclasses.replace(run, findings=run.findings + copies),)
    )
    comparisons = 0

    def counting_eq(self: Finding, other: object) -> bool:
        nonlocal comparisons
        comparisons += 1
        return self is other

    monkeypatch.setattr(Finding, "__eq__", counting_eq)
    root = ET.fromstring(render(storm, ReportFormat.JUNIT))
    assert comparisons == 0
    case = next(c for c in root.iter("testcase") if (c.get("name") or "").startswith("SA303"))
    failure = case.find("failure")
    assert failure is not None and (failure.get("message") or "").startswith("301 findings:")


def test_junit_of_an_empty_run_still_has_one_passing_case():
    result = analyze([str(SAMPLE_PCAPS_DIR / "register-success.pcap")],
                     AnalysisOptions(select=("SA999",)))
    root = ET.fromstring(render(build_report([(None, result)]), ReportFormat.JUNIT))
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["capture read"]
    assert root.get("failures") == "0"


# -- SARIF --------------------------------------------------------------------------------------


def test_sarif_is_2_1_0_with_rules_from_the_registry(shared_report):
    log = json.loads(render(shared_report, ReportFormat.SARIF))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.META.code for r in ALL_RULES]
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"]
    results = run["results"]
    assert len(results) == len(shared_report.findings)
    by_rule = {r["ruleId"]: r for r in results}
    sa303 = by_rule["SA303"]
    assert sa303["level"] == "error"
    assert rules[sa303["ruleIndex"]]["id"] == "SA303"
    assert by_rule["SA401"]["level"] == "warning"
    location = sa303["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "sample_pcaps/register-wrong-password.pcap"
    assert location["region"]["startLine"] == 1
    assert sa303["properties"]["frames"] == [3, 4]
    fingerprints = {f.code: f.fingerprint for f in shared_report.findings}
    assert sa303["partialFingerprints"] == {"sipauthFingerprint/v1": fingerprints["SA303"]}


def test_sarif_info_findings_are_notes():
    result = analyze([str(SAMPLE_PCAPS_DIR / "stale-nonce.pcap")])
    log = json.loads(render(build_report([(None, result)]), ReportFormat.SARIF))
    levels = {r["ruleId"]: r["level"] for r in log["runs"][0]["results"]}
    assert levels == {"SA202": "note"}


# -- Markdown -----------------------------------------------------------------------------------


def test_markdown_has_the_verdict_findings_table_and_metrics(shared_report):
    text = render(shared_report, ReportFormat.MARKDOWN)
    assert text.startswith("# SIP digest authentication report\n")
    assert "| error | SA303 credentials-rejected | 1 |" in text
    assert "## Metrics per trunk" in text
    assert "`sip.Call-ID == \"1-20016@127.0.0.1\" && frame.number in {3, 4}`" in text


def test_markdown_escapes_capture_text():
    from sipauth_analyzer.report.markdown import code, escape

    assert escape("<img src=x>") == "\\<img src=x\\>"
    assert escape("[link](http://x)") == "\\[link\\](http://x)"
    assert code("a`b") == "``a`b``"


# -- secrets ------------------------------------------------------------------------------------


def _secrets(result: AnalysisResult) -> set[str]:
    values: set[str] = set()
    for message in result.correlation.messages:
        for credentials in message.credentials:
            values.update(v for v in (credentials.response, credentials.cnonce) if v)
    return values


@pytest.mark.parametrize(
    "capture", ["register-success-qop.pcap", "brute-force-svcrack.pcap",
                "register-wrong-password.pcap"]
)
def test_no_format_shows_response_or_cnonce(capture):
    result = analyze([str(SAMPLE_PCAPS_DIR / capture)])
    secrets = _secrets(result)
    assert secrets, "the capture must carry digest responses for this test to mean anything"
    report = build_report([(None, result)], version=__version__)
    for output_format in ReportFormat:
        text = render(report, output_format)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{output_format}: {leaked[:2]}"
    assert REDACTED in render(report, ReportFormat.JSON)


def test_show_secrets_shows_them():
    path = str(SAMPLE_PCAPS_DIR / "register-success-qop.pcap")
    result = analyze([path], AnalysisOptions(redact=False))
    secrets = _secrets(result)
    report = build_report([(None, result)], show_secrets=True)
    text = render(report, ReportFormat.JSON)
    assert all(s in text for s in secrets)


def _all_reports(report: ReportInput) -> dict[ReportFormat, str]:
    return {f: render(report, f) for f in ReportFormat}


def test_per_file_reports_label_each_file(shared_result):
    paths = [REPO_ROOT / p for p in shared_result.sources]
    results = [(str(p), analyze([str(p)])) for p in paths]
    report = build_report(results)
    outputs = _all_reports(report)
    document = json.loads(outputs[ReportFormat.JSON])
    assert document["mode"] == "per-file"
    assert {f["run"] for f in document["findings"]} == {str(p) for p in paths}
    assert validate(document, SCHEMA, SCHEMA) == []
    junit = ET.fromstring(outputs[ReportFormat.JUNIT])
    assert len(junit.findall("testsuite")) == 2


def test_terminal_lists_warnings_before_information_notes_within_its_limit(shared_report):
    """Twenty-five information notes and one warning: the warning is among the 20 shown."""
    from sipauth_analyzer.primitives import Note, NoteLevel

    run = shared_report.runs[0]
    infos = [Note(kind=f"info-{i}", detail="x", level=NoteLevel.INFO) for i in range(25)]
    warning = Note(kind="the-warning", detail="y", level=NoteLevel.WARNING)
    result = dataclasses.replace(run.result, notes=[*infos, warning])
    report = dataclasses.replace(shared_report, runs=(dataclasses.replace(run, result=result),))
    text = render(report, ReportFormat.TEXT, width=100)
    assert "the-warning" in text and "info-0:" in text and "info-19:" not in text
    assert text.index("the-warning") < text.index("info-0:")
    assert "6 more notes" in text
