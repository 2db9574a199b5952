"""SA402 fragmented-auth-request — an authenticated request over UDP is IP-fragmented.

What it checks
    A UDP request carrying credentials that arrived in several IP fragments, or whose size
    plus IP/UDP headers exceeds ``mtu``; the message says when the same exchange's first,
    unauthenticated attempt was *not* fragmented (the Authorization header tipped it over).
    A trunk whose credentials tip its requests over the MTU does so on every call, so the
    finding is one per client and server (by IP) and method, counting those exchanges.

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
from dataclasses import dataclass

from sipauth_analyzer.primitives import Transport
from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroup,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
    value_range,
)
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


# A finding about many exchanges describes this many of their fragmented requests.
_MAX_DESCRIBED = 3


def _describe(message: SipMessage) -> str:
    source = message.source
    fragments = f" in {source.ip_fragments} IP fragments" if source.ip_fragments > 1 else ""
    return f"frame {source.frame}: {source.wire_size} bytes{fragments}"


@dataclass(frozen=True, slots=True)
class _Fragmented:
    """One exchange's fragmented authenticated requests, and its first attempt when that was
    sent without credentials and not fragmented."""

    hits: tuple[SipMessage, ...]
    unfragmented_first: SipMessage | None


def _text(group: PeerGroup[_Fragmented], mtu: int) -> str:
    (method,) = group.keys
    exchanges = group.details
    if len(exchanges) == 1:
        (one,) = exchanges
        text = (
            f"authenticated {method} over UDP is fragmented "
            f"({'; '.join(_describe(m) for m in one.hits)}, MTU {mtu})"
        )
        first = one.unfragmented_first
        if first is not None:
            text += (
                f"; the first attempt without credentials (frame {first.source.frame}, "
                f"{first.source.wire_size} bytes) was not"
            )
        return text
    hits = [m for exchange in exchanges for m in exchange.hits]
    named = "; ".join(_describe(m) for m in hits[:_MAX_DESCRIBED])
    if len(hits) > _MAX_DESCRIBED:
        named += f"; {len(hits) - _MAX_DESCRIBED} more"
    sizes = value_range(m.source.wire_size for m in hits)
    text = (
        f"authenticated {method} over UDP is fragmented in {len(exchanges)} exchanges "
        f"({named}; {sizes} bytes, MTU {mtu})"
    )
    firsts = [e.unfragmented_first for e in exchanges if e.unfragmented_first is not None]
    if firsts:
        first_sizes = value_range(m.source.wire_size for m in firsts)
        text += (
            f"; the first attempt without credentials ({first_sizes} bytes) was not, in "
            f"{len(firsts)} of them"
        )
    return text


def check(ctx: RuleContext) -> Iterator[Finding]:
    # One finding per client, server and method (base.PeerGroups): the trunk whose
    # credentials tip its INVITEs over the MTU does so on every call.
    groups: PeerGroups[_Fragmented] = PeerGroups()
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
        unfragmented_first = (
            first if not first.credentials and not fragmented(ctx, first) else None
        )
        messages = [*hits, first] if unfragmented_first is not None else hits
        groups.add(
            exchange, (exchange.method,), _Fragmented(tuple(hits), unfragmented_first), messages
        )
    mtu = ctx.options.mtu
    yield from peer_group_findings(ctx, META, groups, lambda group: _text(group, mtu), ())
