"""The parser's fast header pass in C (sip/_headers.c) against the Python one it replaces.

``parser.python_fast_headers`` is the reference. Both must give the same names and values (the
same shared string objects), return None for the same heads, and leave the value-sharing table
in the same state, entry for entry and in the same order, on every message we have and on
generated heads full of what the general pass is there for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.sip import parser
from sipauth_analyzer.sip.message import SipMessage, parse_message
from sipauth_analyzer.sip.parser import ANALYSIS_HEADERS, FastHeaders, python_fast_headers
from tests.conftest import SAMPLE_PCAPS_DIR, every_capture, needs_c_function, optional_c_function

native: FastHeaders | None = optional_c_function("sipauth_analyzer.sip._headers", "fast_headers")
pytestmark = needs_c_function(
    native, "sip/_headers.c", "the parser runs its Python header pass alone"
)


def _both(head: str, known: dict[str, str], keep: frozenset[str] | None, shared: dict[str, str],
          max_chars: int, limit: int) -> None:
    """Run both on copies of the tables; results and tables must match exactly."""
    assert native is not None
    c_shared, py_shared = dict(shared), dict(shared)
    got = native(head, known, keep, c_shared, max_chars, limit)
    want = python_fast_headers(head, known, keep, py_shared, max_chars, limit)
    assert got == want, head
    if got is not None and want is not None:
        # The same objects: a shared value is the table's string, not an equal copy.
        assert all(a is c_shared.get(a, a) for a in got[1] if len(a) <= max_chars)
    assert list(c_shared.items()) == list(py_shared.items()), head


def _heads() -> Iterator[str]:
    for path in every_capture():
        for captured in read_messages([str(path)], CaptureOptions(), NoteSink(), CaptureStats()):
            data = captured.data.lstrip(b"\r\n")
            end = data.find(b"\r\n\r\n")
            yield data[: end if end >= 0 else len(data)].decode("latin-1")


def test_every_message_we_have_gets_the_same_headers() -> None:
    heads = list(_heads())
    assert len(heads) > 200
    # Heads the fast pass must hand to the general one, whatever captures are present: a folded
    # line, and a header name never seen before.
    heads += [
        "REGISTER sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n  ;received=h2\r",
        "SIP/2.0 200 OK\r\nCall-ID: x\r\nX-Never-Seen-Before-Header: y\r",
    ]
    known = dict(parser._HEADER_KEYS)  # filled by the parses of earlier tests and of _heads
    for head in heads[:-1]:
        parse_message_head_names(head, known)
    fell_back = 0
    for keep in (None, ANALYSIS_HEADERS):
        shared: dict[str, str] = {}
        for head in heads:
            _both(head, known, keep, shared, 256, 64)  # a small table: cleared often
            fell_back += python_fast_headers(head, known, keep, {}, 256, 64) is None
            python_fast_headers(head, known, keep, shared, 256, 64)  # carry the table on
    assert 0 < fell_back < len(heads)  # both branches are compared


def parse_message_head_names(head: str, known: dict[str, str]) -> None:
    """Teach ``known`` the raw names of ``head`` the way the parser's general pass does."""
    for line in head.split("\n")[1:]:
        name, colon, _ = line.partition(":")
        if colon and name and name[0] not in " \t":
            key = parser._header_key(name)
            if key is not None:
                known[name] = key


_NAMES = st.sampled_from(
    ["Via", "via", "From", "f", "To", "Call-ID", "CSeq", "Contact", "X-Custom", "Via ", " Via",
     "Content-Length", "WWW-Authenticate", "Proxy-Authorization", "", "Bad Name", "é"]
)
_VALUES = st.text(
    alphabet=st.sampled_from(list("ab:;=\" \t\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u3000é€😀")),
    max_size=12,
)


@settings(max_examples=600, deadline=None)
@given(
    lines=st.lists(
        st.tuples(_NAMES, st.sampled_from([":", ": ", " :", ""]), _VALUES, st.booleans()),
        max_size=8,
    ),
    known_names=st.sets(_NAMES, max_size=10),
    keep=st.one_of(st.none(), st.frozensets(st.sampled_from(["via", "from", "to", "call-id"]))),
    preset=st.lists(_VALUES, max_size=4),
    max_chars=st.integers(0, 8),
    limit=st.integers(0, 4),
    crlf=st.booleans(),
    trailing_break=st.booleans(),
)
def test_generated_heads_get_the_same_headers(
    lines: list[tuple[str, str, str, bool]], known_names: set[str],
    keep: frozenset[str] | None, preset: list[str], max_chars: int, limit: int, crlf: bool,
    trailing_break: bool,
) -> None:
    end = "\r\n" if crlf else "\n"
    text = ["REGISTER sip:example.com SIP/2.0"]
    for name, colon, value, folded in lines:
        text.append(f"{name}{colon}{value}")
        if folded:
            text.append(f" {value}")  # a continuation line: the general pass's case
    head = end.join(text) + (end if trailing_break else "")
    known = {name: name.strip().lower() or "x" for name in known_names}
    _both(head, known, keep, {v: v for v in preset}, max_chars, limit)


def test_a_head_without_header_lines() -> None:
    for head in ("INVITE sip:a@b SIP/2.0", "", "x\n", "\n\n", "SIP/2.0 200 OK\r"):
        _both(head, {"Via": "via"}, None, {}, 256, 16)


def test_bad_arguments_raise_instead_of_crashing() -> None:
    assert native is not None
    with pytest.raises(TypeError):
        native(b"bytes", {}, None, {}, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native("h", {}, ["via"], {}, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native("h", [], None, {}, 1, 1)  # type: ignore[arg-type]


def test_the_parser_uses_the_c_pass_and_parses_alike_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert parser.fast_headers is native
    captures = list(read_messages([str(SAMPLE_PCAPS_DIR / "register-407.pcap")],
                                  CaptureOptions(), NoteSink(), CaptureStats()))
    with_c = [parse_message(c) for c in captures]
    monkeypatch.setattr(parser, "fast_headers", python_fast_headers)
    without = [parse_message(c) for c in captures]
    assert with_c == without
    assert all(isinstance(m, SipMessage) for m in with_c)
