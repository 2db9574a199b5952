"""Facts several rules share, computed once per run and cached on the RuleContext.

Indexes are keyed by server IP and nonce (a nonce is only meaningful to the server that issued
it, RFC 7616 §3.3) and by peer pair, so every rule stays linear in the number of exchanges.
This module also decides *which* rule explains an unanswered challenge, so that one problem
gets one distinct verdict instead of a generic one beside a specific one.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass

from sipauth_analyzer.correlate.metrics import NonceLifetimes
from sipauth_analyzer.correlate.model import AuthExchange, Outcome, Transaction
from sipauth_analyzer.rules.base import RuleContext
from sipauth_analyzer.sip.digest import digest_only
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import AuthHeader, Challenge, Credentials

# RFC 7616 §3.3 / RFC 8760: an absent algorithm means MD5.
MD5_FAMILY = frozenset({"MD5", "MD5-SESS"})
STRONG_ALGORITHMS = frozenset({"SHA-256", "SHA-256-SESS", "SHA-512-256", "SHA-512-256-SESS"})

# RFC 3261 §22.2 / §22.3: which credentials header answers which challenge header.
ANSWER_HEADER: dict[AuthHeader, AuthHeader] = {
    AuthHeader.WWW_AUTHENTICATE: AuthHeader.AUTHORIZATION,
    AuthHeader.PROXY_AUTHENTICATE: AuthHeader.PROXY_AUTHORIZATION,
}


def algorithm_name(value: str | None) -> str:
    """Canonical algorithm name; None (absent) is MD5 per RFC 7616 §3.3."""
    return (value or "MD5").strip().upper()


def digest_challenges(message: SipMessage) -> tuple[Challenge, ...]:
    return digest_only(message.challenges)


def digest_credentials(message: SipMessage) -> tuple[Credentials, ...]:
    return digest_only(message.credentials)


def challenge_response(attempt: Transaction) -> SipMessage | None:
    """The 401/407 that challenged ``attempt``, or None."""
    final = attempt.final
    if final is not None and final.status in (401, 407):
        return final
    return None


# Not frozen: one per challenge of a storm, and a frozen dataclass's __init__ costs several
# times as much (one object.__setattr__ per field).
@dataclass(slots=True)
class IssuedNonce:
    """A nonce as first issued: the challenge carrying it and the 401/407 that carried it."""

    challenge: Challenge
    response: SipMessage
    transaction: Transaction


def nonce_index(ctx: RuleContext) -> dict[tuple[str, str], IssuedNonce]:
    """(server IP, nonce) → where the nonce was first issued."""
    cached = ctx.cache.get("nonce_index")
    if isinstance(cached, dict):
        return cached
    index: dict[tuple[str, str], IssuedNonce] = {}
    for transaction in ctx.correlation.transactions:
        response = challenge_response(transaction)
        if response is None:
            continue
        server_ip = transaction.server.ip
        for challenge in response.challenges:
            if challenge.nonce is None:
                continue
            key = (server_ip, challenge.nonce)
            if key not in index:
                index[key] = IssuedNonce(challenge, response, transaction)
    ctx.cache["nonce_index"] = index
    return index


def issued(ctx: RuleContext, attempt: Transaction, credentials: Credentials) -> IssuedNonce | None:
    """The challenge whose nonce ``credentials`` echo, if it was seen in the capture."""
    if credentials.nonce is None:
        return None
    return nonce_index(ctx).get((attempt.server.ip, credentials.nonce))


def capture_end(ctx: RuleContext) -> float:
    cached = ctx.cache.get("capture_end")
    if isinstance(cached, float):
        return cached
    # Not the listed messages' latest: correlation may have let plain exchanges go.
    last = ctx.correlation.last_time
    end = last if last is not None else 0.0
    ctx.cache["capture_end"] = float(end)
    return float(end)


def cut_off_by_capture_end(ctx: RuleContext, message: SipMessage) -> bool:
    """True when ``message`` is so close to the capture's end that its answer may be missing."""
    return capture_end(ctx) - message.source.time < ctx.options.capture_end_grace_s


def end_caveat(ctx: RuleContext, message: SipMessage) -> str:
    """A note for findings about ``message`` when the capture ends right after it."""
    remaining = capture_end(ctx) - message.source.time
    if remaining < ctx.options.capture_end_caveat_s:
        return (
            f" (the capture ends {remaining:.1f} s later; if it was stopped early, an answer "
            "may be missing)"
        )
    return ""


def _credentials_accepted(transaction: Transaction) -> bool:
    """A 2xx to a request carrying credentials: what every NonceLifetimes lifetime ends with."""
    final = transaction.final
    return (
        final is not None
        and final.status is not None
        and 200 <= final.status < 300
        and bool(transaction.request.credentials)
    )


def nonce_lifetimes(ctx: RuleContext) -> dict[str, float]:
    """Server IP → longest observed nonce lifetime (issue to the last 2xx to a request using it).

    The same definition as the ``nonce lifetime`` metric (correlate.metrics.NonceLifetimes): a
    lower bound of the server's real nonce lifetime (Kamailio ``nonce_expire``, AudioCodes
    NonceExpiry), only what the capture proves was still accepted.
    """
    cached = ctx.cache.get("nonce_lifetimes")
    if isinstance(cached, dict):
        return cached
    transactions = ctx.correlation.transactions
    lifetimes: dict[str, float] = {}
    # A lifetime ends at a 2xx to a request with credentials: with none in the capture there is
    # none to find. An auth storm has none, and timing its ~90,000 challenges anyway took 0.3 s.
    if any(_credentials_accepted(t) for t in transactions):
        observed = NonceLifetimes()
        for transaction in transactions:
            observed.add(transaction)
        lifetimes = observed.longest_by_server()
    ctx.cache["nonce_lifetimes"] = lifetimes
    return lifetimes


@dataclass(slots=True)
class DirectionStats:
    """What happened on one direction of a trunk (client IP → server IP)."""

    challenged: int = 0
    credentials_sent: int = 0
    first_challenge: SipMessage | None = None


def direction_stats(ctx: RuleContext) -> dict[tuple[str, str], DirectionStats]:
    """(client IP, server IP) → challenges received and credentials sent on that direction."""
    cached = ctx.cache.get("direction_stats")
    if isinstance(cached, dict):
        return cached
    stats: dict[tuple[str, str], DirectionStats] = defaultdict(DirectionStats)
    for transaction in ctx.correlation.transactions:
        entry = stats[(transaction.client.ip, transaction.server.ip)]
        if transaction.request.credentials:
            entry.credentials_sent += 1
        response = challenge_response(transaction)
        if response is not None:
            entry.challenged += 1
            if entry.first_challenge is None:
                entry.first_challenge = response
    result = dict(stats)
    ctx.cache["direction_stats"] = result
    return result


def divergent_direction(ctx: RuleContext, client_ip: str, server_ip: str) -> bool:
    """The server challenges this client, which never sends credentials to it, although the
    reverse direction of the same trunk is digest-authenticated (credentials sent back)."""
    stats = direction_stats(ctx)
    forward = stats.get((client_ip, server_ip))
    reverse = stats.get((server_ip, client_ip))
    return (
        forward is not None
        and forward.challenged > 0
        and forward.credentials_sent == 0
        and reverse is not None
        and reverse.credentials_sent > 0
    )


class IgnoredCause(enum.StrEnum):
    """Why a client never answered a challenge, most specific first; each has its own rule."""

    INBOUND_DIVERGENCE = "inbound-divergence"  # SA305
    HEADER_MISMATCH = "header-mismatch"  # SA501
    REGISTER_407 = "register-407"  # SA503
    BASIC_ONLY = "basic-only"  # SA506
    STRONG_ALGORITHM_ONLY = "strong-algorithm-only"  # SA102
    UNKNOWN = "unknown"  # SA302


def challenge_header_mismatch(response: SipMessage) -> bool:
    """RFC 3261 §21.4.2 / §21.4.8: a 401 without WWW-Authenticate but with Proxy-Authenticate,
    or a 407 without Proxy-Authenticate but with WWW-Authenticate."""
    kinds = {c.header for c in response.challenges}
    if response.status == 401:
        return AuthHeader.PROXY_AUTHENTICATE in kinds and AuthHeader.WWW_AUTHENTICATE not in kinds
    if response.status == 407:
        return AuthHeader.WWW_AUTHENTICATE in kinds and AuthHeader.PROXY_AUTHENTICATE not in kinds
    return False


def ignored_challenge(ctx: RuleContext, exchange: AuthExchange) -> SipMessage | None:
    """The 401/407 ending ``exchange`` if the client never answered it and sent no credentials
    on its last attempt (a client that tried and gave up is a rejection, not an ignore)."""
    if exchange.outcome is not Outcome.CHALLENGE_UNANSWERED:
        return None
    last = exchange.last
    response = challenge_response(last)
    if response is None or last.request.credentials:
        return None
    if cut_off_by_capture_end(ctx, response):
        return None
    return response


def ignored_cause(ctx: RuleContext, exchange: AuthExchange) -> IgnoredCause | None:
    """Which rule explains ``exchange``'s ignored challenge, or None when nothing was ignored."""
    response = ignored_challenge(ctx, exchange)
    if response is None:
        return None
    if divergent_direction(ctx, exchange.client.ip, exchange.server.ip):
        return IgnoredCause.INBOUND_DIVERGENCE
    if challenge_header_mismatch(response):
        return IgnoredCause.HEADER_MISMATCH
    kinds = {c.header for c in response.challenges}
    if exchange.method == "REGISTER" and kinds == {AuthHeader.PROXY_AUTHENTICATE}:
        return IgnoredCause.REGISTER_407
    digest = digest_challenges(response)
    if response.challenges and not digest:
        return IgnoredCause.BASIC_ONLY
    offered = {algorithm_name(c.algorithm) for c in digest}
    if offered and not offered & MD5_FAMILY:
        return IgnoredCause.STRONG_ALGORITHM_ONLY
    return IgnoredCause.UNKNOWN


def answered_challenges(
    ctx: RuleContext, exchange: AuthExchange, index: int, credentials: Credentials
) -> list[tuple[Challenge, SipMessage]]:
    """The challenges ``credentials`` (on attempt ``index``) answer, each with its 401/407: the
    one whose nonce they echo, else the previous attempt's challenges of the matching header
    kind (RFC 3261 §22.3)."""
    attempt = exchange.attempts[index]
    seen = issued(ctx, attempt, credentials)
    if seen is not None:
        return [(seen.challenge, seen.response)]
    if index == 0:
        return []
    previous = challenge_response(exchange.attempts[index - 1])
    if previous is None:
        return []
    return [
        (c, previous)
        for c in digest_challenges(previous)
        if ANSWER_HEADER.get(c.header) is credentials.header
    ]


def ip_overhead(message: SipMessage) -> int:
    """IP + UDP header bytes: 20 + 8 for IPv4, 40 + 8 for IPv6."""
    return 48 if ":" in message.source.src.ip else 28


def fragmented(ctx: RuleContext, message: SipMessage) -> bool:
    """Whether ``message`` was (or, by its size against ``options.mtu``, must have been)
    IP-fragmented."""
    source = message.source
    return source.ip_fragments > 1 or source.wire_size + ip_overhead(message) > ctx.options.mtu


def slow_retry(ctx: RuleContext, attempt: Transaction, credentials: Credentials) -> float | None:
    """Seconds between the challenge and this retry, when slower than the server's observed
    nonce lifetime; None otherwise, or when that lifetime is under ``min_slow_retry_s``."""
    seen = issued(ctx, attempt, credentials)
    lifetime = nonce_lifetimes(ctx).get(attempt.server.ip)
    if seen is None or lifetime is None or lifetime < ctx.options.min_slow_retry_s:
        return None  # only immediate retries were seen accepted: the lifetime is unknown
    delay = attempt.request.source.time - seen.response.source.time
    if delay > lifetime and delay >= ctx.options.min_slow_retry_s:
        return delay
    return None


def unanswered_parts(response: SipMessage, retry: SipMessage) -> list[str]:
    """What a retry leaves unanswered of a response carrying several challenges (RFC 3261
    §22.3, §16.7): a credentials header kind, or the realm of one of several proxies.

    Empty when the retry answers none of them at all (that is SA502's / SA302's case) or
    answers with realms nobody offered (SA101's case)."""
    challenges = digest_challenges(response)
    required = {ANSWER_HEADER[c.header] for c in challenges}
    credentials = digest_credentials(retry)
    given = {c.header for c in credentials}
    missing: list[str] = []
    if given & required:
        missing.extend(f"no {h.value}" for h in sorted(required - given))
    proxy_realms = {
        c.realm
        for c in challenges
        if c.header is AuthHeader.PROXY_AUTHENTICATE and c.realm is not None
    }
    answered_realms = {c.realm for c in credentials if c.header is AuthHeader.PROXY_AUTHORIZATION}
    if len(proxy_realms) > 1 and answered_realms and answered_realms <= proxy_realms:
        missing.extend(
            f'no credentials for realm "{r}"' for r in sorted(proxy_realms - answered_realms)
        )
    return missing
