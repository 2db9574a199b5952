"""3xx rules: loops, ignored challenges, rejected credentials, storms, one-sided inbound auth."""

from __future__ import annotations

from sipauth_analyzer.primitives import Endpoint
from tests.rules import rule_scenarios
from tests.rules.sipbuild import (
    UAC,
    UAS,
    UNAUTHORIZED,
    Wire,
    by_code,
    codes,
    creds,
    exchange,
    findings,
    tail,
    www,
)

OTHER_CLIENT = Endpoint("192.0.2.77", 5060)


def _looping_register(
    number: int, cycles: int, *, src: Endpoint = UAC, user: str = "edge"
) -> list[Wire]:
    """Registration ``number`` (its own Call-ID, From tag and nonces, 100 s after the previous
    one, so that no brute-force window holds two): challenged ``cycles`` times with a new
    nonce, each answered, then 403."""
    responses: list[tuple[int, str, list[str]]] = [
        (401, UNAUTHORIZED, [www(nonce=f"n{number}-{i}")]) for i in range(1, cycles + 1)
    ]
    responses.append((403, "Forbidden", []))
    retries = [[creds(nonce=f"n{number}-{i}", user=user)] for i in range(1, cycles + 1)]
    return exchange(
        responses=responses, retries=retries, t0=number * 100.0, src=src,
        call_id=f"c{number}-loop@192.0.2.10", from_tag=f"t{number}", user=user,
    )


def _three_looping_registrations_and_another_client() -> list[Wire]:
    return [
        *_looping_register(1, 3), *_looping_register(2, 4), *_looping_register(3, 3),
        *_looping_register(4, 3, src=OTHER_CLIENT), *tail(600),
    ]


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
    # The four ignored challenges: one SA302 (one client, one server, one realm).
    (ignored,) = by_code(found, "SA302")
    assert ignored.message == (
        'REGISTER challenged with 401 (realm "sbc.example") and never answered — in 4 exchanges'
    )
    assert ignored.exchange_ids == (1, 2, 3, 4) and ignored.frames == tuple(range(1, 9))


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


def test_sa301_one_finding_per_client_and_server_counting_the_loops() -> None:
    """A client that loops does so on every registration: one finding per client, server,
    method and loop type, with the count, the range of challenge counts and every exchange."""
    found = by_code(findings(_three_looping_registrations_and_another_client()), "SA301")
    assert [(f.client, f.server) for f in found] == [(UAC, UAS), (OTHER_CLIENT, UAS)]
    grouped, single = found
    assert grouped.message == (
        "REGISTER challenged 3 to 4 times (limit 2) without success in 3 exchanges, outcome "
        'rejected; loop type: new-nonce-each-time (username "edge")'
    )
    assert len(grouped.exchange_ids) == 3
    assert set(grouped.call_ids) == {f"c{n}-loop@192.0.2.10" for n in (1, 2, 3)}
    assert len(grouped.frames) == 8 + 10 + 8  # every request and final of the three
    # One exchange: the message of a single loop, as before the grouping.
    assert single.message == (
        "REGISTER challenged 3 times (limit 2) without success, outcome rejected; loop type: "
        'new-nonce-each-time (username "edge")'
    )
    # The fingerprint is the one the per-call findings shared: baselines still match.
    alone = by_code(findings([*_looping_register(2, 4), *tail(600)]), "SA301")
    assert [f.fingerprint for f in alone] == [grouped.fingerprint]


def test_sa301_tallies_outcomes_and_names_a_bounded_list_of_users() -> None:
    wires = [w for n in range(1, 13) for w in _looping_register(n, 3, user=f"user{n:02d}")]
    wires += exchange(  # one more loop that ends unanswered, not with a 403
        responses=[(401, UNAUTHORIZED, [www(nonce=f"u-{i}")]) for i in range(1, 4)],
        retries=[[creds(nonce=f"u-{i}", user="user99")] for i in range(1, 3)],
        t0=1300.0, call_id="d1-loop@192.0.2.10", from_tag="u",
    ) + tail(1400)
    (loop,) = by_code(findings(wires), "SA301")
    assert "in 13 exchanges, outcome rejected (12), challenge-unanswered (1);" in loop.message
    assert '"user01", "user02",' in loop.message and '"user10" and 3 more)' in loop.message
    assert "user11" not in loop.message


def test_sa303_one_finding_per_client_server_and_username() -> None:
    wires = _three_looping_registrations_and_another_client()
    wires += _looping_register(5, 1, user="other-user")  # one retry, refused with 403
    found = by_code(findings(wires), "SA303")
    assert [(f.client, f.message) for f in found] == [
        (UAC, 'credentials for username "edge" answered with 401 / 403 in 3 exchanges: the '
              "server does not accept this username/password"),
        (OTHER_CLIENT, 'credentials for username "edge" answered with 401 / 403: the server '
                       "does not accept this username/password"),
        (UAC, 'credentials for username "other-user" answered with 403: the server does not '
              "accept this username/password"),
    ]
    assert len(found[0].exchange_ids) == 3
    assert len({f.fingerprint for f in found}) == 3
