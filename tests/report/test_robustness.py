"""Reports never break on what captures contain: real captures from other projects, and
hostile text (markup, control characters) in Call-IDs and messages."""

from __future__ import annotations

import dataclasses
import io
import json
import xml.etree.ElementTree as ET

import pytest

from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.pipeline import analyze
from sipauth_analyzer.primitives import Endpoint
from sipauth_analyzer.report.formats import ReportFormat, Style, reporter_for
from sipauth_analyzer.report.view import ReportInput, build_report
from sipauth_analyzer.rules.base import Evidence, Finding, Severity
from tests.conftest import CAPTURE_SUFFIXES, REAL_PCAPS_DIR, capture_files
from tests.report.conftest import render


@pytest.mark.realsip
def test_every_real_capture_renders_in_every_format(real_pcaps_dir):
    rendered = 0
    for path in capture_files(real_pcaps_dir, recursive=True):
        assert path.suffix in CAPTURE_SUFFIXES
        try:
            result = analyze([str(path)])
        except CaptureError:
            continue  # unreadable as a whole: the CLI's exit 2, tested elsewhere
        report = build_report([(None, result)])
        for output_format in ReportFormat:
            text = render(report, output_format)
            if output_format in (ReportFormat.JSON, ReportFormat.SARIF):
                json.loads(text)
            elif output_format is ReportFormat.JUNIT:
                ET.fromstring(text)
            elif output_format is ReportFormat.TEXT:
                too_long = [line for line in text.splitlines() if len(line) > 80]
                assert not too_long, (path.name, too_long[:2])
        rendered += 1
    assert rendered >= 10, f"expected the real captures under {REAL_PCAPS_DIR}"


HOSTILE = '[bold red]x[/] <script>alert(1)</script> *a* `b` | \x07\x1b[2J "q" ]]>'


def _hostile_report(shared_report: ReportInput) -> ReportInput:
    finding = Finding(
        code="SA303",
        name="credentials-rejected",
        severity=Severity.ERROR,
        message=f"hostile {HOSTILE}",
        frames=(1,),
        call_ids=(HOSTILE,),
        client=Endpoint("10.0.0.1", 5060),
        server=Endpoint("10.0.0.2", 5060),
        evidence=(Evidence(1, "f.pcap", 0.0, HOSTILE, HOSTILE, HOSTILE),),
        display_filter=f'sip.Call-ID == "{HOSTILE}"',
        fingerprint="0123456789abcdef",
    )
    run = dataclasses.replace(shared_report.runs[0], findings=(finding,), known=())
    return dataclasses.replace(shared_report, runs=(run,))


def test_hostile_text_is_shown_literally_and_breaks_no_format(shared_report):
    report = _hostile_report(shared_report)
    text = render(report, ReportFormat.TEXT)
    assert "[bold red]x[/]" in text  # printed as sent, not interpreted as rich markup
    out = io.StringIO()
    reporter_for(ReportFormat.TEXT)(report, out, Style(color=True, width=80))
    assert "[bold red]x[/]" in out.getvalue()
    markdown = render(report, ReportFormat.MARKDOWN)
    assert "\\<script\\>" in markdown  # outside code spans, HTML is escaped
    for rendered in (text, out.getvalue(), markdown):
        assert "\x1b[2J" not in rendered and "\x07" not in rendered
        assert "\\x1b[2J" in rendered  # shown, not executed
    document = json.loads(render(report, ReportFormat.JSON))
    assert document["findings"][0]["call_ids"] == [HOSTILE]  # JSON keeps the data exact
    sarif = json.loads(render(report, ReportFormat.SARIF))
    assert sarif["runs"][0]["results"][0]["properties"]["call_ids"] == [HOSTILE]
    root = ET.fromstring(render(report, ReportFormat.JUNIT))
    failure = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    assert "<script>" in (failure.find("failure").text or "")
