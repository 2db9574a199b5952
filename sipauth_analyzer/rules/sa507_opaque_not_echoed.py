"""SA507 opaque-not-echoed — credentials that drop or change the challenge's ``opaque``.

What it checks
    Credentials answering a challenge that carried ``opaque`` must return it unchanged.

Why it matters
    RFC 7616 §3.4 / RFC 2617 §3.2.2: the client MUST return opaque as received. Servers that
    keep state in it (Asterisk, many SBCs and B2BUAs) reject credentials without it, usually
    with a fresh challenge.

How to fix
    A client bug: update its SIP stack. Some servers can stop sending opaque.
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
    code="SA507",
    name="opaque-not-echoed",
    severity=Severity.ERROR,
    summary="Credentials omit or alter the opaque value the challenge sent",
    explanation=(
        "opaque must be returned unchanged; servers that rely on it cannot match the "
        "credentials to their challenge and reject them."
    ),
    remediation=(
        "Update the client (its digest implementation drops opaque); as a workaround, stop "
        "sending opaque on the server if it allows."
    ),
    references=("RFC 7616 §3.4", "RFC 2617 §3.2.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        texts: set[str] = set()
        for index, attempt in enumerate(exchange.attempts):
            for credentials in digest_credentials(attempt.request):
                answered = answered_challenges(ctx, exchange, index, credentials)
                opaques = {c.opaque for c, _ in answered if c.opaque is not None}
                if not opaques or credentials.opaque in opaques:
                    continue
                wanted = " / ".join(f'"{o}"' for o in sorted(opaques))
                got = f'"{credentials.opaque}"' if credentials.opaque is not None else "none"
                texts.add(f"challenge opaque {wanted} ≠ credentials opaque {got}")
                messages.extend(response for _, response in answered)
                messages.append(attempt.request)
        if messages:
            groups.add(
                exchange,
                ("opaque",),
                "; ".join(sorted(texts)),
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
