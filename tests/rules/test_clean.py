"""A clean, successful exchange must produce no finding at all (issue 3, "Done when")."""

from __future__ import annotations

from tests.rules.sipbuild import clean_register, creds, exchange, findings, proxy_auth


def test_clean_register_has_no_findings() -> None:
    assert findings(clean_register()) == []


def test_clean_invite_with_407_and_acks_has_no_findings() -> None:
    wires = exchange(
        "INVITE",
        responses=[(407, "Proxy Authentication Required", [proxy_auth()]), (200, "OK", [])],
        retries=[[creds("Proxy-Authorization")]],
        acks=True,
    )
    assert [w.text.split(" ", 1)[0] for w in wires] == [
        "INVITE",
        "SIP/2.0",
        "ACK",
        "INVITE",
        "SIP/2.0",
        "ACK",
    ]
    assert findings(wires) == []


def test_unchallenged_request_has_no_findings() -> None:
    assert findings(exchange("OPTIONS", responses=[(200, "OK", [])])) == []
