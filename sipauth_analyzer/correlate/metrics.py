"""Auth metrics per trunk (PeerPair of client and server IP) and overall, from auth exchanges.

Definitions (what each Metrics field counts):

* ``requests`` — exchanges; ``challenged`` — exchanges with at least one 401/407 answer.
* ``succeeded_after_auth`` — SUCCEEDED exchanges whose successful attempt carried credentials.
* ``failed`` — *auth* failures (:func:`is_auth_failure`, the one definition every report uses):
  exchanges that entered digest authentication (were challenged, or presented credentials) and
  ended REJECTED, FAILED, CHALLENGE_UNANSWERED or NO_RESPONSE. NO_RESPONSE counts: an
  authenticated retry that is never answered is the "ghost call" of dropped UDP fragments, and
  the caller sees a failed call. A 404 to, or silence after, a request that never touched
  authentication is not an auth failure.
* ``challenges_401`` / ``challenges_407`` — attempts answered by a 401 / 407 (a retransmitted
  challenge counts once). ``successes_2xx`` — exchanges whose last attempt got a 2xx.
* ``auth_failures_per_hour`` — ``failed`` over the capture's duration (first to last message of
  the whole capture, for every pair, so rates compare), at least one minute so that a two-second
  capture does not report thousands per hour.
* ``attempts_until_success`` — attempts (retransmissions excluded) in each SUCCEEDED exchange.
* ``challenge_to_retry_ms`` — from a challenge's capture time to the first transmission of the
  attempt that answers it.
* ``nonce_lifetime_s`` — :class:`NonceLifetimes`, the one definition the rules use too: the
  longest time from a nonce's issue (the 401/407 carrying it; the nonce's first use when that
  challenge is not in the capture) to the last request using it that got a 2xx. Only a 2xx
  proves the server still accepted the nonce (a 403 may be the very rejection of a stale one,
  RFC 7616 §3.3 / §3.5 nextnonce). None when no nonce was seen accepted.
* ``algorithms_offered`` / ``qop_offered`` — per Digest challenge in those 401/407s; an absent
  algorithm counts as "MD5" (RFC 7616 §3.3), an absent qop as "none" (RFC 2069 compatibility).
  ``algorithms_used`` / ``qop_used`` — the same from the attempts' Digest credentials.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipauth_analyzer.correlate.model import (
    NO_COUNTS,
    AuthExchange,
    Metrics,
    Outcome,
    PeerPair,
    Transaction,
    UnlistedCounts,
)
from sipauth_analyzer.sip.digest import is_digest
from sipauth_analyzer.sip.model import Challenge

MIN_DURATION_HOURS = 1.0 / 60.0
# How an exchange that entered digest auth ends when auth did not get it through; see
# is_auth_failure. SUCCEEDED and CANCELLED (the caller hung up) are not failures.
AUTH_FAILURE_OUTCOMES = frozenset(
    {Outcome.REJECTED, Outcome.FAILED, Outcome.CHALLENGE_UNANSWERED, Outcome.NO_RESPONSE}
)
CHALLENGE_STATUSES = frozenset({401, 407})
# RFC 3261 §22.1: ACK and CANCEL cannot be challenged, so a 200 to a CANCEL that happens to
# carry the INVITE's credentials proves nothing about the nonce.
UNAUTHENTICATED_METHODS = frozenset({"ACK", "CANCEL"})
NO_QOP = "none"
DEFAULT_ALGORITHM = "MD5"


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def _carries_credentials(transaction: Transaction) -> bool:
    request = transaction.request
    return request.has_header("authorization") or request.has_header("proxy-authorization")


def _enters_digest(transaction: Transaction) -> bool:
    """Whether ``transaction`` carries credentials or got a 401/407: what the metrics count."""
    final = transaction.final
    return (final is not None and final.status in CHALLENGE_STATUSES) or _carries_credentials(
        transaction
    )


def is_auth_failure(exchange: AuthExchange) -> bool:
    """Whether ``exchange`` is an auth failure — the one definition of "failed" in every report.

    It must have entered digest authentication (challenged, or presenting credentials) and
    ended without success: rejected, another final answer, a challenge left unanswered, or no
    answer at all to its last attempt (the "ghost call": an authenticated retry lost in
    dropped UDP fragments). A request that never touched auth and got a 404 or silence is not
    an auth failure.
    """
    if exchange.outcome not in AUTH_FAILURE_OUTCOMES:
        return False
    return exchange.challenged or any(_carries_credentials(a) for a in exchange.attempts)


#: Nonces a NonceLifetimes remembers (see there; CorrelateOptions.max_tracked_nonces).
MAX_TRACKED_NONCES = 100_000


class NonceLifetimes:
    """Observed nonce lifetimes — the one definition metrics and rules (SA201) share.

    Per (server IP, nonce) — a nonce only means something to the server that issued it,
    RFC 7616 §3.3 — the earliest sign of the nonce (the 401/407 issuing it, or its first use
    when that challenge is not in the capture) and the last request using it that got a 2xx.
    A nonce's lifetime is the time between the two: a lower bound of the server's configured
    lifetime (Kamailio ``nonce_expire``, AudioCodes NonceExpiry). Only a 2xx proves the nonce
    was still accepted; a 403 or a new 401 may be the very rejection of a stale nonce.
    Measured from the issuing challenge, like the retry delays the rules compare it with.

    At most ``capacity`` nonces are remembered: an auth storm issues a nonce per challenge,
    none of which is ever accepted, and remembering each (≈ 200 bytes with its string) grew a
    1 M-message storm's memory by 70 MiB even with every message let go. Past it, the older
    half of the nonces no 2xx accepted is forgotten (in one pass, so each costs O(1)
    amortised). A forgotten nonce used again is timed from that later sight, which keeps the
    lifetime a lower bound.
    """

    __slots__ = ("_first_seen", "_last_accepted", "capacity")

    def __init__(self, capacity: int = MAX_TRACKED_NONCES) -> None:
        self._first_seen: dict[tuple[str, str], float] = {}
        self._last_accepted: dict[tuple[str, str], float] = {}
        self.capacity = max(2, capacity)

    def _seen(self, key: tuple[str, str], time: float) -> None:
        first = self._first_seen.get(key)
        if first is None:
            if len(self._first_seen) >= self.capacity:
                self._forget_oldest()
            self._first_seen[key] = time
        elif time < first:
            self._first_seen[key] = time

    def _forget_oldest(self) -> None:
        """Forget the older half (in order of first sight) of the nonces never accepted."""
        accepted = self._last_accepted
        to_drop = len(self._first_seen) // 2
        remembered: dict[tuple[str, str], float] = {}
        for key, time in self._first_seen.items():
            if to_drop and key not in accepted:
                to_drop -= 1
                continue
            remembered[key] = time
        self._first_seen = remembered

    def add(self, transaction: Transaction) -> None:
        """Record the nonces ``transaction`` issues (in a 401/407) or uses (in credentials)."""
        request = transaction.request
        if request.method in UNAUTHENTICATED_METHODS:
            return
        server = transaction.server.ip
        final = transaction.final
        status = final.status if final is not None else None
        if final is not None and status in CHALLENGE_STATUSES:
            self._issued(server, final.challenges, final.source.time)
        accepted = status is not None and 200 <= status < 300
        time = request.source.time
        for credentials in request.credentials:
            if credentials.nonce and is_digest(credentials.scheme):
                self._used((server, credentials.nonce), time, accepted)

    def _issued(self, server: str, challenges: tuple[Challenge, ...], time: float) -> None:
        """``server`` issued ``challenges`` (a 401/407's) at ``time``."""
        for challenge in challenges:
            if challenge.nonce and is_digest(challenge.scheme):
                self._seen((server, challenge.nonce), time)

    def _used(self, key: tuple[str, str], time: float, accepted: bool) -> None:
        """A request used nonce ``key`` at ``time``, and got a 2xx if ``accepted``."""
        self._seen(key, time)
        if accepted and time > self._last_accepted.get(key, float("-inf")):
            self._last_accepted[key] = time

    def merge(self, other: NonceLifetimes) -> None:
        for key, time in other._first_seen.items():
            self._seen(key, time)
        for key, time in other._last_accepted.items():
            if time > self._last_accepted.get(key, float("-inf")):
                self._last_accepted[key] = time

    def longest(self) -> float | None:
        """The longest lifetime of any accepted nonce, or None when no nonce got a 2xx."""
        lifetimes = [last - self._first_seen[key] for key, last in self._last_accepted.items()]
        return max(lifetimes) if lifetimes else None

    def longest_by_server(self) -> dict[str, float]:
        """Server IP → the longest lifetime of a nonce it accepted (servers with none absent)."""
        out: dict[str, float] = {}
        for (server, nonce), last in self._last_accepted.items():
            lifetime = last - self._first_seen[(server, nonce)]
            if lifetime > out.get(server, float("-inf")):
                out[server] = lifetime
        return out


def _add_exchange(metrics: Metrics, nonces: NonceLifetimes, exchange: AuthExchange) -> None:
    """Count ``exchange`` into ``metrics`` and its nonces into ``nonces``.

    One pass over the attempts does what four did (``NonceLifetimes.add`` per attempt, the
    counts, ``AuthExchange.challenged``, ``is_auth_failure``), with the same results: nonces
    seen in the same order (a challenge's before the credentials answering it, which decides
    what a full NonceLifetimes forgets) and every tally bumped in the same order (reports list
    the keys in the order first bumped); tests/correlate/test_metrics.py compares the two.
    It runs once per exchange, in the serial tail of an analysis: 30.8 -> 21 µs per exchange
    of the bench auth storm.
    """
    metrics.requests += 1
    algorithms_used, qop_used = metrics.algorithms_used, metrics.qop_used
    previous_challenge_time: float | None = None
    challenged = carried = carries = False
    for attempt in exchange.attempts:
        request = attempt.request
        source = request.source
        time = source.time
        if previous_challenge_time is not None:
            metrics.challenge_to_retry_ms.append((time - previous_challenge_time) * 1000.0)
        previous_challenge_time = None
        final = attempt.final
        status = final.status if final is not None else None
        # ACK and CANCEL are never attempts; NonceLifetimes.add skips them all the same.
        tracks_nonces = request.method not in UNAUTHENTICATED_METHODS
        server = source.dst.ip
        challenges: tuple[Challenge, ...] = ()
        if final is not None and status in CHALLENGE_STATUSES:
            challenges = final.challenges
            if tracks_nonces:
                nonces._issued(server, challenges, final.source.time)
        carries = request.has_header("authorization") or request.has_header(
            "proxy-authorization"
        )
        if carries:
            carried = True
            accepted = status is not None and 200 <= status < 300
            for credentials in request.credentials:
                if not is_digest(credentials.scheme):
                    continue
                _bump(algorithms_used, credentials.algorithm or DEFAULT_ALGORITHM)
                _bump(qop_used, credentials.qop or NO_QOP)
                if tracks_nonces and credentials.nonce:
                    nonces._used((server, credentials.nonce), time, accepted)
        if final is not None and status in CHALLENGE_STATUSES:
            challenged = challenged or bool(challenges)
            previous_challenge_time = final.source.time
            if status == 401:
                metrics.challenges_401 += 1
            else:
                metrics.challenges_407 += 1
            for challenge in challenges:
                if not is_digest(challenge.scheme):
                    continue
                _bump(metrics.algorithms_offered, challenge.algorithm or DEFAULT_ALGORITHM)
                for qop in challenge.qop_options or (NO_QOP,):
                    _bump(metrics.qop_offered, qop)
    if challenged:
        metrics.challenged += 1
    outcome = exchange.outcome
    if outcome is Outcome.SUCCEEDED:
        metrics.successes_2xx += 1
        metrics.attempts_until_success.append(len(exchange.attempts))
        if carries:  # the last attempt's
            metrics.succeeded_after_auth += 1
    elif outcome in AUTH_FAILURE_OUTCOMES and (challenged or carried):  # is_auth_failure
        metrics.failed += 1


def _counters(metrics: Metrics) -> UnlistedCounts:
    return UnlistedCounts(
        metrics.challenged, metrics.failed, metrics.succeeded_after_auth,
        metrics.challenges_401, metrics.challenges_407,
    )


def _merge_counts(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count


def _merge(overall: Metrics, metrics: Metrics) -> None:
    overall.requests += metrics.requests
    overall.challenged += metrics.challenged
    overall.succeeded_after_auth += metrics.succeeded_after_auth
    overall.failed += metrics.failed
    overall.challenges_401 += metrics.challenges_401
    overall.challenges_407 += metrics.challenges_407
    overall.successes_2xx += metrics.successes_2xx
    overall.attempts_until_success.extend(metrics.attempts_until_success)
    overall.challenge_to_retry_ms.extend(metrics.challenge_to_retry_ms)
    _merge_counts(overall.algorithms_offered, metrics.algorithms_offered)
    _merge_counts(overall.algorithms_used, metrics.algorithms_used)
    _merge_counts(overall.qop_offered, metrics.qop_offered)
    _merge_counts(overall.qop_used, metrics.qop_used)


def _capture_hours(first_time: float | None, last_time: float | None) -> float:
    """The capture's duration for ``auth_failures_per_hour`` (at least a minute; 0 if empty)."""
    if first_time is None or last_time is None:
        return 0.0
    return max((last_time - first_time) / 3600.0, MIN_DURATION_HOURS)


class MetricsBuilder:
    r"""Metrics built one exchange at a time, so that an exchange can be counted and let go.

    Pairs come out in the order they were first ``register``\ ed (or added): the correlator
    registers a pair when an exchange on it starts, so the order is that of first appearance
    whatever order the exchanges are counted in. Every figure is a sum, a count or a sample
    whose summaries (median, p95, max) do not depend on order.
    """

    __slots__ = ("_by_pair", "_nonces", "nonce_capacity")

    def __init__(self, nonce_capacity: int = MAX_TRACKED_NONCES) -> None:
        self._by_pair: dict[PeerPair, Metrics] = {}
        self._nonces: dict[PeerPair, NonceLifetimes] = {}
        self.nonce_capacity = nonce_capacity

    def register(self, pair: PeerPair) -> None:
        if pair not in self._by_pair:
            self._by_pair[pair] = Metrics()
            self._nonces[pair] = NonceLifetimes(self.nonce_capacity)

    def add(self, exchange: AuthExchange) -> UnlistedCounts:
        """Count ``exchange`` (its outcome must be set); what it added to the counters that a
        filtered view keeps of an exchange let go for the message budget."""
        pair = PeerPair(client=exchange.client.ip, server=exchange.server.ip)
        attempts = exchange.attempts
        if len(attempts) == 1 and not _enters_digest(attempts[0]):
            # All that the general path below would count of it, and no more: a request with
            # no credentials, answered without a challenge. Most of a flood of unauthenticated
            # requests (a scanner's REGISTERs or OPTIONS), counted here as each is let go.
            self.add_unlisted(pair, exchange.outcome is Outcome.SUCCEEDED, True, NO_COUNTS)
            return NO_COUNTS
        self.register(pair)
        metrics = self._by_pair[pair]
        before = _counters(metrics)
        _add_exchange(metrics, self._nonces[pair], exchange)
        return UnlistedCounts(*(a - b for a, b in zip(_counters(metrics), before, strict=True)))

    def add_unlisted(
        self, pair: PeerPair, succeeded: bool, plain: bool, counts: UnlistedCounts
    ) -> None:
        """Count an exchange let go by correlation from its row.

        A plain one (rules/retention.py: one attempt, no challenge, no credentials) from its
        pair and outcome alone: all that ``add`` would take from it. One let go for the message
        budget from ``counts`` too; its samples, tallies and nonces were not kept.
        """
        self.register(pair)
        metrics = self._by_pair[pair]
        metrics.requests += 1
        if succeeded:
            metrics.successes_2xx += 1
            if plain:
                metrics.attempts_until_success.append(1)
        metrics.challenged += counts.challenged
        metrics.failed += counts.failed
        metrics.succeeded_after_auth += counts.succeeded_after_auth
        metrics.challenges_401 += counts.challenges_401
        metrics.challenges_407 += counts.challenges_407

    def result(
        self, first_time: float | None, last_time: float | None
    ) -> tuple[dict[PeerPair, Metrics], Metrics]:
        """Metrics per PeerPair and overall. Overall sample lists are the pairs' lists
        concatenated in pair order. Pairs registered but never counted are left out."""
        by_pair = {pair: m for pair, m in self._by_pair.items() if m.requests}
        hours = _capture_hours(first_time, last_time)
        overall = Metrics()
        overall_nonces = NonceLifetimes()
        for pair, metrics in by_pair.items():
            nonces = self._nonces[pair]
            metrics.nonce_lifetime_s = nonces.longest()
            metrics.auth_failures_per_hour = metrics.failed / hours if hours else 0.0
            _merge(overall, metrics)
            overall_nonces.merge(nonces)
        overall.nonce_lifetime_s = overall_nonces.longest()
        overall.auth_failures_per_hour = overall.failed / hours if hours else 0.0
        return by_pair, overall


def combine_metrics(
    parts: Iterable[Metrics], first_time: float | None, last_time: float | None
) -> Metrics:
    """One Metrics over separately analysed runs (``--per-file``): counts and samples added,
    the longest nonce lifetime of any run, failures per hour over the whole span."""
    combined = Metrics()
    lifetimes: list[float] = []
    for metrics in parts:
        _merge(combined, metrics)
        if metrics.nonce_lifetime_s is not None:
            lifetimes.append(metrics.nonce_lifetime_s)
    combined.nonce_lifetime_s = max(lifetimes, default=None)
    hours = _capture_hours(first_time, last_time)
    combined.auth_failures_per_hour = combined.failed / hours if hours else 0.0
    return combined


def compute_metrics(
    exchanges: Iterable[AuthExchange], first_time: float | None, last_time: float | None
) -> tuple[dict[PeerPair, Metrics], Metrics]:
    """Metrics per PeerPair (in order of first appearance) and overall; outcomes must be set."""
    builder = MetricsBuilder()
    for exchange in exchanges:
        builder.add(exchange)
    return builder.result(first_time, last_time)
