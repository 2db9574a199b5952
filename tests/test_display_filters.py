"""Every finding's Wireshark display filter selects exactly the finding's frames in Wireshark.

The promise to a support engineer: paste the filter into Wireshark and see the frames the
finding names — no more, no fewer. Checked with tshark on every bundled recording, every
per-rule capture and (when present) every capture in ../shared/real_pcaps.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import analyze
from tests.conftest import REAL_PCAPS_DIR, REPO_ROOT, SAMPLE_PCAPS_DIR, capture_files

CAPTURES = [
    *capture_files(SAMPLE_PCAPS_DIR),
    *capture_files(REPO_ROOT / "tests" / "rules" / "captures"),
    *capture_files(REAL_PCAPS_DIR, recursive=True),  # empty when ../shared is absent
]

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]


def _tshark_frames(capture: Path, display_filter: str) -> set[int]:
    done = subprocess.run(
        ["tshark", "-r", str(capture), "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"tshark rejected {display_filter!r}: {done.stderr.strip()}"
    return {int(line) for line in done.stdout.split()}


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: Path(p).name)
def test_each_filter_selects_exactly_the_findings_frames(capture: Path) -> None:
    result = analyze([str(capture)])
    checked = 0
    for finding in result.findings:
        if "frame.number" not in finding.display_filter:
            continue
        assert _tshark_frames(capture, finding.display_filter) == set(finding.frames), (
            finding.code,
            finding.display_filter,
        )
        checked += 1
    assert checked == sum("frame.number" in f.display_filter for f in result.findings)
