"""SA102 algorithm-mismatch — the client answers with an algorithm the challenge did not offer.

What it checks
    For each answered challenge, the credentials' ``algorithm`` (absent means MD5, RFC 7616
    §3.3) must be one the server offered: the algorithm of the challenge whose nonce is echoed,
    or one of the previous 401/407's challenges. ``-sess`` variants are distinct algorithms
    (``MD5-sess`` answered with ``MD5`` is a mismatch). It also reports a challenge that offers
    only SHA-256 / SHA-512-256 and is never answered: the typical silence of an MD5-only client.

Why it matters
    The server hashes with the algorithm it offered; a response computed with another one
    never matches, so the request is challenged again or refused.

Example
    ``WWW-Authenticate: Digest realm="x", nonce="n", algorithm=SHA-256`` answered by
    ``Authorization: Digest … nonce="n", response="…"`` (no algorithm, i.e. MD5).

How to fix
    Let the server also offer MD5 for clients that cannot do SHA-256 (RFC 8760 §2.4 allows one
    challenge per algorithm, strongest first), or upgrade / configure the client for SHA-256.
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
from sipauth_analyzer.rules.facts import (
    IgnoredCause,
    algorithm_name,
    answered_challenges,
    digest_challenges,
    digest_credentials,
    end_caveat,
    ignored_cause,
)
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA102",
    name="algorithm-mismatch",
    severity=Severity.ERROR,
    summary="Credentials use a digest algorithm the challenge did not offer, or an SHA-only "
    "challenge is never answered",
    explanation=(
        "The response hash is computed with the credentials' algorithm; the server verifies "
        "with the one it offered. An omitted algorithm means MD5. A client that implements only "
        "MD5 usually stays silent when offered SHA-256 alone, or answers with MD5 anyway."
    ),
    remediation=(
        "Offer MD5 beside SHA-256 (one challenge per algorithm, RFC 8760) while MD5-only "
        "clients remain, or configure the client for SHA-256. On an SBC that challenges with "
        "SHA-256 only, enable its MD5 compatibility; Kamailio: auth module 'algorithm' "
        "parameter; Asterisk 18+: pjsip auth 'supported_algorithms_uac/uas'."
    ),
    references=("RFC 7616 §3.3", "RFC 7616 §3.4", "RFC 8760 §2.4", "RFC 3261 §22.4"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        pairs: set[tuple[str, str]] = set()
        for index, attempt in enumerate(exchange.attempts):
            for credentials in digest_credentials(attempt.request):
                answered = answered_challenges(ctx, exchange, index, credentials)
                if not answered:
                    continue
                offered = {algorithm_name(c.algorithm) for c, _ in answered}
                used = algorithm_name(credentials.algorithm)
                if used in offered:
                    continue
                pairs.add((" / ".join(sorted(offered)), used))
                messages.extend(response for _, response in answered)
                messages.append(attempt.request)
        if pairs:
            text = "; ".join(
                f"challenge offers {offered} but credentials use {used}"
                for offered, used in sorted(pairs)
            )
            if any(used == "MD5" for _, used in pairs):
                text += " (an absent algorithm parameter means MD5)"
            groups.add(
                exchange,
                tuple([f"{a}\x1e{b}" for a, b in sorted(pairs)]),
                text,
                messages,
            )
            continue
        if ignored_cause(ctx, exchange) is IgnoredCause.STRONG_ALGORITHM_ONLY:
            response = exchange.last.final
            if response is None:
                continue
            offered_text = " / ".join(
                sorted({algorithm_name(c.algorithm) for c in digest_challenges(response)})
            )
            groups.add(
                exchange,
                (offered_text, "unanswered"),
                f"challenge offers only {offered_text} and the client never answered it "
                f"(an MD5-only client cannot){end_caveat(ctx, response)}",
                [exchange.last.request, response],
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
