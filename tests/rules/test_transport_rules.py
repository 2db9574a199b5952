"""4xx rules: UDP size, fragmentation, ghost retries, incomplete reassembly."""

from __future__ import annotations

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE, FLAG_IP_REASSEMBLED
from tests.rules import rule_scenarios
from tests.rules.sipbuild import by_code, codes, findings


def test_sa401_large_udp_request() -> None:
    found = findings(rule_scenarios.sa401_fires())
    assert codes(found) == ["SA401"]
    assert found[0].frames == (1,)
    assert "exceeds 1300 bytes" in found[0].message


def test_sa401_silent_for_small_requests() -> None:
    assert findings(rule_scenarios.invite_of_size(900)) == []


def test_sa402_authenticated_retry_fragments_while_first_attempt_did_not() -> None:
    found = findings(rule_scenarios.sa402_fires())
    assert codes(found) == ["SA402"]  # SA401 leaves the fragmented auth request to SA402
    assert found[0].frames == (1, 3)
    assert "in 2 IP fragments" in found[0].message
    assert "the first attempt without credentials (frame 1" in found[0].message


def test_sa402_silent_when_nothing_fragments() -> None:
    assert findings(rule_scenarios.sa402_quiet()) == []


def test_sa403_ghost_retry() -> None:
    found = findings(rule_scenarios.sa403_fires())
    assert codes(found) == ["SA402", "SA403"]
    ghost = by_code(found, "SA403")[0]
    assert ghost.frames == (1, 2, 3)
    assert "got no response" in ghost.message
    assert "fragmented" in ghost.message


def test_sa403_silent_when_the_retry_is_answered_or_cut_off() -> None:
    assert "SA403" not in codes(findings(rule_scenarios.sa402_quiet()))
    cut_off = rule_scenarios.invite_challenged(None, sizes=[300, 300], fragments=[0, 0])
    assert "SA403" not in codes(findings(cut_off))


def test_sa404_incomplete_reassembly() -> None:
    wires = rule_scenarios.fragmented_retry(
        300, retry_flags=frozenset({FLAG_INCOMPLETE, FLAG_IP_REASSEMBLED})
    )
    found = findings(wires)
    assert codes(found) == ["SA402", "SA404"]
    incomplete = by_code(found, "SA404")[0]
    assert incomplete.frames == (3,)
    assert "1 carrying credentials" in incomplete.message


def test_sa404_silent_when_reassembly_completed() -> None:
    wires = rule_scenarios.fragmented_retry(300, retry_flags=frozenset({FLAG_IP_REASSEMBLED}))
    assert codes(findings(wires)) == ["SA402"]
