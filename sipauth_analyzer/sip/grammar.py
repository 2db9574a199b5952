"""Small pieces of the RFC 3261 §25 grammar that downstream stages need, done tolerantly.

Every function here takes header text as captured (possibly hostile) and never raises: a
value it cannot make sense of gives ``None`` (or an empty list). No regular expression used
here can backtrack: each is a single character class, so matching is linear in the input.
Quote and angle-bracket awareness is done by explicit scanning, with a fast path when the
value holds no ``"`` (the common case), because these run for every message in a storm.
"""

from __future__ import annotations

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


def _split_top_level(value: str, separator: str, stop_at_comma: bool = False) -> list[str]:
    """Split on ``separator`` outside double quotes and ``<...>`` (quote-aware, escape-aware).

    With ``stop_at_comma`` the scan ends at the first top-level comma (the end of one value of
    a comma-separated list header).
    """
    parts: list[str] = []
    start = 0
    in_quote = False
    angle_depth = 0
    index = 0
    length = len(value)
    while index < length:
        char = value[index]
        if in_quote:
            if char == "\\":
                index += 2
                continue
            if char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
        elif char == "<":
            angle_depth += 1
        elif char == ">":
            if angle_depth:
                angle_depth -= 1
        elif angle_depth == 0:
            if char == separator:
                parts.append(value[start:index])
                start = index + 1
            elif stop_at_comma and char == ",":
                parts.append(value[start:index])
                return parts
        index += 1
    parts.append(value[start:])
    return parts


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
        index = 0
        length = len(value)
        in_quote = False
        while index < length:
            char = value[index]
            if in_quote:
                if char == "\\":
                    index += 2
                    continue
                if char == '"':
                    in_quote = False
            elif char == '"':
                in_quote = True
            elif char == "<":
                break
            index += 1
        if in_quote:
            return None
        open_at = index if index < length else -1
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
