"""The one shared analysis every report format is snapshot-tested from, and snapshot helpers.

The shared result is a real analysis of two bundled recordings read as one timeline: a wrong
password (SA303, with a ladder) and a fragmented INVITE whose authenticated retry is lost
(SA403 error, SA401/SA402 warnings). Snapshots are canonicalised (repository path and tool
version replaced) and rewritten only with ``pytest --update-snapshots``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from sipauth_analyzer import __version__
from sipauth_analyzer.pipeline import AnalysisResult, analyze
from sipauth_analyzer.report.formats import ReportFormat, Style, reporter_for
from sipauth_analyzer.report.view import PeerNames, ReportInput, build_report
from tests.conftest import REPO_ROOT, SAMPLE_PCAPS_DIR

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
SHARED_CAPTURES = ("register-wrong-password.pcap", "fragmented-invite-ghost.pcap")
PEERS = {"127.0.0.1:5060": "Kamailio"}


def canonical(text: str) -> str:
    """No absolute paths, no version: what a snapshot may hold."""
    text = text.replace(str(REPO_ROOT) + "/", "")
    return text.replace(f'"version": "{__version__}"', '"version": "<version>"').replace(
        f"sipauth {__version__}", "sipauth <version>"
    )


def render(report: ReportInput, output_format: ReportFormat, width: int = 80) -> str:
    out = io.StringIO()
    reporter_for(output_format)(report, out, Style(color=False, width=width))
    return out.getvalue()


@pytest.fixture(scope="session")
def shared_result() -> AnalysisResult:
    paths = [SAMPLE_PCAPS_DIR / name for name in SHARED_CAPTURES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"bundled sample captures missing: {missing}")
    # Relative paths, as a user types them: the text report wraps lines by their length,
    # so an absolute path would make the snapshot depend on where the repository lives.
    previous = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        return analyze([str(p.relative_to(REPO_ROOT)) for p in paths])
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def shared_report(shared_result: AnalysisResult) -> ReportInput:
    return build_report(
        [(None, shared_result)], peers=PeerNames.from_mapping(PEERS), version=__version__
    )


@pytest.fixture
def snapshot(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    update = bool(request.config.getoption("--update-snapshots", default=False))

    def check(name: str, text: str) -> None:
        path = SNAPSHOTS / name
        text = canonical(text)
        if update:
            SNAPSHOTS.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"no snapshot {path.name}; create it with pytest --update-snapshots")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{name} changed; review, then pytest --update-snapshots"

    return check
