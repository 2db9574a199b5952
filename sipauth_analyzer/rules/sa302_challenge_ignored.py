"""SA302 challenge-ignored — a 401/407 that the client never answered.

What it checks
    An exchange whose last event is a 401/407 to a request without credentials, with no retry
    before the capture ends (challenges in the last ``capture_end_grace_s`` seconds are left
    alone; the message warns when the capture ends within ``capture_end_caveat_s``). When a
    more specific rule explains the silence it reports instead: SA305 (inbound auth on one
    side only), SA501 (wrong challenge header for the status), SA503 (REGISTER challenged
    with 407), SA506 (Basic only), SA102 (SHA-256 only).

Why it matters
    The request dies: a call is never placed, a registration never completes.

How to fix
    Give the client credentials for this server (username, password, realm), or, if the
    server should not challenge this peer, trust it by IP instead (ACL / IP authentication).
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
    peer_group_message,
    quoted,
)
from sipauth_analyzer.rules.facts import IgnoredCause, end_caveat, ignored_cause, ignored_challenge
from sipauth_analyzer.rules.hostile import diagnosable_exchanges

META = RuleMeta(
    code="SA302",
    name="challenge-ignored",
    severity=Severity.ERROR,
    summary="A 401/407 challenge was never answered by the client",
    explanation=(
        "The client received a challenge and neither retried with credentials nor gave any "
        "other sign of handling it, so the request was abandoned."
    ),
    remediation=(
        "Configure authentication credentials on the client for this server, or stop "
        "challenging a trusted peer and authenticate it by source IP (ACL) instead."
    ),
    references=("RFC 3261 §22.2", "RFC 3261 §22.3"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        if ignored_cause(ctx, exchange) is not IgnoredCause.UNKNOWN:
            continue
        response = ignored_challenge(ctx, exchange)
        if response is None:
            continue
        realms = sorted({c.realm for c in response.challenges if c.realm is not None})
        realm_text = f" (realm {quoted(realms)})" if realms else ""
        groups.add(
            exchange,
            (exchange.method, str(response.status), *realms),
            f"{exchange.method} challenged with {response.status}{realm_text} and never "
            f"answered{end_caveat(ctx, response)}",
            [exchange.last.request, response],
        )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
