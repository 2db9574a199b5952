"""SA304 challenge-storm — a server sends one client more 401/407s per minute than the threshold.

What it checks
    For every (client IP, server IP) pair, the largest number of 401/407 responses within any
    60-second window of capture time; more than ``storm_challenges_per_minute`` is a storm.

Why it matters
    Storms are how auth loops, misconfigured trunks and brute-force runs look from the server:
    hundreds of challenges a minute load the SBC and bury real traffic in the logs.

How to fix
    Find the loop's cause in the other findings for this pair (SA301, SA303, SA101, SA601);
    rate-limit the source (Kamailio pike / htable, fail2ban) while it is being fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.facts import challenge_response
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA304",
    name="challenge-storm",
    severity=Severity.WARNING,
    summary="A server challenged one client more than storm_challenges_per_minute times in a "
    "minute",
    explanation=(
        "A healthy client is challenged about once per request. A storm is the signature of "
        "an auth loop, a broken trunk configuration or an attack."
    ),
    remediation=(
        "Fix the cause reported for this peer pair (auth loop, rejected credentials, realm "
        "mismatch, brute force); rate-limit the source meanwhile (Kamailio pike/htable, "
        "fail2ban)."
    ),
    references=("RFC 3261 §22.1", "RFC 3261 §26.3.2.4"),
)

WINDOW_S = 60.0


def check(ctx: RuleContext) -> Iterator[Finding]:
    by_pair: dict[tuple[str, str], list[SipMessage]] = defaultdict(list)
    for transaction in ctx.correlation.transactions:
        response = challenge_response(transaction)
        if response is not None:
            by_pair[(transaction.client.ip, transaction.server.ip)].append(response)
    threshold = ctx.options.storm_challenges_per_minute
    # Past the message budget the rules see only the exchanges that ended before it.
    scope = (
        "before the message budget was reached"
        if ctx.correlation.undiagnosed_exchanges
        else "in the whole capture"
    )
    for (client_ip, server_ip), responses in by_pair.items():
        if len(responses) <= threshold:
            continue
        responses.sort(key=lambda m: m.source.time)
        # The densest WINDOW_S of challenges, kept as indices: copying the window each time it
        # grew made a storm quadratic in its size.
        start = best_start = best_end = 0
        for end, response in enumerate(responses, 1):
            while response.source.time - responses[start].source.time > WINDOW_S:
                start += 1
            if end - start > best_end - best_start:
                best_start, best_end = start, end
        best = responses[best_start:best_end]
        if len(best) <= threshold:
            continue
        span = best[-1].source.time - best[0].source.time
        first = best[0]
        yield make_finding(
            ctx,
            META,
            f"{server_ip} sent {len(best)} challenges to {client_ip} within {span:.1f} s "
            f"(threshold {threshold} per minute; {len(responses)} {scope})",
            messages=best,
            client=first.source.dst,
            server=first.source.src,
            keys=("storm",),
            evidence_headers=("WWW-Authenticate", "Proxy-Authenticate"),
        )
