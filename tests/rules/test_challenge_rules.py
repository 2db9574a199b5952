"""1xx rules: challenge / credentials consistency (realm, algorithm, qop)."""

from __future__ import annotations

from tests.rules import rule_scenarios
from tests.rules.sipbuild import UNAUTHORIZED, by_code, codes, creds, exchange, findings, tail, www


def test_sa101_realm_mismatch_fires_with_both_realms() -> None:
    found = findings(rule_scenarios.sa101_fires())
    assert codes(found) == ["SA101"]
    (finding,) = found
    assert finding.frames == (2, 3)
    assert 'challenge realm "SBC-PROD-01" ≠ credentials realm "genesys.com"' in finding.message
    assert finding.call_ids == ("call-1@192.0.2.10",)
    assert finding.display_filter == (
        'sip.Call-ID == "call-1@192.0.2.10" && frame.number in {2, 3}'
    )


def test_sa101_realm_differing_only_in_case_still_fires() -> None:
    wires = exchange(
        responses=[
            (401, UNAUTHORIZED, [www(realm="SBC-PROD-01")]),
            (401, UNAUTHORIZED, [www(realm="SBC-PROD-01", nonce="n2")]),
        ],
        retries=[[creds(realm="sbc-prod-01")]],
    )
    found = by_code(findings(wires + tail(10)), "SA101")
    assert len(found) == 1
    assert "only letter case differs" in found[0].message


def test_sa101_fingerprint_ignores_frames_and_times() -> None:
    def run(t0: float, padding: int) -> str:
        wires = tail(t0 - 5) * padding + exchange(
            t0=t0,
            responses=[(401, UNAUTHORIZED, [www(realm="A")]), (403, "Forbidden", [])],
            retries=[[creds(realm="B")]],
            call_id=f"c{t0}@x",
        )
        return by_code(findings(wires), "SA101")[0].fingerprint

    assert run(100.0, 0) == run(5000.0, 3)


def test_sa102_sha256_challenge_answered_with_md5() -> None:
    found = findings(rule_scenarios.sa102_fires())  # the retry has no algorithm parameter: MD5
    assert codes(found) == ["SA102"]
    assert found[0].frames == (2, 3)
    assert "challenge offers SHA-256 but credentials use MD5" in found[0].message


def test_sa102_sha256_only_challenge_never_answered() -> None:
    found = findings(
        rule_scenarios.unanswered((401, UNAUTHORIZED, [www(extra=rule_scenarios.SHA256_OFFER)]))
    )
    assert codes(found) == ["SA102"]  # not also SA302: one verdict
    assert found[0].frames == (1, 2)
    assert "never answered" in found[0].message


def test_sa102_does_not_fire_when_the_offered_algorithm_is_used() -> None:
    assert findings(rule_scenarios.sa102_quiet()) == []


def test_sa103_md5_chosen_when_sha256_offered_too() -> None:
    found = findings(rule_scenarios.sa103_fires())
    assert codes(found) == ["SA103"]
    assert found[0].frames == (2, 3)
    assert "MD5 / SHA-256" in found[0].message


def test_sa104_qop_offered_but_not_used() -> None:
    found = findings(rule_scenarios.sa104_fires())
    assert codes(found) == ["SA104"]
    assert found[0].frames == (2, 3)


def test_sa104_does_not_fire_without_qop_in_the_challenge() -> None:
    assert findings(rule_scenarios.sa104_quiet()) == []


def test_sa105_qop_without_nc_and_unoffered_qop() -> None:
    found = findings(rule_scenarios.sa105_fires())
    assert codes(found) == ["SA105"]
    assert "qop=auth without nc" in found[0].message
    unoffered = [creds(extra=', qop=auth-int, nc=00000001, cnonce="c1"')]
    found = findings(rule_scenarios.register_challenged([www()], rule_scenarios.OK, unoffered))
    assert codes(found) == ["SA105"]
    assert "the challenge offered auth" in found[0].message


def test_sa102_sess_variant_answered_with_the_plain_algorithm() -> None:
    wires = exchange(
        responses=[
            (401, UNAUTHORIZED, [www(extra=', algorithm=MD5-sess, qop="auth"')]),
            (401, UNAUTHORIZED, [www(nonce="n2", extra=', algorithm=MD5-sess, qop="auth"')]),
        ],
        retries=[[creds(extra=', algorithm=MD5, qop=auth, nc=00000001, cnonce="c1"')]],
    ) + tail(10)
    found = findings(wires)
    assert codes(found) == ["SA102"]
    assert "challenge offers MD5-SESS but credentials use MD5" in found[0].message
