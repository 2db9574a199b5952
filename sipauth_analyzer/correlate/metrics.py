"""Auth metrics per trunk (PeerPair of client and server IP) and overall, from auth exchanges.

Definitions (what each Metrics field counts):

* ``requests`` — exchanges; ``challenged`` — exchanges with at least one 401/407 answer.
* ``succeeded_after_auth`` — SUCCEEDED exchanges whose successful attempt carried credentials.
* ``failed`` — *auth* failures: exchanges that presented credentials on some attempt and ended
  REJECTED, FAILED or CHALLENGE_UNANSWERED. A 404 to a request that never authenticated is not
  an auth failure.
* ``challenges_401`` / ``challenges_407`` — attempts answered by a 401 / 407 (a retransmitted
  challenge counts once). ``successes_2xx`` — exchanges whose last attempt got a 2xx.
* ``auth_failures_per_hour`` — ``failed`` over the capture's duration (first to last message of
  the whole capture, for every pair, so rates compare), at least one minute so that a two-second
  capture does not report thousands per hour.
* ``attempts_until_success`` — attempts (retransmissions excluded) in each SUCCEEDED exchange.
* ``challenge_to_retry_ms`` — from a challenge's capture time to the first transmission of the
  attempt that answers it.
* ``nonce_lifetime_s`` — the longest span between the first and the last request that used one
  nonce and was answered with a final response other than 401/407 (the server kept accepting
  it, RFC 7616 §3.3 / §3.5 nextnonce); None when no nonce was seen accepted.
* ``algorithms_offered`` / ``qop_offered`` — per Digest challenge in those 401/407s; an absent
  algorithm counts as "MD5" (RFC 7616 §3.3), an absent qop as "none" (RFC 2069 compatibility).
  ``algorithms_used`` / ``qop_used`` — the same from the attempts' Digest credentials.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipauth_analyzer.correlate.model import AuthExchange, Metrics, Outcome, PeerPair

MIN_DURATION_HOURS = 1.0 / 60.0
AUTH_FAILURE_OUTCOMES = frozenset({Outcome.REJECTED, Outcome.FAILED, Outcome.CHALLENGE_UNANSWERED})
CHALLENGE_STATUSES = frozenset({401, 407})
NO_QOP = "none"
DEFAULT_ALGORITHM = "MD5"


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


class _NonceSpans:
    """First and last accepted use of each nonce."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}

    def add(self, nonce: str, time: float) -> None:
        span = self.spans.get(nonce)
        if span is None:
            self.spans[nonce] = (time, time)
        else:
            self.spans[nonce] = (min(span[0], time), max(span[1], time))

    def longest(self) -> float | None:
        if not self.spans:
            return None
        return max(last - first for first, last in self.spans.values())


def _add_exchange(metrics: Metrics, nonces: _NonceSpans, exchange: AuthExchange) -> None:
    metrics.requests += 1
    any_credentials = False
    previous_challenge_time: float | None = None
    for attempt in exchange.attempts:
        request = attempt.request
        if previous_challenge_time is not None:
            metrics.challenge_to_retry_ms.append(
                (request.source.time - previous_challenge_time) * 1000.0
            )
        previous_challenge_time = None
        final = attempt.final
        status = final.status if final is not None else None
        headers = request.headers
        if "authorization" in headers or "proxy-authorization" in headers:
            any_credentials = True
            for credentials in request.credentials:
                if credentials.scheme.lower() != "digest":
                    continue
                _bump(metrics.algorithms_used, credentials.algorithm or DEFAULT_ALGORITHM)
                _bump(metrics.qop_used, credentials.qop or NO_QOP)
                if credentials.nonce and status is not None and status not in CHALLENGE_STATUSES:
                    nonces.add(credentials.nonce, request.source.time)
        if final is not None and status in CHALLENGE_STATUSES:
            previous_challenge_time = final.source.time
            if status == 401:
                metrics.challenges_401 += 1
            else:
                metrics.challenges_407 += 1
            for challenge in final.challenges:
                if challenge.scheme.lower() != "digest":
                    continue
                _bump(metrics.algorithms_offered, challenge.algorithm or DEFAULT_ALGORITHM)
                for qop in challenge.qop_options or (NO_QOP,):
                    _bump(metrics.qop_offered, qop)
    if exchange.challenged:
        metrics.challenged += 1
    if exchange.outcome is Outcome.SUCCEEDED:
        metrics.successes_2xx += 1
        metrics.attempts_until_success.append(len(exchange.attempts))
        headers = exchange.last.request.headers
        if "authorization" in headers or "proxy-authorization" in headers:
            metrics.succeeded_after_auth += 1
    elif exchange.outcome in AUTH_FAILURE_OUTCOMES and any_credentials:
        metrics.failed += 1


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


def compute_metrics(
    exchanges: Iterable[AuthExchange], first_time: float | None, last_time: float | None
) -> tuple[dict[PeerPair, Metrics], Metrics]:
    """Metrics per PeerPair (in order of first appearance) and overall; outcomes must be set.

    Overall sample lists are the pairs' lists concatenated in pair order.
    """
    by_pair: dict[PeerPair, Metrics] = {}
    nonces_by_pair: dict[PeerPair, _NonceSpans] = {}
    for exchange in exchanges:
        pair = PeerPair(client=exchange.client.ip, server=exchange.server.ip)
        metrics = by_pair.get(pair)
        if metrics is None:
            metrics = by_pair[pair] = Metrics()
            nonces_by_pair[pair] = _NonceSpans()
        _add_exchange(metrics, nonces_by_pair[pair], exchange)
    hours = 0.0
    if first_time is not None and last_time is not None:
        hours = max((last_time - first_time) / 3600.0, MIN_DURATION_HOURS)
    overall = Metrics()
    overall_nonces = _NonceSpans()
    for pair, metrics in by_pair.items():
        spans = nonces_by_pair[pair]
        metrics.nonce_lifetime_s = spans.longest()
        metrics.auth_failures_per_hour = metrics.failed / hours if hours else 0.0
        _merge(overall, metrics)
        for nonce, (first, last) in spans.spans.items():
            overall_nonces.add(nonce, first)
            overall_nonces.add(nonce, last)
    overall.nonce_lifetime_s = overall_nonces.longest()
    overall.auth_failures_per_hour = overall.failed / hours if hours else 0.0
    return by_pair, overall
