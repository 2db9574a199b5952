"""SA511 ack-credentials-missing — the ACK does not repeat the INVITE's credentials.

What it checks
    For an INVITE attempt that carried Authorization / Proxy-Authorization and was accepted
    (2xx), the end-to-end ACK with the same CSeq number should carry the same credentials
    headers. Severity info: many user agents omit them and most proxies do not authenticate
    ACK, so it only matters when the call drops about 32 s after answer.

    A user agent that omits them does so on every call, so the finding is one per client and
    server (by IP): it counts the calls whose ACK lacks them against the calls it could check,
    and names every one of those exchanges.

Why it matters
    RFC 3261 §22.1: a UAC building an ACK duplicates every Authorization and
    Proxy-Authorization value of the INVITE it acknowledges, and servers accept those
    credentials for the ACK (they may not challenge it). Proxies that authenticate every
    request drop an ACK without them: the 200 OK is retransmitted and the call is torn down
    after about 32 s.

How to fix
    A client bug: update the client's SIP stack, or exempt ACK from authentication on the
    proxy (Kamailio: do not authenticate is_method("ACK")).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.primitives import Endpoint
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA511",
    name="ack-credentials-missing",
    severity=Severity.INFO,
    summary="An ACK does not repeat the credentials of the INVITE it acknowledges",
    explanation=(
        "The ACK must carry the INVITE's Authorization / Proxy-Authorization headers; "
        "proxies that check every request otherwise drop it and the call fails after ~32 s."
    ),
    remediation=(
        "Update the client; or do not authenticate ACK on the proxy (Kamailio: skip auth for "
        'is_method("ACK")).'
    ),
    references=("RFC 3261 §22.1", "RFC 3261 §17.1.1.3"),
)


@dataclass(slots=True)
class _Pair:
    """The accepted, credentialed INVITEs of one client and server, and what their ACKs lack."""

    client: Endpoint
    server: Endpoint
    checked: int = 0  # exchanges with an ACK to an accepted INVITE that carried credentials
    missing: set[str] = field(default_factory=set)
    messages: list[SipMessage] = field(default_factory=list)
    exchanges: list[AuthExchange] = field(default_factory=list)


def _lacking(exchange: AuthExchange) -> tuple[bool, set[str], list[SipMessage]]:
    """Whether ``exchange`` has an ACK to an accepted INVITE with credentials; the headers its
    ACKs lack, and each such INVITE and ACK."""
    acks_by_cseq: dict[int | None, list[SipMessage]] = {}
    for ack in exchange.acks:
        acks_by_cseq.setdefault(ack.cseq_number, []).append(ack)
    checked = False
    missing_all: set[str] = set()
    messages: list[SipMessage] = []
    for attempt in exchange.attempts:
        invite = attempt.request
        needed = {c.header.value for c in invite.credentials}
        final = attempt.final
        if not needed or final is None or final.status is None or final.status >= 300:
            continue  # the non-2xx ACK is hop-by-hop, part of the INVITE transaction
        for ack in acks_by_cseq.get(invite.cseq_number, []):
            checked = True
            missing = needed - {c.header.value for c in ack.credentials}
            if missing:
                missing_all |= missing
                messages.extend((invite, ack))
    return checked, missing_all, messages


def check(ctx: RuleContext) -> Iterator[Finding]:
    pairs: dict[tuple[str, str], _Pair] = {}
    for exchange in diagnosable_exchanges(ctx):
        if exchange.method != "INVITE" or not exchange.acks:
            continue
        checked, missing, messages = _lacking(exchange)
        if not checked:
            continue
        client, server = exchange.client, exchange.server
        pair = pairs.get((client.ip, server.ip))
        if pair is None:
            pair = pairs[(client.ip, server.ip)] = _Pair(client, server)
        pair.checked += 1
        if missing:
            pair.missing |= missing
            pair.messages.extend(messages)
            pair.exchanges.append(exchange)
    for pair in pairs.values():
        if not pair.exchanges:
            continue
        calls = (
            f" ({len(pair.exchanges)} of {pair.checked} calls whose accepted INVITE carried "
            "credentials)"
            if pair.checked > 1
            else ""
        )
        yield make_finding(
            ctx,
            META,
            f"ACK lacks the INVITE's {', '.join(sorted(pair.missing))}{calls}",
            messages=pair.messages,
            client=pair.client,
            server=pair.server,
            keys=sorted(pair.missing),
            exchanges=pair.exchanges,
        )
