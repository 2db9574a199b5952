"""The vocabulary of the rule stage: severities, rule metadata, findings, evidence and options.

A rule is a module ``rules/saNNN_<name>.py`` holding ``META: RuleMeta`` and
``check(ctx: RuleContext) -> Iterator[Finding]``; its module docstring is the long
documentation printed by ``sipauth explain CODE``. Rules build findings with
:func:`make_finding`, which fills in the parts every finding shares (sorted Wireshark frame
numbers, a display filter, a capture-independent fingerprint, redacted evidence).
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sipauth_analyzer.capture.model import FLAG_HEP, FLAG_INCOMPLETE
from sipauth_analyzer.correlate.model import AuthExchange, Correlation
from sipauth_analyzer.primitives import Endpoint, redact_secrets

if TYPE_CHECKING:
    from sipauth_analyzer.sip.message import SipMessage


def _by_rank(
    compare: Callable[[int, int], bool], symbol: str
) -> Callable[[Severity, object], bool]:
    """A comparison method of :class:`Severity` comparing ranks, not strings."""

    def method(self: Severity, other: object) -> bool:
        if not isinstance(other, Severity):
            # Not NotImplemented: Python would then fall back to str's reflected comparison
            # and order "warning" against "error" alphabetically — silently wrong.
            raise TypeError(
                f"{symbol!r} not supported between Severity and {type(other).__name__}"
            )
        return compare(self.rank, other.rank)

    return method


class Severity(enum.StrEnum):
    """How bad a finding is: ``error`` breaks auth, ``warning`` is a risk, ``info`` an observation.

    Members compare by rank (``Severity.ERROR > Severity.WARNING``), not alphabetically. All
    four comparisons are set here: ``functools.total_ordering`` would fill in none of them,
    because ``str`` already defines them all, and ``ERROR > WARNING`` would compare strings.
    """

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    __lt__ = _by_rank(operator.lt, "<")
    __le__ = _by_rank(operator.le, "<=")
    __gt__ = _by_rank(operator.gt, ">")
    __ge__ = _by_rank(operator.ge, ">=")


_SEVERITY_RANK: dict[Severity, int] = {severity: rank for rank, severity in enumerate(Severity)}


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """A rule's identity and docs: a stable code (never reused), a name for the *problem*."""

    code: str  # "SA101"; the hundreds group the topic (see rules/__init__.py)
    name: str  # "realm-mismatch"
    severity: Severity
    summary: str  # one line
    explanation: str  # why it breaks / matters
    remediation: str  # how to fix, with vendor specifics
    references: tuple[str, ...] = ()  # "RFC 3261 §22.4"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One message proving a finding: where it is and its relevant header lines, redacted."""

    frame: int
    file: str
    time: float
    call_id: str | None
    summary: str  # "INVITE sip:bob@example.com" or "407 Proxy Authentication Required"
    excerpt: str  # e.g. 'Proxy-Authorization: Digest username="edge", realm="genesys.com", …'


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnosed problem, with the concrete values that differ and the frames that prove it."""

    code: str
    name: str
    severity: Severity
    message: str
    frames: tuple[int, ...]  # Wireshark frame numbers, sorted, unique
    call_ids: tuple[str, ...]
    client: Endpoint | None
    server: Endpoint | None
    evidence: tuple[Evidence, ...]
    display_filter: str
    fingerprint: str  # stable across captures of the same trunk: no frames, no times
    exchange_ids: tuple[int, ...] = ()

    @property
    def first_frame(self) -> int:
        return self.frames[0] if self.frames else 0


# Scanner and attack tools as they identify themselves in User-Agent. "Cisco-SIPGateway" is
# deliberately absent although scanners imitate it: real Cisco IOS gateways send exactly that
# string, and a false "scanner" verdict on a production trunk is worse than a missed one.
DEFAULT_SCANNER_USER_AGENTS: tuple[str, ...] = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "VaxSIPUserAgent",
    "sundayddr",
    "iWar",
    "sip-scan",
    "SIPScan",
    "smap",
    "pplsip",
)


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """Named, documented thresholds of the rule stage. Passed down, never read from globals."""

    # More challenge cycles than this for one request without success is an auth loop
    # (a correct client needs one: request → 401/407 → retry → 2xx).
    max_challenge_cycles: int = 2
    # RFC 3261 §18.1.1: a request within 200 bytes of the path MTU, or larger than 1300 bytes
    # when the MTU is unknown, MUST go over a congestion-controlled transport (TCP/TLS).
    udp_size_warning: int = 1300
    # Link MTU assumed for "this UDP request was fragmented" when the capture cannot say.
    mtu: int = 1500
    # Brute force: within ``brute_force_window_s`` one source trying this many distinct
    # usernames, or collecting this many failed digest responses, against one server.
    brute_force_usernames: int = 5
    brute_force_failures: int = 10
    brute_force_window_s: float = 60.0
    # More 401/407s than this from one server to one client within any 60 s is a storm.
    storm_challenges_per_minute: int = 60
    # User-Agent substrings (case-insensitive) of known scanners.
    known_scanner_user_agents: tuple[str, ...] = DEFAULT_SCANNER_USER_AGENTS
    # Challenges within this many seconds of the capture's end are not called "ignored" (their
    # answer may have been cut off). 0 by default: people stop a capture right after the
    # failure they want explained; raise it for rolling / ring-buffer captures. Findings on a
    # challenge less than ``capture_end_caveat_s`` before the end say so in their message.
    capture_end_grace_s: float = 0.0
    capture_end_caveat_s: float = 2.0
    # An authenticated UDP retry only counts as unanswered ("ghost") once it was retransmitted
    # or this much capture time passed after it (RFC 3261 §17.1.1.2: T1 = 0.5 s).
    ghost_min_wait_s: float = 1.0
    # A retry slower than the observed nonce lifetime only counts when at least this slow.
    min_slow_retry_s: float = 1.0
    # Bounds on output size: evidence lines per finding and characters per excerpt.
    max_evidence: int = 8
    max_excerpt_chars: int = 400
    # Frames listed per finding (a storm can involve thousands; the message gives the total).
    max_frames_per_finding: int = 200
    # Findings one rule may emit; the rest are summarised by the engine as a Note.
    max_findings_per_rule: int = 1000


@dataclass(slots=True)
class RuleContext:
    """What a rule sees: the correlation, the options, and whether secrets must be redacted.

    ``cache`` holds indexes built once and shared by rules (see rules/facts.py), so no rule
    rescans the whole capture per exchange.
    """

    correlation: Correlation
    options: RuleOptions = field(default_factory=RuleOptions)
    redact: bool = True
    cache: dict[str, Any] = field(default_factory=dict)


# -- redaction ---------------------------------------------------------------------------------

def redact_line(line: str) -> str:
    """Replace digest ``response``/``cnonce`` values and Basic tokens by ``…redacted…``."""
    return redact_secrets(line)


def start_line(message: SipMessage) -> str:
    if message.is_request:
        return f"{message.method or '?'} {message.request_uri or ''}".rstrip()
    return message.summary


def evidence(
    ctx: RuleContext, message: SipMessage, headers: Iterable[str] = (), *, note: str = ""
) -> Evidence:
    """Evidence for ``message``: its start line and the named header lines (redacted)."""
    parts: list[str] = []
    for name in headers:
        parts.extend(f"{name}: {value}" for value in message.header(name))
    if note:
        parts.append(note)
    excerpt = " | ".join(parts)
    if ctx.redact:
        excerpt = redact_line(excerpt)
    limit = ctx.options.max_excerpt_chars
    if len(excerpt) > limit:
        # The ellipsis takes one of the ``limit`` characters; a limit of 0 (or less) means no
        # excerpt at all (a negative slice bound would keep almost everything).
        excerpt = excerpt[: limit - 1] + "…" if limit > 0 else ""
    source = message.source
    return Evidence(
        frame=source.frame,
        file=source.file,
        time=source.time,
        call_id=message.call_id,
        summary=start_line(message),
        excerpt=excerpt,
    )


# -- display filters and fingerprints ----------------------------------------------------------


def quoted(values: Iterable[str]) -> str:
    """``"a", "b"`` — values as the user would type them (no Python repr escaping)."""
    return ", ".join(f'"{value}"' for value in values)


def plural(count: int, word: str) -> str:
    """``1 Call-ID``, ``2 Call-IDs``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def listed(items: Sequence[str], limit: int) -> str:
    """``a, b, c``; past ``limit`` items, the first ``limit`` and how many more
    (``a, b and 3 more``)."""
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += f" and {len(items) - limit} more"
    return text


# A finding about many exchanges names at most this many usernames.
MAX_USERNAMES_NAMED = 10


def named_users(users: Iterable[str]) -> str:
    """``"201", "202"``: the usernames sorted and quoted, at most MAX_USERNAMES_NAMED of them,
    then how many more (``… and 3 more``)."""
    return listed([f'"{user}"' for user in sorted(set(users))], MAX_USERNAMES_NAMED)


def value_range(values: Iterable[int]) -> str:
    """``4`` when every value is 4, ``3 to 6`` otherwise."""
    ordered = sorted(values)
    low, high = ordered[0], ordered[-1]
    return str(low) if low == high else f"{low} to {high}"


def tally(values: Iterable[str]) -> str:
    """``rejected`` when every value is the same, else each with its count, commonest first:
    ``challenge-unanswered (90), rejected (3)``."""
    counts = Counter(values)
    if len(counts) == 1:
        return next(iter(counts))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{value} ({count})" for value, count in ordered)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def display_filter(call_ids: Iterable[str], frames: Iterable[int]) -> str:
    """A Wireshark display filter isolating the finding (checked with tshark 4.0 ``-Y``).

    Sets need commas: ``frame.number in {12, 14}``.
    """
    parts: list[str] = []
    ids = sorted(set(call_ids))
    if len(ids) == 1:
        parts.append(f"sip.Call-ID == {_quote(ids[0])}")
    elif ids:
        parts.append("sip.Call-ID in {" + ", ".join(_quote(i) for i in ids) + "}")
    numbers = sorted(set(frames))
    if numbers:
        parts.append("frame.number in {" + ", ".join(str(n) for n in numbers) + "}")
    return " && ".join(parts) if parts else "sip"


def fingerprint(
    code: str, client: Endpoint | None, server: Endpoint | None, keys: Iterable[str]
) -> str:
    """Hash of the rule code, the peer IPs (ports change between captures) and the key values."""
    material = "\x1f".join([code, client.ip if client else "", server.ip if server else "", *keys])
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# Header lines shown as evidence unless a rule names others (response/cnonce get redacted).
AUTH_HEADERS: tuple[str, ...] = (
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
)


def _capture_order(message: SipMessage) -> tuple[float, str, int]:
    source = message.source
    return (source.time, source.file, source.frame)


def unique_messages(messages: Iterable[SipMessage], limit: int | None = None
                    ) -> list[SipMessage]:
    """``messages`` without repeats (by identity; SipMessage is not hashable), in capture order;
    only the first ``limit`` when given.

    Capture order across several files (rotated captures read as one timeline) is time order;
    within a file, frame order breaks ties.
    """
    seen: set[int] = set()
    out: list[SipMessage] = []
    for message in messages:
        if id(message) not in seen:
            seen.add(id(message))
            out.append(message)
    if limit is not None and len(out) > limit:
        # A finding about a flood names a few hundred of its ~100,000 messages: selecting them
        # is O(n log limit) where sorting them all was O(n log n). Same result: nsmallest is
        # sorted(...)[:limit], ties kept in input order.
        return heapq.nsmallest(limit, out, key=_capture_order)
    out.sort(key=_capture_order)
    return out


_NOT_DISSECTED_BY_WIRESHARK = frozenset({FLAG_INCOMPLETE, FLAG_HEP})


def make_finding(
    ctx: RuleContext,
    meta: RuleMeta,
    message: str,
    *,
    messages: Iterable[SipMessage],
    client: Endpoint | None,
    server: Endpoint | None,
    keys: Iterable[str] = (),
    evidence_items: Iterable[Evidence] | None = None,
    evidence_headers: tuple[str, ...] = AUTH_HEADERS,
    exchanges: Iterable[AuthExchange] = (),
) -> Finding:
    """Build a finding: frames and Call-IDs come from ``messages``; evidence (by default the
    ``evidence_headers`` lines of each message) is capped at ``options.max_evidence``."""
    msgs = unique_messages(messages, max(ctx.options.max_frames_per_finding, 0))
    if evidence_items is None:
        # msgs is in the evidence order already (time, file, frame): the first max_evidence
        # are the ones kept, and the excerpt of each costs a redaction pass.
        evidence_items = [
            evidence(ctx, m, evidence_headers) for m in msgs[: max(ctx.options.max_evidence, 0)]
        ]
    frames = tuple(sorted({m.source.frame for m in msgs}))
    call_ids = tuple(sorted({cid for m in msgs if (cid := m.call_id) is not None}))
    items = sorted(evidence_items, key=lambda e: (e.time, e.file, e.frame))
    items = items[: ctx.options.max_evidence]
    # Frame numbers restart in each file: a filter naming frames of two files would select
    # the wrong packets in both, so a finding spanning files filters by Call-ID only.
    single_file = len({m.source.file for m in msgs}) <= 1
    # Wireshark does not dissect as SIP a datagram missing fragments, nor SIP inside HEP: a
    # sip.Call-ID clause would hide exactly those frames, so they are selected by number alone.
    dissected = all(not (m.source.flags & _NOT_DISSECTED_BY_WIRESHARK) for m in msgs)
    return Finding(
        code=meta.code,
        name=meta.name,
        severity=meta.severity,
        message=message,
        frames=frames,
        call_ids=call_ids,
        client=client,
        server=server,
        evidence=tuple(items),
        display_filter=display_filter(
            call_ids if dissected or not single_file else (), frames if single_file else ()
        ),
        fingerprint=fingerprint(meta.code, client, server, keys),
        exchange_ids=tuple(sorted({e.id for e in exchanges})),
    )


_Detail = TypeVar("_Detail")


@dataclass(slots=True)
class PeerGroup(Generic[_Detail]):
    """The exchanges of one client and server (by IP) in which a rule saw the same problem,
    with what it noted about each (``details``, in exchange order) and the messages that show
    it: the material of one finding."""

    keys: tuple[str, ...]  # the finding's fingerprint keys, equal for the whole group
    client: Endpoint  # of the first exchange
    server: Endpoint
    exchanges: list[AuthExchange] = field(default_factory=list)
    details: list[_Detail] = field(default_factory=list)
    messages: list[SipMessage] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many exchanges: a rule may note one exchange more than once (SA403 notes each
        unanswered retry)."""
        return len({id(exchange) for exchange in self.exchanges})


def in_exchanges(count: int) -> str:
    """The tail of a finding's message over ``count`` exchanges: `` — in 3 exchanges``, and
    nothing for one."""
    return f" — in {count} exchanges" if count > 1 else ""


class PeerGroups(Generic[_Detail]):
    """Exchanges grouped by client IP, server IP and fingerprint keys, for rules that report a
    problem once per trunk rather than once per call.

    A misconfigured trunk repeats its mistake on every call. One finding per call gave the
    same fingerprint again and again (93 SA301 findings for one looping trunk of the bench
    trunk capture, and 1,000 on the auth storm, where ``max_findings_per_rule`` stopped the
    rule and the rest went uncounted); one finding per group counts every call and names each
    exchange (``Finding.exchange_ids``), and its fingerprint is the one the per-call findings
    shared, so baselines still match.
    """

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, tuple[str, ...]], PeerGroup[_Detail]] = {}

    def add(
        self,
        exchange: AuthExchange,
        keys: tuple[str, ...],
        detail: _Detail,
        messages: Iterable[SipMessage],
    ) -> None:
        client, server = exchange.client, exchange.server
        group = self._groups.get((client.ip, server.ip, keys))
        if group is None:
            group = self._groups[(client.ip, server.ip, keys)] = PeerGroup(keys, client, server)
        group.exchanges.append(exchange)
        group.details.append(detail)
        group.messages.extend(messages)

    def __iter__(self) -> Iterator[PeerGroup[_Detail]]:
        """The groups in the order of their first exchange."""
        return iter(self._groups.values())


def peer_group_message(group: PeerGroup[str]) -> str:
    """The message of a finding over a group's exchanges, from the message each observation
    would have had alone (``PeerGroup.details``).

    One exchange: its messages, each once. Several: the message and how many exchanges it was
    seen in, or, when the messages differ in some detail (a frame number, a username), the
    first one and how many exchanges share the finding.
    """
    texts = list(dict.fromkeys(group.details))
    if group.count == 1:
        return "; ".join(texts)
    if len(texts) == 1:
        return texts[0] + in_exchanges(group.count)
    return f"{texts[0]} — first of {group.count} exchanges with this finding"


def peer_group_findings(
    ctx: RuleContext,
    meta: RuleMeta,
    groups: PeerGroups[_Detail],
    message: Callable[[PeerGroup[_Detail]], str],
    evidence_headers: tuple[str, ...] = AUTH_HEADERS,
) -> Iterator[Finding]:
    """One finding per group, worded by ``message`` (``peer_group_message`` when the details
    are each observation's own message)."""
    for group in groups:
        yield make_finding(
            ctx,
            meta,
            message(group),
            messages=group.messages,
            client=group.client,
            server=group.server,
            keys=group.keys,
            evidence_headers=evidence_headers,
            exchanges=group.exchanges,
        )
