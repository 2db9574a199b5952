"""The digest parser's plain fast path in C (sip/_digest.c) against the Python one it replaces.

``digest.python_plain_fields`` is the reference. Both must accept the same values and give the
same scheme, scheme position and fields (by lower-case name, in header order), and decline the
same values, on every auth header of every capture we have, on crafted edge cases of the
grammar, and on generated values shaped like the common case and then mutated.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.sip import digest
from sipauth_analyzer.sip.digest import PlainFields, python_plain_fields
from sipauth_analyzer.sip.message import SipMessage, parse_message
from tests.conftest import every_capture, needs_c_function, optional_c_function
from tests.sip.test_fuzz_sip import AUTH_ALPHABET, FUZZ, fast_path_candidates

native: PlainFields | None = optional_c_function("sipauth_analyzer.sip._digest", "plain_fields")
pytestmark = needs_c_function(
    native, "sip/_digest.c", "the digest parser runs its Python fast path alone"
)

AUTH_HEADERS = ("www-authenticate", "proxy-authenticate", "authorization",
                "proxy-authorization", "authentication-info")


def _same(value: str) -> None:
    assert native is not None
    for params_only in (False, True):
        got = native(value, params_only)
        want = python_plain_fields(value, params_only)
        assert got == want, (value, params_only)
        if got is not None and want is not None:
            assert list(got[2]) == list(want[2]), value  # header order, not only equal dicts


def _capture_values() -> Iterator[str]:
    for path in every_capture():
        for captured in read_messages([str(path)], CaptureOptions(), NoteSink(), CaptureStats()):
            message = parse_message(captured)
            if isinstance(message, SipMessage):
                for name in AUTH_HEADERS:
                    yield from message.header(name)


def test_the_module_uses_the_c_path_when_it_is_built() -> None:
    assert digest.plain_fields is native


def test_every_auth_header_of_every_capture() -> None:
    values = list(_capture_values())
    assert len(values) > 100  # the sample captures alone hold several hundred
    accepted = 0
    for value in values:
        _same(value)
        accepted += python_plain_fields(value, False) is not None
    assert accepted > len(values) // 2  # the common case is the fast path's


CRAFTED = [
    'Digest realm="a", nonce="b"',
    'Digest realm="a",nonce="b",algorithm=MD5,qop="auth,auth-int"',
    '  \tDigest \t realm = "a" \t, \tnonce=b \t',
    'Digest realm=""',  # an empty quoted-string is a value
    'Digest realm="a", nonce="b",',  # a trailing comma
    'Digest realm="a" nonce="b"',  # no comma
    'Digest realm="a", REALM="b"',  # a name twice, in another case
    'Digest Realm="A", NONCE="b"',  # names lower-cased, values kept
    'Digest realm="a\\"b"',  # a backslash is plain text on this path
    'Digest realm="unterminated',
    'Digest realm=a"b',
    'Digest realm=',
    'Digest =a',
    "Digest",
    "Digest ",
    'Digest\trealm="a"',
    'Digest\r\nrealm="a"',
    'Digest realm="a"\r\n',
    'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==',  # token68
    "Basic a==, b=c",
    "Foo a==,b=c",  # parameters that also read as a token68 then a comma
    "Foo a=b",
    "Foo a= =",
    'Digest uri=sip:alice@example.com;transport=udp, nc=00000001',
    'Digest realm=a\xa0b',  # NO-BREAK SPACE ends a bare value (Unicode whitespace)
    'Digest realm=a\u2003',
    'Digest realm=a\x1cb',  # so do the information separators, for str.isspace()
    'Digest realm="é中", nonce=\U0001f600',
    'Digeşt realm="a"',  # a scheme of non-tchars
    'Digest réalm="a"',
    'Digest realm="a", , nonce="b"',
    "realm=\"a\", nonce=b",  # the Authentication-Info shape
    "nextnonce=\"n\", qop=auth, rspauth=\"r\", cnonce=\"c\", nc=00000001",
    "",
    " ",
    ",",
    "\x00",
    'Digest a=b\x00',
]


@pytest.mark.parametrize("value", CRAFTED)
def test_crafted_edges_of_the_grammar(value: str) -> None:
    _same(value)


@FUZZ
@given(st.one_of(fast_path_candidates(), st.text(AUTH_ALPHABET, max_size=200), st.text()))
def test_generated_values(value: str) -> None:
    _same(value)
