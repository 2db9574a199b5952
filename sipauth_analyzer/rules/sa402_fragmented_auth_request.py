"""SA402 fragmented-auth-request — an authenticated request over UDP is IP-fragmented.

What it checks
    A UDP request carrying credentials that arrived in several IP fragments, or whose size
    plus IP/UDP headers exceeds ``mtu``; the message says when the same exchange's first,
    unauthenticated attempt was *not* fragmented (the Authorization header tipped it over).

Why it matters
    Credentials add 200–400 bytes. An INVITE that fit in one packet now fragments, and
    firewalls, NATs and cheap routers often drop fragments: unauthenticated requests work,
    authenticated ones vanish (see SA403 for retries that got no answer at all).

How to fix
    Move the trunk to TCP or TLS; otherwise make the request smaller (fewer SDP codecs,
    shorter headers) or allow IP fragments through the firewall.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.primitives import Transport
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.facts import fragmented
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA402",
    name="fragmented-auth-request",
    severity=Severity.WARNING,
    summary="An authenticated SIP request over UDP is IP-fragmented",
    explanation=(
        "The credentials push the request beyond the MTU; fragmented UDP is dropped by many "
        "firewalls and NATs, so authenticated requests may be lost while the first, smaller "
        "attempt got through."
    ),
    remediation=(
        "Use TCP or TLS for the trunk (Genesys BYOC trunk protocol, Asterisk pjsip transport, "
        "FreeSWITCH register-transport, AudioCodes proxy set transport type); or shrink the "
        "request; or let IP fragments through the firewall."
    ),
    references=("RFC 3261 §18.1.1", "RFC 8085 §3.2"),
)


def _describe(message: SipMessage) -> str:
    source = message.source
    fragments = f" in {source.ip_fragments} IP fragments" if source.ip_fragments > 1 else ""
    return f"frame {source.frame}: {source.wire_size} bytes{fragments}"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for exchange in ctx.correlation.exchanges:
        hits: list[SipMessage] = []
        for attempt in exchange.attempts:
            request = attempt.request
            if (
                request.source.transport is Transport.UDP
                and request.credentials
                and fragmented(ctx, request)
            ):
                hits.append(request)
        if not hits:
            continue
        first = exchange.first.request
        text = (
            f"authenticated {exchange.method} over UDP is fragmented "
            f"({'; '.join(_describe(m) for m in hits)}, MTU {ctx.options.mtu})"
        )
        messages = list(hits)
        if not first.credentials and not fragmented(ctx, first):
            text += (
                f"; the first attempt without credentials (frame {first.source.frame}, "
                f"{first.source.wire_size} bytes) was not"
            )
            messages.append(first)
        yield make_finding(
            ctx,
            META,
            text,
            messages=messages,
            client=exchange.client,
            server=exchange.server,
            keys=(exchange.method,),
            evidence_headers=(),
            exchanges=[exchange],
        )
