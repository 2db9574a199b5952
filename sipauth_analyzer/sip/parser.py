"""The tolerant SIP message parser: one CapturedMessage's bytes → SipMessage (RFC 3261 §7).

It does the minimum on the hot path — find the end of the headers once, decode and split the
head once, index the header lines in one pass — and leaves everything else (digest headers,
parameters, URIs) to SipMessage's lazy properties. Anything odd in a usable message becomes a
``ParseProblem`` in ``SipMessage.problems``; bytes that are not a SIP message at all come back
as a ``ParseProblem`` instead of a message. Nothing here raises on bad input.

Decoding: the head is decoded as UTF-8 (RFC 3261 §7.3.1); if it is not valid UTF-8 (fuzzed or
junk traffic) it is decoded as Latin-1 and a ``non-utf8`` problem is recorded, so every byte
survives (``text.encode("latin-1")`` gives it back) and no lone surrogates reach the reports.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE, FLAG_TRUNCATED, CapturedMessage
from sipauth_analyzer.primitives import Transport, redact_secrets, remember
from sipauth_analyzer.sip.grammar import is_token, parse_cseq
from sipauth_analyzer.sip.message import COMPACT_FORMS, SipMessage, header_layout
from sipauth_analyzer.sip.model import ParseProblem

# RFC 3261 §8.1.1 / §8.2.1: headers every request and response must carry.
MANDATORY_HEADERS: tuple[tuple[str, str], ...] = (
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("from", "From"),
    ("to", "To"),
    ("via", "Via"),
)

# RFC 3261 §18.3: Content-Length is mandatory on stream transports. WebSocket (RFC 7118 §5)
# and SCTP (RFC 4168) frame messages themselves.
_STREAM_TRANSPORTS = frozenset({Transport.TCP, Transport.TLS})


class BodyPolicy(enum.StrEnum):
    """Which message bodies the parser keeps in ``SipMessage.body``.

    Either way the body is framed and checked (``body-short``, ``body-excess``, a missing
    Content-Length on a stream): the problems do not depend on the policy.
    """

    KEEP = "keep"  # every body (what ``sipauth messages`` and library users get)
    # Only where a digest response can hash it: ``qop=auth-int`` puts H(entity-body) into
    # H(A2) (RFC 7616 §3.4.3, RFC 3261 §22.4), and verify/ recomputes it. Kept for every
    # message whose Authorization / Proxy-Authorization text mentions auth-int (any case) or
    # holds a backslash (a quoted-pair could spell it, RFC 3261 §25.1); other bodies (SDP,
    # mostly) are dropped.
    AUTH_INT = "auth-int"


# RFC 3261 §8.1.1 / §8.2.1 mandatory headers and Content-Length (RFC 3261 §18.3): the parser
# reads these itself (missing-header, bad-cseq, body framing), so every profile keeps them.
_PARSER_HEADERS = frozenset({"call-id", "cseq", "from", "to", "via", "content-length"})


@dataclass(frozen=True, slots=True)
class SipParseOptions:
    """Named limits of the SIP parser; each, when hit, is recorded as a ParseProblem.

    ``keep_headers``, ``body`` and ``keep_payload`` form a *parse profile*: what a message
    keeps once parsed. They never change which problems are recorded, only what is retained
    (see ``ANALYSIS_PARSE_OPTIONS``).
    """

    max_header_lines: int = 512  # header lines indexed per message; the rest are dropped
    max_problems: int = 32  # problems recorded per message by the parser (one more says so)
    snippet_chars: int = 60  # how much of a bad line a problem's detail quotes
    # Distinct header values remembered so that equal values share one string (see
    # _SHARED_VALUES), and the longest value shared. The table is emptied when full: these
    # bound what it holds (about 16k x 256 characters at worst), they never change a result.
    shared_values: int = 16_384
    shared_value_max_chars: int = 256
    # Distinct header layouts (names in order) shared between messages (message.HeaderLayout);
    # the table is emptied when full, which only costs sharing.
    shared_layouts: int = 4_096
    # Lower-case full header names kept in ``SipMessage.headers`` (None: every header). Lines
    # of other headers are still validated (bad names, folding, the line limit), not stored.
    # The headers the parser itself reads (_PARSER_HEADERS) are always added.
    keep_headers: frozenset[str] | None = None
    body: BodyPolicy = BodyPolicy.KEEP
    # Whether ``SipMessage.source`` keeps the payload bytes (False: ``data`` is empty).
    keep_payload: bool = True

    def __post_init__(self) -> None:
        if self.keep_headers is not None and not self.keep_headers >= _PARSER_HEADERS:
            object.__setattr__(self, "keep_headers", self.keep_headers | _PARSER_HEADERS)


DEFAULT_OPTIONS = SipParseOptions()

# Every header the analysis (`sipauth analyze`: correlate, verify, rules, reports) reads, and
# who reads it. A header missing here reads as absent in the analysis and SipMessage.header()
# raises HeaderNotKept for it, so a new reader fails loudly in the tests instead of quietly.
ANALYSIS_HEADERS: frozenset[str] = frozenset({
    # Mandatory (RFC 3261 §8.1.1): transaction and exchange keys (correlate/exchanges.py,
    # transactions.py), response copies by To tag (report/ladder.py), Call-IDs of
    # findings and evidence (rules/base.py), From URI of brute-force attempts
    # (rules/hostile.py), Via/CSeq evidence of SA509/SA510, top_via_branch (SA509).
    "call-id", "cseq", "from", "to", "via",
    # Body framing (parser) and "is the auth-int body truncated?" (verify/verifier.py).
    "content-length",
    # Digest challenges and credentials (RFC 7616 §3.3, §3.4): SipMessage.challenges /
    # .credentials, "carries credentials" (correlate/exchanges.py, metrics.py), evidence
    # (rules/base.py AUTH_HEADERS, SA304, SA601).
    "www-authenticate", "proxy-authenticate", "authorization", "proxy-authorization",
    # Scanner fingerprints: SA602 and rules/hostile.py read User-Agent, SA503/SA601 read
    # SipMessage.user_agent, which falls back to Server for a response; SA601/SA602 evidence.
    "user-agent", "server",
})  # fmt: skip

#: Whether the analysis keeps each message's payload bytes. Nothing in the analysis reads them
#: after parsing (the reports use the provenance only); dropping them saves their size per
#: message (~550 B on an auth storm).
ANALYSIS_KEEPS_PAYLOAD = False

#: The analysis parse profile (pipeline.analyze): only ANALYSIS_HEADERS, only bodies a digest
#: response may hash.
ANALYSIS_PARSE_OPTIONS = SipParseOptions(
    keep_headers=ANALYSIS_HEADERS, body=BodyPolicy.AUTH_INT, keep_payload=ANALYSIS_KEEPS_PAYLOAD
)


def _snippet(data: bytes | str, limit: int) -> str:
    """A short, quoted excerpt for a problem note, secrets redacted before it is cut."""
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    text = repr(redact_secrets(data))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Equal problems, one object: junk and cut-short traffic repeats the same few problems
# ("mandatory header From is missing") in every message, and each is kept with its message.
_SHARED_PROBLEMS: dict[tuple[str, str], ParseProblem] = {}
_SHARED_PROBLEMS_LIMIT = 4_096


def _shared_problem(kind: str, detail: str) -> ParseProblem:
    key = (kind, detail)
    problem = _SHARED_PROBLEMS.get(key)
    if problem is None:
        problem = remember(_SHARED_PROBLEMS, key, ParseProblem(kind, detail),
                           _SHARED_PROBLEMS_LIMIT)
    return problem


class _Problems:
    """The message's problem list, bounded by ``max_problems``."""

    __slots__ = ("items", "limit")

    def __init__(self, limit: int) -> None:
        self.items: list[ParseProblem] = []
        self.limit = limit

    def add(self, kind: str, detail: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(_shared_problem(kind, detail))
        elif len(self.items) == self.limit:
            self.items.append(
                ParseProblem(
                    "too-many-problems", f"more than {self.limit} problems; the rest dropped"
                )
            )


# Equal header values, one string. Most header bytes of a capture repeat: a response echoes
# its request's Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2), retransmissions and
# retries repeat them again, and Content-Length, Max-Forwards, User-Agent, Allow... are the
# same in most messages. Measured on the bench captures, 60-75 % of header string bytes are
# repeats; every message is kept until the report, so sharing them lowers peak RSS by about
# 450 bytes per message. Long values (credentials, SDP-sized headers) rarely repeat: not kept.
_SHARED_VALUES: dict[str, str] = {}


def _share(value: str, opts: SipParseOptions) -> str:
    """The shared string equal to ``value`` (the parse loop's fast path inlines this)."""
    seen = _SHARED_VALUES.get(value)
    if seen is not None:
        return seen
    if len(value) <= opts.shared_value_max_chars:
        remember(_SHARED_VALUES, value, value, opts.shared_values)
    return value


# Parsed CSeq lines, so that a request and its responses, retransmissions and every message
# numbered alike share one (number, method) tuple. Bounded like _SHARED_VALUES.
_CSEQS: dict[str, tuple[int, str] | None] = {}


def _shared_cseq(line: str, opts: SipParseOptions) -> tuple[int, str] | None:
    """``parse_cseq(line)``, one tuple for equal lines."""
    try:
        return _CSEQS[line]
    except KeyError:
        pass
    cseq = parse_cseq(line)
    if cseq is not None:
        cseq = (cseq[0], _share(cseq[1], opts))
    if len(line) <= opts.shared_value_max_chars:
        remember(_CSEQS, line, cseq, opts.shared_values)
    return cseq


def _looks_binary(data: bytes) -> bool:
    """Control bytes other than CR/LF/HTAB in the first line mean this is not SIP text."""
    line_end = data.find(b"\n", 0, 512)
    first = data[: line_end if line_end >= 0 else 512]
    return any((byte < 0x20 and byte not in (0x09, 0x0D)) or byte == 0x7F for byte in first)


def parse(
    captured: CapturedMessage, options: SipParseOptions | None = None
) -> SipMessage | ParseProblem:
    """Parse one SIP message. Never raises; see the module docstring."""
    opts = options or DEFAULT_OPTIONS
    data = captured.data
    # RFC 3261 §7.5: CRLFs before the start line are to be ignored (also keep-alives, RFC 5626).
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    if not data:
        return ParseProblem("not-sip", "empty payload")

    first_nl = data.find(b"\n")
    crlf = first_nl > 0 and data[first_nl - 1] == 0x0D
    # The blank line that ends the head; LF-only senders exist in the field (tolerated, §7).
    if crlf:
        head_end = data.find(b"\r\n\r\n")
        body_start = head_end + 4
        if head_end < 0:
            head_end = data.find(b"\n\n")
            body_start = head_end + 2
    else:
        head_end = data.find(b"\n\n")
        body_start = head_end + 2
        # An LF-only head may still end with a CRLF blank line ("\n\r\n").
        mixed_end = data.find(b"\n\r\n", 0, head_end if head_end >= 0 else len(data))
        if mixed_end >= 0:
            head_end = mixed_end
            body_start = mixed_end + 3
        elif head_end < 0:
            head_end = data.find(b"\r\n\r\n")
            body_start = head_end + 4
    head_bytes = data if head_end < 0 else data[:head_end]

    problems = _Problems(opts.max_problems)
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        if _looks_binary(data):
            return ParseProblem(
                "not-sip", f"binary data: {_snippet(data[:48], opts.snippet_chars)}"
            )
        head = head_bytes.decode("latin-1")
        problems.add("non-utf8", "header bytes are not valid UTF-8; decoded as Latin-1")

    first_break = head.find("\n")
    start_line = (head if first_break < 0 else head[:first_break]).strip()
    start = _parse_start_line(start_line, data, opts)
    if isinstance(start, ParseProblem):
        return start
    is_request, method, request_uri, status, reason = start
    # Every message is kept until the report: its start line's strings are shared like header
    # values (the same methods, request URIs and reason phrases repeat all through a capture).
    if method is not None:
        method = _share(method, opts)
    if request_uri is not None:
        request_uri = _share(request_uri, opts)
    if reason is not None:
        reason = _share(reason, opts)
    if is_request and method not in _COMMON_METHODS and not is_token(method or ""):
        problems.add(
            "bad-method",
            f"request method {_snippet(method or '', opts.snippet_chars)} is not a token",
        )

    keep = opts.keep_headers
    # The lines are head.split("\n"): at most max_header_lines of them for the fast path.
    fast = (
        fast_headers(head, _HEADER_KEYS, keep, _SHARED_VALUES, opts.shared_value_max_chars,
                     opts.shared_values)
        if head.count("\n") < opts.max_header_lines
        else None
    )
    if fast is None:
        names, values = _index_headers(head.split("\n"), problems, opts)
    else:
        names, values = fast
    layout = header_layout(tuple(names), opts.shared_layouts)
    positions = layout.positions

    if not positions.keys() >= _MANDATORY_KEYS:
        for key, display in MANDATORY_HEADERS:
            if key not in positions:
                problems.add("missing-header", f"mandatory header {display} is missing")

    cseq_at = positions.get("cseq")
    cseq_line = values[cseq_at[0]] if cseq_at else None
    cseq = _shared_cseq(cseq_line, opts) if cseq_line is not None else None
    if cseq_line is not None and cseq is None:
        problems.add("bad-cseq", f"CSeq {_snippet(cseq_line, opts.snippet_chars)} is malformed")
    if not is_request:
        method = cseq[1] if cseq else None
    elif cseq is not None and cseq[1] != method:
        # RFC 3261 §8.1.1.5: the CSeq method MUST match the request method.
        problems.add(
            "cseq-method-mismatch", f"CSeq method {cseq[1]} differs from request method {method}"
        )

    length_at = positions.get("content-length")
    body = _body(captured, data, head_end, body_start,
                 values[length_at[0]] if length_at else None, problems)
    if body and opts.body is BodyPolicy.AUTH_INT and not _may_hash_body(positions, values):
        body = b""
    # Positional, in field order: once per message, and keywords made the call 0.7 µs dearer
    # (1.0 against 0.28 µs).
    return SipMessage(
        captured if opts.keep_payload else captured.without_data(),
        is_request,
        method,
        request_uri,
        status,
        reason,
        layout,
        tuple(values),
        body,
        problems.items or None,  # _problems
        keep,  # kept_headers
        None,  # _challenges: parsed on first use
        None,  # _credentials: likewise
        cseq,  # _cseq
        True,  # _cseq_parsed
    )


def _may_hash_body(positions: Mapping[str, tuple[int, ...]], values: list[str]) -> bool:
    """Whether a digest response of this message may cover its body (see BodyPolicy.AUTH_INT).

    A superset of ``qop=auth-int``: the unescaped qop value can only read auth-int when the
    raw text contains it (any case) or escapes something with a backslash.
    """
    for name in ("authorization", "proxy-authorization"):
        for index in positions.get(name, ()):
            line = values[index]
            if "\\" in line or "auth-int" in line.lower():
                return True
    return False


def python_fast_headers(  # noqa: PLR0917 - the C function's signature
    head: str,
    known: Mapping[str, str],
    keep: frozenset[str] | None,
    shared: dict[str, str],
    max_chars: int,
    limit: int,
) -> tuple[list[str], list[str]] | None:
    """The fast header pass: every line after the first is "name: value" with a raw name seen
    before (in ``known``); the kept ones' folded names and stripped values, shared through
    ``shared`` (at most ``limit`` values of at most ``max_chars`` characters).

    None sends the message to the general pass (``_index_headers``), which reports what is
    odd: folded lines start with SP/HTAB, which no known name does, so they (and lines without
    a colon) miss the table. A header outside ``keep`` costs one set lookup: never stripped,
    shared or stored. sip/_headers.c does the same in C (``fast_headers`` below).
    """
    names: list[str] = []
    values: list[str] = []
    for line in head.split("\n")[1:]:
        name, colon, value = line.partition(":")
        key = known.get(name)
        if key is None or not colon:
            return None
        if keep is not None and key not in keep:
            continue
        value = value.strip()
        seen = shared.get(value)
        if seen is not None:
            value = seen
        elif len(value) <= max_chars:
            if len(shared) >= limit:
                shared.clear()
            shared[value] = value
        names.append(key)
        values.append(value)
    return names, values


FastHeaders = Callable[
    [str, Mapping[str, str], frozenset[str] | None, dict[str, str], int, int],
    tuple[list[str], list[str]] | None,
]
# The fast pass in C when it was built at install (sip/_headers.c), else the Python one; the
# two give the same result (tests/sip/test_fast_headers.py). Read at each parse, so a test can
# set it.
fast_headers: FastHeaders
try:
    from sipauth_analyzer.sip._headers import fast_headers
except ImportError:  # pragma: no cover - depends on the install
    fast_headers = python_fast_headers


# Raw header names (as written before the colon) already known to be valid, mapped to their
# folded key. Bounded so hostile traffic with random names cannot grow it without limit.
_HEADER_KEY_CACHE_LIMIT = 2048
_HEADER_KEYS: dict[str, str] = {}
_MANDATORY_KEYS = frozenset(key for key, _ in MANDATORY_HEADERS)
_COMMON_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE", "NOTIFY",
     "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}
)  # fmt: skip


def _header_key(name: str) -> str | None:
    """The folded key for a raw header name, or None when it is not a valid field-name."""
    key = _HEADER_KEYS.get(name)
    if key is not None:
        return key
    # RFC 3261 §7.3.1 / §25.1: header-name is a token; whitespace may precede the colon.
    stripped = name.strip(" \t").lower()
    if not is_token(stripped):
        return None
    key = COMPACT_FORMS.get(stripped, stripped)
    if len(_HEADER_KEYS) < _HEADER_KEY_CACHE_LIMIT and name[:1] not in (" ", "\t"):
        _HEADER_KEYS[name] = key
    return key


def _index_headers(
    lines: list[str], problems: _Problems, opts: SipParseOptions
) -> tuple[list[str], list[str]]:
    """The general header pass: folding, bad lines and the line limit, each noted.

    Returns the kept lines' names and values, in message order.
    """
    names: list[str] = []
    values: list[str] = []
    keep = opts.keep_headers
    current = False  # whether the previous line is a kept header (values[-1] is its value)
    skipping = False  # the previous header line is one the profile does not keep
    line_count = 0
    for line in lines[1:]:
        if not line or line[0] in " \t":
            if not line or line.isspace():
                continue
            # RFC 3261 §7.3.1: a line starting with SP/HTAB continues the previous header.
            if skipping:
                continue
            if not current:
                problems.add(
                    "orphan-continuation",
                    "continuation line before any header: "
                    + _snippet(line.strip(), opts.snippet_chars),
                )
                continue
            extra = line.strip()
            previous = values[-1]
            values[-1] = f"{previous} {extra}" if previous else extra
            continue
        name, colon, value = line.partition(":")
        skipping = False
        if not colon:
            current = False
            if line.strip():
                problems.add(
                    "header-no-colon",
                    f"header line without ':': {_snippet(line.strip(), opts.snippet_chars)}",
                )
            continue
        key = _header_key(name)
        if key is None:
            current = False
            problems.add(
                "bad-header-name", f"bad header name: {_snippet(line.strip(), opts.snippet_chars)}"
            )
            continue
        line_count += 1
        if line_count > opts.max_header_lines:
            problems.add(
                "too-many-headers",
                f"more than {opts.max_header_lines} header lines; the rest ignored",
            )
            break
        if keep is not None and key not in keep:
            current = False
            skipping = True
            continue
        names.append(key)
        values.append(_share(value.strip(), opts))
        current = True
    return names, values


_StartLine = tuple[bool, str | None, str | None, int | None, str | None]


def _parse_start_line(line: str, data: bytes, opts: SipParseOptions) -> _StartLine | ParseProblem:
    """RFC 3261 §7.1 Request-Line or §7.2 Status-Line, tolerating extra spaces, a missing reason
    phrase and a lower-case version."""
    if line[:4].upper() == "SIP/":
        parts = line.split(None, 2)
        version = parts[0]
        if version.upper() != "SIP/2.0":
            return ParseProblem(
                "bad-start-line", f"unsupported version in {_snippet(line, opts.snippet_chars)}"
            )
        code = parts[1] if len(parts) > 1 else ""
        if not (len(code) == 3 and code.isascii() and code.isdigit() and "1" <= code[0] <= "6"):
            return ParseProblem(
                "bad-start-line", f"bad status code in {_snippet(line, opts.snippet_chars)}"
            )
        reason = parts[2].strip() if len(parts) > 2 else None
        return False, None, None, int(code), reason or None
    parts = line.split()
    if len(parts) >= 3 and parts[-1].upper() == "SIP/2.0":
        if len(parts) > 3:
            return ParseProblem(
                "bad-start-line", f"spaces in Request-URI: {_snippet(line, opts.snippet_chars)}"
            )
        return True, parts[0], parts[1], None, None
    if "SIP/" in line.upper():
        return ParseProblem(
            "bad-start-line", f"malformed start line {_snippet(line, opts.snippet_chars)}"
        )
    return ParseProblem("not-sip", f"no SIP start line: {_snippet(data[:48], opts.snippet_chars)}")


def _body(  # noqa: PLR0917 - private helper, called once
    captured: CapturedMessage,
    data: bytes,
    head_end: int,
    body_start: int,
    content_length: str | None,
    problems: _Problems,
) -> bytes:
    """The body per Content-Length (RFC 3261 §20.14, §18.3)."""
    if head_end < 0:
        if FLAG_TRUNCATED in captured.flags or FLAG_INCOMPLETE in captured.flags:
            problems.add(
                "headers-unterminated", "no blank line after the headers (capture cut short)"
            )
        else:
            problems.add("headers-unterminated", "no blank line after the headers")
        return b""
    available = data[body_start:]
    if content_length is None:
        if captured.transport in _STREAM_TRANSPORTS:
            problems.add(
                "missing-header",
                "mandatory header Content-Length is missing"
                f" (required over {captured.transport}, RFC 3261 §18.3)",
            )
        return available
    text = content_length
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        problems.add("bad-content-length", f"Content-Length {text[:20]!r} is not a number")
        return available
    declared = int(text)
    if len(available) < declared:
        why = " (capture truncated)" if FLAG_TRUNCATED in captured.flags else ""
        problems.add("body-short", f"body has {len(available)} of {declared} bytes{why}")
        return available
    if len(available) > declared and captured.transport not in (Transport.UDP,):
        # RFC 3261 §18.3: on UDP extra bytes are simply discarded; on a stream they would be
        # the next message, which the capture stage should have split off.
        problems.add("body-excess", f"{len(available) - declared} bytes after the declared body")
    return available[:declared] if len(available) > declared else available
