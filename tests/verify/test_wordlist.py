"""Weak-password audit on the svcrack recording (its 20-word list, right password last)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import AnalysisOptions, analyze
from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.verify.model import VerifyOptions
from sipauth_analyzer.verify.wordlist import WordlistError, audit_wordlist, read_wordlist
from tests.conftest import SAMPLE_PCAPS_DIR

SVCRACK = SAMPLE_PCAPS_DIR / "brute-force-svcrack.pcap"
# Words 2 ("password"), 9 ("secret") and 20 ("letmein2024") of svcrack's list, plus two
# words it never tried.
WORDS = "hunter2\npassword\r\nsecret\nletmein2024\ntrustno1\n\npassword\n"


@pytest.fixture
def wordlist(tmp_path: Path) -> Path:
    if not SVCRACK.is_file():
        pytest.skip(f"sample capture {SVCRACK} is absent")
    path = tmp_path / "words.txt"
    path.write_text(WORDS, encoding="utf-8")
    return path


def test_read_wordlist_keeps_words_exactly(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_bytes(b"a \nb\r\n\n\xe9t\xe9\na \n" + b"x" * 300 + b"\n")
    sink = NoteSink()
    words = read_wordlist(path, VerifyOptions(max_word_length=256), sink)
    assert words == ["a ", "b", "\udce9t\udce9"]  # Latin-1 bytes survive as-is
    assert [n.kind for n in sink.notes] == ["wordlist-limited"]
    with pytest.raises(WordlistError):
        read_wordlist(tmp_path / "absent.txt")


def test_audit_finds_the_guesses_and_the_accepted_password(wordlist: Path) -> None:
    progress: list[tuple[int, int]] = []
    result = analyze(
        [str(SVCRACK)],
        AnalysisOptions(wordlist=str(wordlist), verify=VerifyOptions(progress_every_words=2)),
        progress=lambda done, total: progress.append((done, total)),
    )
    hits = {h.frame: h for h in result.weak_passwords}
    # Guess k is in frame 4k-1: "password" = guess 2, "secret" = guess 9, the right one = 20.
    assert sorted(hits) == [7, 35, 79]
    assert all(h.username == "1001" and h.realm == "sipauth.test" for h in hits.values())
    assert [h.accepted for h in (hits[7], hits[35], hits[79])] == [False, False, True]
    assert all(h.password is None for h in hits.values())  # not without --show-secrets
    assert progress == [(2, 5), (4, 5), (5, 5)]
    weak = [f for f in result.findings if f.code == "SA603"]
    assert len(weak) == 1 and weak[0].frames == (79, 80)
    assert '"1001"' in weak[0].message and "letmein" not in weak[0].message


def test_show_secrets_reveals_the_matched_word(wordlist: Path) -> None:
    result = analyze([str(SVCRACK)], AnalysisOptions(wordlist=str(wordlist), redact=False))
    assert {h.frame: h.password for h in result.weak_passwords} == {
        7: "password",
        35: "secret",
        79: "letmein2024",
    }


def test_audit_stops_at_the_check_cap(wordlist: Path) -> None:
    result = analyze([str(SVCRACK)])
    sink = NoteSink()
    words = read_wordlist(wordlist)
    hits = audit_wordlist(
        result.correlation, words, VerifyOptions(max_wordlist_checks=20), notes=sink
    )
    # One word costs 20 checks (20 responses): only "hunter2" is tried.
    assert hits == []
    assert any(n.kind == "wordlist-limited" and "after 1 of 5" in n.detail for n in sink.notes)
