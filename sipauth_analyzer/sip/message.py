"""SipMessage: a tolerant, lazily parsed SIP message (RFC 3261 §7).

``parse_message`` never raises on bad input: a message it cannot make sense of becomes a
``ParseProblem``; oddities in an otherwise usable message are collected in ``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.primitives import remember
from sipauth_analyzer.sip.digest import parse_challenges, parse_credentials
from sipauth_analyzer.sip.grammar import header_param, name_addr_uri, parse_cseq, split_commas
from sipauth_analyzer.sip.model import AuthHeader, Challenge, Credentials, ParseProblem

if TYPE_CHECKING:
    from sipauth_analyzer.sip.parser import SipParseOptions

# RFC 3261 §7.3.3 (c e f i k l m s t v) and the compact forms in the IANA "Header Fields"
# registry: a Accept-Contact, d Request-Disposition, j Reject-Contact (RFC 3841); b Referred-By
# (RFC 3892); n Identity-Info (RFC 4474, obsoleted by RFC 8224 but still seen); o Event and
# u Allow-Events (RFC 6665); r Refer-To (RFC 3515); x Session-Expires (RFC 4028); y Identity
# (RFC 8224).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}


# The digest headers each property parses, with their lookup keys (read once per message).
_CHALLENGE_HEADERS = tuple(
    (kind, kind.value.lower())
    for kind in (AuthHeader.WWW_AUTHENTICATE, AuthHeader.PROXY_AUTHENTICATE)
)
_CREDENTIALS_HEADERS = tuple(
    (kind, kind.value.lower())
    for kind in (AuthHeader.AUTHORIZATION, AuthHeader.PROXY_AUTHORIZATION)
)

@dataclass(frozen=True, slots=True)
class HeaderLayout:
    """Which header each stored line of a message belongs to: ``names[i]`` is the lower-case
    full name of line ``i``; ``positions`` maps each name to its line indexes, in order.

    A message keeps its header lines as one tuple of values beside a layout, and messages of
    the same shape share one layout (see :func:`header_layout`): a user agent writes the same
    headers in the same order in every message, and a response repeats its request's. Per
    message only the values tuple remains, one pointer per line; a dict of one-element lists
    cost about 1 KB per message, half of what an analysis kept for each message until the
    report (measured on the 200 k-message auth storm of ``make bench``).
    """

    names: tuple[str, ...]
    positions: Mapping[str, tuple[int, ...]] = field(compare=False, hash=False)


# Layouts by their names, so equal layouts are one object. Emptied when full: the bound caps
# what hostile traffic (random header names and orders) can make it hold; it never changes a
# result, only how much is shared. Layouts longer than _SHARED_LAYOUT_MAX_LINES (real messages
# carry 10-30 header lines; the parser allows 512) are not kept: a full table of those would
# hold ~150 MiB.
_LAYOUTS: dict[tuple[str, ...], HeaderLayout] = {}
_SHARED_LAYOUT_MAX_LINES = 64


def header_layout(names: tuple[str, ...], limit: int = 4_096) -> HeaderLayout:
    """The shared layout for header lines named ``names`` (lower-case full names, in order)."""
    layout = _LAYOUTS.get(names)
    if layout is None:
        positions: dict[str, tuple[int, ...]] = {}
        for index, name in enumerate(names):
            positions[name] = (*positions.get(name, ()), index)
        layout = HeaderLayout(names, positions)
        if len(names) <= _SHARED_LAYOUT_MAX_LINES:
            remember(_LAYOUTS, names, layout, limit)
    return layout


class HeaderNotKept(LookupError):
    """A header was asked of a message parsed with a profile that did not keep it.

    A programming error, never bad input: the profile (e.g. parser.ANALYSIS_HEADERS) must name
    every header its consumers read. Raised so that a new reader fails in the tests instead of
    silently seeing the header as absent.
    """


@dataclass(slots=True)
class SipMessage:
    """One parsed SIP request or response.

    ``values`` holds the raw header *lines* kept (values, unfolded, one entry per header
    line) in message order, ``layout`` names each of them; ``header(name)`` gives the lines of
    one header and ``headers`` all of them as a dict of lists. ``header_values(name)`` splits
    comma-separated list headers (Via, Contact, Allow, ...) into an ordered list of values.
    ``kept_headers`` is the parse profile's set of stored headers (None: all of them); the
    others were validated but not stored, and ``header()`` raises HeaderNotKept for them.
    """

    source: CapturedMessage
    is_request: bool
    method: str | None  # request method; for a response, the CSeq method
    request_uri: str | None
    status: int | None
    reason: str | None
    layout: HeaderLayout
    values: tuple[str, ...]
    body: bytes
    # None until the first problem: most messages have none, and an empty list per kept message
    # is 56 bytes. Read through ``problems``; appended to only by this class and the parser.
    _problems: list[ParseProblem] | None = None
    kept_headers: frozenset[str] | None = None
    # Tuples: most messages have none (the shared empty tuple costs nothing) or one, and a
    # one-item tuple is 40 bytes smaller than a one-item list, on every kept message.
    _challenges: tuple[Challenge, ...] | None = None
    _credentials: tuple[Credentials, ...] | None = None
    _cseq: tuple[int, str] | None = None  # cached parse of the first CSeq line
    _cseq_parsed: bool = False

    @property
    def problems(self) -> list[ParseProblem]:
        """Oddities found in the message, by the parser and by the lazy digest parsing."""
        problems = self._problems
        return problems if problems is not None else []

    def _problem_log(self) -> list[ParseProblem]:
        """The problem list to append to, created on first use."""
        if self._problems is None:
            self._problems = []
        return self._problems

    # -- header access -------------------------------------------------------------------
    def header(self, name: str) -> list[str]:
        """Every line of header ``name`` (full or compact name, any case), in order."""
        key = name.lower()
        return self._lines(COMPACT_FORMS.get(key, key))

    def _lines(self, key: str) -> list[str]:
        """``header`` for a lower-case full name: what every lookup ends in."""
        positions = self.layout.positions.get(key)
        if positions is not None:
            values = self.values
            return [values[index] for index in positions]
        kept = self.kept_headers
        if kept is not None and key not in kept:
            raise HeaderNotKept(f"header {key!r} was not kept by the parse profile")
        return []

    def first(self, name: str) -> str | None:
        values = self.header(name)
        return values[0] if values else None

    def first_line(self, key: str) -> str | None:
        """The first line of header ``key``, a lower-case *full* name the parse profile keeps.

        For the correlation's hot path, which reads the same few mandatory headers of every
        message: no case folding, no compact forms, no HeaderNotKept check.
        """
        positions = self.layout.positions.get(key)
        return self.values[positions[0]] if positions is not None else None

    def has_header(self, key: str) -> bool:
        """Whether header ``key`` (a lower-case full name the profile keeps) has a line."""
        return key in self.layout.positions

    @property
    def headers(self) -> dict[str, list[str]]:
        """Every kept header: lower-case full name → its lines in order (a new dict)."""
        values = self.values
        return {
            name: [values[index] for index in positions]
            for name, positions in self.layout.positions.items()
        }

    def header_values(self, name: str) -> list[str]:
        """Comma-separated list values of ``name`` across all its lines (quote-aware)."""
        out: list[str] = []
        for line in self.header(name):
            out.extend(split_commas(line))
        return out

    # -- convenience fields used everywhere downstream ----------------------------------
    @property
    def call_id(self) -> str | None:
        return self.first_line("call-id")

    @property
    def cseq(self) -> tuple[int, str] | None:
        # Correlation asks for the CSeq of every message several times: parse it once.
        if not self._cseq_parsed:
            value = self.first_line("cseq")
            self._cseq = parse_cseq(value) if value is not None else None
            self._cseq_parsed = True
        return self._cseq

    @property
    def cseq_number(self) -> int | None:
        cseq = self.cseq
        return cseq[0] if cseq else None

    @property
    def cseq_method(self) -> str | None:
        cseq = self.cseq
        return cseq[1] if cseq else None

    @property
    def from_tag(self) -> str | None:
        value = self.first_line("from")
        return header_param(value, "tag") if value else None

    @property
    def to_tag(self) -> str | None:
        value = self.first_line("to")
        return header_param(value, "tag") if value else None

    @property
    def from_uri(self) -> str | None:
        value = self.first_line("from")
        return name_addr_uri(value) if value else None

    @property
    def to_uri(self) -> str | None:
        value = self.first_line("to")
        return name_addr_uri(value) if value else None

    @property
    def top_via_branch(self) -> str | None:
        # Only the first Via value matters; split lines until one has a value.
        for line in self.header("via"):
            vias = split_commas(line)
            if vias:
                return header_param(vias[0], "branch")
        return None

    @property
    def user_agent(self) -> str | None:
        return self.first("user-agent") or (self.first("server") if not self.is_request else None)

    # -- digest authentication -------------------------------------------------------------
    @property
    def challenges(self) -> tuple[Challenge, ...]:
        """Every challenge in WWW-Authenticate and Proxy-Authenticate, in header order."""
        if self._challenges is None:
            found: list[Challenge] = []
            problems: list[ParseProblem] = []
            for kind, key in _CHALLENGE_HEADERS:
                for line in self._lines(key):
                    found.extend(parse_challenges(kind, line, problems))
            if problems:
                self._problem_log().extend(problems)
            self._challenges = tuple(found)
        return self._challenges

    @property
    def credentials(self) -> tuple[Credentials, ...]:
        """Every credential in Authorization and Proxy-Authorization, in header order."""
        if self._credentials is None:
            found: list[Credentials] = []
            problems: list[ParseProblem] = []
            for kind, key in _CREDENTIALS_HEADERS:
                for line in self._lines(key):
                    found.extend(parse_credentials(kind, line, problems))
            if problems:
                self._problem_log().extend(problems)
            self._credentials = tuple(found)
        return self._credentials

    @property
    def summary(self) -> str:
        """``INVITE`` for a request, ``407 Proxy Authentication Required`` for a response."""
        if self.is_request:
            return self.method or "?"
        return f"{self.status} {self.reason or ''}".rstrip()


def parse_message(
    captured: CapturedMessage, options: SipParseOptions | None = None
) -> SipMessage | ParseProblem:
    """Parse ``captured.data``; never raises. Implemented in sip/parser.py.

    The import below runs at every call (≈ 1.2 µs): a loop over a capture calls
    ``sip.parser.parse`` itself, as the pipeline does.
    """
    # Imported here: parser.py builds SipMessage, so a top-level import would be circular.
    from sipauth_analyzer.sip.parser import parse

    return parse(captured, options)
