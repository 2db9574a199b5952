"""SA504 partial-challenge-answer — several challenges required, only some answered.

What it checks
    A 401/407 carrying both WWW-Authenticate and Proxy-Authenticate (a forking proxy merges
    the challenges of every branch, RFC 3261 §16.7), or Proxy-Authenticate challenges for
    several realms (several proxies on the path, §22.3), where the retry answers only some:
    one header kind, or a subset of the proxy realms.

Why it matters
    Each challenger checks its own credentials; the one left out challenges again, and the
    client loops or gives up.

How to fix
    Update the client to answer every challenge (one credential per realm / header), or
    avoid stacking authenticating proxies on one path.
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
from sipauth_analyzer.rules.facts import challenge_response, digest_challenges, unanswered_parts
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA504",
    name="partial-challenge-answer",
    severity=Severity.ERROR,
    summary="A response carried several challenges (WWW and Proxy, or several proxy realms) "
    "and the retry answered only some",
    explanation=(
        "Every challenger needs its own credentials; answering only one leaves the others "
        "unsatisfied and the request is challenged again."
    ),
    remediation=(
        "Make the client answer all challenges (one Authorization / Proxy-Authorization per "
        "realm), or remove one of the authenticating hops."
    ),
    references=("RFC 3261 §22.3", "RFC 3261 §16.7"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        for index in range(1, len(exchange.attempts)):
            response = challenge_response(exchange.attempts[index - 1])
            if response is None:
                continue
            retry = exchange.attempts[index].request
            missing = unanswered_parts(response, retry)
            if not missing:
                continue
            messages: list[SipMessage] = [response, retry]
            groups.add(
                exchange,
                tuple(tuple(missing)),
                f"{response.status} carried {len(digest_challenges(response))} challenges; "
                "the retry has " + ", ".join(missing),
                messages,
            )
            break
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
