"""The parser shares equal header values between messages (SipParseOptions.shared_values):
it must save memory without changing what any message says."""

from __future__ import annotations

from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.parser import SipParseOptions, parse
from tests.sip.helpers import captured, crlf

REQUEST = crlf(
    "REGISTER sip:pbx.example.net SIP/2.0",
    "Via: SIP/2.0/UDP 203.0.113.66:5071;branch=z9hG4bK-51dcf3174f23;rport",
    'From: "1941" <sip:1941@pbx.example.net>;tag=c83eec47',
    "To: <sip:1941@pbx.example.net>",
    "Call-ID: 8a1c0e2f@203.0.113.66",
    "CSeq: 1 REGISTER",
    'Authorization: Digest username="1941", realm="pbx", nonce="' + "n" * 300 + '"',
    "Content-Length: 0",
)
RESPONSE = crlf(
    "SIP/2.0 401 Unauthorized",
    "Via: SIP/2.0/UDP 203.0.113.66:5071;branch=z9hG4bK-51dcf3174f23;rport",
    'From: "1941" <sip:1941@pbx.example.net>;tag=c83eec47',
    "To: <sip:1941@pbx.example.net>;tag=9030249c",
    "Call-ID: 8a1c0e2f@203.0.113.66",
    "CSeq: 1 REGISTER",
    "Content-Length: 0",
)


def _parse(text: str, options: SipParseOptions | None = None) -> SipMessage:
    result = parse(captured(text), options)
    assert isinstance(result, SipMessage), result
    return result


def test_a_response_shares_the_values_it_echoes_from_its_request() -> None:
    request, response = _parse(REQUEST), _parse(RESPONSE)
    for name in ("via", "from", "call-id", "cseq", "content-length"):
        assert response.headers[name][0] is request.headers[name][0], name
    assert response.headers["to"] != request.headers["to"]


def test_sharing_changes_no_value() -> None:
    # The same messages parsed with a table that keeps nothing give equal headers.
    keep_nothing = SipParseOptions(shared_value_max_chars=0)
    for text in (REQUEST, RESPONSE, REQUEST):
        assert _parse(text).headers == _parse(text, keep_nothing).headers


def test_long_values_are_not_kept_in_the_table() -> None:
    first, second = _parse(REQUEST), _parse(REQUEST)
    assert len(first.headers["authorization"][0]) > SipParseOptions().shared_value_max_chars
    assert first.headers["authorization"][0] is not second.headers["authorization"][0]
    assert first.headers["authorization"] == second.headers["authorization"]


def test_a_full_table_is_emptied_and_parsing_goes_on() -> None:
    tiny = SipParseOptions(shared_values=2)
    messages = [_parse(REQUEST, tiny), _parse(RESPONSE, tiny), _parse(REQUEST, tiny)]
    assert [m.headers["call-id"] for m in messages] == [["8a1c0e2f@203.0.113.66"]] * 3


# -- header layouts (sip.message.HeaderLayout) ---------------------------------------------------

INTERLEAVED = crlf(
    "OPTIONS sip:pbx.example.net SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1",
    "From: <sip:a@example.net>;tag=1",
    "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK-2",
    "To: <sip:b@example.net>",
    "v: SIP/2.0/UDP 192.0.2.3;branch=z9hG4bK-3",
    "Call-ID: layout@192.0.2.1",
    "CSeq: 7 OPTIONS",
    "Content-Length: 0",
)


def test_messages_of_one_shape_share_one_layout() -> None:
    first, second = _parse(REQUEST), _parse(REQUEST)
    assert first.layout is second.layout
    assert _parse(RESPONSE).layout is not first.layout  # no Authorization line
    assert first.values == second.values


def test_a_header_split_by_others_keeps_its_order() -> None:
    message = _parse(INTERLEAVED)
    vias = ["SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1", "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK-2",
            "SIP/2.0/UDP 192.0.2.3;branch=z9hG4bK-3"]
    assert message.header("Via") == message.header("v") == vias
    assert message.layout.positions["via"] == (0, 2, 4)
    assert message.first_line("via") == vias[0] and message.top_via_branch == "z9hG4bK-1"
    assert list(message.headers) == ["via", "from", "to", "call-id", "cseq", "content-length"]
    assert message.headers["via"] == vias
    assert message.has_header("to") and not message.has_header("authorization")
    # header() hands out a new list: a caller changing it changes no message.
    message.header("via").append("changed")
    assert message.header("via") == vias


def test_layout_table_is_bounded() -> None:
    from sipauth_analyzer.sip import message as message_module

    long_head = [f"X-H{index}: {index}" for index in range(100)]
    long_one = _parse(crlf(*REQUEST.split("\r\n")[:-2], *long_head))
    assert long_one.header("x-h99") == ["99"]
    # Layouts longer than real messages carry are not kept in the shared table.
    assert long_one.layout.names not in message_module._LAYOUTS
    tiny = SipParseOptions(shared_layouts=1)
    message_module._LAYOUTS.clear()  # what earlier tests left there
    for text in (REQUEST, RESPONSE, INTERLEAVED, REQUEST):
        _parse(text, tiny)
        assert len(message_module._LAYOUTS) <= 1
