"""SA104 qop-ignored — the challenge offers qop but the credentials do not use it.

What it checks
    Credentials answering a challenge that carried ``qop="auth"`` (or ``auth-int``) without a
    ``qop`` parameter of their own, i.e. the RFC 2069 compatibility form.

Why it matters
    RFC 7616 §3.4 requires qop; without it there is no client nonce (cnonce) and no nonce
    count, so the response is open to chosen-plaintext and replay attacks. Strict servers
    reject such credentials; lenient ones accept them.

How to fix
    Enable qop=auth on the client (most current stacks do it by default). If the client
    cannot, check whether the server accepts RFC 2069 responses (Kamailio: 'qop' parameter of
    the auth module; FreeSWITCH and Asterisk accept both).
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
    code="SA104",
    name="qop-ignored",
    severity=Severity.WARNING,
    summary="The challenge offers qop but the credentials omit qop, nc and cnonce",
    explanation=(
        "Without qop the response has no client nonce or nonce count (RFC 2069 style): "
        "weaker against replay, and rejected by servers that require qop."
    ),
    remediation=(
        "Enable qop=auth support on the client; if it cannot, make sure the server tolerates "
        "RFC 2069-style responses or stop offering qop to that client."
    ),
    references=("RFC 7616 §3.4", "RFC 2617 §3.2.2", "RFC 3261 §22.4"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        offered_all: set[str] = set()
        for index, attempt in enumerate(exchange.attempts):
            for credentials in digest_credentials(attempt.request):
                if credentials.qop:
                    continue
                answered = answered_challenges(ctx, exchange, index, credentials)
                offered = {q for c, _ in answered for q in c.qop_options}
                if not offered:
                    continue
                offered_all |= offered
                messages.extend(response for _, response in answered)
                messages.append(attempt.request)
        if messages:
            groups.add(
                exchange,
                tuple(sorted(offered_all)),
                f"challenge offers qop={','.join(sorted(offered_all))} but the credentials "
                "carry no qop (RFC 2069 compatibility form)",
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
