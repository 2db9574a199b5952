"""3xx rules: loops, ignored challenges, rejected credentials, storms, one-sided inbound auth."""

from __future__ import annotations

from sipauth_analyzer.primitives import Endpoint
from tests.rules.sipbuild import (
    PROXY_REQUIRED,
    UAC,
    UAS,
    UNAUTHORIZED,
    by_code,
    codes,
    creds,
    exchange,
    findings,
    proxy_auth,
    tail,
    www,
)


def _loop(cycles: int, final: tuple[int, str, list[str]] | None) -> list:
    responses = [(401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(1, cycles + 1)]
    if final is not None:
        responses.append(final)
    retries = [[creds(nonce=f"n{i}")] for i in range(1, len(responses))]
    return exchange(responses=responses, retries=retries) + tail(30)


def test_sa301_auth_loop_new_nonce_each_time() -> None:
    found = findings(_loop(3, (403, "Forbidden", [])))
    assert codes(found) == ["SA301", "SA303"]
    loop = by_code(found, "SA301")[0]
    assert loop.frames == (1, 2, 3, 4, 5, 6, 7, 8)
    assert "challenged 3 times (limit 2)" in loop.message
    assert "new-nonce-each-time" in loop.message
    assert '(username "edge")' in loop.message


def test_sa301_silent_at_the_limit_and_configurable() -> None:
    assert "SA301" not in codes(findings(_loop(2, (403, "Forbidden", []))))
    assert "SA301" in codes(findings(_loop(2, (403, "Forbidden", [])), max_challenge_cycles=1))


def test_sa301_loop_without_credentials() -> None:
    wires = exchange(
        responses=[(401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(1, 4)],
        retries=[[], []],
    ) + tail(30)
    found = findings(wires)
    assert codes(found) == ["SA301", "SA302"]
    assert "loop type: no-credentials" in by_code(found, "SA301")[0].message


def test_sa302_challenge_never_answered() -> None:
    wires = exchange(responses=[(401, UNAUTHORIZED, [www(realm="pbx")])]) + tail(10)
    found = findings(wires)
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
    wires = exchange(
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (403, "Forbidden", [])],
        retries=[[creds("Proxy-Authorization", user="trunk-7")]],
        method="INVITE",
    )
    found = findings(wires)
    assert codes(found) == ["SA303"]
    assert found[0].frames == (3, 4)
    assert 'username "trunk-7"' in found[0].message
    excerpt = " ".join(e.excerpt for e in found[0].evidence)
    assert "6629fae49393a05397450978507c4ef1" not in excerpt  # the response hash is redacted
    assert "0a4f113b" not in excerpt  # and the cnonce
    assert 'response="…redacted…"' in excerpt


def test_sa303_silent_on_stale_rechallenge() -> None:
    wires = exchange(
        responses=[
            (401, UNAUTHORIZED, [www(nonce="n1")]),
            (401, UNAUTHORIZED, [www(nonce="n2", extra=', qop="auth", stale=true')]),
            (200, "OK", []),
        ],
        retries=[[creds(nonce="n1")], [creds(nonce="n2")]],
    )
    assert codes(findings(wires)) == ["SA202"]


def _ignored(count: int) -> list:
    wires = []
    for index in range(count):
        wires += exchange(
            t0=index * 5.0,
            call_id=f"s{index}@x",
            from_tag=f"t{index}",
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{index}")])],
        )
    return wires + tail(count * 5.0 + 10)


def test_sa304_challenge_storm() -> None:
    found = findings(_ignored(4), storm_challenges_per_minute=3)
    storm = by_code(found, "SA304")
    assert len(storm) == 1
    assert storm[0].frames == (2, 4, 6, 8)
    assert "sent 4 challenges to 192.0.2.10 within 15.0 s" in storm[0].message
    assert codes(found).count("SA302") == 4


def test_sa304_silent_below_the_threshold() -> None:
    assert "SA304" not in codes(findings(_ignored(3), storm_challenges_per_minute=3))


EDGE = UAC
SBC = UAS


def test_sa305_inbound_auth_on_one_side_only() -> None:
    outbound = exchange(
        "INVITE",
        call_id="out@edge",
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
        retries=[[creds("Proxy-Authorization")]],
        src=EDGE,
        dst=SBC,
    )
    inbound = exchange(
        "INVITE",
        t0=5.0,
        call_id="in@sbc",
        responses=[(401, UNAUTHORIZED, [www(realm="edge")])],
        src=SBC,
        dst=EDGE,
    )
    found = findings(outbound + inbound + tail(20))
    assert codes(found) == ["SA305"]  # and not SA302: one verdict
    assert found[0].frames == (5, 6)
    assert found[0].client == Endpoint(SBC.ip, SBC.port)


def test_sa305_silent_without_authenticated_reverse_direction() -> None:
    inbound = exchange(
        "INVITE",
        call_id="in@sbc",
        src=SBC,
        dst=EDGE,
        responses=[(401, UNAUTHORIZED, [www(realm="edge")])],
    )
    assert codes(findings(inbound + tail(20))) == ["SA302"]


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
