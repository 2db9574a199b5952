"""4xx rules: UDP size, fragmentation, ghost retries, incomplete reassembly."""

from __future__ import annotations

from dataclasses import replace

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE, FLAG_IP_REASSEMBLED
from tests.rules import rule_scenarios
from tests.rules.sipbuild import by_code, captured, codes, findings, tail


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


def test_sa402_one_finding_per_client_and_server_counting_the_calls() -> None:
    """Credentials tip a trunk's INVITEs over the MTU on every call: one finding per client,
    server and method, counting the calls and naming a few of the fragmented requests."""
    wires = []
    for number, size in enumerate((850, 900, 850, 870, 880), 1):
        call = rule_scenarios.invite_challenged(
            rule_scenarios.OK, call_id=f"c{number}-frag@192.0.2.10", sizes=[size, size],
            fragments=[0, 2],
        )
        wires += [replace(w, time=w.time + number * 10.0) for w in call]
    (found,) = by_code(findings([*wires, *tail(80)]), "SA402")
    assert found.message.startswith("authenticated INVITE over UDP is fragmented in 5 exchanges (")
    assert found.message.count("in 2 IP fragments") == 3
    assert "; 2 more; " in found.message and " bytes, MTU 1500)" in found.message
    first_sizes = sorted({
        m.source.wire_size for m in captured(wires) if m.method == "INVITE" and not m.credentials
        and m.is_request
    })
    assert len(first_sizes) > 1
    assert found.message.endswith(
        f"; the first attempt without credentials ({first_sizes[0]} to {first_sizes[-1]} bytes) "
        "was not, in 5 of them"
    )
    assert len(found.exchange_ids) == 5 and len(found.frames) == 10


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
