"""SA510 retry-cseq-not-incremented — a retry in the same Call-ID does not raise CSeq.

What it checks
    A retry that keeps the Call-ID of the challenged attempt but whose CSeq number is not
    larger (including a credentialed copy sent as if it were a retransmission).

Why it matters
    RFC 3261 §8.1.3.5 / §22.2: the retry with credentials is a new request and its CSeq MUST
    be incremented. Servers treat a repeated CSeq as a retransmission or a stale request
    (and answer 500 / re-challenge), so authentication never completes.

How to fix
    A client bug: update the client's SIP stack.
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
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA510",
    name="retry-cseq-not-incremented",
    severity=Severity.ERROR,
    summary="A retry with credentials keeps the Call-ID but does not increment CSeq",
    explanation=(
        "An authenticated retry is a new request in the same call leg; the same or a lower "
        "CSeq makes the server take it for a retransmission or an out-of-order request."
    ),
    remediation="Update the client: each retry must use CSeq + 1 in the same Call-ID.",
    references=("RFC 3261 §8.1.3.5", "RFC 3261 §22.2", "RFC 3261 §12.2.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        texts: list[str] = []
        for index, attempt in enumerate(exchange.attempts):
            request = attempt.request
            if index > 0:
                previous = exchange.attempts[index - 1].request
                before, now = previous.cseq_number, request.cseq_number
                if (
                    previous.call_id == request.call_id
                    and before is not None
                    and now is not None
                    and now <= before
                ):
                    texts.append(f"CSeq {before} → {now}")
                    messages.extend((previous, request))
            if not request.credentials:
                for copy in attempt.retransmissions:
                    if copy.credentials and copy.cseq_number == request.cseq_number:
                        texts.append(f"CSeq {request.cseq_number} reused with credentials")
                        messages.extend((request, copy))
        if messages:
            groups.add(
                exchange,
                (exchange.method,),
                f"{exchange.method} retry does not increment CSeq ({'; '.join(texts)})",
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message, ("CSeq",))
