"""5xx rules: header semantics and protocol violations."""

from __future__ import annotations

from tests.rules.sipbuild import (
    PROXY_REQUIRED,
    UAC,
    UAS,
    UNAUTHORIZED,
    Wire,
    by_code,
    codes,
    creds,
    exchange,
    findings,
    proxy_auth,
    request,
    response,
    tail,
    www,
)


def test_sa501_401_carrying_proxy_authenticate() -> None:
    wires = exchange(responses=[(401, UNAUTHORIZED, [proxy_auth()])]) + tail(10)
    found = findings(wires)
    assert codes(found) == ["SA501"]  # and not SA302: the header mismatch explains it
    assert found[0].frames == (1, 2)
    assert "401 carrying Proxy-Authenticate" in found[0].message


def test_sa502_407_answered_with_authorization() -> None:
    wires = exchange(
        "INVITE",
        responses=[
            (407, PROXY_REQUIRED, [proxy_auth(nonce="n1")]),
            (407, PROXY_REQUIRED, [proxy_auth(nonce="n2")]),
        ],
        retries=[[creds("Authorization")]],
    ) + tail(10)
    found = findings(wires)
    assert codes(found) == ["SA502"]  # not SA303: the password is not what failed
    assert found[0].frames == (2, 3)
    assert "407 (Proxy-Authenticate) answered with Authorization" in found[0].message


def test_sa501_sa502_silent_on_matching_headers() -> None:
    wires = exchange(
        "INVITE",
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
        retries=[[creds("Proxy-Authorization")]],
    )
    assert findings(wires) == []


def test_sa503_register_challenged_with_407_never_answered() -> None:
    wires = exchange(
        responses=[(407, PROXY_REQUIRED, [proxy_auth()])], user_agent="OldPhone/1.0"
    ) + tail(10)
    found = findings(wires)
    assert codes(found) == ["SA503"]
    assert found[0].frames == (1, 2)
    assert 'User-Agent "OldPhone/1.0"' in found[0].message


def test_sa503_silent_for_invite_with_407() -> None:
    wires = exchange("INVITE", responses=[(407, PROXY_REQUIRED, [proxy_auth()])]) + tail(10)
    assert codes(findings(wires)) == ["SA302"]


def test_sa504_two_proxy_realms_only_one_answered() -> None:
    wires = exchange(
        "INVITE",
        responses=[
            (
                407,
                PROXY_REQUIRED,
                [
                    proxy_auth(realm="edge-proxy", nonce="a1"),
                    proxy_auth(realm="core-proxy", nonce="b1"),
                ],
            ),
            (407, PROXY_REQUIRED, [proxy_auth(realm="core-proxy", nonce="b2")]),
        ],
        retries=[[creds("Proxy-Authorization", realm="edge-proxy", nonce="a1")]],
    ) + tail(10)
    found = findings(wires)
    assert codes(found) == ["SA504"]  # not SA303
    assert found[0].frames == (2, 3)
    assert 'no credentials for realm "core-proxy"' in found[0].message


def test_sa504_silent_when_both_realms_answered() -> None:
    wires = exchange(
        "INVITE",
        responses=[
            (
                407,
                PROXY_REQUIRED,
                [
                    proxy_auth(realm="edge-proxy", nonce="a1"),
                    proxy_auth(realm="core-proxy", nonce="b1"),
                ],
            ),
            (200, "OK", []),
        ],
        retries=[
            [
                creds("Proxy-Authorization", realm="edge-proxy", nonce="a1"),
                creds("Proxy-Authorization", realm="core-proxy", nonce="b1"),
            ]
        ],
    )
    assert findings(wires) == []


def test_sa505_cancel_challenged() -> None:
    invite = request("INVITE", cseq=1, branch="z9hG4bK-inv")
    cancel = request("CANCEL", cseq=1, branch="z9hG4bK-inv")
    wires = [
        Wire(invite, UAC, UAS, 0.0),
        Wire(response(invite, 100, "Trying", to_tag=""), UAS, UAC, 0.01),
        Wire(cancel, UAC, UAS, 1.0),
        Wire(response(cancel, 407, PROXY_REQUIRED, headers=[proxy_auth()]), UAS, UAC, 1.01),
        Wire(response(invite, 487, "Request Terminated"), UAS, UAC, 1.02),
    ]
    found = findings(wires)
    assert codes(found) == ["SA505"]
    assert found[0].frames == (3, 4)
    assert "CANCEL challenged with 407" in found[0].message


def test_sa505_silent_when_cancel_is_accepted() -> None:
    invite = request("INVITE", cseq=1, branch="z9hG4bK-inv")
    cancel = request("CANCEL", cseq=1, branch="z9hG4bK-inv")
    wires = [
        Wire(invite, UAC, UAS, 0.0),
        Wire(cancel, UAC, UAS, 1.0),
        Wire(response(cancel, 200, "OK"), UAS, UAC, 1.01),
        Wire(response(invite, 487, "Request Terminated"), UAS, UAC, 1.02),
    ]
    assert findings(wires) == []


def test_sa506_basic_offered_and_used_with_token_redacted() -> None:
    offered = exchange(responses=[(401, UNAUTHORIZED, ['WWW-Authenticate: Basic realm="pbx"'])])
    used = exchange(
        t0=5.0,
        call_id="basic@x",
        from_tag="t2",
        first_headers=["Authorization: Basic ZWRnZTpodW50ZXIy"],
        responses=[(200, "OK", [])],
    )
    found = findings(offered + used + tail(20))
    assert codes(found) == ["SA506", "SA506"]  # and not SA302 for the Basic-only challenge
    assert [f.frames for f in found] == [(2,), (3,)]
    evidence = " ".join(e.excerpt for f in found for e in f.evidence)
    assert "ZWRnZTpodW50ZXIy" not in evidence
    assert "Basic …redacted…" in evidence


def test_sa507_opaque_not_echoed() -> None:
    wires = exchange(
        responses=[
            (401, UNAUTHORIZED, [www(extra=', qop="auth", opaque="5ccc069c"')]),
            (200, "OK", []),
        ],
        retries=[[creds()]],
    )
    found = findings(wires)
    assert codes(found) == ["SA507"]
    assert found[0].frames == (2, 3)
    assert 'challenge opaque "5ccc069c" ≠ credentials opaque none' in found[0].message


def test_sa508_digest_uri_differs_and_the_request_is_refused() -> None:
    wires = exchange(
        responses=[(401, UNAUTHORIZED, [www()]), (403, "Forbidden", [])],
        retries=[[creds(uri="sip:sbc.example")]],
    )
    found = findings(wires)
    # The password stays the prime suspect (SA303); the uri is a possible contributor.
    assert codes(found) == ["SA303", "SA508"]
    uri = by_code(found, "SA508")[0]
    assert uri.frames == (3, 4)
    assert 'digest uri "sip:sbc.example" ≠ Request-URI' in uri.message


def test_sa508_silent_when_accepted_default_port_or_server_tolerant() -> None:
    accepted = exchange(
        responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])],
        retries=[[creds(uri="sip:sbc.example")]],
    )
    assert findings(accepted) == []
    default_port = exchange(
        responses=[(401, UNAUTHORIZED, [www()]), (403, "Forbidden", [])],
        retries=[[creds(uri="sip:+15551230000@198.51.100.20:5060")]],
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
    wires = exchange(
        "INVITE",
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
        retries=[[creds("Proxy-Authorization")]],
        branches=["z9hG4bK-same", "z9hG4bK-same"],
    )
    found = findings(wires)
    assert codes(found) == ["SA509"]
    assert by_code(found, "SA509")[0].frames == (1, 3)


def test_sa510_retry_keeps_cseq() -> None:
    wires = exchange(
        responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])],
        retries=[[creds()]],
        cseqs=[1, 1],
    )
    found = findings(wires)
    assert codes(found) == ["SA510"]
    assert found[0].frames == (1, 3)
    assert "CSeq 1 → 1" in found[0].message


def test_sa511_ack_without_the_invites_credentials() -> None:
    wires = exchange(
        "INVITE",
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
        retries=[[creds("Proxy-Authorization")]],
        acks=True,
        ack_headers=[],
    )
    found = findings(wires)
    assert codes(found) == ["SA511"]
    assert found[0].frames == (4, 6)
    assert "ACK lacks the INVITE's Proxy-Authorization" in found[0].message


def test_sa505_ack_challenged() -> None:
    invite = request("INVITE", cseq=1, branch="z9hG4bK-inv")
    ack = request("ACK", cseq=1, branch="z9hG4bK-ack")
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
