"""Small pieces of the RFC 3261 §25 grammar that downstream stages need, done tolerantly.

Every function here takes header text as captured (possibly hostile) and never raises: a
value it cannot make sense of gives ``None`` (or an empty list). No regular expression used
here can backtrack: each is a single character class, so matching is linear in the input.
Quote and angle-bracket awareness lives in one scanner, ``scan_outside_quotes``, which jumps
from one structural character to the next instead of stepping through every character; the
callers still take a fast path when the value holds no ``"`` (the common case), because these
run for every message in a storm.
"""

from __future__ import annotations

import functools
import re

# RFC 3261 §25.1 token (the same set as RFC 7230 tchar, minus the characters 3261 omits:
# 3261 allows "-" "." "!" "%" "*" "_" "+" "`" "'" "~").
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token (method names, parameter names)."""
    return _TOKEN_RE.fullmatch(text) is not None


def unquote(text: str) -> str:
    """Strip surrounding double quotes and undo ``\\x`` escapes (RFC 3261 §25.1 quoted-pair).

    An unterminated quoted string keeps everything after the opening quote.
    """
    if not text.startswith('"'):
        return text
    inner = (
        text[1:-1] if len(text) >= 2 and text.endswith('"') and not _escaped_end(text) else text[1:]
    )
    if "\\" not in inner:
        return inner
    out: list[str] = []
    index = 0
    length = len(inner)
    while index < length:
        char = inner[index]
        if char == "\\" and index + 1 < length:
            out.append(inner[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _escaped_end(text: str) -> bool:
    """True when the final ``"`` of ``text`` is itself escaped (an odd run of backslashes)."""
    backslashes = 0
    index = len(text) - 2
    while index >= 1 and text[index] == "\\":
        backslashes += 1
        index -= 1
    return backslashes % 2 == 1


# RFC 3261 §25.1 quoted-string, from its opening quote through its closing one: a backslash
# (quoted-pair) makes the next character, any character, literal. Possessive quantifiers
# (Python 3.11) everywhere below: nothing is ever given back, so a string that never closes
# costs one linear pass, not a backtracking search.
_QUOTED = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
# Inside <...>: everything up to the next bracket or a quoted-string that does not close.
_BRACKETED_RUN_RE = re.compile(rf'(?:[^"<>]++|{_QUOTED})*+', re.DOTALL)
# scan_outside_quotes compiles one top-level pattern per (stop characters, bracket mode); the
# callers pass literals, so only a handful ever exist.
MAX_SCAN_PATTERNS = 16
# Returned by scan_outside_quotes when the value ends inside a quoted-string that never closes.
UNTERMINATED_QUOTE = -1


@functools.lru_cache(maxsize=MAX_SCAN_PATTERNS)
def _top_level_run_re(stop_chars: str, angle_brackets: bool) -> re.Pattern[str]:
    """Everything up to the next stop character, ``<`` (in bracket mode) or unclosed quote."""
    structural = '"' + ("<" if angle_brackets else "") + stop_chars
    special = "".join(re.escape(char) for char in structural)
    return re.compile(rf"(?:[^{special}]++|{_QUOTED})*+", re.DOTALL)


# The stop sets the SIP stage scans for, built at import under names so that
# tests/fuzz/test_safety.py finds each one and runs it through its pathological inputs; the
# cache above then serves them to scan_outside_quotes.
_RUN_TO_COMMA_RE = _top_level_run_re(",", False)  # digest.py: recovery after junk
_RUN_TO_OPEN_ANGLE_RE = _top_level_run_re("<", False)  # name_addr_uri: past the display name
_RUN_TO_COMMA_OUTSIDE_ANGLES_RE = _top_level_run_re(",", True)  # split_commas
_RUN_TO_SEMICOLON_OUTSIDE_ANGLES_RE = _top_level_run_re(";", True)  # header_param
_RUN_TO_SEMICOLON_OR_COMMA_OUTSIDE_ANGLES_RE = _top_level_run_re(";,", True)  # _params_part


def scan_outside_quotes(
    value: str, start: int, stop_chars: str, *, angle_brackets: bool = False
) -> int:
    """Index of the first character of ``stop_chars`` at or after ``start`` that is outside
    every quoted-string (and, with ``angle_brackets``, outside every ``<...>``).

    Quoted-strings honour backslash escapes (RFC 3261 §25.1 quoted-pair); outside them a
    backslash is an ordinary character. With ``angle_brackets`` the brackets nest and a stray
    ``>`` is ignored; without it ``<`` may itself be a stop character. ``"`` always opens a
    quoted-string, so it cannot be a stop character. Returns ``len(value)`` when no stop
    character is found, and ``UNTERMINATED_QUOTE`` when the value ends inside a quoted-string
    that never closes (a stop character may be hidden in it). Linear in ``len(value)``: every
    pass of the loop consumes at least one character.
    """
    top_level_run = _top_level_run_re(stop_chars, angle_brackets)
    length = len(value)
    index = start
    while True:
        run = top_level_run.match(value, index)  # never None: a run may be empty
        index = run.end() if run else index
        if index >= length:
            return length
        char = value[index]
        if char == '"':
            return UNTERMINATED_QUOTE
        if char != "<" or not angle_brackets:
            return index
        angle_depth = 0
        while True:
            if value[index] == "<":
                angle_depth += 1
            else:
                angle_depth -= 1
            index += 1
            if angle_depth == 0:
                break
            run = _BRACKETED_RUN_RE.match(value, index)
            index = run.end() if run else index
            if index >= length:
                return length
            if value[index] == '"':
                return UNTERMINATED_QUOTE


def _split_top_level(value: str, separator: str, stop_at_comma: bool = False) -> list[str]:
    """Split on ``separator`` outside double quotes and ``<...>`` (quote-aware, escape-aware).

    With ``stop_at_comma`` the scan ends at the first top-level comma (the end of one value of
    a comma-separated list header). An unterminated quoted-string runs to the end of the value.
    """
    stop_chars = separator + "," if stop_at_comma else separator
    parts: list[str] = []
    start = 0
    length = len(value)
    while True:
        # Every stop is at top level, so scanning on from just after it starts in a clean state.
        stop = scan_outside_quotes(value, start, stop_chars, angle_brackets=True)
        if not 0 <= stop < length:
            parts.append(value[start:])
            return parts
        parts.append(value[start:stop])
        if value[stop] != separator:
            return parts
        start = stop + 1


def split_commas(value: str) -> list[str]:
    """Split a list header (Via, Contact, Allow, ...) into its values (RFC 3261 §7.3.1).

    Commas inside quoted strings and inside ``<...>`` do not split; values are stripped and
    empty ones dropped.
    """
    if '"' not in value and "<" not in value:
        return [part for part in (piece.strip() for piece in value.split(",")) if part]
    return [part for part in (piece.strip() for piece in _split_top_level(value, ",")) if part]


def _params_part(value: str) -> str | None:
    """The text after the first header-level ``;`` of a Via / From / To / Contact value.

    For a name-addr (``"Name" <uri;uparam>;hparam``) the header parameters follow the ``>``;
    for an addr-spec without brackets RFC 3261 §20.10 says every ``;`` parameter belongs to the
    header. Returns None when there are no parameters. Give it ONE value (split list headers
    with ``split_commas`` first): the scan stops at a comma after the parameters start, but a
    comma before them is not detected (``<a>, <b>;tag=1`` gives b's tag; correlate's
    ``fast_header_param`` is tested to agree with this).
    """
    if '"' not in value:
        close = value.find(">") if "<" in value else -1
        head_end = close + 1 if close >= 0 else 0
        semi = value.find(";", head_end)
        if semi < 0:
            return None
        rest = value[semi + 1 :]
        comma = rest.find(",")
        return rest if comma < 0 else rest[:comma]
    pieces = _split_top_level(value, ";", stop_at_comma=True)
    if len(pieces) < 2:
        return None
    return ";".join(pieces[1:])


def header_param(value: str, name: str) -> str | None:
    """The value of header parameter ``name`` (case-insensitive), unquoted.

    ``""`` for a parameter present without a value (``;lr``, ``;rport``); None when absent or
    when ``value`` has no parameters.
    """
    params = _params_part(value)
    if params is None:
        return None
    wanted = name.strip().lower()
    pieces = params.split(";") if '"' not in params else _split_top_level(params, ";")
    for piece in pieces:
        key, equals, raw = piece.partition("=")
        if key.strip().lower() == wanted:
            return unquote(raw.strip()) if equals else ""
    return None


def name_addr_uri(value: str) -> str | None:
    """The URI of a From / To / Contact / Refer-To value, or None when there is none.

    Handles ``"Display Name" <sip:a@b;x=y>;tag=1`` (the URI keeps its own parameters),
    ``Name <sip:a@b>`` and the bracket-less addr-spec ``sip:a@b;tag=1`` (the parameters belong
    to the header, RFC 3261 §20.10). An opening ``<`` without its ``>`` gives None.
    """
    if '"' in value:
        # Skip a quoted display name: it may legally contain "<" or ";".
        open_at = scan_outside_quotes(value, 0, "<")
        if open_at == UNTERMINATED_QUOTE:
            return None
        if open_at == len(value):
            open_at = -1
    else:
        open_at = value.find("<")
    if open_at >= 0:
        close_at = value.find(">", open_at + 1)
        if close_at < 0:
            return None
        uri = value[open_at + 1 : close_at].strip()
        return uri or None
    end = len(value)
    for stop in (";", ","):
        found = value.find(stop)
        if 0 <= found < end:
            end = found
    uri = value[:end].strip()
    if not uri or " " in uri or "\t" in uri:
        return None
    return uri


def parse_cseq(value: str) -> tuple[int, str] | None:
    """``"102 INVITE"`` → ``(102, "INVITE")``; None when malformed (RFC 3261 §20.16)."""
    parts = value.split()
    if len(parts) != 2:
        return None
    number, method = parts
    if not (number.isascii() and number.isdigit()) or len(number) > 12:
        return None
    sequence = int(number)
    if sequence > MAX_CSEQ or not is_token(method):
        return None
    return sequence, method
