"""3xx rules: loops, ignored challenges, rejected credentials, storms, one-sided inbound auth."""

from __future__ import annotations

from sipauth_analyzer.primitives import Endpoint
from tests.rules import rule_scenarios
from tests.rules.sipbuild import (
    UAS,
    UNAUTHORIZED,
    by_code,
    codes,
    creds,
    exchange,
    findings,
    tail,
    www,
)


def test_sa301_auth_loop_new_nonce_each_time() -> None:
    found = findings(rule_scenarios.sa301_fires())
    assert codes(found) == ["SA301", "SA303"]
    loop = by_code(found, "SA301")[0]
    assert loop.frames == (1, 2, 3, 4, 5, 6, 7, 8)
    assert "challenged 3 times (limit 2)" in loop.message
    assert "new-nonce-each-time" in loop.message
    assert '(username "edge")' in loop.message


def test_sa301_silent_at_the_limit_and_configurable() -> None:
    assert "SA301" not in codes(findings(rule_scenarios.sa301_quiet()))
    assert "SA301" in codes(findings(rule_scenarios.sa301_quiet(), max_challenge_cycles=1))


def test_sa301_loop_without_credentials() -> None:
    wires = exchange(
        responses=[(401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(1, 4)],
        retries=[[], []],
    ) + tail(30)
    found = findings(wires)
    assert codes(found) == ["SA301", "SA302"]
    assert "loop type: no-credentials" in by_code(found, "SA301")[0].message


def test_sa302_challenge_never_answered() -> None:
    found = findings(rule_scenarios.sa302_fires())
    assert codes(found) == ["SA302"]
    assert found[0].frames == (1, 2)
    assert 'realm "pbx"' in found[0].message


def test_sa302_at_the_very_end_of_the_capture_carries_a_caveat_or_a_grace() -> None:
    wires = exchange(responses=[(401, UNAUTHORIZED, [www()])])
    found = findings(wires)
    assert codes(found) == ["SA302"]
    assert "the capture ends 0.0 s later" in found[0].message
    assert findings(wires, capture_end_grace_s=2.0) == []


def test_sa303_credentials_rejected_names_the_user_not_the_password() -> None:
    found = findings(rule_scenarios.sa303_fires())
    assert codes(found) == ["SA303"]
    assert found[0].frames == (3, 4)
    assert 'username "trunk-7"' in found[0].message
    excerpt = " ".join(e.excerpt for e in found[0].evidence)
    assert "6629fae49393a05397450978507c4ef1" not in excerpt  # the response hash is redacted
    assert "0a4f113b" not in excerpt  # and the cnonce
    assert 'response="…redacted…"' in excerpt


def test_sa303_silent_on_stale_rechallenge() -> None:
    assert codes(findings(rule_scenarios.sa303_quiet())) == ["SA202"]


def test_sa304_challenge_storm() -> None:
    found = findings(rule_scenarios.sa304_fires(), storm_challenges_per_minute=3)
    storm = by_code(found, "SA304")
    assert len(storm) == 1
    assert storm[0].frames == (2, 4, 6, 8)
    assert "sent 4 challenges to 192.0.2.10 within 15.0 s" in storm[0].message
    assert codes(found).count("SA302") == 4


def test_sa304_silent_below_the_threshold() -> None:
    assert "SA304" not in codes(
        findings(rule_scenarios.sa304_quiet(), storm_challenges_per_minute=3)
    )


SBC = UAS  # the server; edge is the client (UAC)


def test_sa305_inbound_auth_on_one_side_only() -> None:
    # Edge authenticates to the SBC, but the SBC's own INVITE to edge is challenged and ignored.
    found = findings(rule_scenarios.sa305_fires())
    assert codes(found) == ["SA305"]  # and not SA302: one verdict
    assert found[0].frames == (5, 6)
    assert found[0].client == Endpoint(SBC.ip, SBC.port)


def test_sa305_silent_without_authenticated_reverse_direction() -> None:
    assert codes(findings(rule_scenarios.inbound_challenge(0.0) + tail(20))) == ["SA302"]


def test_sa301_same_credentials_when_server_repeats_its_nonce() -> None:
    # As in sipcapture_heplify/ipip0.pcap: the registrar re-issues one nonce and the phone
    # re-sends the identical response — its password is wrong, its nonce handling is fine.
    wires = exchange(
        responses=[(401, UNAUTHORIZED, [www(nonce="same")])] * 3,
        retries=[[creds(nonce="same", extra="")]] * 2,
    ) + tail(30)
    found = findings(wires)
    assert "loop type: same-credentials" in by_code(found, "SA301")[0].message
    assert codes(found) == ["SA104", "SA301", "SA303"]
