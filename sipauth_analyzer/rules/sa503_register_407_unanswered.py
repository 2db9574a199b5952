"""SA503 register-407-unanswered — a REGISTER challenged with 407 that the client never answers.

What it checks
    A REGISTER answered with 407 Proxy Authentication Required (Proxy-Authenticate only) to
    which the client never sends a retry.

Why it matters
    A registrar is a UAS and challenges with 401 + WWW-Authenticate (RFC 3261 §10.2.2,
    §22.2). Many phones and gateways only handle 401 for REGISTER and silently drop a 407, so
    they never register.

How to fix
    Make the registrar challenge REGISTER with 401. VOS3000: SS_AUTHCHALLENGEMODE = 1 (401)
    or 3 (both), then reload the softswitch; Kamailio: www_challenge() / auth_challenge()
    with a 401 for REGISTER instead of proxy_challenge().
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
)
from sipauth_analyzer.rules.facts import IgnoredCause, end_caveat, ignored_cause, ignored_challenge
from sipauth_analyzer.rules.hostile import diagnosable_exchanges

META = RuleMeta(
    code="SA503",
    name="register-407-unanswered",
    severity=Severity.ERROR,
    summary="A REGISTER was challenged with 407 and the client never answered",
    explanation=(
        "Registrars challenge with 401/WWW-Authenticate; many user agents ignore a 407 on "
        "REGISTER, so the registration never completes."
    ),
    remediation=(
        "Challenge REGISTER with 401: VOS3000 SS_AUTHCHALLENGEMODE=1 or 3 (reload after the "
        "change); Kamailio www_challenge() for REGISTER; or upgrade the device."
    ),
    references=("RFC 3261 §10.2.2", "RFC 3261 §22.2", "RFC 3261 §22.3"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        if ignored_cause(ctx, exchange) is not IgnoredCause.REGISTER_407:
            continue
        response = ignored_challenge(ctx, exchange)
        if response is None:
            continue
        agent = exchange.last.request.user_agent
        agent_text = f' (User-Agent "{agent}")' if agent else ""
        groups.add(
            exchange,
            ("register-407",),
            f"REGISTER challenged with 407 Proxy-Authenticate and never answered{agent_text}; "
            f"registrars should use 401{end_caveat(ctx, response)}",
            [exchange.last.request, response],
        )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
