"""SA509 retry-branch-reused — a retry with credentials reuses the previous attempt's Via branch.

What it checks
    Consecutive attempts of one exchange with the same top Via branch, and "retransmissions"
    of a request that carry credentials the original did not have (a retry sent with the
    same branch and CSeq, which is indistinguishable from a retransmission on the wire).

Why it matters
    A retry is a new transaction and needs a new branch (RFC 3261 §8.1.1.7, §22.2). With the
    old branch, the server's transaction layer matches it to the finished transaction and
    replays the old 401/407, or absorbs it as a retransmission: the credentials are never
    checked and the client loops.

How to fix
    A client bug: update the client. SBCs that regenerate branches on their outside leg can
    work around it.
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
    quoted,
)
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA509",
    name="retry-branch-reused",
    severity=Severity.ERROR,
    summary="A retry after a challenge reuses the previous request's Via branch",
    explanation=(
        "Each retry is a new transaction with a new branch; a reused branch makes the server "
        "treat it as a retransmission of the challenged request."
    ),
    remediation="Update the client; every new request must carry a fresh branch (z9hG4bK…).",
    references=("RFC 3261 §8.1.1.7", "RFC 3261 §17.2.3", "RFC 3261 §22.2"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        branches: set[str] = set()
        for index, attempt in enumerate(exchange.attempts):
            request = attempt.request
            branch = request.top_via_branch
            if index > 0 and branch is not None:
                previous = exchange.attempts[index - 1].request
                if previous.top_via_branch == branch:
                    messages.extend((previous, request))
                    branches.add(branch)
            if not request.credentials:
                for copy in attempt.retransmissions:
                    if copy.credentials:
                        messages.extend((request, copy))
                        branches.add(branch or "")
        if messages:
            groups.add(
                exchange,
                (exchange.method,),
                f"{exchange.method} retry reuses Via branch "
                f"{quoted(sorted(branches))} of the challenged request",
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message, ("Via", "CSeq"))
