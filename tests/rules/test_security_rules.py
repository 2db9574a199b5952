"""6xx rules: brute force and scanners, told apart from one misconfigured device."""

from __future__ import annotations

from dataclasses import replace

from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.engine import run_rules
from tests.rules import rule_scenarios
from tests.rules.sipbuild import (
    PROXY_REQUIRED,
    UNAUTHORIZED,
    Wire,
    by_code,
    clean_register,
    codes,
    correlation,
    creds,
    exchange,
    findings,
    proxy_auth,
    www,
)


def test_sa601_many_usernames_from_one_source() -> None:
    found = findings(rule_scenarios.sa601_fires())
    brute = by_code(found, "SA601")
    assert len(brute) == 1
    assert brute[0].frames == (3, 4, 7, 8, 11, 12, 15, 16, 19, 20)
    assert "5 usernames" in brute[0].message
    assert "username guessing" in brute[0].message
    # Configuration advice ("re-type the password", SA303) is not given to an attacker.
    assert codes(found) == ["SA601"]


def test_sa601_many_password_guesses_for_one_user() -> None:
    found = findings(rule_scenarios.guesses(["100"] * 10))
    brute = by_code(found, "SA601")
    assert len(brute) == 1
    assert "password guessing" in brute[0].message
    assert "over 10 Call-IDs" in brute[0].message


def test_sa601_silent_for_one_misconfigured_device_looping_in_one_call_id() -> None:
    responses = [(401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(12)]
    retries = [[creds(nonce=f"n{i}", response_hash=f"{i:032x}")] for i in range(11)]
    wires = exchange(responses=responses, retries=retries, step=0.5)
    found = findings(wires)
    assert "SA601" not in codes(found)
    assert "SA301" in codes(found)


def test_sa601_silent_below_thresholds() -> None:
    assert "SA601" not in codes(findings(rule_scenarios.sa601_quiet()))


def test_sa602_known_scanner_user_agent() -> None:
    found = findings(rule_scenarios.sa602_fires())
    assert codes(found) == ["SA602"]
    assert found[0].frames == (1,)
    assert 'known scanner "friendly-scanner"' in found[0].message


def test_sa602_silent_for_ordinary_user_agents_and_configurable() -> None:
    wires = rule_scenarios.sa602_quiet()
    assert findings(wires) == []
    assert codes(findings(wires, known_scanner_user_agents=("yealink",))) == ["SA602"]


def test_sa601_same_nonce_different_responses_proves_guessing_even_in_one_call_id() -> None:
    # sipvicious svcrack --reusenonce: every guess answers the first nonce, no qop (no cnonce),
    # so only the password can make the responses differ.
    responses = [(401, UNAUTHORIZED, [www(nonce=f"n{i}", extra="")]) for i in range(11)]
    retries = [[creds(nonce="n0", response_hash=f"{i:032x}", extra="")] for i in range(10)]
    wires = exchange(
        responses=responses,
        retries=retries,
        step=0.05,
        src=rule_scenarios.ATTACKER,
        user_agent="pjsip",
    )
    found = findings(wires)
    assert codes(found) == ["SA601"]  # the loop and stale-nonce advice are not for attackers
    assert "password guessing" in found[0].message
    assert "over 1 Call-ID —" in found[0].message


def _calls_with_one_wrong_password(destinations: list[str]) -> list[Wire]:
    """A PBX dialling out over a trunk (one username), each call INVITE → 407 → INVITE with
    credentials → 407 again (fresh nonce, so every response differs), 1 s apart."""
    wires: list[Wire] = []
    for index, destination in enumerate(destinations):
        nonces = (f"a{index}", f"b{index}")
        wires += exchange(
            "INVITE",
            t0=index * 1.0,
            step=0.01,
            call_id=f"c{index}@pbx",
            from_tag=f"f{index}",
            uri=destination,
            user="trunk-9000",
            user_agent="Asterisk PBX 16.2.1",
            responses=[(407, PROXY_REQUIRED, [proxy_auth(nonce=n)]) for n in nonces],
            retries=[[creds("Proxy-Authorization", user="trunk-9000", nonce=nonces[0],
                            uri=destination, response_hash=f"{index:032x}")]],
        )
    return wires


def test_sa601_silent_for_a_pbx_whose_calls_to_many_numbers_fail_on_one_password() -> None:
    destinations = [f"sip:+1555{index:07d}@198.51.100.20" for index in range(12)]
    found = findings(_calls_with_one_wrong_password(destinations))
    assert "SA601" not in codes(found)
    # It is diagnosed as the configuration problem it is, not hidden as an attacker.
    assert "SA303" in codes(found)


def test_sa601_still_fires_for_one_username_guessed_on_calls_to_one_destination() -> None:
    found = findings(_calls_with_one_wrong_password(["sip:+15550000000@198.51.100.20"] * 12))
    brute = by_code(found, "SA601")
    assert len(brute) == 1
    assert "password guessing" in brute[0].message
    assert "over 12 Call-IDs" in brute[0].message


def test_sa601_names_every_exchange_of_its_failures_and_no_other() -> None:
    wires = rule_scenarios.sa601_fires() + clean_register(t0=20.0)
    result = correlation(wires)
    brute = by_code(run_rules(result, RuleOptions()), "SA601")
    attacker = {e.id for e in result.exchanges if e.client.ip == rule_scenarios.ATTACKER.ip}
    assert len(attacker) == 5
    assert len(result.exchanges) == 6  # the benign registration is kept, and not named
    assert brute[0].exchange_ids == tuple(sorted(attacker))


def test_sa602_names_the_exchanges_of_the_scanner_requests() -> None:
    scanning = [
        replace(wire, text=wire.text.replace("User-Agent: pjsip", "User-Agent: sipvicious"))
        for wire in rule_scenarios.guesses(["100", "101"])
    ]
    result = correlation(scanning + clean_register(t0=20.0))
    scanner = by_code(run_rules(result, RuleOptions()), "SA602")
    attacker = {e.id for e in result.exchanges if e.client.ip == rule_scenarios.ATTACKER.ip}
    assert len(attacker) == 2
    assert scanner[0].exchange_ids == tuple(sorted(attacker))

