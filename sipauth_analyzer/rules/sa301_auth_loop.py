"""SA301 auth-loop — one request challenged more times than a working client ever needs.

What it checks
    An exchange (one request and its retries) challenged more than
    ``max_challenge_cycles`` times (default 2) without succeeding. The loop is classified:

    * ``no-credentials`` — the client repeats the request without any credentials;
    * ``stale-loop`` — the server keeps answering stale=true;
    * ``outdated-nonce`` — the client answers with the nonce of an earlier challenge instead of
      the one it was just given (see SA201);
    * ``same-credentials`` — the server repeats its nonce and the client repeats the very same
      response: the credentials themselves are wrong (see SA303, SA101, SA102);
    * ``new-nonce-each-time`` — every challenge has a fresh nonce and the client answers each
      one, yet is refused: the credentials themselves are wrong (see SA303, SA101, SA102);
    * ``mixed`` — none of the above dominates.

    A client that loops does so on every call, so the finding is one per client and server
    (by IP), method and loop type: it counts those exchanges, gives the range of their
    challenge counts and their outcomes, and names every one of them.

Why it matters
    A correct client needs one cycle (request → 401/407 → retry → 2xx). Loops burn server
    CPU, fill logs with 401/407s and end in a dead call or a lapsed registration.

How to fix
    Follow the class: supply credentials (no-credentials), fix nonce lifetime / client
    latency (stale-loop), fix the client's nonce handling (outdated-nonce), or correct
    username, password and realm (same-credentials, new-nonce-each-time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sipauth_analyzer.correlate.model import AuthExchange, Outcome
from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroup,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    named_users,
    peer_group_findings,
    tally,
    value_range,
)
from sipauth_analyzer.rules.facts import challenge_response, digest_challenges, digest_credentials
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA301",
    name="auth-loop",
    severity=Severity.ERROR,
    summary="A request was challenged more than max_challenge_cycles times without success",
    explanation=(
        "A working client authenticates after one challenge. Repeated challenges for one "
        "request mean the client cannot produce acceptable credentials; the loop's shape "
        "(no credentials, stale nonces, repeated credentials, fresh nonce each time) says why."
    ),
    remediation=(
        "no-credentials: configure the client's auth username/password for this server (for "
        "a REGISTER challenged with 407, see SA503 / VOS3000 SS_AUTHCHALLENGEMODE). "
        "stale-loop: lengthen the nonce lifetime and check client latency. "
        "outdated-nonce: the client answers old nonces — update it. same-credentials / "
        "new-nonce-each-time: wrong username, password or realm — re-enter the password by "
        "hand (no trailing spaces)."
    ),
    references=("RFC 3261 §22.2", "RFC 3261 §22.3", "RFC 7616 §3.3"),
)


def classify(exchange: AuthExchange) -> str:
    """The loop's shape (see the module docstring)."""
    challenges: list[SipMessage] = [
        r for a in exchange.attempts if (r := challenge_response(a)) is not None
    ]
    retries = [a.request for a in exchange.attempts[1:]]
    if retries and all(not r.credentials for r in retries):
        return "no-credentials"
    stale = sum(1 for r in challenges[1:] if any(c.stale for c in digest_challenges(r)))
    if challenges[1:] and stale * 2 >= len(challenges[1:]):
        return "stale-loop"
    outdated = 0
    for index in range(1, len(exchange.attempts)):
        previous = challenge_response(exchange.attempts[index - 1])
        latest = {c.nonce for c in digest_challenges(previous)} if previous else set()
        echoed = {c.nonce for c in digest_credentials(exchange.attempts[index].request)}
        if latest and echoed and not echoed & latest:
            outdated += 1
    if outdated:
        return "outdated-nonce"
    answered = [(c.nonce, c.response) for r in retries for c in digest_credentials(r) if c.nonce]
    if len(answered) >= 2 and len(set(answered)) < len(answered):
        return "same-credentials"
    issued = [c.nonce for r in challenges for c in digest_challenges(r) if c.nonce]
    if len(set(issued)) == len(issued) and len(answered) >= 2:
        return "new-nonce-each-time"
    return "mixed"


@dataclass(frozen=True, slots=True)
class _Loop:
    """What one looping exchange showed."""

    cycles: int
    outcome: str
    users: tuple[str, ...]


def _loop_text(group: PeerGroup[_Loop], limit: int) -> str:
    method, kind = group.keys
    loops = group.details
    users = {user for loop in loops for user in loop.users}
    user_text = f" (username {named_users(users)})" if users else ""
    cycles = value_range(loop.cycles for loop in loops)
    where = f" in {group.count} exchanges" if group.count > 1 else ""
    return (
        f"{method} challenged {cycles} times (limit {limit}) without success{where}, "
        f"outcome {tally(loop.outcome for loop in loops)}; loop type: {kind}{user_text}"
    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    limit = ctx.options.max_challenge_cycles
    # One finding per client, server, method and loop type: a trunk that loops does so on
    # every call (base.PeerGroups).
    groups: PeerGroups[_Loop] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        cycles = exchange.challenge_cycles
        if cycles <= limit or exchange.outcome is Outcome.SUCCEEDED:
            continue
        kind = classify(exchange)
        users = sorted({c.username for a in exchange.attempts for c in a.credentials if c.username})
        messages: list[SipMessage] = []
        for attempt in exchange.attempts:
            messages.append(attempt.request)
            if attempt.final is not None:
                messages.append(attempt.final)
        loop = _Loop(cycles, exchange.outcome.value, tuple(users))
        groups.add(exchange, (exchange.method, kind), loop, messages)
    yield from peer_group_findings(ctx, META, groups, lambda group: _loop_text(group, limit))
