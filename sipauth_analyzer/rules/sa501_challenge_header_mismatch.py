"""SA501 challenge-header-mismatch — a 401 with Proxy-Authenticate, a 407 with WWW-Authenticate.

What it checks
    A 401 whose challenges are only in Proxy-Authenticate, or a 407 whose challenges are only
    in WWW-Authenticate.

Why it matters
    RFC 3261 §21.4.2 requires a 401 to carry WWW-Authenticate and §21.4.8 a 407 to carry
    Proxy-Authenticate. Clients look for the header the status code promises: many ignore the
    challenge entirely, others answer in the wrong credentials header, and the request dies.

How to fix
    Fix the server (or the B2BUA / SBC rewriting responses): 401 ↔ WWW-Authenticate ↔
    Authorization, 407 ↔ Proxy-Authenticate ↔ Proxy-Authorization. VOS3000: the challenge
    type is chosen by SS_AUTHCHALLENGEMODE; check SBC header-manipulation rules.
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
from sipauth_analyzer.rules.facts import challenge_header_mismatch, challenge_response
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA501",
    name="challenge-header-mismatch",
    severity=Severity.ERROR,
    summary="A 401 carries Proxy-Authenticate or a 407 carries WWW-Authenticate",
    explanation=(
        "The status code and the challenge header disagree, so clients either ignore the "
        "challenge or answer it with the wrong credentials header."
    ),
    remediation=(
        "Make the server send 401 with WWW-Authenticate and 407 with Proxy-Authenticate; look "
        "for SBC/B2BUA header manipulation rewriting one into the other (VOS3000: "
        "SS_AUTHCHALLENGEMODE)."
    ),
    references=("RFC 3261 §21.4.2", "RFC 3261 §21.4.8", "RFC 3261 §22.3"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        kinds: set[str] = set()
        for attempt in exchange.attempts:
            response = challenge_response(attempt)
            if response is None or not challenge_header_mismatch(response):
                continue
            header = "Proxy-Authenticate" if response.status == 401 else "WWW-Authenticate"
            kinds.add(f"{response.status} carrying {header}")
            messages.extend((attempt.request, response))
        if messages:
            groups.add(
                exchange,
                tuple(sorted(kinds)),
                f"{exchange.method} answered with {', '.join(sorted(kinds))} "
                "(the status code promises the other header)",
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
