"""Tests of sip/grammar.py: list splitting, header parameters, name-addr URIs, CSeq."""

from __future__ import annotations

import time

import pytest

from sipauth_analyzer.sip.grammar import (
    MAX_CSEQ,
    UNTERMINATED_QUOTE,
    header_param,
    is_token,
    name_addr_uri,
    parse_cseq,
    scan_outside_quotes,
    split_commas,
    unquote,
)


class TestSplitCommas:
    def test_plain_list(self) -> None:
        assert split_commas("INVITE, ACK ,CANCEL,  BYE") == ["INVITE", "ACK", "CANCEL", "BYE"]

    def test_drops_empty_items(self) -> None:
        assert split_commas(" , a,,b , ") == ["a", "b"]

    def test_comma_inside_quotes_does_not_split(self) -> None:
        value = '"Doe, John" <sip:j@example.com>, <sip:k@example.com>'
        assert split_commas(value) == ['"Doe, John" <sip:j@example.com>', "<sip:k@example.com>"]

    def test_comma_inside_angle_brackets_does_not_split(self) -> None:
        value = "<sip:a@b;x=1,2>;q=0.5, <sip:c@d>"
        assert split_commas(value) == ["<sip:a@b;x=1,2>;q=0.5", "<sip:c@d>"]

    def test_escaped_quote_inside_quotes(self) -> None:
        value = r'"a \", b" <sip:x@y>, sip:z@w'
        assert split_commas(value) == [r'"a \", b" <sip:x@y>', "sip:z@w"]

    def test_via_list(self) -> None:
        value = "SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/TCP b.example;branch=z9hG4bK2"
        assert [header_param(v, "branch") for v in split_commas(value)] == [
            "z9hG4bK1",
            "z9hG4bK2",
        ]

    def test_unterminated_quote_keeps_rest_as_one_item(self) -> None:
        assert split_commas('a, "b, c') == ["a", '"b, c']

    def test_empty(self) -> None:
        assert split_commas("") == []


class TestHeaderParam:
    def test_tag_after_name_addr(self) -> None:
        assert header_param('"Alice" <sip:alice@atlanta.com>;tag=1928301774', "tag") == "1928301774"

    def test_uri_params_inside_brackets_are_not_header_params(self) -> None:
        value = "<sip:bob@biloxi.com;tag=inuri;transport=tcp>;tag=outer"
        assert header_param(value, "tag") == "outer"
        assert header_param(value, "transport") is None

    def test_addr_spec_params_belong_to_header(self) -> None:
        # RFC 3261 §20.10: without <>, everything after ";" is a header parameter.
        assert header_param("sip:bob@biloxi.com;tag=a6c85cf", "tag") == "a6c85cf"

    def test_case_insensitive_name_and_value_kept(self) -> None:
        assert header_param("<sip:a@b>;TAG=AbC", "tag") == "AbC"
        assert header_param("<sip:a@b>;tag=AbC", "TAG") == "AbC"

    def test_flag_param_without_value(self) -> None:
        via = "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKx"
        assert header_param(via, "rport") == ""
        assert header_param(via, "branch") == "z9hG4bKx"
        assert header_param(via, "received") is None

    def test_quoted_value_unquoted(self) -> None:
        assert header_param('<sip:a@b>;x="hello; world"', "x") == "hello; world"
        assert header_param(r'<sip:a@b>;x="say \"hi\""', "x") == 'say "hi"'

    def test_semicolon_in_quoted_display_name(self) -> None:
        value = '"Smith; Jr <boss>" <sip:s@example.com>;tag=77'
        assert header_param(value, "tag") == "77"

    def test_whitespace_around_params(self) -> None:
        assert header_param("<sip:a@b> ; tag = xyz ", "tag") == "xyz"

    def test_stops_at_next_list_value(self) -> None:
        assert header_param("SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2", "branch") == "1"

    def test_no_params(self) -> None:
        assert header_param("<sip:a@b>", "tag") is None
        assert header_param("", "tag") is None


class TestNameAddrUri:
    @pytest.mark.parametrize(
        ("value", "uri"),
        [
            ('"Name" <sip:a@b;x=y>;tag=1', "sip:a@b;x=y"),
            ("Bob <sips:bob@biloxi.com>", "sips:bob@biloxi.com"),
            ("<sip:a@b>", "sip:a@b"),
            ("sip:a@b;tag=1", "sip:a@b"),
            ("sip:+4512345678@sip.example.dk", "sip:+4512345678@sip.example.dk"),
            ('"a <fake> name" <sip:real@host>', "sip:real@host"),
            ("  <tel:+1-201-555-0123>  ", "tel:+1-201-555-0123"),
        ],
    )
    def test_forms(self, value: str, uri: str) -> None:
        assert name_addr_uri(value) == uri

    @pytest.mark.parametrize("value", ["", "<sip:a@b", '"unterminated <sip:a@b>', "<>", "a b c"])
    def test_malformed(self, value: str) -> None:
        assert name_addr_uri(value) is None


class TestParseCseq:
    def test_valid(self) -> None:
        assert parse_cseq("102 INVITE") == (102, "INVITE")
        assert parse_cseq("  7\tREGISTER  ") == (7, "REGISTER")
        assert parse_cseq("0 ACK") == (0, "ACK")
        assert parse_cseq(f"{MAX_CSEQ} BYE") == (MAX_CSEQ, "BYE")

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "INVITE",
            "102",
            "102 INVITE extra",
            "-1 INVITE",
            f"{MAX_CSEQ + 1} BYE",
            "1.5 INVITE",
            "１２ INVITE",
            "12 INV/ITE",
            "99999999999999999999 INVITE",
        ],
    )
    def test_malformed(self, value: str) -> None:
        assert parse_cseq(value) is None


def test_unquote() -> None:
    assert unquote('"abc"') == "abc"
    assert unquote("abc") == "abc"
    assert unquote(r'"a\"b\\c"') == 'a"b\\c'
    assert unquote('"unterminated') == "unterminated"
    assert unquote('"ends with escaped quote\\"') == 'ends with escaped quote"'
    assert unquote('""') == ""


def test_is_token() -> None:
    assert is_token("INVITE")
    assert is_token("x-custom.method!")
    assert not is_token("")
    assert not is_token("a b")
    assert not is_token("a:b")


def test_hostile_input_is_linear() -> None:
    # Long runs of the characters the scanners care about must not blow up.
    hostile = [
        "<" * 50_000 + ";tag=1",
        '"' + "\\" * 50_000,
        ";" * 50_000,
        "a" * 50_000 + ";" + "=" * 50_000,
        ('"x",' * 20_000),
    ]
    started = time.perf_counter()
    for value in hostile:
        split_commas(value)
        header_param(value, "tag")
        name_addr_uri(value)
        parse_cseq(value)
    assert time.perf_counter() - started < 2.0


class TestScanOutsideQuotes:
    def test_finds_first_stop_character(self) -> None:
        assert scan_outside_quotes("a;b,c", 0, ",;") == 1
        assert scan_outside_quotes("a;b,c", 2, ",;") == 3

    def test_no_stop_gives_length(self) -> None:
        assert scan_outside_quotes("abc", 0, ",") == 3
        assert scan_outside_quotes("", 0, ",") == 0

    def test_stops_inside_quotes_are_skipped(self) -> None:
        assert scan_outside_quotes('x="a,b", y', 0, ",") == 7

    def test_escaped_quote_does_not_close_the_string(self) -> None:
        value = r'"a\",b",c'
        assert scan_outside_quotes(value, 0, ",") == 7

    def test_escaped_backslash_then_quote_closes_it(self) -> None:
        value = r'"a\\",b'
        assert scan_outside_quotes(value, 0, ",") == 5

    def test_backslash_outside_quotes_is_ordinary(self) -> None:
        assert scan_outside_quotes(r"a\,b", 0, ",") == 2

    def test_unterminated_quote(self) -> None:
        assert scan_outside_quotes('a "b, c', 0, ",") == UNTERMINATED_QUOTE
        assert scan_outside_quotes('"ends in a backslash\\', 0, ",") == UNTERMINATED_QUOTE
        # A stop before the open quote is still found.
        assert scan_outside_quotes('a, "b', 0, ",") == 1

    def test_angle_brackets_nest_when_asked(self) -> None:
        value = "<sip:a@b;x=<1,2>,3>;q=1, <sip:c>"
        assert scan_outside_quotes(value, 0, ",", angle_brackets=True) == 23
        assert scan_outside_quotes(value, 0, ",") == 13

    def test_stray_close_bracket_is_ignored(self) -> None:
        assert scan_outside_quotes("a>b,c", 0, ",", angle_brackets=True) == 3

    def test_quotes_inside_brackets_still_count(self) -> None:
        value = '<sip:a@b;x=">,">,c'
        assert scan_outside_quotes(value, 0, ",", angle_brackets=True) == 16
        assert scan_outside_quotes('<"a', 0, ",", angle_brackets=True) == UNTERMINATED_QUOTE

    def test_unclosed_bracket_runs_to_the_end(self) -> None:
        assert scan_outside_quotes("<sip:a,b", 0, ",", angle_brackets=True) == 8

    def test_open_bracket_can_be_a_stop_without_bracket_mode(self) -> None:
        assert scan_outside_quotes('"x <y>" <sip:a>', 0, "<") == 8

    def test_agrees_with_a_character_by_character_reference(self) -> None:
        alphabet = 'ab,;<>"\\ '
        for length in range(7):
            for number in range(len(alphabet) ** length):
                chars = []
                for _ in range(length):
                    number, digit = divmod(number, len(alphabet))
                    chars.append(alphabet[digit])
                value = "".join(chars)
                for angle in (False, True):
                    expected = _reference_scan(value, ",;", angle)
                    assert scan_outside_quotes(value, 0, ",;", angle_brackets=angle) == expected

    def test_linear_on_long_hostile_values(self) -> None:
        hostile = ['"' + "\\a" * 50_000, "<" * 100_000 + '"', '"x"' * 50_000, "\\" * 100_000]
        started = time.perf_counter()
        for value in hostile:
            scan_outside_quotes(value, 0, ",", angle_brackets=True)
            scan_outside_quotes(value, 0, ",")
        assert time.perf_counter() - started < 1.0


def _reference_scan(value: str, stops: str, angle_brackets: bool) -> int:
    """The character-by-character loop the grammar used before scan_outside_quotes."""
    in_quote = False
    depth = 0
    index = 0
    while index < len(value):
        char = value[index]
        if in_quote:
            if char == "\\":
                index += 2
                continue
            if char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
        elif angle_brackets and char == "<":
            depth += 1
        elif angle_brackets and char == ">":
            if depth:
                depth -= 1
        elif depth == 0 and char in stops:
            return index
        index += 1
    return UNTERMINATED_QUOTE if in_quote else len(value)
