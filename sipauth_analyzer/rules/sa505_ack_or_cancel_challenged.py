"""SA505 ack-or-cancel-challenged — a server challenged an ACK or a CANCEL.

What it checks
    A 401/407 whose CSeq method is ACK or CANCEL. A server whose policy challenges them does
    so on every call, so the finding is one per client and server (by IP), method and status,
    counting the challenges.

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

from sipauth_analyzer.rules.base import (
    Finding,
    RuleContext,
    RuleMeta,
    Severity,
    listed,
    make_finding,
)
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

# A finding about many challenges names this many of their frames.
_FRAMES_NAMED = 5


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
    # One finding per client, server, method and status: a server whose policy challenges
    # ACK does so on every call. Each group holds the challenges in capture order.
    groups: dict[tuple[str, str, str, int], list[SipMessage]] = {}
    for response in sorted(responses, key=lambda m: (m.source.time, m.source.frame)):
        key = (
            response.source.dst.ip,
            response.source.src.ip,
            response.cseq_method or "?",
            response.status or 0,
        )
        groups.setdefault(key, []).append(response)
    for (_, _, method, status), challenges in groups.items():
        messages: list[SipMessage] = []
        for response in challenges:
            request = requests.get(id(response))
            messages.extend([response] if request is None else [request, response])
        frames = [str(r.source.frame) for r in challenges]
        if len(frames) == 1:
            where = f"(frame {frames[0]})"
        else:
            where = f"{len(frames)} times (frames {listed(frames, _FRAMES_NAMED)})"
        first = challenges[0]
        yield make_finding(
            ctx,
            META,
            f"{method} challenged with {status} {where}; servers must not challenge {method}",
            messages=messages,
            client=first.source.dst,
            server=first.source.src,
            keys=(method, str(status)),
        )
