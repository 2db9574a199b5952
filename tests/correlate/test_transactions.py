"""Transaction keys and the bounded tables behind them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipauth_analyzer.correlate.transactions import (
    BoundedTable,
    branch_key,
    fast_header_param,
    via_sent_by,
)
from sipauth_analyzer.sip.grammar import header_param

VALUES = [
    "<sip:alice@example.com>;tag=abc",
    "Alice <sip:alice@example.com;tag=uri-param>;tag=real",
    '"Al;ice <x>" <sip:alice@example.com>;tag=q',
    "<sip:alice@example.com>;TAG=upper",
    "<sip:alice@example.com>; tag=spaced",
    "<sip:alice@example.com>;x=1;tag=second",
    "<sip:alice@example.com>;Tag=a;tag=b",
    "<sip:alice@example.com>",
    "<sip:alice@example.com>;foo",
    "sip:alice@example.com;tag=bare",
    "<sip:a@b>, <sip:c@d>;tag=after-comma",
    "<sip:alice@example.com>;tag=",
    "<sip:alice@example.com;tag=x",
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport",
    "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK-2",
    "SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK-3",
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-4, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-5",
    "SIP/2.0/UDP 10.0.0.1:5060;received=1.2.3.4;BRANCH=z9hG4bK-6",
    "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-7",
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("name", ["tag", "branch"])
def test_fast_header_param_agrees_with_grammar(value: str, name: str) -> None:
    assert fast_header_param(value, name) == header_param(value, name)


@given(st.text(alphabet='<>;=,"tagbrnch xyzTAG:@\t', max_size=40))
def test_fast_header_param_agrees_with_grammar_on_noise(value: str) -> None:
    assert fast_header_param(value, "tag") == header_param(value, "tag")


def test_branch_key_uses_magic_cookie_branch() -> None:
    via = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc"
    assert branch_key(via, "cid", 1, "ft") == ("3261", "z9hG4bKabc")
    assert branch_key(None, "cid", 1, "ft") is None


def test_branch_key_rfc2543_fallback() -> None:
    via = "SIP/2.0/UDP Host.Example.com:5060;branch=1"
    assert branch_key(via, "cid", 7, "ft") == (
        "2543",
        "cid",
        "7",
        "ft",
        "host.example.com:5060",
        "1",
    )
    assert branch_key("SIP/2.0/UDP h", None, 7, "ft") is None
    assert via_sent_by("SIP/2.0/TCP  h:5061 ;received=x") == "h:5061"


def test_bounded_table_capacity_and_time() -> None:
    table: BoundedTable[str, int] = BoundedTable(capacity=2, timeout=10.0)
    assert table.put("a", 1, now=0.0) is None
    assert table.put("b", 2, now=1.0) is None
    assert table.get("a", now=2.0) == 1  # touching "a" makes "b" the oldest
    assert table.put("c", 3, now=3.0) == 2
    assert table.evicted_by_capacity == 1
    assert table.expire(now=12.5) == [1]  # "a" last touched at 2.0
    assert table.peek("c") == 3 and len(table) == 1
    assert table.expired == 1


# Quoted display names take a shortcut in fast_header_param; these are the shapes where the
# shortcut must step aside because the quote-aware grammar reads them differently.
DISPLAY_NAME_VALUES = [
    '"1941" <sip:1941@pbx.example.net>;tag=c83eec47',
    ' "Alice Smith" <sip:alice@example.com>;x=1;tag=t2',
    '"Al;ice <x>" <sip:alice@example.com>;tag=q',
    '"a,b" <sip:a@b>;tag=comma-in-name',
    '"a" <sip:b>, ;tag=comma-before-params',
    '"a" x, <sip:b>;tag=comma-before-uri',
    '"a" ;x <sip:b>;tag=semi-before-uri',
    '"a" <sip:a<b>;x>;tag=nested',
    '"a\\"b" <sip:a@b>;tag=escaped',
    '"unterminated <sip:a@b>;tag=u',
    '"a" <sip:a@b>;tag="quoted"',
    '"a" <sip:a@b>;tag=1, "b" <sip:c@d>;tag=2',
    '"a" sip:a@b;tag=bare',
]


@pytest.mark.parametrize("value", DISPLAY_NAME_VALUES)
@pytest.mark.parametrize("name", ["tag", "x"])
def test_fast_header_param_display_name_shortcut_agrees(value: str, name: str) -> None:
    assert fast_header_param(value, name) == header_param(value, name)


@given(
    st.text(alphabet='ab "', max_size=6),
    st.text(alphabet='<>;=,"tagb x\\', max_size=30),
)
def test_fast_header_param_agrees_after_display_name(name_text: str, tail: str) -> None:
    value = f'"{name_text}"{tail}'
    assert fast_header_param(value, "tag") == header_param(value, "tag")
