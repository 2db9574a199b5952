"""SA202 stale-nonce-recovered — a nonce expired but the client recovered and succeeded.

What it checks
    The same evidence as SA201 (stale=true, an older challenge's nonce, a retry slower than
    the observed nonce lifetime) in an exchange that ended in a 2xx.

Why it matters
    Nothing is broken: this is the normal life of a nonce (a REGISTER refresh reusing the
    previous nonce gets stale=true and retries). Frequent occurrences cost a round trip per
    request and hint at a nonce lifetime shorter than the client's refresh interval.

How to fix
    Usually nothing. If it happens on most requests, raise the server's nonce lifetime
    (AudioCodes NonceExpiry, Kamailio nonce_expire, Asterisk nonce_lifetime).
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.correlate.model import Outcome
from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
    peer_group_message,
)
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.rules.sa201_stale_nonce import observations

META = RuleMeta(
    code="SA202",
    name="stale-nonce-recovered",
    severity=Severity.INFO,
    summary="A nonce expired (stale=true or an outdated nonce) but the request then succeeded",
    explanation=(
        "Expired nonces are normal; a client answering stale=true with the new nonce recovers "
        "in one round trip. Seen often, it means the nonce lifetime is short for this client."
    ),
    remediation=(
        "None needed; if frequent, lengthen the server's nonce lifetime (AudioCodes "
        "NonceExpiry, Kamailio nonce_expire, Asterisk pjsip nonce_lifetime)."
    ),
    references=("RFC 7616 §3.3", "RFC 2617 §3.2.1"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        if exchange.outcome is not Outcome.SUCCEEDED:
            continue
        texts, messages = observations(ctx, exchange)
        if texts:
            groups.add(
                exchange,
                (exchange.method,),
                "; ".join(dict.fromkeys(texts)) + "; the request then succeeded",
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
