"""Digest authentication: the header grammar and the hash arithmetic.

Grammar (RFC 7235 §2.1 / §4.1, RFC 7616 §3.3-§3.5, RFC 3261 §25.1 digest-cln): a header
value is a comma-separated mix of auth-schemes, their ``name=value`` auth-params and token68
blobs. One value may hold several challenges (``Digest realm="a", nonce="1", Digest ...``): a
new challenge starts wherever a token is *not* followed by ``=``. Parsing never raises; every
irregularity is appended to the caller's ``problems`` list as a ``ParseProblem``. The parsed
objects live as long as their message, so they are built small: a fast-path object derives its
``params`` from ``raw`` when asked, and repeated field values share one string (``_shared``).

Arithmetic (RFC 2617 §3.2.2, RFC 7616 §3.4, RFC 8760 for SIP): HA1, HA2, the response and
the RFC 7616 userhash for MD5, SHA-256 and SHA-512-256, each optionally ``-sess``. These are
for offline verification when the user supplies a password; they raise
``UnsupportedAlgorithm`` for an algorithm that cannot be computed (e.g. ``AKAv1-MD5``), so
call ``is_supported_algorithm`` first when the algorithm comes off the wire.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, overload

from sipauth_analyzer.primitives import redact_secrets, remember
from sipauth_analyzer.sip.grammar import UNTERMINATED_QUOTE, scan_outside_quotes
from sipauth_analyzer.sip.model import AuthHeader, Challenge, Credentials, ParseProblem

# A hostile header could otherwise add one problem per comma; the message keeps the first few.
MAX_PROBLEMS_PER_VALUE = 8
# Bounds of the tables that let repeated field values share one string object (``_shared``):
# entries, the longest value admitted (so the table stays under ~1.5 MB whatever the capture
# holds), and distinct ``qop`` spellings whose split list is kept.
MAX_SHARED_VALUES = 4096
MAX_SHARED_VALUE_LENGTH = 256
MAX_SHARED_QOP_LISTS = 64

# RFC 7230 §3.2.6 tchar: what auth-schemes and auth-param names are made of.
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
# RFC 7235 §2.1 token68: one character class then "=" padding; linear, cannot backtrack.
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Unquoted parameter values seen in the field go beyond tchar (``uri=sip:a@b;transport=udp``),
# so an unquoted value runs to the next comma or whitespace.
_BARE_VALUE_RE = re.compile(r"[^,\s]*")
_SPACE_RE = re.compile(r"[ \t\r\n]*")
# Fast path for the common, well-formed value: one scheme then ``name=value`` pairs, checked
# by one full match (whose last group marks where the parameters start) and split by one
# findall. Every piece is a single character class or Friedl's unrolled quoted-string loop
# (each character has exactly one way to match), so both are linear; anything not fully
# accepted goes to the general scanner, which reports it.
_TCHARS = r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+"


def _fast_path_patterns(quoted: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(challenge, params only, one pair) patterns for quoted-strings whose inside is ``quoted``.

    A pair is (name, text inside the quotes, bare value): the quotes are outside the groups, so
    no value needs slicing after the match.
    """
    param = rf'{_TCHARS}[ \t]*=[ \t]*(?:"{quoted}"|[^,\s"]+)'
    params = rf"({param}(?:[ \t]*,[ \t]*{param})*)[ \t]*\Z"
    return (
        re.compile(rf"[ \t]*({_TCHARS})[ \t]+{params}"),
        re.compile(rf"[ \t]*{params}"),
        re.compile(rf'({_TCHARS})[ \t]*=[ \t]*(?:"({quoted})"|([^,\s"]+))'),
    )


_FAST_CHALLENGE_RE, _FAST_PARAMS_RE, _FAST_PAIR_RE = _fast_path_patterns(r'[^"\\]*(?:\\.[^"\\]*)*')
# The same grammar for the usual value, one without a backslash: a quoted-string is plainly
# '"' [^"]* '"', and the unrolled escape loop can go. On such values both pattern sets give
# the same answer (a property test checks it). Parsing the bench storm's headers, interleaved
# with the general set alone: a challenge 7.3-9.2 -> 6.5-7.5 µs, credentials 12.4-12.7 ->
# 10.7-10.8 µs.
_PLAIN_CHALLENGE_RE, _PLAIN_PARAMS_RE, _PLAIN_PAIR_RE = _fast_path_patterns(r'[^"]*')
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)

# Digest parameters that clients and servers send without a value by mistake; seen bare, they
# are parameters with an empty value, not the start of a new challenge named "stale".
_DIGEST_PARAM_NAMES = frozenset(
    {
        "realm", "nonce", "opaque", "algorithm", "qop", "stale", "domain", "charset",
        "userhash", "username", "username*", "uri", "response", "cnonce", "nc",
        "nextnonce", "rspauth",
    }
)  # fmt: skip


_SHARED_VALUES: dict[str, str] = {}
_QOP_OPTIONS: dict[str, tuple[str, ...]] = {}
_Built = TypeVar("_Built", Challenge, Credentials)


def is_digest(scheme: str) -> bool:
    """Whether an auth scheme is Digest (RFC 7235 §2.1: compared case-insensitively).

    "Digest" as RFC 3261 spells it is tested first: metrics, verification and rules ask this
    a few times per message.
    """
    return scheme == "Digest" or scheme.strip().lower() == "digest"


def digest_only(items: tuple[_Built, ...]) -> tuple[_Built, ...]:
    """The digest ``items`` (challenges or credentials): the same tuple when all are digest,
    which is the rule, so no copy is made."""
    for item in items:
        if not is_digest(item.scheme):
            return tuple(i for i in items if is_digest(i.scheme))
    return items


@dataclass(frozen=True, slots=True)
class _AuthItem:
    """One scheme with its parameters (or token68) and where it sat in the header value."""

    scheme: str
    params: tuple[tuple[str, str], ...]
    token68: str | None
    start: int
    end: int


class _ProblemLog:
    """Appends to the caller's list, at most MAX_PROBLEMS_PER_VALUE times per header value."""

    __slots__ = ("_count", "_header", "_problems")

    def __init__(self, problems: list[ParseProblem], header: str) -> None:
        self._problems = problems
        self._header = header
        self._count = 0

    def add(self, kind: str, detail: str) -> None:
        self._count += 1
        if self._count <= MAX_PROBLEMS_PER_VALUE:
            self._problems.append(ParseProblem(kind, f"{self._header}: {detail}"))


def _snippet(text: str, limit: int = 40) -> str:
    """A short, quoted excerpt for a problem note, secrets redacted before it is cut."""
    text = redact_secrets(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _skip_space(value: str, index: int) -> int:
    match = _SPACE_RE.match(value, index)
    return match.end() if match else index


def _read_quoted(value: str, index: int, log: _ProblemLog, name: str) -> tuple[str, int]:
    """Read a quoted-string starting at ``value[index] == '"'``; returns (unescaped, next index).

    RFC 7230 §3.2.6 quoted-pair: a backslash makes the next character literal. An unterminated
    string keeps everything to the end of the value (best effort) and is reported.
    """
    index += 1
    length = len(value)
    close = value.find('"', index)
    if value.find("\\", index, close if close >= 0 else length) < 0:
        if close >= 0:
            return value[index:close], close + 1
        log.add("auth-unterminated-quote", f"{name} has no closing quote")
        return value[index:], length
    out: list[str] = []
    while index < length:
        char = value[index]
        if char == "\\":
            if index + 1 < length:
                out.append(value[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    log.add("auth-unterminated-quote", f"{name} has no closing quote")
    return "".join(out), length


def _skip_to_comma(value: str, index: int) -> int:
    """Index of the next comma outside quotes (or the end): recovery after junk."""
    comma = scan_outside_quotes(value, index, ",")
    return len(value) if comma == UNTERMINATED_QUOTE else comma


def _fast_fields(value: str, params_only: bool) -> tuple[str, int, dict[str, str]] | None:
    """The well-formed single-scheme case in two or three regex calls, or None to use the scanner.

    Returns the scheme, where it starts, and the parameters by lower-case name in header order.
    Gives exactly what ``_scan_items`` would for the values it accepts (a property test checks
    this); it declines duplicates, token68, several schemes and anything irregular, because
    those need the scanner's rules and reports.
    """
    if "\\" not in value:
        return plain_fields(value, params_only)
    return _escaped_fields(value, params_only)


def python_plain_fields(value: str, params_only: bool) -> tuple[str, int, dict[str, str]] | None:
    """``_fast_fields`` for a value without a backslash (the _PLAIN_* patterns).

    sip/_digest.c does the same in C (``plain_fields`` below); this is the reference.
    """
    # Each pattern's .match() by name: tests/fuzz/test_safety.py reads how a pattern is used.
    head = _PLAIN_PARAMS_RE.match(value) if params_only else _PLAIN_CHALLENGE_RE.match(value)
    return _fields(value, head, _PLAIN_PAIR_RE, params_only=params_only, escaped=False)


PlainFields = Callable[[str, bool], tuple[str, int, dict[str, str]] | None]
# The plain fast path in C when it was built at install (sip/_digest.c), else the Python one;
# the two give the same result (tests/sip/test_digest_fast_path.py). Read at each call, so a
# test can set it. Parsing the bench storm's 154,169 digest values: 4.5-4.9 µs each for the
# Python path's fields alone.
plain_fields: PlainFields
try:
    from sipauth_analyzer.sip._digest import plain_fields
except ImportError:  # pragma: no cover - depends on the install
    plain_fields = python_plain_fields


def _escaped_fields(value: str, params_only: bool) -> tuple[str, int, dict[str, str]] | None:
    """``_fast_fields`` for any value, quoted-pairs included (RFC 7230 §3.2.6)."""
    head = _FAST_PARAMS_RE.match(value) if params_only else _FAST_CHALLENGE_RE.match(value)
    return _fields(value, head, _FAST_PAIR_RE, params_only=params_only, escaped=True)


def _fields(
    value: str,
    head: re.Match[str] | None,
    pairs_re: re.Pattern[str],
    *,
    params_only: bool,
    escaped: bool,
) -> tuple[str, int, dict[str, str]] | None:
    """What a fast path's full ``head`` match accepted: (scheme, its start, fields) or None.

    ``head`` is a challenge pattern's match (groups: scheme, parameters) or, ``params_only``,
    a params-only pattern's (group: parameters).
    """
    if head is None:
        return None
    scheme, scheme_start = "", 0
    if params_only:
        params_start = head.start(1)
    else:
        params_start = head.start(2)
        scheme, scheme_start = head.group(1), head.start(1)
        # RFC 7235 §2.1: a token68 (``Basic QWxh...==``) may stand where the params would.
        token68 = _TOKEN68_RE.match(value, params_start)
        if token68 is not None:
            after = _skip_space(value, token68.end())
            if after >= len(value) or value[after] == ",":
                return None
    # (name, text inside the quotes, bare value): exactly one of the last two is non-empty,
    # unless the value is an empty quoted-string, when both are "" and "" is its value.
    pairs = pairs_re.findall(value, params_start)
    if escaped:
        fields = {
            name.lower(): (_QUOTED_PAIR_RE.sub(r"\1", quoted) if "\\" in quoted else quoted)
            if quoted
            else bare
            for name, quoted, bare in pairs
        }
    else:
        fields = {name.lower(): quoted or bare for name, quoted, bare in pairs}
    if len(fields) != len(pairs):  # RFC 7235 §2.2 duplicates: the scanner reports them
        return None
    return scheme, scheme_start, fields


def _fast_items(value: str, params_only: bool) -> list[_AuthItem] | None:
    """``_fast_fields`` in the scanner's shape, for the test that the two agree."""
    fast = _fast_fields(value, params_only)
    if fast is None:
        return None
    scheme, scheme_start, fields = fast
    return [_AuthItem(scheme, tuple(fields.items()), None, scheme_start, _trimmed_end(value))]


def _trimmed_end(value: str) -> int:
    """Where a fast-path value's last parameter ends: the fast grammar allows trailing OWS."""
    return len(value.rstrip(" \t"))


def params_of_fast_path_value(raw: str) -> tuple[tuple[str, str], ...]:
    """The ``params`` of a Challenge / Credentials built from the fast path, from its ``raw``.

    ``raw`` is the value the fast path accepted minus leading and trailing OWS, which the fast
    grammar ignores, so parsing it again gives the same parameters. The scanner stands behind
    it so that the answer is defined for any text.
    """
    fast = _fast_fields(raw, False)
    if fast is not None:
        return tuple(fast[2].items())
    items = _scan_items(raw, _ProblemLog([], ""), params_only=False)
    return items[0].params if items else ()


def _scan_items(value: str, log: _ProblemLog, *, params_only: bool) -> list[_AuthItem]:
    """Tokenise a whole header value into schemes with their auth-params (RFC 7235 §2.1).

    With ``params_only`` (Authentication-Info, RFC 7615 §3) there is no scheme: everything is
    one parameter list.
    """
    items: list[_AuthItem] = []
    scheme: str | None = "" if params_only else None
    scheme_start = 0
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    token68: str | None = None
    last_end = 0
    index = 0
    length = len(value)
    expect_token68 = False

    def finish() -> None:
        if scheme is not None:
            items.append(_AuthItem(scheme, tuple(params), token68, scheme_start, last_end))

    while index < length:
        index = _skip_space(value, index)
        if index >= length:
            break
        if value[index] == ",":
            index += 1
            expect_token68 = False
            continue
        if expect_token68:
            expect_token68 = False
            # RFC 7235 §2.1: right after the scheme may come one token68 instead of params; it
            # is a token68 only if nothing but OWS separates it from a comma or the end.
            match68 = _TOKEN68_RE.match(value, index)
            if match68:
                after = _skip_space(value, match68.end())
                if after >= length or value[after] == ",":
                    token68 = match68.group()
                    last_end = match68.end()
                    index = after
                    continue
        match = _TOKEN_RE.match(value, index)
        if match is None:
            log.add("auth-syntax", f"unexpected {_snippet(value[index:])}")
            index = _skip_to_comma(value, index + 1)
            continue
        token = match.group()
        after_token = _skip_space(value, match.end())
        has_equals = after_token < length and value[after_token] == "="
        if not has_equals:
            bare_param = (
                scheme is not None
                and (params_only or token.lower() in _DIGEST_PARAM_NAMES)
                and (after_token >= length or value[after_token] == ",")
            )
            if bare_param:
                log.add("auth-param-without-value", f"parameter {token!r} has no value")
                _add_param(params, seen, token.lower(), "", log)
                last_end = match.end()
                index = after_token
                continue
            # A token not followed by "=" starts a new challenge / credentials (RFC 7235 §4.1).
            finish()
            scheme = token
            scheme_start = index
            params = []
            seen = set()
            token68 = None
            last_end = match.end()
            index = match.end()
            expect_token68 = True
            continue
        if scheme is None:
            log.add("auth-missing-scheme", f"parameter {token!r} before any auth-scheme")
            scheme = ""
            scheme_start = index
        name = token.lower()
        index = _skip_space(value, after_token + 1)  # RFC 7235 §2.1: BWS around "="
        if index < length and value[index] == '"':
            param_value, index = _read_quoted(value, index, log, name)
        else:
            bare = _BARE_VALUE_RE.match(value, index)
            end = bare.end() if bare else index
            param_value = value[index:end]
            index = end
        last_end = index
        _add_param(params, seen, name, param_value, log)
        index = _skip_space(value, index)
        if index < length and value[index] != ",":
            log.add("auth-syntax", f"junk after {name}: {_snippet(value[index:])}")
            index = _skip_to_comma(value, index)
    finish()
    return items


def _add_param(
    params: list[tuple[str, str]], seen: set[str], name: str, value: str, log: _ProblemLog
) -> None:
    if name in seen:
        # RFC 7235 §2.2: each parameter name MUST occur only once; keep the first.
        log.add("auth-duplicate-param", f"parameter {name!r} repeated; the first is used")
        return
    seen.add(name)
    params.append((name, value))


@overload
def _shared(value: str) -> str: ...
@overload
def _shared(value: None) -> None: ...
@overload
def _shared(value: str | None) -> str | None: ...
def _shared(value: str | None) -> str | None:
    """One string object per distinct value (bounded), for the fields that repeat.

    Realm, algorithm, qop, nc, username and the scheme repeat in nearly every message of a
    capture, and a challenge's nonce and opaque come back in the credentials that answer it;
    each repeat shared saves 50-90 bytes for as long as the message lives. The table holds at
    most MAX_SHARED_VALUES values of at most MAX_SHARED_VALUE_LENGTH characters and is emptied
    when full: a value that keeps repeating is back in it at its next sighting.
    """
    if value is None:
        return None
    shared = _SHARED_VALUES.get(value)
    if shared is not None:
        return shared
    if len(value) <= MAX_SHARED_VALUE_LENGTH:
        remember(_SHARED_VALUES, value, value, MAX_SHARED_VALUES)
    return value


def _qop_options(qop: str | None) -> tuple[str, ...]:
    """The split ``qop`` list of a challenge (RFC 7616 §3.3), one shared tuple per spelling."""
    if not qop:
        return ()
    options = _QOP_OPTIONS.get(qop)
    if options is None:
        options = tuple(q for q in (p.strip() for p in qop.split(",")) if q)
        if len(qop) <= MAX_SHARED_VALUE_LENGTH:
            remember(_QOP_OPTIONS, qop, options, MAX_SHARED_QOP_LISTS)
    return options


def _is_true(flag: str | None) -> bool:
    return flag is not None and flag.strip().lower() == "true"


def _challenge(
    kind: AuthHeader,
    scheme: str,
    params: tuple[tuple[str, str], ...] | None,
    raw: str,
    fields: dict[str, str],
) -> Challenge:
    get = fields.get
    return Challenge(
        kind,
        _shared(scheme),
        params,
        raw,
        _shared(get("realm")),
        _shared(get("nonce")),
        _shared(get("opaque")),
        _shared(get("algorithm")),
        _qop_options(get("qop")),
        _is_true(get("stale")),
        _shared(get("domain")),
    )


def _credentials(
    kind: AuthHeader,
    scheme: str,
    params: tuple[tuple[str, str], ...] | None,
    raw: str,
    fields: dict[str, str],
) -> Credentials:
    get = fields.get
    # response and cnonce are unique to each request: sharing them would only churn the table.
    return Credentials(
        kind,
        _shared(scheme),
        params,
        raw,
        _shared(get("username")),
        _shared(get("realm")),
        _shared(get("nonce")),
        _shared(get("uri")),
        get("response"),
        _shared(get("algorithm")),
        get("cnonce"),
        _shared(get("opaque")),
        _shared(get("qop")),
        _shared(get("nc")),
        _is_true(get("userhash")),
    )


def _parse_schemes(
    kind: AuthHeader,
    value: str,
    problems: list[ParseProblem],
    build: Callable[
        [AuthHeader, str, tuple[tuple[str, str], ...] | None, str, dict[str, str]], _Built
    ],
) -> list[_Built]:
    """Each scheme in one challenge or credentials header value, built by ``build``.

    On the fast path the object gets ``params=None``: it derives them from its ``raw`` when
    asked (see ``params_of_fast_path_value``) instead of keeping a copy.
    """
    fast = _fast_fields(value, False)
    if fast is not None:
        scheme, scheme_start, fields = fast
        return [build(kind, scheme, None, value[scheme_start : _trimmed_end(value)], fields)]
    return [
        # names are unique: _add_param keeps the first
        build(kind, item.scheme, item.params, value[item.start : item.end], dict(item.params))
        for item in _scan_items(value, _ProblemLog(problems, kind.value), params_only=False)
    ]


def parse_challenges(kind: AuthHeader, value: str, problems: list[ParseProblem]) -> list[Challenge]:
    """Every challenge in one WWW-Authenticate / Proxy-Authenticate header value."""
    return _parse_schemes(kind, value, problems, _challenge)


def parse_credentials(
    kind: AuthHeader, value: str, problems: list[ParseProblem]
) -> list[Credentials]:
    """Every set of credentials in one Authorization / Proxy-Authorization header value."""
    return _parse_schemes(kind, value, problems, _credentials)


def parse_authentication_info(value: str, problems: list[ParseProblem]) -> dict[str, str]:
    """The parameters of an Authentication-Info value (RFC 7615 §3, RFC 3261 §20.6).

    Names are lower-cased (nextnonce, qop, rspauth, cnonce, nc); a repeated name keeps its
    first value.
    """
    fast = _fast_fields(value, True)
    if fast is not None:
        return fast[2]
    log = _ProblemLog(problems, AuthHeader.AUTHENTICATION_INFO.value)
    result: dict[str, str] = {}
    for item in _scan_items(value, log, params_only=True):
        for name, param_value in item.params:
            result.setdefault(name, param_value)
    return result


# -- hash arithmetic -------------------------------------------------------------------------


class DigestComputationError(ValueError):
    """The inputs cannot produce a digest (missing nonce/cnonce for -sess, unknown algorithm)."""


class UnsupportedAlgorithm(DigestComputationError):
    """An algorithm this module cannot compute, e.g. ``AKAv1-MD5`` (RFC 3310) or a typo."""


_MASK64 = (1 << 64) - 1


def _first_primes(count: int) -> list[int]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes


def _icbrt(value: int) -> int:
    """Integer cube root (floor), exact for arbitrarily large ``value`` (Newton's method)."""
    guess = 1 << ((value.bit_length() + 2) // 3)
    while True:
        better = (2 * guess + value // (guess * guess)) // 3
        if better >= guess:
            break
        guess = better
    while guess**3 > value:
        guess -= 1
    while (guess + 1) ** 3 <= value:
        guess += 1
    return guess


def _sha512_constants() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """FIPS 180-4 §4.2.3 / §5.3.5 constants, derived rather than typed in to avoid typos:
    K = first 64 bits of the fractional cube roots of the first 80 primes; the SHA-512 IV =
    first 64 bits of the fractional square roots of the first 8 primes."""
    import math

    primes = _first_primes(80)
    round_constants = tuple(_icbrt(p << 192) & _MASK64 for p in primes)
    initial = tuple(math.isqrt(p << 128) & _MASK64 for p in primes[:8])
    return round_constants, initial


def _rotr(word: int, bits: int) -> int:
    return ((word >> bits) | (word << (64 - bits))) & _MASK64


def _sha512_core(data: bytes, state: tuple[int, ...], k: tuple[int, ...]) -> tuple[int, ...]:
    """Pure-Python SHA-512 compression over ``data`` from ``state`` (FIPS 180-4 §6.4)."""
    bit_length = len(data) * 8
    padded = data + b"\x80" + b"\x00" * ((112 - (len(data) + 1) % 128) % 128)
    padded += bit_length.to_bytes(16, "big")
    h = list(state)
    for offset in range(0, len(padded), 128):
        w = [int.from_bytes(padded[offset + 8 * i : offset + 8 * i + 8], "big") for i in range(16)]
        for t in range(16, 80):
            s0 = _rotr(w[t - 15], 1) ^ _rotr(w[t - 15], 8) ^ (w[t - 15] >> 7)
            s1 = _rotr(w[t - 2], 19) ^ _rotr(w[t - 2], 61) ^ (w[t - 2] >> 6)
            w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK64)
        a, b, c, d, e, f, g, hh = h
        for t in range(80):
            sum1 = _rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)
            choose = (e & f) ^ (~e & g)
            temp1 = (hh + sum1 + choose + k[t] + w[t]) & _MASK64
            sum0 = _rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)
            majority = (a & b) ^ (a & c) ^ (b & c)
            temp2 = (sum0 + majority) & _MASK64
            hh, g, f, e, d, c, b, a = (
                g,
                f,
                e,
                (d + temp1) & _MASK64,
                c,
                b,
                a,
                (temp1 + temp2) & _MASK64,
            )
        h = [(x + y) & _MASK64 for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True)]
    return tuple(h)


def sha512_256_pure(data: bytes) -> str:
    """SHA-512/256 (FIPS 180-4 §5.3.6.2) in pure Python, for OpenSSL builds without it.

    The IV is generated as §5.3.6 prescribes: SHA-512 of ``"SHA-512/256"`` starting from the
    SHA-512 IV XOR 0xa5a5…; the digest is the first 256 bits.
    """
    k, sha512_iv = _sha512_constants()
    generator_iv = tuple(word ^ 0xA5A5A5A5A5A5A5A5 for word in sha512_iv)
    iv = _sha512_core(b"SHA-512/256", generator_iv, k)
    state = _sha512_core(data, iv, k)
    return b"".join(word.to_bytes(8, "big") for word in state[:4]).hex()


def _hashlib_hex(name: str) -> Callable[[bytes], str]:
    def run(data: bytes) -> str:
        return hashlib.new(name, data).hexdigest()

    return run


def _sha512_256_impl() -> Callable[[bytes], str]:
    try:
        hashlib.new("sha512_256", b"")
    except ValueError:
        return sha512_256_pure
    return _hashlib_hex("sha512_256")


# RFC 7616 §6.1 / RFC 8760 §2 algorithm names (compared upper-case).
_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": _hashlib_hex("md5"),
    "SHA-256": _hashlib_hex("sha256"),
    "SHA-512-256": _sha512_256_impl(),
}


def _resolve(algorithm: str | None) -> tuple[Callable[[bytes], str], bool]:
    """(hash function, is_session) for an algorithm token; None means MD5 (RFC 7616 §3.3)."""
    name = "MD5" if algorithm is None else algorithm.strip().upper()
    session = name.endswith("-SESS")
    if session:
        name = name[: -len("-SESS")]
    function = _HASHES.get(name)
    if function is None:
        raise UnsupportedAlgorithm(f"digest algorithm {algorithm!r} is not supported")
    return function, session


def is_supported_algorithm(algorithm: str | None) -> bool:
    """True when ``digest_hash`` and friends can compute ``algorithm``."""
    try:
        _resolve(algorithm)
    except UnsupportedAlgorithm:
        return False
    return True


def _utf8(text: str) -> bytes:
    # RFC 7616 §4: UTF-8. surrogateescape so text decoded that way gets its original bytes.
    return text.encode("utf-8", "surrogateescape")


def digest_hash(algorithm: str | None, data: bytes) -> str:
    """H(data) as lower-case hex for MD5, SHA-256, SHA-512-256 (``-sess`` uses the same H)."""
    function, _ = _resolve(algorithm)
    return function(data)


def compute_ha1(  # noqa: PLR0917 - argument order follows the RFC formula
    algorithm: str | None,
    username: str,
    realm: str,
    password: str,
    nonce: str | None = None,
    cnonce: str | None = None,
) -> str:
    """H(A1): ``H(user:realm:password)``; for ``-sess`` ``H(H(user:realm:password):nonce:cnonce)``
    (RFC 2617 §3.2.2.2, RFC 7616 §3.4.2)."""
    function, session = _resolve(algorithm)
    ha1 = function(_utf8(f"{username}:{realm}:{password}"))
    if not session:
        return ha1
    if nonce is None or cnonce is None:
        raise DigestComputationError(f"{algorithm} needs the nonce and cnonce for H(A1)")
    return function(_utf8(f"{ha1}:{nonce}:{cnonce}"))


def compute_ha2(
    algorithm: str | None, method: str, uri: str, qop: str | None = None, body: bytes = b""
) -> str:
    """H(A2): ``H(method:uri)``; for ``qop=auth-int`` ``H(method:uri:H(body))`` (RFC 7616 §3.4.3).

    In SIP the body is the message body (RFC 3261 §22.4 rule 8), empty when there is none.
    """
    function, _ = _resolve(algorithm)
    if qop is not None and qop.strip().lower() == "auth-int":
        return function(_utf8(f"{method}:{uri}:") + function(body).encode("ascii"))
    return function(_utf8(f"{method}:{uri}"))


def compute_response(  # noqa: PLR0917 - argument order follows the RFC formula
    algorithm: str | None,
    ha1: str,
    nonce: str,
    nc: str | None,
    cnonce: str | None,
    qop: str | None,
    ha2: str,
) -> str:
    """The ``response`` value: ``H(HA1:nonce:nc:cnonce:qop:HA2)`` (RFC 7616 §3.4.1), or the
    RFC 2069 form ``H(HA1:nonce:HA2)`` when there is no qop (still the norm in SIP)."""
    function, _ = _resolve(algorithm)
    if qop is None:
        return function(_utf8(f"{ha1}:{nonce}:{ha2}"))
    if nc is None or cnonce is None:
        raise DigestComputationError("qop needs nc and cnonce for the response")
    return function(_utf8(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))


def userhash(algorithm: str | None, username: str, realm: str) -> str:
    """RFC 7616 §3.4.4: the hashed username ``H(username:realm)`` sent when ``userhash=true``."""
    function, _ = _resolve(algorithm)
    return function(_utf8(f"{username}:{realm}"))
