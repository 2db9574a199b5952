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
