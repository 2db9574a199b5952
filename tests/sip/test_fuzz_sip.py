"""Property tests of the SIP stage (Hypothesis): never raise, round-trip, consistent lookups.

Deterministic by default (``derandomize=True``) so ``make test`` is repeatable and bounded; a
long campaign raises the number of examples with ``SIPAUTH_FUZZ_EXAMPLES=100000``.
"""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipauth_analyzer.sip.digest import (
    _escaped_fields,
    _fast_items,
    _ProblemLog,
    _scan_items,
    parse_authentication_info,
    parse_challenges,
    parse_credentials,
    python_plain_fields,
)
from sipauth_analyzer.sip.grammar import header_param, name_addr_uri, parse_cseq, split_commas
from sipauth_analyzer.sip.message import COMPACT_FORMS, SipMessage
from sipauth_analyzer.sip.model import AuthHeader, ParseProblem
from sipauth_analyzer.sip.parser import parse
from tests.sip.helpers import REAL_SIP_FILES, _payloads, captured, crlf

FUZZ_EXAMPLES = int(os.environ.get("SIPAUTH_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEED_MESSAGES: list[bytes] = [
    crlf(
        "INVITE sip:bob@biloxi.com SIP/2.0",
        "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
        "v: SIP/2.0/TCP proxy.example;branch=z9hG4bK2, SIP/2.0/UDP x;branch=3",
        'From: "Alice" <sip:alice@atlanta.com>;tag=1928301774',
        "t: Bob <sip:bob@biloxi.com>",
        "i: a84b4c76e66710",
        "CSeq: 314159 INVITE",
        'Proxy-Authorization: Digest username="alice", realm="atlanta.com",',
        ' nonce="wf84f1ce", uri="sip:bob@biloxi.com", response="42ce3cef", qop=auth,',
        '\tnc=00000001, cnonce="0a4f113b", algorithm=MD5',
        "l: 4",
        body="v=0\r",
    ).encode(),
    crlf(
        "SIP/2.0 401 Unauthorized",
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=5060",
        "From: <sip:u@r>;tag=a",
        "To: <sip:u@r>;tag=b",
        "Call-ID: x@y",
        "CSeq: 1 REGISTER",
        'WWW-Authenticate: Digest realm="r", nonce="1", algorithm=SHA-256, qop="auth,auth-int",'
        ' Digest realm="r", nonce="2", algorithm=MD5, stale=TRUE',
        'Proxy-Authenticate: Basic realm="b", Newauth realm="n", title="a \\"b\\""',
        "Content-Length: 0",
    ).encode(),
]


def _seed_messages() -> list[bytes]:
    """Seeds plus every real SIP payload available (none when the captures are absent)."""
    seeds = list(SEED_MESSAGES)
    for relative in REAL_SIP_FILES:
        seeds.extend(_payloads(relative, "sip and udp"))
    return seeds


SEEDS = _seed_messages()


def _exercise(result: SipMessage | ParseProblem) -> None:
    """Touch every lazy property: none of them may raise either."""
    if isinstance(result, ParseProblem):
        assert result.kind and "\n" not in result.detail
        return
    _ = (
        result.call_id,
        result.cseq,
        result.cseq_number,
        result.cseq_method,
        result.from_tag,
        result.to_tag,
        result.from_uri,
        result.to_uri,
        result.top_via_branch,
        result.user_agent,
        result.summary,
        result.challenges,
        result.credentials,
        result.header_values("via"),
        result.header_values("contact"),
    )
    for values in result.headers.values():
        assert all(isinstance(value, str) for value in values)
    for problem in result.problems:
        assert problem.kind


@FUZZ
@given(st.binary(max_size=3000))
def test_parse_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    _exercise(parse(captured(data)))


OPERATIONS = ("flip", "insert", "delete", "duplicate", "truncate", "special")
# Bytes that matter to the grammar: inserting them breaks quoting, folding and framing.
SPECIAL_BYTES = (
    b'"',
    b"\\",
    b",",
    b";",
    b"<",
    b">",
    b"=",
    b":",
    b"\r\n",
    b"\n",
    b"\r\n ",
    b"\x00",
    b"\xff",
    b"Digest ",
)


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(OPERATIONS))
        if operation == "flip":
            data[position] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=20))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif operation == "duplicate":
            data[position:position] = data[position : position + draw(st.integers(1, 200))]
        elif operation == "truncate":
            del data[position:]
        else:
            token = draw(st.sampled_from(SPECIAL_BYTES))
            data[position:position] = token
    return bytes(data)


@FUZZ
@given(mutated_messages())
def test_parse_never_raises_on_mutated_messages(data: bytes) -> None:
    _exercise(parse(captured(data)))


AUTH_ALPHABET = st.sampled_from(list('Digest realm="nonce",=\\ \t;:<>/+~\r\n\x00é'))


@FUZZ
@given(st.one_of(st.text(max_size=300), st.text(AUTH_ALPHABET, max_size=300)))
def test_auth_parsers_never_raise(value: str) -> None:
    problems: list[ParseProblem] = []
    for kind in AuthHeader:
        for challenge in parse_challenges(kind, value, problems):
            assert challenge.raw in value
        for credentials in parse_credentials(kind, value, problems):
            assert credentials.raw in value
    parse_authentication_info(value, problems)
    assert all(problem.kind.startswith("auth-") for problem in problems)


@FUZZ
@given(st.one_of(st.text(max_size=300), st.text(AUTH_ALPHABET, max_size=300)))
def test_grammar_never_raises(value: str) -> None:
    split_commas(value)
    header_param(value, "tag")
    name_addr_uri(value)
    parse_cseq(value)


TOKEN = st.text(string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=12)
PARAM_NAME = TOKEN.map(str.lower)
# quoted-string content (RFC 7230 §3.2.6 qdtext / quoted-pair): anything printable, no CR/LF.
QUOTED_VALUE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
SCHEME = TOKEN.filter(
    lambda t: (
        t.lower()
        not in {
            "realm",
            "nonce",
            "opaque",
            "algorithm",
            "qop",
            "stale",
            "domain",
            "charset",
            "userhash",
            "username",
            "uri",
            "response",
            "cnonce",
            "nc",
            "nextnonce",
            "rspauth",
        }
    )
)


BARE_VALUE_CHARS = frozenset(string.ascii_letters + string.digits + "-._~+/")


def _render_value(value: str, quote: bool) -> str:
    if quote or not value or any(c not in BARE_VALUE_CHARS for c in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


@st.composite
def rendered_challenges(draw: st.DrawFn) -> tuple[list[tuple[str, list[tuple[str, str]]]], str]:
    items = []
    texts = []
    for _ in range(draw(st.integers(1, 3))):
        scheme = draw(SCHEME)
        params = list(draw(st.dictionaries(PARAM_NAME, QUOTED_VALUE, max_size=6)).items())
        rendered = []
        for name, value in params:
            around = draw(st.sampled_from(["", " ", "\t "]))
            rendered.append(f"{name}{around}={around}{_render_value(value, draw(st.booleans()))}")
        separator = draw(st.sampled_from([", ", ",", " ,  "]))
        texts.append(f"{scheme} {separator.join(rendered)}" if rendered else scheme)
        items.append((scheme, params))
    return items, ", ".join(texts)


@FUZZ
@given(rendered_challenges())
def test_auth_params_round_trip(case: tuple[list[tuple[str, list[tuple[str, str]]]], str]) -> None:
    expected, text = case
    problems: list[ParseProblem] = []
    parsed = parse_challenges(AuthHeader.WWW_AUTHENTICATE, text, problems)
    assert problems == []
    assert [(c.scheme, list(c.params)) for c in parsed] == expected
    credentials = parse_credentials(AuthHeader.AUTHORIZATION, text, problems)
    assert [(c.scheme, list(c.params)) for c in credentials] == expected
    assert problems == []


KNOWN_NAMES = sorted(
    set(COMPACT_FORMS)
    | set(COMPACT_FORMS.values())
    | {
        "max-forwards",
        "user-agent",
        "www-authenticate",
        "proxy-authorization",
        "x-custom",
    }
)
HEADER_NAME = st.one_of(st.sampled_from(KNOWN_NAMES), TOKEN).flatmap(
    lambda name: st.sampled_from([name, name.upper(), name.title()])
)
HEADER_VALUE = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029\x85"),
    max_size=40,
)


@FUZZ
@given(st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=25))
def test_header_lookups_are_consistent(lines: list[tuple[str, str]]) -> None:
    text = crlf("OPTIONS sip:x@y SIP/2.0", *[f"{name}: {value}" for name, value in lines])
    message = parse(captured(text))
    assert isinstance(message, SipMessage)
    expected: dict[str, list[str]] = {}
    for name, value in lines:
        key = COMPACT_FORMS.get(name.lower(), name.lower())
        expected.setdefault(key, []).append(value.strip())
    assert message.headers == expected
    reverse = {full: compact for compact, full in COMPACT_FORMS.items()}
    for key, values in message.headers.items():
        assert message.header(key) == values
        assert message.header(key.upper()) == values
        if key in reverse:
            assert message.header(reverse[key]) == values
            assert message.header(reverse[key].upper()) == values


@st.composite
def fast_path_candidates(draw: st.DrawFn) -> str:
    """Values shaped like the common case (so the fast path is taken), sometimes mutated."""
    _, text = draw(rendered_challenges())
    if draw(st.booleans()):
        text = text.split(" ", 1)[-1]  # drop the scheme: an Authentication-Info shape
    if draw(st.booleans()) and text:
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.text(AUTH_ALPHABET, max_size=3)) + text[position:]
    return text


@FUZZ
@given(st.one_of(fast_path_candidates(), st.text(AUTH_ALPHABET, max_size=200)))
def test_both_fast_paths_agree_without_a_backslash(value: str) -> None:
    # python_plain_fields takes every value without a backslash; _escaped_fields, the general fast
    # path, must give the same answer there (accept or decline alike), or the split changed it.
    value = value.replace("\\", "")
    for params_only in (False, True):
        assert python_plain_fields(value, params_only) == _escaped_fields(value, params_only)


@FUZZ
@given(st.one_of(fast_path_candidates(), st.text(AUTH_ALPHABET, max_size=200)))
def test_fast_path_agrees_with_scanner(value: str) -> None:
    for params_only in (False, True):
        fast = _fast_items(value, params_only)
        if fast is None:
            continue
        problems: list[ParseProblem] = []
        scanned = _scan_items(value, _ProblemLog(problems, "test"), params_only=params_only)
        assert scanned == fast
        assert problems == []
