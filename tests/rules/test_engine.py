"""The engine: selection, ordering, per-rule limits and failure isolation."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.rules import engine
from sipauth_analyzer.rules.base import (
    Finding,
    RuleContext,
    RuleMeta,
    RuleOptions,
    Severity,
    display_filter,
    evidence,
    redact_line,
)
from sipauth_analyzer.rules.engine import run_rules, selected_rules
from tests.rules.sipbuild import (
    UNAUTHORIZED,
    clean_register,
    codes,
    correlation,
    creds,
    exchange,
    tail,
    www,
)

REAL_PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real_pcaps"


def _mixed() -> list:
    """An ignored challenge (SA302, error) and a qop-less success (SA104, warning)."""
    warning = exchange(
        responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])], retries=[[creds(extra="")]]
    )
    error = exchange(
        t0=5.0, call_id="ign@x", from_tag="t9", responses=[(401, UNAUTHORIZED, [www(nonce="z")])]
    )
    return warning + error + tail(20)


def test_findings_sorted_by_severity_then_frame() -> None:
    found = run_rules(correlation(_mixed()))
    assert [(f.code, f.first_frame) for f in found] == [("SA302", 5), ("SA104", 2)]


def test_select_and_ignore_by_code_prefix_and_name() -> None:
    corr = correlation(_mixed())
    assert codes(run_rules(corr, select=["SA1"])) == ["SA104"]
    assert codes(run_rules(corr, select=["challenge-ignored"])) == ["SA302"]
    assert codes(run_rules(corr, ignore=["SA302"])) == ["SA104"]
    assert codes(run_rules(corr, select=["SA"], ignore=["qop-ignored", "sa3"])) == []
    assert len(selected_rules()) == len(engine.ALL_RULES)


def _boom(ctx: RuleContext) -> Iterator[Finding]:
    raise RuntimeError("bug")
    yield  # pragma: no cover


def test_a_failing_rule_becomes_a_note_and_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = SimpleNamespace(
        META=RuleMeta("SA999", "broken", Severity.ERROR, "s", "e", "r"), check=_boom
    )
    monkeypatch.setattr(engine, "ALL_RULES", (broken, *engine.ALL_RULES))
    notes = NoteSink()
    found = run_rules(correlation(_mixed()), notes=notes)
    assert codes(found) == ["SA104", "SA302"]
    assert [n.kind for n in notes.notes] == ["rule-failed"]
    assert "SA999 broken stopped: RuntimeError: bug" in notes.notes[0].detail


def test_findings_per_rule_are_capped_with_a_note() -> None:
    wires = []
    for index in range(3):
        wires += exchange(
            t0=index * 5.0,
            call_id=f"c{index}@x",
            from_tag=f"t{index}",
            # A realm each: three findings (one realm would make one, see PeerGroups).
            responses=[(401, UNAUTHORIZED, [www(realm=f"realm-{index}", nonce=f"n{index}")])],
        )
    notes = NoteSink()
    found = run_rules(
        correlation(wires + tail(30)), RuleOptions(max_findings_per_rule=2), notes=notes
    )
    assert codes(found) == ["SA302", "SA302"]
    assert [n.kind for n in notes.notes] == ["rule-findings-limited"]


def test_severity_orders_by_rank() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.ERROR
    assert max([Severity.WARNING, Severity.ERROR, Severity.INFO]) is Severity.ERROR


def test_redaction_of_digest_secrets_and_basic_tokens() -> None:
    line = (
        'Authorization: Digest username="bob", response="abc123", cnonce="xyz", '
        "nc=00000001, response2=keep"
    )
    redacted = redact_line(line)
    assert "abc123" not in redacted and "xyz" not in redacted
    assert 'username="bob"' in redacted and "response2=keep" in redacted
    assert redact_line("Authorization: Basic Ym9iOnNlY3JldA==") == "Authorization: Basic …redacted…"
    assert "Cnonce = …" not in redact_line("Cnonce = abc, x=1") and "abc" not in redact_line(
        "Cnonce = abc, x=1"
    )


def test_unredacted_when_asked() -> None:
    wires = exchange(
        responses=[(401, UNAUTHORIZED, [www()]), (403, "Forbidden", [])], retries=[[creds()]]
    )
    found = run_rules(correlation(wires), redact=False)
    assert "6629fae49393a05397450978507c4ef1" in " ".join(
        e.excerpt for f in found for e in f.evidence
    )


def test_display_filter_escapes_quotes() -> None:
    assert (
        display_filter(['a"b\\c'], [3, 1])
        == 'sip.Call-ID == "a\\"b\\\\c" && frame.number in {1, 3}'
    )
    assert display_filter([], []) == "sip"


@pytest.mark.tshark
def test_display_filters_are_valid_wireshark_syntax() -> None:
    sample = REAL_PCAPS / "aboutsip_pkts" / "sipp_sll.pcap"
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    if not sample.exists():
        pytest.skip(f"real captures not available at {REAL_PCAPS}")
    cases = {
        display_filter(["1-16732@127.0.1.1"], [3, 1]): ["1", "3"],
        display_filter(["1-16732@127.0.1.1", "2-16732@127.0.1.1"], [1, 5]): ["1", "5"],
    }
    for expression, frames in cases.items():
        result = subprocess.run(
            ["tshark", "-r", str(sample), "-Y", expression, "-T", "fields", "-e", "frame.number"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (expression, result.stderr)
        assert result.stdout.split() == frames


@pytest.mark.slow
def test_rules_scale_linearly() -> None:
    def run(count: int) -> float:
        wires = []
        for index in range(count):
            wires += clean_register(index * 0.5, call_id=f"r{index}@x", nonce=f"n{index}")
        corr = correlation(wires)
        start = time.perf_counter()
        assert run_rules(corr) == []
        return time.perf_counter() - start

    small, large = run(500), run(2000)
    assert large < max(small, 0.01) * 12  # 4× the input: far from 16× (quadratic)


def test_a_capped_rule_is_stopped_not_drained(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the cap the engine stops pulling: it does not build every dropped finding to count it.
    template = run_rules(correlation(_mixed()), select=["SA302"])[0]
    pulled = 0

    def flood(ctx: RuleContext) -> Iterator[Finding]:
        nonlocal pulled
        for _ in range(10_000):
            pulled += 1
            yield template

    flooding = SimpleNamespace(
        META=RuleMeta("SA998", "flood", Severity.ERROR, "s", "e", "r"), check=flood
    )
    monkeypatch.setattr(engine, "ALL_RULES", (flooding,))
    notes = NoteSink()
    found = run_rules(
        correlation(_mixed()), RuleOptions(max_findings_per_rule=3), notes=notes
    )
    assert len(found) == 3
    assert pulled == 4  # the three kept and the one that shows there are more
    assert [n.kind for n in notes.notes] == ["rule-findings-limited"]
    assert "SA998 flood: stopped after 3 findings" in notes.notes[0].detail


def test_severity_comparisons_are_by_rank_in_every_direction() -> None:
    assert Severity.ERROR > Severity.WARNING > Severity.INFO
    assert Severity.ERROR >= Severity.ERROR >= Severity.WARNING
    assert Severity.INFO <= Severity.INFO <= Severity.WARNING
    assert not Severity.WARNING > Severity.ERROR  # alphabetically "warning" > "error"
    assert sorted([Severity.ERROR, Severity.INFO, Severity.WARNING]) == list(Severity)
    assert [s.value for s in Severity] == ["info", "warning", "error"]
    assert Severity("warning") is Severity.WARNING and Severity.ERROR == "error"
    # Against a plain string the order would silently be alphabetical: refuse instead.
    with pytest.raises(TypeError):
        assert Severity.ERROR > "warning"


@pytest.mark.parametrize(("limit", "expected_length"), [(0, 0), (1, 1), (2, 2), (10, 10)])
def test_small_excerpt_limits_truncate(limit: int, expected_length: int) -> None:
    corr = correlation(_mixed())
    challenge = next(m for m in corr.messages if m.status == 401)
    ctx = RuleContext(corr, RuleOptions(max_excerpt_chars=limit))
    excerpt = evidence(ctx, challenge, ["WWW-Authenticate"]).excerpt
    assert len(excerpt) == expected_length
    if limit:
        assert excerpt.endswith("…")
