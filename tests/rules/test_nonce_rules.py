"""2xx rules: nonce lifecycle (stale, outdated, slow, nonce count)."""

from __future__ import annotations

from dataclasses import replace

from tests.rules import rule_scenarios
from tests.rules.rule_scenarios import preemptive_reuse
from tests.rules.sipbuild import (
    UNAUTHORIZED,
    Wire,
    by_code,
    clean_register,
    codes,
    creds,
    exchange,
    findings,
    tail,
    www,
)


def test_sa201_stale_true_and_client_gives_up() -> None:
    found = findings(rule_scenarios.sa201_fires())
    assert codes(found) == ["SA201"]
    assert found[0].frames == (3, 4)
    assert "frame 4 says stale=true" in found[0].message


def test_sa201_retry_with_an_older_challenges_nonce() -> None:
    wires = exchange(
        responses=[
            (401, UNAUTHORIZED, [www(nonce="n1")]),
            (401, UNAUTHORIZED, [www(nonce="n2")]),
            (401, UNAUTHORIZED, [www(nonce="n3")]),
        ],
        retries=[[creds(nonce="n1")], [creds(nonce="n1")]],
    ) + tail(10)
    found = findings(wires)
    # frame 3 answers n1 correctly and is refused (SA303); frame 5 reuses n1 after n2 (SA201);
    # three cycles without success is a loop of the "outdated-nonce" kind (SA301), and n1
    # is sent twice with nc=00000001 (SA203).
    assert codes(found) == ["SA201", "SA203", "SA301", "SA303"]
    assert by_code(found, "SA203")[0].frames == (3, 5)
    stale = by_code(found, "SA201")[0]
    assert stale.frames == (2, 5)
    assert "frame 5 answers the nonce of an older challenge (frame 2)" in stale.message
    assert "loop type: outdated-nonce" in by_code(found, "SA301")[0].message
    assert by_code(found, "SA303")[0].frames == (3, 4)


def test_sa201_retry_slower_than_the_observed_nonce_lifetime() -> None:
    # n1 is issued at 0.01 s and still accepted at 10 s: the lifetime is at least ~10 s.
    lifetime = clean_register(0.0, call_id="a@x", nonce="n1") + rule_scenarios.preemptive_reuse(
        10.0, "n1", "00000002", "a@x", 3
    )
    slow = exchange(
        t0=100.0,
        call_id="b@x",
        from_tag="t2",
        step=20.0,  # the retry comes 20 s after its challenge
        responses=[(401, UNAUTHORIZED, [www(nonce="n2")]), (401, UNAUTHORIZED, [www(nonce="n3")])],
        retries=[[creds(nonce="n2")]],
    )
    found = findings(lifetime + slow + tail(200))
    assert codes(found) == ["SA201"]  # not SA303: the password is not the suspect
    assert found[0].frames == (8, 9, 10)
    assert "answered 20.0 s after its challenge" in found[0].message
    assert "up to 10.0 s old" in found[0].message


def test_sa201_slow_retry_needs_a_meaningful_lifetime_sample() -> None:
    # Only an immediate retry (0.04 s) was seen accepted: that says nothing about expiry.
    quick = clean_register(0.0, call_id="a@x", nonce="n1")
    slow = exchange(
        t0=100.0,
        call_id="b@x",
        from_tag="t2",
        step=20.0,
        responses=[(401, UNAUTHORIZED, [www(nonce="n2")]), (401, UNAUTHORIZED, [www(nonce="n3")])],
        retries=[[creds(nonce="n2")]],
    )
    assert codes(findings(quick + slow + tail(200))) == ["SA303"]


def test_sa202_stale_then_success_is_info() -> None:
    found = findings(rule_scenarios.sa202_fires())
    assert codes(found) == ["SA202"]
    assert found[0].severity == "info"
    assert found[0].frames == (1, 2, 3)


def test_sa201_and_sa202_silent_on_a_clean_exchange() -> None:
    assert findings(rule_scenarios.sa201_quiet()) == []


def test_sa203_nonce_reused_without_nc_increasing() -> None:
    found = findings(rule_scenarios.sa203_fires())
    assert codes(found) == ["SA203"]
    assert found[0].frames == (3, 5)


def test_sa203_one_finding_per_client_and_server_over_its_nonces() -> None:
    def refresh(t0: float, name: str) -> list[Wire]:
        """A registration and a refresh reusing its nonce with nc=00000001, with branches,
        Call-ID and nonce of their own."""
        wires = clean_register(t0, call_id=f"{name}@x", nonce=name) + preemptive_reuse(
            t0 + 30.0, name, "00000001", f"{name}@x", 3
        )
        return [replace(w, text=w.text.replace("z9hG4bK-", f"z9hG4bK-{name}-")) for w in wires]

    found = by_code(findings([*refresh(0.0, "na"), *refresh(100.0, "nb")]), "SA203")
    assert [f.message for f in found] == [
        "nonce reused by 192.0.2.10 towards 198.51.100.20 without nc increasing (highest "
        "earlier: frame 3; then frame 5 nc=00000001) — first of 2 nonces reused this way"
    ]
    assert found[0].frames == (3, 5, 9, 11)


def test_sa203_silent_when_nc_increases() -> None:
    assert findings(rule_scenarios.sa203_quiet()) == []
