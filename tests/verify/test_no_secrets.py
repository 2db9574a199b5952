"""No known password — nor a wordlist word, nor a digest response or cnonce value — appears in
any report format unless --show-secrets is given."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze
from sipauth_analyzer.verify.credentials import KnownCredential
from tests.conftest import SAMPLE_PCAPS_DIR

PASSWORDS = ("wonderland-42", "builder-7", "letmein2024")
KNOWN = (
    KnownCredential("alice", "sipauth.test", password="wonderland-42"),
    KnownCredential("bob", None, password="builder-7"),
    KnownCredential("1001", None, password="letmein2024"),
)
CAPTURES = (
    "trailing-space-password.pcap",
    "wrong-username.pcap",
    "register-wrong-password.pcap",
    "brute-force-svcrack.pcap",
    "stale-nonce.pcap",
)
_PARAM = re.compile(r'\b(response|cnonce)="([^"]+)"')


def _secret_values(result: AnalysisResult) -> set[str]:
    """Every digest response / cnonce value in the captures (long enough to be unambiguous)."""
    values: set[str] = set()
    for message in result.correlation.messages:
        for line in [*message.header("authorization"), *message.header("proxy-authorization")]:
            values.update(v for _, v in _PARAM.findall(line) if len(v) >= 8)
    return values


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    paths = [SAMPLE_PCAPS_DIR / name for name in CAPTURES]
    if not all(p.is_file() for p in paths):
        pytest.skip("sample captures are absent")
    wordlist: Path = tmp_path_factory.mktemp("w") / "words.txt"
    wordlist.write_text("password\nsecret\nletmein2024\n", encoding="utf-8")
    return analyze(
        [str(p) for p in paths], AnalysisOptions(credentials=KNOWN, wordlist=str(wordlist))
    )


def test_the_analysis_itself_holds_no_password(result: AnalysisResult) -> None:
    assert result.verifications and result.weak_passwords
    text = repr(result.verifications) + repr(result.weak_passwords) + repr(result.options)
    text += " ".join(f.message + repr(f.evidence) for f in result.findings)
    text += " ".join(n.detail for n in result.notes)
    for password in PASSWORDS:
        assert password not in text
    assert all(h.password is None for h in result.weak_passwords)


def _formats() -> list[str]:
    try:
        from sipauth_analyzer.report.formats import ReportFormat
    except ImportError:  # the report package is still being written
        return ["json"]
    return [member.value for member in ReportFormat]


@pytest.mark.parametrize("output_format", _formats())
def test_no_report_format_contains_a_secret(result: AnalysisResult, output_format: str) -> None:
    try:
        from sipauth_analyzer.report.formats import ReportFormat, Style, reporter_for
        from sipauth_analyzer.report.view import build_report
    except ImportError as error:
        pytest.skip(f"report formats not available yet: {error}")
    report = build_report([(None, result)], show_secrets=False)
    out = io.StringIO()
    reporter_for(ReportFormat(output_format))(report, out, Style())
    text = out.getvalue()
    assert text.strip()
    for password in PASSWORDS:
        assert password not in text, f"{output_format} shows a password"
    leaked = [value for value in _secret_values(result) if value in text]
    assert not leaked, f"{output_format} shows digest response/cnonce values"
