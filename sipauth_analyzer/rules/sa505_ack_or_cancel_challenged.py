"""SA505 ack-or-cancel-challenged — a server challenged an ACK or a CANCEL.

What it checks
    A 401/407 whose CSeq method is ACK or CANCEL.

Why it matters
    RFC 3261 §22.1: servers MUST NOT challenge ACK (it takes no response and cannot be
    resubmitted) nor CANCEL (it cannot be resubmitted either). A challenged CANCEL leaves the
    call ringing; a challenged ACK leaves the INVITE transaction retransmitting its final
    response until it times out, and the call drops after about 32 s.

How to fix
    Exempt ACK and CANCEL from authentication in the server's routing logic (Kamailio:
    skip auth when is_method("ACK|CANCEL"); SBC: exclude them from the auth policy) and accept
    an ACK carrying the INVITE's credentials.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA505",
    name="ack-or-cancel-challenged",
    severity=Severity.ERROR,
    summary="A server answered an ACK or CANCEL with 401/407",
    explanation=(
        "ACK and CANCEL cannot be resubmitted with credentials, so RFC 3261 forbids "
        "challenging them; the call hangs or drops."
    ),
    remediation=(
        "Exclude ACK and CANCEL from authentication on the server (Kamailio: no auth for "
        'is_method("ACK|CANCEL"); SBC auth policy per method).'
    ),
    references=("RFC 3261 §22.1", "RFC 3261 §9.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    responses: list[SipMessage] = []
    requests: dict[int, SipMessage] = {}
    for transaction in ctx.correlation.transactions:
        if transaction.request.method not in ("ACK", "CANCEL"):
            continue
        for response in transaction.responses:
            if response.status in (401, 407):
                responses.append(response)
                requests[id(response)] = transaction.request
    for response in ctx.correlation.orphan_responses:
        if response.cseq_method in ("ACK", "CANCEL") and response.status in (401, 407):
            responses.append(response)
    for response in responses:
        request = requests.get(id(response))
        messages = [response] if request is None else [request, response]
        method = response.cseq_method or "?"
        yield make_finding(
            ctx,
            META,
            f"{method} challenged with {response.status} (frame {response.source.frame}); "
            f"servers must not challenge {method}",
            messages=messages,
            client=response.source.dst,
            server=response.source.src,
            keys=(method, str(response.status)),
        )
