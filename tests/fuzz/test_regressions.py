"""Replays every input that ever broke the reader (tests/fuzz/regressions/, with the outcome
it must now have) and every input the campaign saved (tests/fuzz/crashes/: must not raise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.sip.message import parse_message
from tests.fuzz.harness import CRASHES_DIR, REGRESSIONS_DIR, analyze_case, read_case
from tests.fuzz.watchdog import watchdog

#: file name → note kinds the read must produce (and no exception).
EXPECTED: dict[str, tuple[str, ...]] = {
    "gzip-crc-mismatch.pcap": ("capture-truncated",),
    "gzip-length-mismatch.pcap": ("capture-truncated",),
    "gzip-corrupt-deflate.pcap": ("capture-truncated",),
    "tcp-header-block-past-max-message-size.pcap": ("sip-too-large",),
}
REGRESSIONS = sorted(p for p in REGRESSIONS_DIR.iterdir() if p.suffix != ".md")
CRASHES = sorted(p for p in CRASHES_DIR.glob("*") if not p.name.startswith("."))


def test_every_regression_file_has_an_expectation() -> None:
    assert {p.name for p in REGRESSIONS} == set(EXPECTED)


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression(path: Path) -> None:
    with watchdog(30, path.name):
        outcome = read_case(path)
        analyze_case(path)
    assert outcome.read is not None, outcome.refused
    kinds = {note.kind for note in outcome.read.notes}
    assert set(EXPECTED[path.name]) <= kinds, kinds
    assert all(message.source.wire_size <= 1 << 17 for message in outcome.read.messages)


@pytest.mark.parametrize("path", CRASHES, ids=[p.name for p in CRASHES])
def test_saved_crash_no_longer_crashes(path: Path) -> None:
    from tests.fuzz.campaign import _digest_case, _touch

    with watchdog(30, path.name):
        if path.suffix == ".sip":
            _touch(parse_message(captured(path.read_bytes())))
        elif path.suffix == ".txt":
            _digest_case(path.read_bytes().decode("utf-8", "surrogatepass"))
        else:
            read_case(path)
            analyze_case(path)


def captured(data: bytes) -> CapturedMessage:
    return CapturedMessage(data, "crash", 1, (1,), 0.0, Endpoint("192.0.2.1", 5060),
                           Endpoint("192.0.2.2", 5060), Transport.UDP, len(data))
