"""The memos correlation keeps for speed: they must never change an answer."""

from __future__ import annotations

from sipauth_analyzer.correlate.model import Transaction
from sipauth_analyzer.correlate.transactions import TagMemo, fast_header_param
from tests.correlate.sipfactory import make_message

REQUEST = """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:alice@example.com>
Call-ID: memo-1
CSeq: 1 REGISTER
Content-Length: 0
"""


def _response(status: int, frame: int) -> str:
    return f"""SIP/2.0 {status} Whatever
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:alice@example.com>;tag=s{frame}
Call-ID: memo-1
CSeq: 1 REGISTER
Content-Length: 0
"""


def _message(text: str, frame: int):  # type: ignore[no-untyped-def]
    return make_message(text, frame, float(frame), "10.0.0.1:5060", "10.0.0.2:5060")


def test_final_follows_responses_appended_after_it_was_read() -> None:
    transaction = Transaction(request=_message(REQUEST, 1))
    assert transaction.final is None
    transaction.add_response(_message(_response(100, 2), 2))
    assert transaction.final is None  # a provisional answer is not final
    first_final = _message(_response(401, 3), 3)
    transaction.add_response(first_final)
    assert transaction.final is first_final
    transaction.add_response(_message(_response(200, 4), 4))
    assert transaction.final is first_final  # the *first* final response stays the answer


def test_final_of_a_transaction_built_with_its_responses() -> None:
    ok = _message(_response(200, 3), 3)
    transaction = Transaction(
        request=_message(REQUEST, 1), responses=[_message(_response(180, 2), 2), ok]
    )
    assert transaction.final is ok


LINES = [
    "<sip:alice@example.com>;tag=abc",
    '"Alice" <sip:alice@example.com>;tag=q',
    "<sip:alice@example.com>;TAG=upper",
    "<sip:alice@example.com>",
    "<sip:alice@example.com>; tag=spaced",
    "<sip:a@b>, <sip:c@d>;tag=after-comma",
]


def test_tag_memo_answers_like_the_parser_and_stays_bounded() -> None:
    memo = TagMemo(capacity=2)
    for _ in range(3):  # seen before, forgotten when full, seen again: always the same answer
        for line in LINES:
            assert memo.tag(line) == fast_header_param(line, "tag")
            assert len(memo._tags) <= 2


def test_responses_grow_from_the_shared_empty_tuple_to_a_tuple_then_a_list() -> None:
    """Memory (docs/performance.md): most transactions keep one response until the report,
    and a one-item tuple is 40 bytes smaller than a one-item list."""
    transaction = Transaction(request=_message(REQUEST, 1))
    assert transaction.responses == ()
    first = _message(_response(100, 2), 2)
    transaction.add_response(first)
    assert transaction.responses == (first,)
    second = _message(_response(401, 3), 3)
    transaction.add_response(second)
    grown = transaction.responses
    assert grown == [first, second]
    transaction.add_response(_message(_response(200, 4), 4))
    assert transaction.responses is grown and len(grown) == 3  # in place from then on
    assert transaction.final is second
