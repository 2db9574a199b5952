"""SA103 algorithm-downgrade — MD5 chosen although the server offered a stronger algorithm.

What it checks
    A 401/407 offering SHA-256 or SHA-512-256 beside MD5, answered with MD5 (or with no
    algorithm, which means MD5).

Why it matters
    Authentication works, but MD5 digests captured on the wire are cheap to brute-force
    offline. RFC 7616 §3.7 / RFC 8760 §2.4: the server lists challenges in order of
    preference and the client should use the strongest it supports. A client always picking
    MD5 either lacks SHA-256 or is being downgraded.

How to fix
    Enable SHA-256 on the client (firmware upgrade where needed). When every client on the
    trunk supports it, stop offering MD5 on the server.
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
    MD5_FAMILY,
    STRONG_ALGORITHMS,
    algorithm_name,
    challenge_response,
    digest_challenges,
    digest_credentials,
)
from sipauth_analyzer.rules.hostile import diagnosable_exchanges

META = RuleMeta(
    code="SA103",
    name="algorithm-downgrade",
    severity=Severity.WARNING,
    summary="The client answered with MD5 although SHA-256 / SHA-512-256 was offered",
    explanation=(
        "When a server offers several algorithms the client should use the strongest it "
        "supports. MD5 responses on the wire allow fast offline password guessing."
    ),
    remediation=(
        "Enable SHA-256 digest on the client (upgrade firmware if needed); once all clients "
        "support it, stop offering MD5 on the server (Kamailio auth 'algorithm', Asterisk "
        "pjsip 'supported_algorithms_uas')."
    ),
    references=("RFC 7616 §3.7", "RFC 8760 §2.4"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        for index in range(1, len(exchange.attempts)):
            response = challenge_response(exchange.attempts[index - 1])
            if response is None:
                continue
            offered = {algorithm_name(c.algorithm) for c in digest_challenges(response)}
            strong = offered & STRONG_ALGORITHMS
            if not strong or not offered & MD5_FAMILY:
                continue
            retry = exchange.attempts[index].request
            used = {algorithm_name(c.algorithm) for c in digest_credentials(retry)}
            if not used or not used <= MD5_FAMILY:
                continue
            groups.add(
                exchange,
                (*sorted(offered), *sorted(used)),
                f"challenge offers {' / '.join(sorted(offered))}; the client chose "
                f"{' / '.join(sorted(used))}",
                [response, retry],
            )
            break
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
