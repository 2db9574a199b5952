"""Each verdict from a constructed challenge/answer pair; responses computed with hashlib here."""

from __future__ import annotations

import pytest

from sipauth_analyzer.verify.credentials import KnownCredential
from sipauth_analyzer.verify.model import Verdict, Verification
from sipauth_analyzer.verify.verifier import near_miss_variants, verify_correlation
from tests.verify.digestcase import (
    CNONCE,
    NONCE,
    REALM,
    URI,
    Case,
    authorization,
    body_of,
    digest,
    h,
)

ALICE = KnownCredential("alice", REALM, password="s3cret")
BOB = KnownCredential("bob", REALM, password="b0b-pass")


def verdict_of(case: Case, *known: KnownCredential) -> Verification:
    found = verify_correlation(case.correlation(), known or (ALICE,))
    assert list(found) == [("test.pcap", 3)]
    return found[("test.pcap", 3)]


ALGORITHMS = ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("qop", [None, "auth", "auth-int"])
def test_every_algorithm_and_qop_verifies(algorithm: str, qop: str | None) -> None:
    size = 60 if qop == "auth-int" else 0
    response_hash = digest(algorithm=algorithm, qop=qop, body=body_of(size))
    case = Case(
        authorization(response_hash=response_hash, algorithm=algorithm, qop=qop),
        body_size=size,
        challenge=f'Digest realm="{REALM}", nonce="{NONCE}", algorithm={algorithm}'
        + (f', qop="{qop}"' if qop else ""),
    )
    result = verdict_of(case)
    assert result.verdict is Verdict.VERIFIED, result.detail
    assert result.algorithm == algorithm.upper()
    # The same header with one wrong hex digit must not verify.
    broken = response_hash[:-1] + ("0" if response_hash[-1] != "0" else "1")
    bad = Case(
        authorization(response_hash=broken, algorithm=algorithm, qop=qop),
        final=403,
        body_size=size,
    )
    assert verdict_of(bad).verdict is Verdict.WRONG_PASSWORD


def test_auth_int_hashes_the_body_not_an_empty_one() -> None:
    response_hash = digest(qop="auth-int", body=b"")  # computed as if there were no body
    case = Case(authorization(response_hash=response_hash, qop="auth-int"), final=403, body_size=60)
    assert verdict_of(case).verdict is Verdict.WRONG_PASSWORD


def test_auth_int_with_a_truncated_body_is_unverifiable() -> None:
    size = 60
    response_hash = digest(qop="auth-int", body=body_of(size))
    case = Case(
        authorization(response_hash=response_hash, qop="auth-int"),
        body_size=size,
        content_length_extra=40,
    )
    result = verdict_of(case)
    assert result.verdict is Verdict.UNVERIFIABLE
    assert "truncated" in result.detail


def test_rfc2069_response_without_qop_verifies() -> None:
    case = Case(authorization(response_hash=digest()))
    result = verdict_of(case)
    assert result.verdict is Verdict.VERIFIED
    assert result.matched_user == "alice"
    assert "accepted (200)" in result.detail


def test_userhash_resolves_the_known_username() -> None:
    hashed = h("SHA-256", f"alice:{REALM}")
    response_hash = digest(algorithm="SHA-256", qop="auth")
    header = authorization(
        username=hashed, response_hash=response_hash, algorithm="SHA-256", qop="auth",
        extra=", userhash=true",
    )  # fmt: skip
    result = verdict_of(Case(header), ALICE, BOB)
    assert result.verdict is Verdict.VERIFIED, result.detail
    assert result.username == "alice"


def test_userhash_of_nobody_known_is_unknown_user() -> None:
    hashed = h("SHA-256", f"mallory:{REALM}")
    header = authorization(
        username=hashed, response_hash=digest(algorithm="SHA-256", username="mallory"),
        algorithm="SHA-256", extra=", userhash=true",
    )  # fmt: skip
    assert verdict_of(Case(header, final=403)).verdict is Verdict.UNKNOWN_USER


def test_wrong_password() -> None:
    case = Case(authorization(response_hash=digest(password="s3cret!")), final=403)
    result = verdict_of(case)
    assert result.verdict is Verdict.WRONG_PASSWORD
    assert "s3cret" not in result.detail


def test_another_accounts_password_is_wrong_password_naming_whose() -> None:
    case = Case(authorization(response_hash=digest(password="b0b-pass")), final=403)
    result = verdict_of(case, ALICE, BOB)
    assert result.verdict is Verdict.WRONG_PASSWORD
    assert result.matched_user == "bob"


def test_known_password_under_unknown_username_is_wrong_username() -> None:
    case = Case(authorization(username="alcie", response_hash=digest(username="alcie")), final=403)
    result = verdict_of(case, ALICE, BOB)
    assert result.verdict is Verdict.WRONG_USERNAME
    assert result.matched_user == "alice"
    assert '"alcie"' in result.detail


def test_unknown_username_and_no_known_password_is_unknown_user() -> None:
    case = Case(
        authorization(username="carol", response_hash=digest(username="carol", password="x")),
        final=403,
    )
    assert verdict_of(case, ALICE, BOB).verdict is Verdict.UNKNOWN_USER


def test_realm_sent_differs_from_the_challenge() -> None:
    other = "other.example"
    case = Case(authorization(realm=other, response_hash=digest(realm=other)), final=403)
    result = verdict_of(case, KnownCredential("alice", None, password="s3cret"))
    assert result.verdict is Verdict.REALM_MISMATCH
    assert other in result.detail and REALM in result.detail


def test_hashed_with_another_realm_than_the_header_says() -> None:
    # The client echoes the challenge's realm but hashes with the realm it was configured for.
    configured = KnownCredential("alice", "pbx.internal", password="s3cret")
    case = Case(authorization(response_hash=digest(realm="pbx.internal")), final=403)
    result = verdict_of(case, configured)
    assert result.verdict is Verdict.REALM_MISMATCH
    assert "pbx.internal" in result.detail


def test_digest_uri_other_than_request_uri_refused_is_uri_mismatch() -> None:
    uri = "sip:198.51.100.20:5060"
    case = Case(authorization(uri=uri, response_hash=digest(uri=uri)), final=403)
    result = verdict_of(case)
    assert result.verdict is Verdict.URI_MISMATCH
    assert uri in result.detail


def test_digest_uri_other_than_request_uri_accepted_is_verified() -> None:
    uri = "sip:198.51.100.20:5060"  # the SIPp quirk: servers that ignore the uri accept it
    case = Case(authorization(uri=uri, response_hash=digest(uri=uri)), final=200)
    assert verdict_of(case).verdict is Verdict.VERIFIED


def test_hashed_over_request_uri_but_sent_another_uri() -> None:
    case = Case(authorization(uri="sip:elsewhere.example", response_hash=digest(uri=URI)), 403)
    assert verdict_of(case).verdict is Verdict.URI_MISMATCH


def test_right_password_answered_stale_is_stale_nonce() -> None:
    case = Case(authorization(response_hash=digest()), final=401, stale=True)
    # A stale=true 401 answers the retry; the case puts stale on the first challenge, so build
    # the retry's answer by hand: the last response is the stale one.
    wires = case.wires()
    from tests.rules.sipbuild import response as make_response

    retry = wires[2].text
    stale = make_response(
        retry, 401, "Unauthorized",
        headers=[f'WWW-Authenticate: Digest realm="{REALM}", nonce="fresh", stale=true'],
    )  # fmt: skip
    wires[3] = type(wires[3])(stale, wires[3].src, wires[3].dst, wires[3].time)
    from tests.rules.sipbuild import correlation

    found = verify_correlation(correlation(wires), (ALICE,))
    result = found[("test.pcap", 3)]
    assert result.verdict is Verdict.STALE_NONCE
    assert "stale=true" in result.detail


def test_right_password_with_an_older_nonce_is_stale_nonce() -> None:
    from tests.rules.sipbuild import UAC, UAS, Wire, correlation, request, response

    first = request("REGISTER", cseq=1, branch="b1", uri=URI)
    challenge = f'WWW-Authenticate: Digest realm="{REALM}", nonce="old"'
    wrong = authorization(nonce="old", response_hash=digest(nonce="old", password="nope"))
    second = request(
        "REGISTER", cseq=2, branch="b2", uri=URI, headers=[f"Authorization: {wrong}"]
    )  # fmt: skip
    rechallenge = f'WWW-Authenticate: Digest realm="{REALM}", nonce="new"'
    third = request(
        "REGISTER", cseq=3, branch="b3", uri=URI,
        headers=[f"Authorization: {authorization(nonce='old', response_hash=digest(nonce='old'))}"],
    )  # fmt: skip
    wires = [
        Wire(first, UAC, UAS, 0.0),
        Wire(response(first, 401, "Unauthorized", headers=[challenge]), UAS, UAC, 0.01),
        Wire(second, UAC, UAS, 0.02),
        Wire(response(second, 401, "Unauthorized", headers=[rechallenge]), UAS, UAC, 0.03),
        Wire(third, UAC, UAS, 0.04),
        Wire(response(third, 401, "Unauthorized", headers=[rechallenge]), UAS, UAC, 0.05),
    ]
    found = verify_correlation(correlation(wires), (ALICE,))
    assert found[("test.pcap", 3)].verdict is Verdict.WRONG_PASSWORD
    result = found[("test.pcap", 5)]
    assert result.verdict is Verdict.STALE_NONCE
    assert "frame 4" in result.detail


@pytest.mark.parametrize(
    ("typed", "variant"),
    [
        ("s3cret ", "a trailing space"),
        (" s3cret", "a leading space"),
        ("s3cret\n", "a trailing newline"),
        ("s3cret\t", "a trailing tab"),
        ("S3CRET", "all upper case"),
        ("S3cret", "the first letter capitalised"),
    ],
)
def test_near_miss_names_the_variant(typed: str, variant: str) -> None:
    case = Case(authorization(response_hash=digest(password=typed)), final=403)
    result = verdict_of(case)
    assert result.verdict is Verdict.NEAR_MISS
    assert result.variant == variant
    assert variant in result.detail
    assert typed.strip() not in result.detail


def test_near_miss_swapped_case_and_typographic_quotes() -> None:
    known = KnownCredential("alice", REALM, password="Pa\"ss'word")
    caps = Case(authorization(response_hash=digest(password="pA\"SS'WORD")), final=403)
    assert verdict_of(caps, known).variant == "letter case inverted (Caps Lock)"
    curly = Case(authorization(response_hash=digest(password="Pa\u201css\u2019word")), final=403)
    assert verdict_of(curly, known).variant == "apostrophes replaced by typographic ones"
    paired = Case(authorization(response_hash=digest(password="Pa\u201css\u2018word")), final=403)
    assert verdict_of(paired, known).variant == "straight quotes replaced by typographic ones"
    typographic = KnownCredential("alice", REALM, password="it\u2019s")
    straight = Case(authorization(response_hash=digest(password="it's")), final=403)
    assert verdict_of(straight, typographic).variant == (
        "typographic quotes replaced by straight ones"
    )


def test_near_miss_variants_never_repeat_or_include_the_password() -> None:
    names = dict(near_miss_variants("abc"))
    texts = [text for _, text in near_miss_variants("abc")]
    assert "abc" not in texts and len(texts) == len(set(texts))
    assert "a trailing space" in names


def test_ha1_credential_verifies_and_cannot_give_near_misses() -> None:
    ha1 = h("MD5", f"alice:{REALM}:s3cret")
    known = KnownCredential("alice", REALM, ha1=ha1)
    assert verdict_of(Case(authorization(response_hash=digest())), known).verdict is (
        Verdict.VERIFIED
    )
    wrong = verdict_of(Case(authorization(response_hash=digest(password="s3cret ")), 403), known)
    assert wrong.verdict is Verdict.WRONG_PASSWORD
    assert "HA1" in wrong.detail


def test_ha1_with_session_algorithm() -> None:
    ha1 = h("SHA-256", f"alice:{REALM}:s3cret")
    response_hash = digest(algorithm="SHA-256-sess", qop="auth")
    header = authorization(response_hash=response_hash, algorithm="SHA-256-sess", qop="auth")
    known = KnownCredential("alice", REALM, ha1=ha1)
    assert verdict_of(Case(header), known).verdict is Verdict.VERIFIED


def test_refused_although_correct_says_the_server_differs() -> None:
    result = verdict_of(Case(authorization(response_hash=digest()), final=403))
    assert result.verdict is Verdict.VERIFIED
    assert "still refused" in result.detail


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f'Digest username="alice", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
         'response="00", algorithm=AKAv1-MD5', "AKA"),
        (f'Digest username="alice", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
         'response="00", algorithm=SHA-1', "unsupported"),
        (f'Digest username="alice", realm="{REALM}", nonce="{NONCE}", uri="{URI}"', "response"),
        (f'Digest username="alice", realm="{REALM}", uri="{URI}", response="00"', "nonce"),
        (f'Digest username="alice", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
         'response="00", qop=auth', "nc and cnonce"),
        (f'Digest username="alice", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
         f'response="00", algorithm=MD5-sess', "cnonce"),
    ],
)  # fmt: skip
def test_unverifiable_says_why(header: str, reason: str) -> None:
    result = verdict_of(Case(header, final=403))
    assert result.verdict is Verdict.UNVERIFIABLE
    assert reason in result.detail


def test_qop_without_nc_cnonce_still_says_whether_the_password_was_right() -> None:
    # sipvicious 0.3.3: qop=auth written, RFC 2069 arithmetic used.
    header = (
        f'Digest username="alice", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
        f'response="{digest()}", qop=auth'
    )
    result = verdict_of(Case(header, final=401))
    assert result.verdict is Verdict.UNVERIFIABLE
    assert 'matches the known password for "alice"' in result.detail


def test_any_username_password_from_the_environment() -> None:
    anyone = KnownCredential(None, password="s3cret")
    case = Case(
        authorization(username="trunk7", response_hash=digest(username="trunk7")), final=200
    )
    assert verdict_of(case, anyone).verdict is Verdict.VERIFIED


def test_ack_copying_the_invites_credentials_verifies_with_invite() -> None:
    from tests.rules.sipbuild import UAC, UAS, Wire, correlation, request, response

    uri = "sip:bob@198.51.100.20"
    invite = request("INVITE", cseq=1, branch="i1", uri=uri, call_id="c1")
    challenge = f'Proxy-Authenticate: Digest realm="{REALM}", nonce="{NONCE}"'
    creds = authorization(uri=uri, response_hash=digest(method="INVITE", uri=uri))
    retry = request(
        "INVITE", cseq=2, branch="i2", uri=uri, call_id="c1",
        headers=[f"Proxy-Authorization: {creds}"],
    )  # fmt: skip
    ok = response(retry, 200, "OK")
    ack = request(
        "ACK", cseq=2, branch="i3", uri=uri, call_id="c1",
        headers=[f"Proxy-Authorization: {creds}"],
    )  # fmt: skip
    wires = [
        Wire(invite, UAC, UAS, 0.0),
        Wire(response(invite, 407, "Proxy Auth Required", headers=[challenge]), UAS, UAC, 0.01),
        Wire(retry, UAC, UAS, 0.02),
        Wire(ok, UAS, UAC, 0.03),
        Wire(ack, UAC, UAS, 0.04),
    ]  # fmt: skip
    found = verify_correlation(correlation(wires), (ALICE,))
    assert found[("test.pcap", 3)].verdict is Verdict.VERIFIED
    assert ("test.pcap", 5) in found  # the 2xx ACK, matched to the INVITE by correlation
    ack_result = found[("test.pcap", 5)]
    assert ack_result.verdict is Verdict.VERIFIED
    assert "method INVITE" in ack_result.detail


def test_no_known_credentials_means_no_verdicts() -> None:
    assert verify_correlation(Case(authorization(response_hash=digest())).correlation(), ()) == {}


def test_request_limit_is_a_note() -> None:
    from sipauth_analyzer.primitives import NoteSink
    from sipauth_analyzer.verify.model import VerifyOptions

    sink = NoteSink()
    found = verify_correlation(
        Case(authorization(response_hash=digest())).correlation(),
        (ALICE,),
        VerifyOptions(max_requests=0),
        sink,
    )
    assert found == {}
    assert [n.kind for n in sink.notes] == ["verify-limited"]


def test_cnonce_constant_is_used() -> None:
    assert CNONCE in authorization(response_hash="0", qop="auth")
