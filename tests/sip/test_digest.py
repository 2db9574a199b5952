"""Tests of sip/digest.py: the auth-header grammar, and the hash arithmetic on published vectors."""

from __future__ import annotations

import hashlib

import pytest

from sipauth_analyzer.sip import digest
from sipauth_analyzer.sip.digest import (
    DigestComputationError,
    UnsupportedAlgorithm,
    compute_ha1,
    compute_ha2,
    compute_response,
    digest_hash,
    is_supported_algorithm,
    parse_authentication_info,
    parse_challenges,
    parse_credentials,
    sha512_256_pure,
    userhash,
)
from sipauth_analyzer.sip.model import AuthHeader, ParseProblem

WWW = AuthHeader.WWW_AUTHENTICATE
PROXY = AuthHeader.PROXY_AUTHENTICATE
AUTHZ = AuthHeader.AUTHORIZATION
PAUTHZ = AuthHeader.PROXY_AUTHORIZATION


def kinds(problems: list[ParseProblem]) -> list[str]:
    return [problem.kind for problem in problems]


class TestChallenges:
    def test_real_huawei_challenge(self) -> None:
        # From ntop_nDPI/sip_hello.pcapng frame 10.
        value = (
            'Digest realm="Huawei",nonce="18c8db501108b585bab3243e2a09509d",'
            'domain="sip:Huawei.com",stale=false,algorithm=MD5'
        )
        problems: list[ParseProblem] = []
        [challenge] = parse_challenges(WWW, value, problems)
        assert problems == []
        assert challenge.header is WWW
        assert challenge.scheme == "Digest"
        assert challenge.realm == "Huawei"
        assert challenge.nonce == "18c8db501108b585bab3243e2a09509d"
        assert challenge.domain == "sip:Huawei.com"
        assert challenge.stale is False
        assert challenge.algorithm == "MD5"
        assert challenge.raw == value
        assert [name for name, _ in challenge.params] == [
            "realm",
            "nonce",
            "domain",
            "stale",
            "algorithm",
        ]

    def test_qop_options_split_and_empty_realm(self) -> None:
        # From sipcapture_heplify/erspan_sip_ipv4_udp.pcapng frame 92.
        value = (
            'Digest realm="", qop="auth,auth-int", nonce="5AF50180964b22b60ebda53920847a3a8ac5a16e"'
        )
        [challenge] = parse_challenges(PROXY, value, [])
        assert challenge.realm == ""
        assert challenge.qop_options == ("auth", "auth-int")
        assert challenge.header is PROXY

    def test_stale_true_any_case_and_quoted(self) -> None:
        assert parse_challenges(WWW, 'Digest nonce="n", stale=TRUE', [])[0].stale
        assert parse_challenges(WWW, 'Digest nonce="n", stale="true"', [])[0].stale
        assert not parse_challenges(WWW, 'Digest nonce="n", stale=yes', [])[0].stale

    def test_several_challenges_in_one_value(self) -> None:
        value = (
            'Digest realm="a", nonce="1", algorithm=SHA-256, '
            'Digest realm="a", nonce="2", algorithm=MD5'
        )
        problems: list[ParseProblem] = []
        first, second = parse_challenges(WWW, value, problems)
        assert problems == []
        assert (first.nonce, first.algorithm) == ("1", "SHA-256")
        assert (second.nonce, second.algorithm) == ("2", "MD5")
        assert first.raw == 'Digest realm="a", nonce="1", algorithm=SHA-256'
        assert second.raw == 'Digest realm="a", nonce="2", algorithm=MD5'

    def test_mixed_schemes_with_token68(self) -> None:
        value = 'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'
        newauth, basic = parse_challenges(WWW, value, [])
        assert newauth.scheme == "Newauth"
        assert newauth.param("title") == 'Login to "apps"'
        assert newauth.param("TYPE") == "1"
        assert basic.scheme == "Basic"
        assert basic.realm == "simple"

    def test_scheme_without_params(self) -> None:
        [challenge] = parse_challenges(WWW, "Digest", [])
        assert challenge.scheme == "Digest"
        assert challenge.params == ()

    def test_bws_around_equals_and_case_insensitive_names(self) -> None:
        [challenge] = parse_challenges(WWW, 'digest REALM = "r" ,  Nonce= abc', [])
        assert challenge.scheme == "digest"
        assert challenge.realm == "r"
        assert challenge.nonce == "abc"

    def test_escapes_in_quoted_string(self) -> None:
        [challenge] = parse_challenges(WWW, r'Digest realm="a\"b\\c\d", nonce="n"', [])
        assert challenge.realm == 'a"b\\cd'
        assert challenge.nonce == "n"

    def test_comma_inside_quoted_value(self) -> None:
        [challenge] = parse_challenges(WWW, 'Digest realm="x, Digest y", nonce="n"', [])
        assert challenge.realm == "x, Digest y"

    def test_duplicate_param_first_wins(self) -> None:
        problems: list[ParseProblem] = []
        [challenge] = parse_challenges(WWW, 'Digest nonce="first", NONCE="second"', problems)
        assert challenge.nonce == "first"
        assert kinds(problems) == ["auth-duplicate-param"]
        assert "nonce" in problems[0].detail
        assert problems[0].detail.startswith("WWW-Authenticate")

    def test_unterminated_quote_best_effort(self) -> None:
        problems: list[ParseProblem] = []
        [challenge] = parse_challenges(WWW, 'Digest realm="r", nonce="abc', problems)
        assert challenge.realm == "r"
        assert challenge.nonce == "abc"
        assert kinds(problems) == ["auth-unterminated-quote"]

    def test_params_before_scheme(self) -> None:
        problems: list[ParseProblem] = []
        [challenge] = parse_challenges(WWW, 'realm="r", nonce="n"', problems)
        assert challenge.scheme == ""
        assert challenge.realm == "r"
        assert kinds(problems) == ["auth-missing-scheme"]

    def test_bare_digest_param_is_not_a_new_scheme(self) -> None:
        problems: list[ParseProblem] = []
        [challenge] = parse_challenges(WWW, 'Digest realm="r", stale, nonce="n"', problems)
        assert challenge.nonce == "n"
        assert challenge.param("stale") == ""
        assert kinds(problems) == ["auth-param-without-value"]

    def test_junk_is_reported_and_skipped(self) -> None:
        problems: list[ParseProblem] = []
        [challenge] = parse_challenges(WWW, 'Digest realm="r" junk, @@@, nonce="n"', problems)
        assert challenge.realm == "r"
        assert challenge.nonce == "n"
        assert kinds(problems) == ["auth-syntax", "auth-syntax"]

    def test_problem_count_is_bounded(self) -> None:
        problems: list[ParseProblem] = []
        parse_challenges(WWW, "Digest " + ", ".join(['nonce="x"'] * 500), problems)
        assert len(problems) == digest.MAX_PROBLEMS_PER_VALUE

    def test_empty_value(self) -> None:
        assert parse_challenges(WWW, "", []) == []
        assert parse_challenges(WWW, " , ,", []) == []


class TestCredentials:
    def test_real_rfc2069_style(self) -> None:
        # From OISF_suricata-verify/sip-method__sip.pcap frame 346.
        value = (
            'Digest username="voi18062",realm="sip.cybercity.dk",uri="sip:192.168.1.2",'
            'nonce="1701b4767d49c41117c7b73a255a353",opaque="1701a1351f70795",nc="00000001",'
            'response="8258d3744c08b75f7af46cd0f1762510"'
        )
        problems: list[ParseProblem] = []
        [creds] = parse_credentials(PAUTHZ, value, problems)
        assert problems == []
        assert creds.header is PAUTHZ
        assert creds.username == "voi18062"
        assert creds.realm == "sip.cybercity.dk"
        assert creds.uri == "sip:192.168.1.2"
        assert creds.nonce == "1701b4767d49c41117c7b73a255a353"
        assert creds.opaque == "1701a1351f70795"
        assert creds.nc == "00000001"
        assert creds.response == "8258d3744c08b75f7af46cd0f1762510"
        assert creds.qop is None and creds.cnonce is None and creds.algorithm is None

    def test_real_qop_auth_with_unquoted_values(self) -> None:
        # From sipcapture_heplify/erspan_sip_ipv4_udp.pcapng frame 116.
        value = (
            'Digest username="20008909",realm="oxe",nonce="4065792dbf93f51387691da490fe698e",'
            'uri="sip:101.231.48.19:5260;transport=udp",response="efc89fe3d336e36de8de23a1fc0a844f",'
            'algorithm=MD5,cnonce="4ec5579c",qop=auth,nc=00000001'
        )
        [creds] = parse_credentials(PAUTHZ, value, [])
        assert creds.uri == "sip:101.231.48.19:5260;transport=udp"
        assert (creds.algorithm, creds.qop, creds.nc, creds.cnonce) == (
            "MD5",
            "auth",
            "00000001",
            "4ec5579c",
        )

    def test_unquoted_uri_with_semicolons(self) -> None:
        [creds] = parse_credentials(AUTHZ, "Digest uri=sip:a@b;transport=udp, nc=1", [])
        assert creds.uri == "sip:a@b;transport=udp"
        assert creds.nc == "1"

    def test_userhash(self) -> None:
        assert parse_credentials(AUTHZ, 'Digest username="h", userhash=TRUE', [])[0].userhash
        assert not parse_credentials(AUTHZ, 'Digest username="h", userhash=false', [])[0].userhash
        assert not parse_credentials(AUTHZ, 'Digest username="h"', [])[0].userhash

    def test_basic_token68(self) -> None:
        problems: list[ParseProblem] = []
        [creds] = parse_credentials(AUTHZ, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", problems)
        assert problems == []
        assert creds.scheme == "Basic"
        assert creds.params == ()
        assert creds.raw == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="

    def test_bearer_token68_then_digest(self) -> None:
        bearer, dig = parse_credentials(
            AUTHZ, 'Bearer mF_9.B5f-4.1JqM/+~x=, Digest username="u", nonce="n"', []
        )
        assert bearer.scheme == "Bearer"
        assert bearer.raw == "Bearer mF_9.B5f-4.1JqM/+~x="
        assert dig.username == "u"

    def test_credentials_across_lines_via_message(self) -> None:
        from tests.sip.helpers import crlf, parse_ok

        message = parse_ok(
            crlf(
                "INVITE sip:b@example.com SIP/2.0",
                "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
                "From: <sip:a@example.com>;tag=1",
                "To: <sip:b@example.com>",
                "Call-ID: c1",
                "CSeq: 2 INVITE",
                'Proxy-Authorization: Digest username="p1", realm="r1", nonce="n1"',
                'Authorization: Digest username="a1", realm="r2", nonce="n2"',
                'Proxy-Authorization: Digest username="p2", realm="r3", nonce="n3"',
            )
        )
        assert [(c.header, c.username) for c in message.credentials] == [
            (AUTHZ, "a1"),
            (PAUTHZ, "p1"),
            (PAUTHZ, "p2"),
        ]


def test_authentication_info() -> None:
    problems: list[ParseProblem] = []
    info = parse_authentication_info(
        'nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="6629fae4", '
        'cnonce="0a4f113b", NC=00000001',
        problems,
    )
    assert problems == []
    assert info == {
        "nextnonce": "47364c23432d2e131a5fb210812c",
        "qop": "auth",
        "rspauth": "6629fae4",
        "cnonce": "0a4f113b",
        "nc": "00000001",
    }


def test_authentication_info_duplicate_keeps_first() -> None:
    problems: list[ParseProblem] = []
    assert parse_authentication_info('nextnonce="a", nextnonce="b"', problems) == {"nextnonce": "a"}
    assert kinds(problems) == ["auth-duplicate-param"]


# -- hash arithmetic ---------------------------------------------------------------------


def test_rfc2617_section_3_5_vector() -> None:
    ha1 = compute_ha1(None, "Mufasa", "testrealm@host.com", "Circle Of Life")
    ha2 = compute_ha2(None, "GET", "/dir/index.html", "auth")
    response = compute_response(
        "MD5", ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", ha2
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_vectors(algorithm: str, expected: str) -> None:
    ha1 = compute_ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
    ha2 = compute_ha2(algorithm, "GET", "/dir/index.html", "auth")
    response = compute_response(
        algorithm,
        ha1,
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "00000001",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        "auth",
        ha2,
    )
    assert response == expected


RFC7616_392 = {
    "username": "J\u00e4s\u00f8n Doe",
    "realm": "api@example.org",
    "password": "Secret, or not?",
    "nonce": "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
    "cnonce": "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    "uri": "/doe.json",
}


def test_rfc7616_section_3_9_2_sha512_256_matches_erratum_4897() -> None:
    # The values printed in RFC 7616 §3.9.2 (userhash 488869…, response ae66e6…) are wrong:
    # erratum 4897 gives these, which true SHA-512/256 (FIPS 180-4 §5.3.6) produces.
    v = RFC7616_392
    assert userhash("SHA-512-256", v["username"], v["realm"]) == (
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    )
    ha1 = compute_ha1("SHA-512-256", v["username"], v["realm"], v["password"])
    ha2 = compute_ha2("SHA-512-256", "GET", v["uri"], "auth")
    response = compute_response(
        "SHA-512-256", ha1, v["nonce"], "00000001", v["cnonce"], "auth", ha2
    )
    assert response == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"


def test_rfc7616_section_3_9_2_printed_values_are_truncated_sha512() -> None:
    # Why the RFC's values differ: they are SHA-512 cut to 256 bits, not SHA-512/256 (whose
    # initial values differ). Pinning this documents the erratum rather than trusting it.
    v = RFC7616_392

    def truncated(text: str) -> str:
        return hashlib.sha512(text.encode()).hexdigest()[:64]

    assert truncated(f"{v['username']}:{v['realm']}") == (
        "488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec"
    )
    ha1 = truncated(f"{v['username']}:{v['realm']}:{v['password']}")
    ha2 = truncated(f"GET:{v['uri']}")
    assert truncated(f"{ha1}:{v['nonce']}:00000001:{v['cnonce']}:auth:{ha2}") == (
        "ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd"
    )


def test_sip_register_vector_cross_checked_by_hand() -> None:
    # RFC 3261 §22.4 with RFC 2617 qop=auth, values in the style of RFC 3261's examples.
    user, realm, password = "bob", "biloxi.com", "zanzibar"
    nonce, cnonce, nc = "dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b", "00000001"
    method, uri = "REGISTER", "sip:biloxi.com"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1_hand = md5(f"{user}:{realm}:{password}")
    ha2_hand = md5(f"{method}:{uri}")
    ha1 = compute_ha1("MD5", user, realm, password)
    ha2 = compute_ha2("MD5", method, uri, "auth")
    assert (ha1, ha2) == (ha1_hand, ha2_hand)
    assert compute_response("MD5", ha1, nonce, nc, cnonce, "auth", ha2) == md5(
        f"{ha1_hand}:{nonce}:{nc}:{cnonce}:auth:{ha2_hand}"
    )
    # RFC 2069 form (no qop), still the most common in SIP.
    assert compute_response("MD5", ha1, nonce, None, None, None, ha2) == md5(
        f"{ha1_hand}:{nonce}:{ha2_hand}"
    )


def test_sess_and_auth_int_by_hand() -> None:
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    base = sha("alice:atlanta.com:secret")
    assert compute_ha1("sha-256-SESS", "alice", "atlanta.com", "secret", "N", "C") == sha(
        f"{base}:N:C"
    )
    body_hash = hashlib.sha256(body).hexdigest()
    assert compute_ha2("SHA-256", "INVITE", "sip:bob@biloxi.com", "auth-int", body) == sha(
        f"INVITE:sip:bob@biloxi.com:{body_hash}"
    )
    assert compute_ha2("SHA-256", "ACK", "sip:b@c", "auth-int") == sha(
        f"ACK:sip:b@c:{hashlib.sha256(b'').hexdigest()}"
    )


def test_missing_inputs_raise_clear_errors() -> None:
    with pytest.raises(DigestComputationError, match="nonce and cnonce"):
        compute_ha1("MD5-sess", "u", "r", "p")
    with pytest.raises(DigestComputationError, match="nc and cnonce"):
        compute_response("MD5", "h", "n", None, None, "auth", "h2")


@pytest.mark.parametrize("algorithm", ["AKAv1-MD5", "SHA-1", "", "SHA-512", "MD5-sess-sess"])
def test_unsupported_algorithms(algorithm: str) -> None:
    assert not is_supported_algorithm(algorithm)
    with pytest.raises(UnsupportedAlgorithm, match="not supported"):
        digest_hash(algorithm, b"x")


@pytest.mark.parametrize("algorithm", [None, "MD5", "md5", " MD5 ", "MD5-sess", "sha-512-256-Sess"])
def test_supported_algorithm_spellings(algorithm: str | None) -> None:
    assert is_supported_algorithm(algorithm)


def test_digest_hash_algorithms() -> None:
    assert digest_hash(None, b"abc") == hashlib.md5(b"abc").hexdigest()
    assert digest_hash("md5-sess", b"abc") == hashlib.md5(b"abc").hexdigest()
    assert digest_hash("SHA-256", b"abc") == hashlib.sha256(b"abc").hexdigest()
    # FIPS 180-4 example "abc" for SHA-512/256.
    assert digest_hash("SHA-512-256", b"abc") == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


@pytest.mark.parametrize("length", [0, 1, 3, 111, 112, 127, 128, 129, 239, 240, 1000])
def test_pure_sha512_256_fallback_matches_reference(length: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(length))
    try:
        reference = hashlib.new("sha512_256", data).hexdigest()
    except ValueError:
        pytest.skip("this OpenSSL build has no sha512_256 to compare with")
    assert sha512_256_pure(data) == reference


def test_pure_sha512_256_fips_example() -> None:
    # FIPS 180-4 / NIST example: SHA-512/256("abc"); independent of the local OpenSSL.
    assert sha512_256_pure(b"abc") == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


def test_fallback_used_when_openssl_lacks_sha512_256(monkeypatch: pytest.MonkeyPatch) -> None:
    real_new = hashlib.new

    def fake_new(name: str, *args: object, **kwargs: object) -> object:
        if name == "sha512_256":
            raise ValueError("unsupported hash type")
        return real_new(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "new", fake_new)
    implementation = digest._sha512_256_impl()
    assert implementation is sha512_256_pure
    assert implementation(b"abc") == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


@pytest.mark.parametrize(
    "value",
    [
        "Digest " + 'a="x", ' * 20_000,
        "Digest " + "a=b," * 20_000 + " junk junk",
        "Digest " + 'a="' + '\\"' * 30_000,
        "Digest " + '"' * 60_000,
        "Digest " + "x" * 60_000 + "=" * 60_000,
        ", " * 30_000,
        "Basic " + "A" * 60_000 + "=",
        "Digest " + "=" * 60_000,
        " ".join(["Digest"] * 20_000),
    ],
)
def test_hostile_values_stay_linear(value: str) -> None:
    import time

    started = time.perf_counter()
    problems: list[ParseProblem] = []
    parse_challenges(WWW, value, problems)
    parse_credentials(AUTHZ, value, problems)
    parse_authentication_info(value, problems)
    assert time.perf_counter() - started < 2.0
