"""SA305 inbound-auth-divergence — one direction of a trunk is challenged but never authenticates.

What it checks
    A peer pair where B challenges A's requests and A never sends credentials to B, while B
    does send credentials to A on the reverse direction (A challenges B, B authenticates).
    In a Genesys BYOC Premise trunk: outbound (Edge → SBC) calls authenticate fine, inbound
    (SBC → Edge) calls are challenged by the Edge and the SBC has no credentials to give.

Why it matters
    Calls in one direction fail while the other works, which looks like a routing problem.
    Usually digest "challenge inbound" is switched on at one end only.

How to fix
    Either switch off inbound challenging at the challenging end and trust the peer by IP
    (Genesys: the trunk's Inbound settings, disable digest challenge and use an IP ACL), or
    configure credentials for that direction on the peer.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.facts import IgnoredCause, challenge_response, ignored_cause
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA305",
    name="inbound-auth-divergence",
    severity=Severity.ERROR,
    summary="One direction of a trunk is challenged and never answers, while the other "
    "direction authenticates",
    explanation=(
        "The peer that is challenged has no credentials for this direction although the "
        "trunk's other direction uses digest auth: inbound authentication is enabled on one "
        "side only."
    ),
    remediation=(
        "Disable digest challenges for inbound traffic at the challenging end and trust the "
        "peer by IP address (Genesys BYOC: trunk Inbound settings; AudioCodes / Asterisk / "
        "Kamailio: IP-based trust for the trunk), or give the peer credentials for this "
        "direction."
    ),
    references=("RFC 3261 §22.1", "RFC 3261 §26.3.2.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[AuthExchange]] = {}
    for exchange in diagnosable_exchanges(ctx):
        if ignored_cause(ctx, exchange) is IgnoredCause.INBOUND_DIVERGENCE:
            groups.setdefault((exchange.client.ip, exchange.server.ip), []).append(exchange)
    for (client_ip, server_ip), exchanges in groups.items():
        messages: list[SipMessage] = []
        for exchange in exchanges:
            response = challenge_response(exchange.last)
            messages.append(exchange.last.request)
            if response is not None:
                messages.append(response)
        first = exchanges[0]
        yield make_finding(
            ctx,
            META,
            f"{server_ip} challenges {client_ip} ({len(exchanges)} unanswered "
            f"{'exchange' if len(exchanges) == 1 else 'exchanges'}) and {client_ip} never "
            f"sends credentials to it, although {server_ip} authenticates towards {client_ip}",
            messages=messages,
            client=first.client,
            server=first.server,
            keys=("divergence",),
            exchanges=exchanges,
        )
