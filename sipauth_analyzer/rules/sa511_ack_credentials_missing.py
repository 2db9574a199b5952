"""SA511 ack-credentials-missing — the ACK does not repeat the INVITE's credentials.

What it checks
    For an INVITE attempt that carried Authorization / Proxy-Authorization and was accepted
    (2xx), the end-to-end ACK with the same CSeq number should carry the same credentials
    headers. Severity info: many user agents omit them and most proxies do not authenticate
    ACK, so it only matters when the call drops about 32 s after answer.

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


def check(ctx: RuleContext) -> Iterator[Finding]:
    for exchange in diagnosable_exchanges(ctx):
        if exchange.method != "INVITE" or not exchange.acks:
            continue
        acks_by_cseq: dict[int | None, list[SipMessage]] = {}
        for ack in exchange.acks:
            acks_by_cseq.setdefault(ack.cseq_number, []).append(ack)
        messages: list[SipMessage] = []
        missing_all: set[str] = set()
        for attempt in exchange.attempts:
            invite = attempt.request
            needed = {c.header.value for c in invite.credentials}
            final = attempt.final
            if not needed or final is None or final.status is None or final.status >= 300:
                continue  # the non-2xx ACK is hop-by-hop, part of the INVITE transaction
            for ack in acks_by_cseq.get(invite.cseq_number, []):
                missing = needed - {c.header.value for c in ack.credentials}
                if missing:
                    missing_all |= missing
                    messages.extend((invite, ack))
        if messages:
            yield make_finding(
                ctx,
                META,
                f"ACK lacks the INVITE's {', '.join(sorted(missing_all))}",
                messages=messages,
                client=exchange.client,
                server=exchange.server,
                keys=sorted(missing_all),
                exchanges=[exchange],
            )
