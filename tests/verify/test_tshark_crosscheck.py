"""Cross-check with Wireshark's own SIP digest validation (``sip.validate_authorization`` with
the ``authorization_users_sip`` UAT: username, realm, password).

tshark 4.0 judges only MD5 with qop=auth: it skips responses without qop and flags correct
SHA-256 ones as invalid, so only the qop=auth recordings are compared (register-success-qop,
brute-force-svcrack). Where tshark has no invalid flag (``sip.authorization.invalid``) for a
request, we must say ``verified``; where it flags one, we must not.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import AnalysisOptions, analyze
from sipauth_analyzer.verify.credentials import KnownCredential
from sipauth_analyzer.verify.model import Verdict
from tests.conftest import SAMPLE_PCAPS_DIR

CASES = [
    ("register-success-qop.pcap", "alice", "wonderland-42"),
    ("register-success-qop.pcap", "alice", "wonderland-24"),  # a wrong known password
    ("brute-force-svcrack.pcap", "1001", "letmein2024"),
]


def tshark_judgement(path: Path, username: str, password: str) -> dict[int, bool]:
    """frame → True when tshark found the response valid (no invalid flag)."""
    command = [
        "tshark", "-n", "-r", str(path),
        "-o", "sip.validate_authorization:TRUE",
        "-o", f'uat:authorization_users_sip:"{username}","sipauth.test","{password}"',
        "-Y", f'sip.auth.username == "\\"{username}\\"" && sip.auth.qop == "auth"',
        "-T", "fields", "-e", "frame.number", "-e", "sip.authorization.invalid",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    out: dict[int, bool] = {}
    for line in done.stdout.splitlines():
        frame, _, invalid = line.partition("\t")
        out[int(frame)] = not invalid.strip()
    return out


@pytest.mark.parametrize(("name", "username", "password"), CASES)
def test_we_agree_with_tshark(name: str, username: str, password: str) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    path = SAMPLE_PCAPS_DIR / name
    if not path.is_file():
        pytest.skip(f"sample capture {path} is absent")
    theirs = tshark_judgement(path, username, password)
    assert theirs, "tshark judged no request: the UAT or filter syntax changed"
    known = (KnownCredential(username, "sipauth.test", password=password),)
    result = analyze([str(path)], AnalysisOptions(credentials=known))
    ours = {frame: v.verdict is Verdict.VERIFIED for (_, frame), v in result.verifications.items()}
    assert ours == theirs
    assert any(theirs.values()) == (password != "wonderland-24")
