"""SA404 incomplete-reassembly — a SIP message whose IP fragments or TCP bytes never all arrived.

What it checks
    SIP messages the capture layer could only partly rebuild (flag ``incomplete``): some IP
    fragments or TCP segments are missing from the capture. Grouped per source → destination.

Why it matters
    Where the capture was taken on the path, missing fragments of a large (typically
    authenticated) request mean the network lost them — the receiving side cannot have seen
    the request either. Taken on the sender, it may only be capture loss.

How to fix
    Capture on both sides to see where fragments disappear; move the trunk to TCP/TLS, or
    let IP fragments through the firewall.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA404",
    name="incomplete-reassembly",
    severity=Severity.WARNING,
    summary="A SIP message arrived with IP fragments or TCP bytes missing",
    explanation=(
        "Part of the message never appeared in the capture; on the network path that means "
        "the receiver could not have reassembled it."
    ),
    remediation=(
        "Capture on both ends to locate the loss; use TCP/TLS for the trunk or allow IP "
        "fragments through the firewall."
    ),
    references=("RFC 3261 §18.1.1", "RFC 791 §3.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[SipMessage]] = {}
    for message in ctx.correlation.messages:
        if FLAG_INCOMPLETE in message.source.flags:
            groups.setdefault((message.source.src.ip, message.source.dst.ip), []).append(message)
    for (src_ip, dst_ip), messages in groups.items():
        with_credentials = sum(1 for m in messages if m.credentials)
        text = (
            f"{len(messages)} SIP {'message' if len(messages) == 1 else 'messages'} from "
            f"{src_ip} to {dst_ip} incompletely reassembled"
        )
        if with_credentials:
            text += f" ({with_credentials} carrying credentials)"
        first = messages[0]
        yield make_finding(
            ctx,
            META,
            text,
            messages=messages,
            client=first.source.src,
            server=first.source.dst,
            keys=("incomplete",),
            evidence_headers=(),
        )
