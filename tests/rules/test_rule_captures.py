"""Every rule over real packets: its ``.fires`` capture and its ``.quiet`` capture (issue 3).

The captures in tests/rules/captures/ are built by build_rule_captures.py from the rule tests'
scenarios; here the whole pipeline (capture reader → parser → correlate → verify → rules) runs
over each committed file and must report exactly the findings scenarios.py lists, with their
Wireshark frame numbers — and no finding of the rule in its quiet capture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze, read_sip
from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.registry import ALL_RULES
from sipauth_analyzer.verify import KnownCredential
from tests.rules.captures.build_rule_captures import build
from tests.rules.captures.pcap_writer import pcap_bytes
from tests.rules.captures.scenarios import WORDLIST_NAME, RuleCapture, rule_captures

CAPTURES_DIR = Path(__file__).resolve().parent / "captures"
CAPTURES = rule_captures()
MAX_FILE_BYTES = 10_000
MAX_FOLDER_BYTES = 400_000


def _run(capture: RuleCapture) -> AnalysisResult:
    options = AnalysisOptions(
        rules=RuleOptions(**dict(capture.rule_options)),  # type: ignore[arg-type]
        credentials=tuple(
            KnownCredential(username=user, password=password, label=f"test {user}")
            for user, password in capture.passwords
        ),
        wordlist=str(CAPTURES_DIR / WORDLIST_NAME) if capture.wordlist else None,
    )
    return analyze([str(CAPTURES_DIR / capture.filename)], options)


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.filename for c in CAPTURES])
def test_capture_reports_exactly_the_expected_findings(capture: RuleCapture) -> None:
    result = _run(capture)
    found = [(f.code, f.frames) for f in result.findings]
    assert found == list(capture.expected)
    codes = {code for code, _ in found}
    if capture.kind == "fires":
        assert capture.code in codes
    else:
        assert capture.code not in codes
    assert sorted(n.kind for n in result.notes) == list(capture.note_kinds)


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.filename for c in CAPTURES])
def test_every_wire_is_one_message_named_by_its_last_packet(capture: RuleCapture) -> None:
    # The capture layer must see each scenario message once, at the frame Wireshark names it
    # by (the last fragment or segment): otherwise the expected frames would prove nothing.
    _, carried = pcap_bytes(list(capture.wires))
    result = _run(capture)
    assert [m.source.frame for m in result.correlation.messages] == [f[-1] for f in carried]
    # The analysis keeps no payload bytes (sip/parser.py ANALYSIS_PARSE_OPTIONS): compare the
    # bytes of the full read, which must name the same frames.
    read = read_sip([str(CAPTURES_DIR / capture.filename)])
    assert [m.source.frame for m in read.messages] == [f[-1] for f in carried]
    for message, wire in zip(read.messages, capture.wires, strict=True):
        data = message.source.data.decode()
        if FLAG_INCOMPLETE in wire.flags:  # its last fragment is missing: a true prefix
            assert FLAG_INCOMPLETE in message.source.flags
            assert wire.text.startswith(data)
            assert len(data) < len(wire.text)
        else:
            assert data == wire.text
            assert message.source.transport is wire.transport


def test_every_rule_in_the_registry_has_a_fires_and_a_quiet_capture() -> None:
    kinds = {(c.code, c.kind) for c in CAPTURES}
    missing = [
        f"{rule.META.code} {kind}"
        for rule in ALL_RULES
        for kind in ("fires", "quiet")
        if (rule.META.code, kind) not in kinds
    ]
    assert missing == []
    for rule in ALL_RULES:
        for kind in ("fires", "quiet"):
            path = CAPTURES_DIR / f"{rule.META.code}-{rule.META.name}.{kind}.pcap"
            assert path.is_file(), f"{path.name} is missing: run build_rule_captures.py"
    assert len(CAPTURES) == 2 * len(ALL_RULES)  # and no capture for a rule that is gone


def test_the_script_rebuilds_every_file_byte_for_byte(tmp_path: Path) -> None:
    built = {path.name: path.read_bytes() for path in build(tmp_path)}
    committed = {
        path.name: path.read_bytes()
        for path in CAPTURES_DIR.iterdir()
        if path.suffix in (".pcap", ".txt") or path.name == "README.md"
    }
    assert sorted(committed) == sorted(built)
    stale = [name for name, data in built.items() if committed[name] != data]
    assert stale == [], "run .venv/bin/python -m tests.rules.captures.build_rule_captures"


def test_captures_stay_small() -> None:
    sizes = {p.name: p.stat().st_size for p in CAPTURES_DIR.glob("*.pcap")}
    assert {name: size for name, size in sizes.items() if size >= MAX_FILE_BYTES} == {}
    total = sum(p.stat().st_size for p in CAPTURES_DIR.iterdir() if p.is_file())
    assert total < MAX_FOLDER_BYTES
