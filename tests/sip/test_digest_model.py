"""Challenge / Credentials as built by sip/digest.py: compact, yet what callers see is unchanged.

The parser's fast path leaves ``params`` to be derived from ``raw`` on access and shares one
string object per repeated field value; these tests pin that the derived parameters are the
scanner's, that the objects keep frozen-dataclass value semantics, that the sharing table stays
bounded, and that the objects stay small (the point of the design).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipauth_analyzer.sip import digest
from sipauth_analyzer.sip.digest import (
    MAX_SHARED_VALUE_LENGTH,
    MAX_SHARED_VALUES,
    _fast_fields,
    _ProblemLog,
    _scan_items,
    params_of_fast_path_value,
    parse_challenges,
    parse_credentials,
)
from sipauth_analyzer.sip.model import AuthHeader, Challenge, Credentials, ParseProblem
from tests.sip.test_fuzz_sip import AUTH_ALPHABET, FUZZ, fast_path_candidates

WWW = AuthHeader.WWW_AUTHENTICATE
AUTHZ = AuthHeader.AUTHORIZATION

# Shaped like the storm's retries (bench/generate.py) and the sample captures.
CREDENTIALS_VALUE = (
    'Digest username="1941", realm="pbx.example.net", nonce="3d2d64902744f05ff987726e314c51d9",'
    ' uri="sip:pbx.example.net", response="45f41b26e6019aa0ef5e43dc872e5a98", algorithm=MD5,'
    ' cnonce="6feb835c", qop=auth, nc=00000001'
)
CHALLENGE_VALUE = (
    'Digest realm="pbx.example.net", nonce="3d2d64902744f05ff987726e314c51d9", algorithm=MD5,'
    ' qop="auth"'
)

CHALLENGE_FIELDS = {
    "realm": "realm",
    "nonce": "nonce",
    "opaque": "opaque",
    "algorithm": "algorithm",
    "domain": "domain",
}
CREDENTIALS_FIELDS = {
    "username": "username",
    "realm": "realm",
    "nonce": "nonce",
    "uri": "uri",
    "response": "response",
    "algorithm": "algorithm",
    "cnonce": "cnonce",
    "opaque": "opaque",
    "qop": "qop",
    "nc": "nc",
}


def _scanned(value: str) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    """(scheme, params, raw) of every scheme in ``value`` by the general scanner alone."""
    items = _scan_items(value, _ProblemLog([], "test"), params_only=False)
    return [(item.scheme, item.params, value[item.start : item.end]) for item in items]


@FUZZ
@given(st.one_of(fast_path_candidates(), st.text(AUTH_ALPHABET, max_size=200)))
def test_params_and_fields_are_what_the_scanner_finds(value: str) -> None:
    expected = _scanned(value)
    challenges = parse_challenges(WWW, value, [])
    credentials = parse_credentials(AUTHZ, value, [])
    assert [(c.scheme, c.params, c.raw) for c in challenges] == expected
    assert [(c.scheme, c.params, c.raw) for c in credentials] == expected
    for challenge in challenges:
        found = dict(challenge.params)
        for attribute, name in CHALLENGE_FIELDS.items():
            assert getattr(challenge, attribute) == found.get(name)
            assert challenge.param(name.upper()) == found.get(name)
    for creds in credentials:
        found = dict(creds.params)
        for attribute, name in CREDENTIALS_FIELDS.items():
            assert getattr(creds, attribute) == found.get(name)


@FUZZ
@given(fast_path_candidates())
def test_the_fast_path_raw_gives_back_the_same_params(value: str) -> None:
    fast = _fast_fields(value, False)
    if fast is None:
        return
    [challenge] = parse_challenges(WWW, value, [])
    assert params_of_fast_path_value(challenge.raw) == tuple(fast[2].items())


def test_params_of_a_value_the_fast_path_declines_come_from_the_scanner() -> None:
    value = 'Digest realm="a", realm="b", nonce'
    assert _fast_fields(value, False) is None
    assert params_of_fast_path_value(value) == (("realm", "a"), ("nonce", ""))
    assert params_of_fast_path_value("") == ()


def test_a_parsed_object_equals_one_built_by_the_constructor() -> None:
    [parsed] = parse_challenges(WWW, CHALLENGE_VALUE, [])
    built = Challenge(
        header=WWW,
        scheme="Digest",
        params=(
            ("realm", "pbx.example.net"),
            ("nonce", "3d2d64902744f05ff987726e314c51d9"),
            ("algorithm", "MD5"),
            ("qop", "auth"),
        ),
        raw=CHALLENGE_VALUE,
        realm="pbx.example.net",
        nonce="3d2d64902744f05ff987726e314c51d9",
        algorithm="MD5",
        qop_options=("auth",),
    )
    assert parsed == built
    assert hash(parsed) == hash(built)
    assert repr(parsed) == repr(built)
    assert repr(parsed).startswith(
        "Challenge(header=<AuthHeader.WWW_AUTHENTICATE: 'WWW-Authenticate'>, scheme='Digest', "
        "params=(('realm', 'pbx.example.net'), "
    )
    assert parsed != Challenge(WWW, "Basic", (), "")
    assert type(parsed) is Challenge


def test_credentials_keep_value_semantics_and_stay_frozen() -> None:
    [creds] = parse_credentials(AUTHZ, CREDENTIALS_VALUE, [])
    assert type(creds) is Credentials
    assert copy.copy(creds) == creds
    assert copy.deepcopy(creds) == creds
    assert len({creds, copy.deepcopy(creds)}) == 1
    assert creds != parse_credentials(AUTHZ, CREDENTIALS_VALUE.replace("1941", "1942"), [])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.realm = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del creds.nonce
    match creds:
        case Credentials(AuthHeader.AUTHORIZATION, "Digest", _, _, "1941", "pbx.example.net"):
            pass
        case _:
            pytest.fail("positional match on the constructor's field order failed")


def test_repeated_values_share_one_string_object() -> None:
    digest._SHARED_VALUES.clear()  # so that no refill can fall between the parses below
    first = parse_credentials(AUTHZ, CREDENTIALS_VALUE, [])[0]
    again = parse_credentials(AUTHZ, CREDENTIALS_VALUE.replace("6feb835c", "0a4f113b"), [])[0]
    [challenge] = parse_challenges(WWW, CHALLENGE_VALUE, [])
    for name in ("scheme", "username", "realm", "nonce", "uri", "algorithm", "qop", "nc"):
        assert getattr(first, name) is getattr(again, name), name
    # The retry carries the challenge's nonce: one string for both.
    assert challenge.nonce is first.nonce
    assert challenge.realm is first.realm
    # Unique per request, so never entered in the table.
    assert first.response not in digest._SHARED_VALUES
    assert first.cnonce not in digest._SHARED_VALUES


def test_the_sharing_table_stays_bounded() -> None:
    for number in range(MAX_SHARED_VALUES + 50):
        parse_challenges(WWW, f'Digest realm="realm-{number}", nonce="n{number}"', [])
        assert len(digest._SHARED_VALUES) <= MAX_SHARED_VALUES
    huge = "x" * (MAX_SHARED_VALUE_LENGTH + 1)
    [challenge] = parse_challenges(WWW, f'Digest realm="{huge}"', [])
    assert challenge.realm == huge
    assert huge not in digest._SHARED_VALUES
    for number in range(digest.MAX_SHARED_QOP_LISTS + 5):
        [challenge] = parse_challenges(WWW, f'Digest realm="r", qop="auth,x{number}"', [])
        assert challenge.qop_options == ("auth", f"x{number}")
        assert len(digest._QOP_OPTIONS) <= digest.MAX_SHARED_QOP_LISTS


def test_problems_are_still_reported_on_the_scanner_path() -> None:
    problems: list[ParseProblem] = []
    [challenge] = parse_challenges(WWW, 'Digest realm="a", realm="b", stale', problems)
    assert [problem.kind for problem in problems] == [
        "auth-duplicate-param",
        "auth-param-without-value",
    ]
    assert challenge.params == (("realm", "a"), ("stale", ""))
    assert challenge.realm == "a"


def _retained_bytes_per_object(values: list[str], parse: object) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [parse(value) for value in values]  # type: ignore[operator]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == len(values)
    return (after - before) / len(values)


def test_parsed_objects_stay_small() -> None:
    """Per object, with every value unique as in a storm (a new nonce per challenge): the
    eager layout this replaced kept ~1,900 bytes per credentials and ~1,000 per challenge."""
    count = 2000
    credentials_values = [
        CREDENTIALS_VALUE.replace("3d2d6490", f"{n:08x}").replace("45f41b26", f"{n:08x}")
        for n in range(count)
    ]
    challenge_values = [CHALLENGE_VALUE.replace("3d2d6490", f"{n:08x}") for n in range(count)]
    per_credentials = _retained_bytes_per_object(
        credentials_values, lambda value: parse_credentials(AUTHZ, value, [])
    )
    per_challenge = _retained_bytes_per_object(
        challenge_values, lambda value: parse_challenges(WWW, value, [])
    )
    # Each includes the 1-item result list (~64 bytes) and its unique values: the object, the
    # nonce, the response, the cnonce.
    assert per_credentials < 700
    assert per_challenge < 450
