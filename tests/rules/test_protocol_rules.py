"""5xx rules: header semantics and protocol violations."""

from __future__ import annotations

import dataclasses

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
    request,
    response,
    www,
)


def test_sa501_401_carrying_proxy_authenticate() -> None:
    found = findings(rule_scenarios.sa501_fires())
    assert codes(found) == ["SA501"]  # and not SA302: the header mismatch explains it
    assert found[0].frames == (1, 2)
    assert "401 carrying Proxy-Authenticate" in found[0].message


def test_sa502_407_answered_with_authorization() -> None:
    found = findings(rule_scenarios.sa502_fires())
    assert codes(found) == ["SA502"]  # not SA303: the password is not what failed
    assert found[0].frames == (2, 3)
    assert "407 (Proxy-Authenticate) answered with Authorization" in found[0].message


def test_sa501_sa502_silent_on_matching_headers() -> None:
    assert findings(rule_scenarios.sa502_quiet()) == []


def test_sa503_register_challenged_with_407_never_answered() -> None:
    found = findings(rule_scenarios.sa503_fires())
    assert codes(found) == ["SA503"]
    assert found[0].frames == (1, 2)
    assert 'User-Agent "OldPhone/1.0"' in found[0].message


def test_sa503_silent_for_invite_with_407() -> None:
    assert codes(findings(rule_scenarios.sa503_quiet())) == ["SA302"]


def test_sa504_two_proxy_realms_only_one_answered() -> None:
    found = findings(rule_scenarios.sa504_fires())
    assert codes(found) == ["SA504"]  # not SA303
    assert found[0].frames == (2, 3)
    assert 'no credentials for realm "core-proxy"' in found[0].message


def test_sa504_silent_when_both_realms_answered() -> None:
    assert findings(rule_scenarios.sa504_quiet()) == []


def test_sa505_cancel_challenged() -> None:
    found = findings(rule_scenarios.sa505_fires())
    assert codes(found) == ["SA505"]
    assert found[0].frames == (3, 4)
    assert "CANCEL challenged with 407" in found[0].message


def test_sa505_silent_when_cancel_is_accepted() -> None:
    assert findings(rule_scenarios.sa505_quiet()) == []


def test_sa506_basic_offered_and_used_with_token_redacted() -> None:
    found = findings(rule_scenarios.sa506_fires())
    assert codes(found) == ["SA506", "SA506"]  # and not SA302 for the Basic-only challenge
    assert [f.frames for f in found] == [(2,), (3,)]
    evidence = " ".join(e.excerpt for f in found for e in f.evidence)
    assert "ZWRnZTpodW50ZXIy" not in evidence
    assert "Basic …redacted…" in evidence


def test_sa507_opaque_not_echoed() -> None:
    found = findings(rule_scenarios.sa507_fires())
    assert codes(found) == ["SA507"]
    assert found[0].frames == (2, 3)
    assert 'challenge opaque "5ccc069c" ≠ credentials opaque none' in found[0].message


def test_sa508_digest_uri_differs_and_the_request_is_refused() -> None:
    found = findings(rule_scenarios.sa508_fires())
    # The password stays the prime suspect (SA303); the uri is a possible contributor.
    assert codes(found) == ["SA303", "SA508"]
    uri = by_code(found, "SA508")[0]
    assert uri.frames == (3, 4)
    assert 'digest uri "sip:sbc.example" ≠ Request-URI' in uri.message


def test_sa508_silent_when_accepted_default_port_or_server_tolerant() -> None:
    accepted = rule_scenarios.sa508_quiet()
    assert findings(accepted) == []
    explicit_port = creds(uri="sip:+15551230000@198.51.100.20:5060")
    default_port = rule_scenarios.register_challenged(
        [www()], rule_scenarios.FORBIDDEN, [explicit_port]
    )
    assert codes(findings(default_port)) == ["SA303"]
    refused = exchange(
        t0=10.0,
        call_id="c2@x",
        from_tag="t2",
        responses=[(401, UNAUTHORIZED, [www(nonce="m1")]), (403, "Forbidden", [])],
        retries=[[creds(uri="sip:sbc.example", nonce="m1")]],
    )
    assert codes(findings(accepted + refused)) == ["SA303"]  # this server ignores the uri


def test_sa509_retry_reuses_branch() -> None:
    found = findings(rule_scenarios.sa509_fires())
    assert codes(found) == ["SA509"]
    assert by_code(found, "SA509")[0].frames == (1, 3)


def test_sa510_retry_keeps_cseq() -> None:
    found = findings(rule_scenarios.sa510_fires())
    assert codes(found) == ["SA510"]
    assert found[0].frames == (1, 3)
    assert "CSeq 1 → 1" in found[0].message


def test_sa511_ack_without_the_invites_credentials() -> None:
    found = findings(rule_scenarios.sa511_fires())
    assert codes(found) == ["SA511"]
    assert found[0].frames == (4, 6)
    assert found[0].message == "ACK lacks the INVITE's Proxy-Authorization"


def _from_client(wires: list[Wire], client: Endpoint) -> list[Wire]:
    return [
        dataclasses.replace(
            w, src=client if w.src == UAC else w.src, dst=client if w.dst == UAC else w.dst
        )
        for w in wires
    ]


def test_sa511_one_finding_per_client_and_server_counting_its_calls() -> None:
    """A user agent that omits the credentials from its ACKs does so on every call: one finding
    per client and server, counting the calls, naming each exchange that lacks them."""
    def call(number: int, ack_headers: list[str] | None) -> list[Wire]:
        return rule_scenarios.invite_challenged(
            rule_scenarios.OK, call_id=f"call-{number}@192.0.2.10", acks=True,
            ack_headers=ack_headers,
        )

    other = Endpoint("192.0.2.77", 5060)
    wires = [
        *call(1, []), *call(2, []), *call(3, None),  # the third ACK repeats them
        *_from_client(call(4, []), other),
    ]
    found = by_code(findings(wires), "SA511")
    assert [(f.client, f.server) for f in found] == [(UAC, UAS), (other, UAS)]
    first, second = found
    assert "(2 of 3 calls whose accepted INVITE carried credentials)" in first.message
    assert first.frames == (4, 6, 10, 12)
    assert len(first.exchange_ids) == 2 and set(first.call_ids) == {
        "call-1@192.0.2.10", "call-2@192.0.2.10"
    }
    assert second.message == "ACK lacks the INVITE's Proxy-Authorization"
    assert first.fingerprint != second.fingerprint


def test_sa505_one_finding_per_server_policy_counting_its_challenges() -> None:
    """A server that challenges ACK does so on every call: one finding per client, server,
    method and status, naming the frames of the challenges."""
    wires: list[Wire] = []
    for number in range(1, 8):
        call_id = f"call-{number}@192.0.2.10"
        invite = request("INVITE", cseq=1, branch=f"z9hG4bK-inv{number}", call_id=call_id)
        ack = request("ACK", cseq=1, branch=f"z9hG4bK-ack{number}", call_id=call_id)
        t0 = number * 10.0
        wires += [
            Wire(invite, UAC, UAS, t0),
            Wire(response(invite, 200, "OK"), UAS, UAC, t0 + 0.01),
            Wire(ack, UAC, UAS, t0 + 0.02),
            Wire(response(ack, 401, UNAUTHORIZED, headers=[www()]), UAS, UAC, t0 + 0.03),
        ]
    (found,) = by_code(findings(wires), "SA505")
    assert found.message == (
        "ACK challenged with 401 7 times (frames 4, 8, 12, 16, 20 and 2 more); servers must "
        "not challenge ACK"
    )
    assert found.frames == (4, 8, 12, 16, 20, 24, 28)  # an ACK starts no transaction
    alone = by_code(findings(wires[:4]), "SA505")
    assert [f.fingerprint for f in alone] == [found.fingerprint]
    assert alone[0].message == "ACK challenged with 401 (frame 4); servers must not challenge ACK"


def test_sa505_ack_challenged() -> None:
    invite, ack = rule_scenarios.invite_and("ACK", "z9hG4bK-ack")
    wires = [
        Wire(invite, UAC, UAS, 0.0),
        Wire(response(invite, 200, "OK"), UAS, UAC, 0.01),
        Wire(ack, UAC, UAS, 0.02),
        Wire(response(ack, 401, UNAUTHORIZED, headers=[www()]), UAS, UAC, 0.03),
    ]
    found = findings(wires)
    assert codes(found) == ["SA505"]
    assert 4 in found[0].frames
    assert "ACK challenged with 401" in found[0].message
