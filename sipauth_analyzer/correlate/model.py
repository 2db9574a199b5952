"""What correlation produces: transactions, auth exchanges and per-trunk metrics.

An *auth exchange* is the life of one request through digest authentication: the original
request → its 401/407 challenge(s) → each retry with credentials → … → the outcome. Rules
read exchanges; reports render them. Frame numbers are Wireshark's.
"""

from __future__ import annotations

import enum
import hashlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from sipauth_analyzer.primitives import Endpoint, Note
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import Challenge, Credentials

_T = TypeVar("_T")


def appended(items: Sequence[_T], item: _T) -> Sequence[_T]:
    """``items`` with ``item`` appended, for the sequences below that start as ``()``.

    The first item makes a one-item tuple, the second a list, later ones go into that list in
    place. Every transaction and exchange is kept until the report and most of these hold
    none or one item: an empty tuple costs nothing (it is shared), a one-item tuple 48 bytes,
    where a one-item list costs 88 (the list and the room for four items it grows to).
    """
    if isinstance(items, list):
        items.append(item)
        return items
    if not items:
        return (item,)
    return [*items, item]


@dataclass(slots=True)
class Transaction:
    """RFC 3261 §17: one request (keyed by Via branch, CSeq method, direction) and its responses.

    ``retransmissions`` are copies of the request seen again (same key); they are never new
    attempts. ``responses`` holds every response in capture order (provisional, final and
    retransmitted finals): add them with ``add_response``.

    ``responses`` and ``retransmissions`` (like AuthExchange ``acks`` and ``cancels``) start as
    the empty tuple and grow through ``appended``: most transactions have one response and no
    retransmission, and every one is kept until the report.
    """

    request: SipMessage
    retransmissions: Sequence[SipMessage] = ()
    responses: Sequence[SipMessage] = ()
    # Memo of ``final``: metrics, rules and reports ask for it about ten times per transaction
    # (directly and through ``challenges`` / AuthExchange.challenged), ~1.5 million scans on a
    # 200,000-message storm. ``responses`` is only ever appended to, so the first final
    # response never changes once found, and a scan that found none resumes where it stopped.
    _final: SipMessage | None = field(default=None, init=False, repr=False, compare=False)
    _final_scanned: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def final(self) -> SipMessage | None:
        """The first final (>= 200) response, or None."""
        if self._final is None:
            responses = self.responses
            for index in range(self._final_scanned, len(responses)):
                status = responses[index].status
                if status is not None and status >= 200:
                    self._final = responses[index]
                    break
            self._final_scanned = len(responses)
        return self._final

    def add_response(self, response: SipMessage) -> None:
        """Append ``response`` (the next in capture order) to ``responses``."""
        self.responses = appended(self.responses, response)

    @property
    def client(self) -> Endpoint:
        return self.request.source.src

    @property
    def server(self) -> Endpoint:
        return self.request.source.dst

    @property
    def challenges(self) -> tuple[Challenge, ...]:
        final = self.final
        if final is None or final.status not in (401, 407):
            return ()
        return final.challenges

    @property
    def credentials(self) -> tuple[Credentials, ...]:
        return self.request.credentials


class Outcome(enum.StrEnum):
    """How an auth exchange ended."""

    SUCCEEDED = "succeeded"  # a 2xx after (or without) challenges
    REJECTED = "rejected"  # 403 Forbidden (or 401/407 given up on by the client after a retry)
    FAILED = "failed"  # another final response (404, 480, 488, 5xx, 6xx…)
    CANCELLED = "cancelled"  # CANCEL / 487 before a final answer
    CHALLENGE_UNANSWERED = "challenge-unanswered"  # last event was a 401/407 that no retry answered
    NO_RESPONSE = "no-response"  # the last request got no final response before the capture ended


@dataclass(slots=True)
class AuthExchange:
    """One request's path through digest authentication.

    ``attempts[0]`` is the first request seen; each later attempt is a retry (same Call-ID and
    From tag, or same From URI and tag, or echoing a nonce from an earlier challenge; new
    branch; CSeq normally incremented). An exchange that was never challenged and carried no
    credentials is still recorded (``challenged`` is False) so metrics can count requests.
    """

    id: int
    method: str
    client: Endpoint
    server: Endpoint
    attempts: list[Transaction]
    outcome: Outcome
    call_ids: list[str] = field(default_factory=list)
    # ACKs for this exchange's INVITE attempts (non-2xx ACKs share the INVITE's branch,
    # RFC 3261 §17.1.1.3; 2xx ACKs are matched by Call-ID, From tag and CSeq number, §13.2.2.4).
    # ACK and CANCEL are never attempts.
    acks: Sequence[SipMessage] = ()
    # CANCEL transactions aimed at one of the attempts (same branch, RFC 3261 §9.1).
    cancels: Sequence[Transaction] = ()

    @property
    def first(self) -> Transaction:
        return self.attempts[0]

    @property
    def last(self) -> Transaction:
        return self.attempts[-1]

    @property
    def final(self) -> SipMessage | None:
        return self.last.final

    @property
    def challenged(self) -> bool:
        return any(a.challenges for a in self.attempts)

    @property
    def challenge_cycles(self) -> int:
        """How many attempts were answered with a 401/407."""
        return sum(1 for a in self.attempts if a.challenges)

    @property
    def frames(self) -> list[int]:
        out: list[int] = []
        for attempt in self.attempts:
            out.append(attempt.request.source.frame)
            out.extend(r.source.frame for r in attempt.responses)
        return sorted(set(out))


def exchange_messages(exchange: AuthExchange) -> list[SipMessage]:
    """Every message of an exchange (attempts, retransmissions, responses, CANCELs, ACKs),
    once each, by file and frame."""
    out: list[SipMessage] = []
    for attempt in [*exchange.attempts, *exchange.cancels]:
        out.append(attempt.request)
        out.extend(attempt.retransmissions)
        out.extend(attempt.responses)
    out.extend(exchange.acks)
    unique = {id(m): m for m in out}
    return sorted(unique.values(), key=lambda m: (m.source.file, m.source.frame))


def call_id_digest(call_id: str | None) -> int:
    """A 64-bit digest of a Call-ID (0 for none): how UnlistedExchanges remembers it."""
    if call_id is None:
        return 0
    data = call_id.encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") or 1


class UnlistedCounts(NamedTuple):
    """The metric counters of an exchange let go for the message budget (zero for a plain one).

    Sample lists (retry delays, attempts until success), algorithm and qop tallies and nonce
    lifetimes are counted when it is let go but not kept per exchange, so a filtered view
    leaves them out for these exchanges.
    """

    challenged: int = 0
    failed: int = 0
    succeeded_after_auth: int = 0
    challenges_401: int = 0
    challenges_407: int = 0


NO_COUNTS = UnlistedCounts()


class UnlistedExchange(NamedTuple):
    """What a report filter and the metrics need of an exchange that was let go.

    ``plain`` is False for one let go because the message budget was spent (see
    ``CorrelateOptions.max_kept_messages``): it may have been challenged, and ``counts`` keeps
    what a filtered view counts of it beyond its request and success (``UnlistedCounts``).
    """

    id: int
    method: str
    client: Endpoint
    server: Endpoint
    call_id_digests: tuple[int, ...]  # call_id_digest() of each of its Call-IDs
    start: float  # capture time of its first and last message
    end: float
    succeeded: bool
    plain: bool
    counts: UnlistedCounts


_Kind = tuple[str, Endpoint, str, bool, bool, UnlistedCounts]


class UnlistedExchanges:
    """Exchanges let go by correlation, one compact row each (≈ 30 bytes, in arrays).

    Kept so that ``--since/--until/--peer/--call-id/--method`` views count them as if they were
    listed. What repeats from row to row (client IP, server endpoint, method, success) is
    stored once and referenced; a Call-ID is kept as a 64-bit digest, so a view filtering on a
    Call-ID compares digests (a false match would take about 2**32 distinct Call-IDs to become
    likely); the time from first to last message as a 32-bit float (exact to microseconds over
    the minutes an exchange can last).
    """

    __slots__ = (
        "_call_ids",
        "_client_ports",
        "_durations",
        "_ids",
        "_kind_index",
        "_kind_rows",
        "_kinds",
        "_more_call_ids",
        "_starts",
    )  # fmt: skip

    def __init__(self) -> None:
        self._ids = array("I")
        self._starts = array("d")
        self._durations = array("f")
        self._call_ids = array("Q")
        # Row → digests of its further Call-IDs: a retry under a new Call-ID can join an
        # exchange (correlate/exchanges.py), which a plain one, with one attempt, never has.
        self._more_call_ids: dict[int, tuple[int, ...]] = {}
        self._client_ports = array("H")
        self._kinds = array("I")
        # (client IP, server endpoint, method, succeeded, plain, counts), each distinct one
        # stored once (a storm repeats a handful).
        self._kind_rows: list[_Kind] = []
        self._kind_index: dict[_Kind, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(
        self, exchange: AuthExchange, start: float, end: float, succeeded: bool, *,
        plain: bool = True, counts: UnlistedCounts = NO_COUNTS,
    ) -> None:
        kind = (exchange.client.ip, exchange.server, exchange.method, succeeded, plain, counts)
        index = self._kind_index.get(kind)
        if index is None:
            index = self._kind_index[kind] = len(self._kind_rows)
            self._kind_rows.append(kind)
        self._ids.append(exchange.id)
        self._starts.append(start)
        self._durations.append(end - start)
        call_ids = exchange.call_ids
        self._call_ids.append(call_id_digest(call_ids[0] if call_ids else None))
        if len(call_ids) > 1:
            self._more_call_ids[len(self._ids) - 1] = tuple(
                call_id_digest(c) for c in call_ids[1:]
            )
        self._client_ports.append(exchange.client.port & 0xFFFF)
        self._kinds.append(index)

    def __iter__(self) -> Iterator[UnlistedExchange]:
        kinds = self._kind_rows
        for row in range(len(self._ids)):
            client_ip, server, method, succeeded, plain, counts = kinds[self._kinds[row]]
            start = self._starts[row]
            yield UnlistedExchange(
                self._ids[row],
                method,
                Endpoint(client_ip, self._client_ports[row]),
                server,
                (self._call_ids[row], *self._more_call_ids.get(row, ())),
                start,
                start + self._durations[row],
                succeeded,
                plain,
                counts,
            )


@dataclass(frozen=True, slots=True)
class PeerPair:
    """A trunk seen from one direction: requests from ``client`` challenged (or not) by ``server``.

    Ports are dropped: a trunk is the pair of IP addresses.
    """

    client: str
    server: str


@dataclass(slots=True)
class Metrics:
    """Auth metrics for one peer pair or overall."""

    requests: int = 0
    challenged: int = 0
    succeeded_after_auth: int = 0
    failed: int = 0
    challenges_401: int = 0
    challenges_407: int = 0
    successes_2xx: int = 0
    auth_failures_per_hour: float = 0.0
    attempts_until_success: list[int] = field(default_factory=list)
    # Raw samples; reports show median / p95.
    challenge_to_retry_ms: list[float] = field(default_factory=list)
    nonce_lifetime_s: float | None = None  # longest time a nonce was seen accepted
    algorithms_offered: dict[str, int] = field(default_factory=dict)
    algorithms_used: dict[str, int] = field(default_factory=dict)
    qop_offered: dict[str, int] = field(default_factory=dict)
    qop_used: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Correlation:
    """Everything correlation found, handed to the rules."""

    messages: list[SipMessage]
    transactions: list[Transaction]
    exchanges: list[AuthExchange]
    orphan_responses: list[SipMessage]  # responses that match no request in the capture
    metrics_by_pair: dict[PeerPair, Metrics]
    overall: Metrics
    # Limits hit, branch reuse, ... (kinds correlate-*).
    notes: list[Note] = field(default_factory=list)
    # Capture time of the earliest and the latest message (None when there were none).
    first_time: float | None = None
    last_time: float | None = None
    # Exchanges counted in the metrics but not in ``exchanges`` (a compact row of each, for
    # filtered views), and how many messages they had, not in ``messages`` (nor their
    # transactions in ``transactions``): CorrelateOptions.max_listed_plain_exchanges.
    unlisted: UnlistedExchanges = field(default_factory=UnlistedExchanges)
    unlisted_messages: int = 0
    # Of those, exchanges let go because CorrelateOptions.max_kept_messages was spent, whatever
    # they held (the rules never saw them), and responses matching no request dropped for it.
    undiagnosed_exchanges: int = 0
    undiagnosed_orphans: int = 0
    # What stopped the keeping when it was not max_kept_messages: the memory budget, with the
    # limit it came from (see Correlator.reach_budget); None otherwise.
    budget_reason: str | None = None

    @property
    def unlisted_exchanges(self) -> int:
        return len(self.unlisted)
