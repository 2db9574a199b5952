"""``render`` streams the exchanges (see json_report._document): the text it writes must be
exactly the document ``build_document`` builds."""

from __future__ import annotations

import dataclasses
import io
import json

from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.json_report import build_document, render
from sipauth_analyzer.report.view import ReportInput


def _rendered(report: ReportInput) -> object:
    out = io.StringIO()
    render(report, out, Style(color=False, width=80))
    return json.loads(out.getvalue())


def test_rendered_json_is_the_built_document(shared_report: ReportInput) -> None:
    document = build_document(shared_report)
    assert document["exchanges"], "the shared report is meant to have exchanges"
    assert _rendered(shared_report) == document


def test_rendered_json_without_exchanges(shared_report: ReportInput) -> None:
    runs = tuple(dataclasses.replace(run, exchanges=()) for run in shared_report.runs)
    empty = dataclasses.replace(shared_report, runs=runs)
    rendered = _rendered(empty)
    assert isinstance(rendered, dict) and rendered["exchanges"] == []
    assert rendered == build_document(empty)
