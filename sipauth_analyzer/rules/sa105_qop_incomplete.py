"""SA105 qop-incomplete — credentials use qop without nc / cnonce, or a qop never offered.

What it checks
    Credentials with a ``qop`` parameter must also carry ``cnonce`` and ``nc`` (RFC 7616 §3.4,
    RFC 2617 §3.2.2), and the qop value must be one the challenge offered.

Why it matters
    The server folds nc and cnonce into the expected response; if they are missing, or the
    qop is one it did not offer, verification fails however correct the password is.

How to fix
    This is a client bug: update the client's SIP stack, or turn qop off on the server for
    that client (Kamailio auth 'qop' parameter) while it is fixed.
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
from sipauth_analyzer.rules.facts import answered_challenges, digest_credentials
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA105",
    name="qop-incomplete",
    severity=Severity.ERROR,
    summary="Credentials use qop but lack nc or cnonce, or use a qop the challenge did not offer",
    explanation=(
        "With qop the response hash covers nc and cnonce; without them (or with a qop the "
        "server did not offer) the server cannot verify the response."
    ),
    remediation=(
        "Update or reconfigure the client's SIP stack; as a stopgap, stop offering qop to that "
        "client on the server."
    ),
    references=("RFC 7616 §3.4", "RFC 2617 §3.2.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        problems: set[str] = set()
        for index, attempt in enumerate(exchange.attempts):
            for credentials in digest_credentials(attempt.request):
                if not credentials.qop:
                    continue
                missing = [
                    name
                    for name, value in (("nc", credentials.nc), ("cnonce", credentials.cnonce))
                    if not value
                ]
                answered = answered_challenges(ctx, exchange, index, credentials)
                offered = {q.lower() for c, _ in answered for q in c.qop_options}
                found: list[str] = []
                if missing:
                    found.append(f"qop={credentials.qop} without {' and '.join(missing)}")
                if answered and credentials.qop.lower() not in offered:
                    offered_text = ",".join(sorted(offered)) if offered else "no qop"
                    found.append(f"qop={credentials.qop} but the challenge offered {offered_text}")
                if found:
                    problems.update(found)
                    messages.extend(response for _, response in answered)
                    messages.append(attempt.request)
        if problems:
            groups.add(
                exchange,
                tuple(sorted(problems)),
                "; ".join(sorted(problems)),
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
