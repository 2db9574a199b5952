"""Who is attacking rather than misconfigured: brute-force sources and known scanners.

Computed once per run and cached on the RuleContext. SA601 / SA602 report them; the rules that
diagnose a *client's configuration* (1xx, 2xx, 3xx, 5xx) skip exchanges from these sources via
:func:`diagnosable_exchanges`, because "re-type the password" is the wrong advice for a
password-guessing tool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sipauth_analyzer.correlate.model import AuthExchange, Transaction
from sipauth_analyzer.rules.base import RuleContext
from sipauth_analyzer.rules.facts import (
    algorithm_name,
    digest_challenges,
    digest_credentials,
    issued,
)
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import Credentials


# Not frozen: there is one per failure of a flood, and a frozen dataclass's __init__ (one
# object.__setattr__ per field) cost seven times as much.
@dataclass(slots=True)
class AuthFailure:
    """One failed authentication (or extension probe) and what identifies the guess."""

    time: float
    username: str
    response_hash: str
    call_id: str
    guess_key: tuple[str, str, str, str]  # (username, nonce, cnonce, nc): same key, same hash input
    request: SipMessage
    answer: SipMessage
    # The Request-URI of a credentialed request other than REGISTER (a call, a MESSAGE…): the
    # destination a device was trying to reach. None for registrations and probes.
    call_target: str | None


@dataclass(frozen=True, slots=True)
class BruteForce:
    """The densest window of failures from one source against one server."""

    failures: tuple[AuthFailure, ...]
    reason: str  # "usernames" or "failures"


def _failures(ctx: RuleContext) -> dict[tuple[str, str], list[AuthFailure]]:
    """Failures per (client IP, server IP): credentialed requests answered with a non-stale
    401/407 or a 403, and uncredentialed requests answered 403/404 (extension probing)."""
    out: dict[tuple[str, str], list[AuthFailure]] = {}
    for transaction in ctx.correlation.transactions:
        final = transaction.final
        if final is None:
            continue
        status = final.status
        request = transaction.request
        if status is None or request.method in ("ACK", "CANCEL"):
            continue
        credentials = digest_credentials(request)
        if credentials:
            if status not in (401, 403, 407):
                continue
            if status != 403 and any(c.stale for c in digest_challenges(final)):
                continue  # stale=true: the password was right (RFC 7616 §3.3)
            first = credentials[0]
            if _misconfigured_answer(ctx, transaction, first):
                continue
            username = first.username or ""
            response_hash = first.response or ""
            key = (username, first.nonce or "", first.cnonce or "", first.nc or "")
            target = request.request_uri if request.method != "REGISTER" else None
        elif status in (403, 404) and not request.credentials:
            uri = request.from_uri or ""
            username = uri.split(":", 1)[-1].split("@", 1)[0]
            response_hash = ""
            key = (username, "", "", "")
            target = None
        else:
            continue
        source = request.source
        out.setdefault((source.src.ip, source.dst.ip), []).append(
            AuthFailure(
                source.time,
                username,
                response_hash,
                request.call_id or "",
                key,
                request,
                final,
                target,
            )
        )
    return out


def _misconfigured_answer(
    ctx: RuleContext, transaction: Transaction, credentials: Credentials
) -> bool:
    """Credentials whose realm or algorithm differ from the challenge they answer.

    Guessing tools copy the challenge's realm and algorithm and vary the password; a realm or
    algorithm of the client's own is configuration (a PBX re-registering five extensions with
    the wrong realm is not an attacker), which the 1xx rules explain.
    """
    source = issued(ctx, transaction, credentials)
    if source is None:
        return False
    challenge = source.challenge
    if challenge.realm != credentials.realm:
        return True
    offered, used = challenge.algorithm, credentials.algorithm
    return offered != used and algorithm_name(offered) != algorithm_name(used)


def _proven_guesses(failures: list[AuthFailure]) -> set[tuple[str, str, str, str]]:
    """Guess keys answered with several different responses: with username, nonce, cnonce and
    nc equal, a different response can only come from a different password (RFC 7616 §3.4.1)."""
    hashes: dict[tuple[str, str, str, str], set[str]] = {}
    for failure in failures:
        if failure.response_hash and failure.guess_key[1]:
            hashes.setdefault(failure.guess_key, set()).add(failure.response_hash)
    return {key for key, values in hashes.items() if len(values) > 1}


GuessKey = tuple[str, str, str, str]


def _step(counts: dict[str, int], key: str, step: int) -> None:
    """Add ``step`` to ``counts[key]``, dropping the key at zero (len() counts distinct)."""
    count = counts.get(key, 0) + step
    if count:
        counts[key] = count
    else:
        del counts[key]


class _Window:
    """The failures within ``brute_force_window_s`` of the newest one, as running counts.

    Sliding over a flood adds and drops one failure at a time, so every question the brute-force
    test asks is answered from counters in O(1): re-scanning the window per position made an
    auth storm quadratic (200 k messages took minutes).
    """

    def __init__(self, failures: list[AuthFailure], proven: set[GuessKey]) -> None:
        self.failures = failures
        self.proven = proven
        self.start = 0
        self.end = 0  # exclusive
        # Plain dicts, not Counters: a Counter's missing key goes through __missing__ in Python,
        # and every failure of a flood is counted in and out once.
        self.users: dict[str, int] = {}
        self.hashes: dict[str, int] = {}
        self.call_ids: dict[str, int] = {}
        self.targets: dict[str, int] = {}
        self.calls = 0  # failures with a call_target
        self.proven_count = 0

    def __len__(self) -> int:
        return self.end - self.start

    def _count(self, failure: AuthFailure, step: int) -> None:
        _step(self.users, failure.username, step)
        if failure.response_hash:
            _step(self.hashes, failure.response_hash, step)
        _step(self.call_ids, failure.call_id, step)
        if failure.call_target is not None:
            _step(self.targets, failure.call_target, step)
            self.calls += step
        if failure.guess_key in self.proven:
            self.proven_count += step

    def push(self, horizon_s: float) -> None:
        """Take the next failure in and drop those older than ``horizon_s`` before it."""
        newest = self.failures[self.end]
        self._count(newest, 1)
        self.end += 1
        while newest.time - self.failures[self.start].time > horizon_s:
            self._count(self.failures[self.start], -1)
            self.start += 1

    def looks_misconfigured(self) -> bool:
        """One device repeating its one wrong password: a single username, no proof of different
        passwords, and either the same response every time, at most two Call-IDs (a device
        keeps its Call-ID across registrations, RFC 3261 §10.2; guessing tools rarely do), or
        only calls, to many destinations (a PBX dialling out over a trunk whose password is
        wrong: each call is a new Call-ID to the number dialled; a guessing tool varies the
        password, not the destination)."""
        if self.proven_count or len(self.users) != 1:
            return False
        if len(self.hashes) == 1 or len(self.call_ids) <= 2:
            return True
        return self.calls == len(self) and 2 * len(self.targets) >= len(self.call_ids)


def brute_force(ctx: RuleContext) -> dict[tuple[str, str], BruteForce]:
    """(client IP, server IP) → the densest brute-force window, for pairs that have one."""
    cached = ctx.cache.get("brute_force")
    if isinstance(cached, dict):
        return cached
    options = ctx.options
    result: dict[tuple[str, str], BruteForce] = {}
    for pair, failures in _failures(ctx).items():
        if len(failures) < min(options.brute_force_usernames, options.brute_force_failures):
            continue
        failures.sort(key=lambda f: f.time)
        window = _Window(failures, _proven_guesses(failures))
        best = (0, 0)
        reason = ""
        for _ in range(len(failures)):
            window.push(options.brute_force_window_s)
            longer = len(window) > best[1] - best[0]
            if len(window.users) >= options.brute_force_usernames and longer:
                best, reason = (window.start, window.end), "usernames"
            elif (
                len(window) >= options.brute_force_failures
                and longer
                and not window.looks_misconfigured()
            ):
                best, reason = (window.start, window.end), "failures"
        if best[1] > best[0]:
            result[pair] = BruteForce(tuple(failures[best[0] : best[1]]), reason)
    ctx.cache["brute_force"] = result
    return result


def scanners(ctx: RuleContext) -> dict[str, tuple[str, list[SipMessage]]]:
    """Source IP → (matched scanner name, its requests) for known scanner User-Agents."""
    cached = ctx.cache.get("scanners")
    if isinstance(cached, dict):
        return cached
    needles = [(n, n.lower()) for n in ctx.options.known_scanner_user_agents if n]
    groups: dict[str, tuple[str, list[SipMessage]]] = {}
    for message in ctx.correlation.messages:
        if not message.is_request:
            continue
        # first_line: the header pass of every request, and User-Agent is in the analysis
        # profile (parser.ANALYSIS_HEADERS); first() costs three times as much.
        agent = message.first_line("user-agent")
        if not agent:
            continue
        lowered = agent.lower()
        for name, needle in needles:
            if needle in lowered:
                groups.setdefault(message.source.src.ip, (name, []))[1].append(message)
                break
    ctx.cache["scanners"] = groups
    return groups


def hostile_sources(ctx: RuleContext) -> frozenset[str]:
    """IPs seen brute-forcing or identifying as a known scanner."""
    cached = ctx.cache.get("hostile_sources")
    if isinstance(cached, frozenset):
        return cached
    found = frozenset({client for client, _ in brute_force(ctx)} | set(scanners(ctx)))
    ctx.cache["hostile_sources"] = found
    return found


def exchanges_of(ctx: RuleContext, requests: Iterable[SipMessage]) -> list[AuthExchange]:
    """The kept exchanges that have one of ``requests`` as an attempt, in exchange order.

    SA601 / SA602 name them (``Finding.exchange_ids``) so that a finding about a source says
    how much of the capture it explains: one brute-force finding covers thousands of exchanges.
    """
    wanted = {id(request) for request in requests}
    found: list[AuthExchange] = []
    for exchange in ctx.correlation.exchanges:
        for attempt in exchange.attempts:
            if id(attempt.request) in wanted:
                found.append(exchange)
                break
    return found


def diagnosable_exchanges(ctx: RuleContext) -> list[AuthExchange]:
    """Exchanges whose client is not a known attacker: the ones worth configuration advice."""
    hostile = hostile_sources(ctx)
    if not hostile:
        return ctx.correlation.exchanges
    return [e for e in ctx.correlation.exchanges if e.client.ip not in hostile]
