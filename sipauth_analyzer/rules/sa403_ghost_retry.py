"""SA403 ghost-retry — an authenticated retry over UDP got no response at all.

What it checks
    A retry carrying credentials, sent over UDP after a 401/407, that received no response of
    any kind (not even 100 Trying) before the capture ended, although the server answered the
    first attempt. Retransmissions of the retry are counted; a retry never retransmitted
    must lie at least ``ghost_min_wait_s`` before the end of the capture.

Why it matters
    This is the "ghost call": the server plainly talks to the client, but the authenticated
    request never reaches it — almost always because it grew past the MTU and a firewall or
    NAT dropped the IP fragments (compare SA402), sometimes an ALG mangling large packets.

How to fix
    Move the trunk to TCP or TLS; check the firewall for dropped fragments (and disable SIP
    ALG); capture on the server side to confirm the retry never arrives.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.primitives import Transport
from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
    peer_group_message,
)
from sipauth_analyzer.rules.facts import capture_end, challenge_response, fragmented

META = RuleMeta(
    code="SA403",
    name="ghost-retry",
    severity=Severity.ERROR,
    summary="An authenticated retry over UDP got no response at all, though the first attempt "
    "was answered",
    explanation=(
        "The server answered the unauthenticated request but never the authenticated one; "
        "the usual cause is a firewall or NAT dropping the larger, fragmented retry."
    ),
    remediation=(
        "Use TCP or TLS for the trunk; let IP fragments through the firewall and disable SIP "
        "ALG; capture at the server to confirm the retry never arrives."
    ),
    references=("RFC 3261 §18.1.1", "RFC 3261 §17.1.2.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in ctx.correlation.exchanges:
        for index in range(1, len(exchange.attempts)):
            attempt = exchange.attempts[index]
            request = attempt.request
            previous = challenge_response(exchange.attempts[index - 1])
            if (
                previous is None
                or request.source.transport is not Transport.UDP
                or not request.credentials
                or attempt.responses
                or (
                    not attempt.retransmissions
                    and capture_end(ctx) - request.source.time < ctx.options.ghost_min_wait_s
                )
            ):
                continue
            copies = len(attempt.retransmissions)
            size = request.source.wire_size
            detail = f"{size} bytes"
            if fragmented(ctx, request):
                detail += f", fragmented (MTU {ctx.options.mtu})"
            first_size = exchange.first.request.source.wire_size
            groups.add(
                exchange,
                (exchange.method,),
                f"authenticated {exchange.method} retry (frame {request.source.frame}, "
                f"{detail}; sent {copies + 1} times) got no response, while the "
                f"{first_size}-byte first attempt was answered with {previous.status}",
                [exchange.first.request, previous, request, *attempt.retransmissions],
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message, ())
