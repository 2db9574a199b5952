"""SA502 credentials-header-mismatch — a 401 answered in Proxy-Authorization or vice versa.

What it checks
    A retry whose credentials are all in the header that does not answer the challenge it
    follows: WWW-Authenticate is answered by Authorization, Proxy-Authenticate by
    Proxy-Authorization (RFC 3261 §22.2, §22.3).

Why it matters
    The server looks for its own header; credentials in the other one are ignored and the
    client is challenged again, usually in a loop.

How to fix
    A client bug or a misconfigured "auth header" option on the client/B2BUA. Some devices
    only implement one pair; then make the server use the challenge type they understand
    (VOS3000: SS_AUTHCHALLENGEMODE 1 = 401, 2 = 407, 3 = both).
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
from sipauth_analyzer.rules.facts import ANSWER_HEADER, challenge_response
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA502",
    name="credentials-header-mismatch",
    severity=Severity.ERROR,
    summary="A 401 is answered with Proxy-Authorization or a 407 with Authorization",
    explanation=(
        "Credentials must be sent in the header pairing with the challenge: WWW-Authenticate "
        "→ Authorization, Proxy-Authenticate → Proxy-Authorization. Otherwise the server does "
        "not see them."
    ),
    remediation=(
        "Fix the client's authentication header handling (firmware update); or make the "
        "server challenge the way the client understands (VOS3000 SS_AUTHCHALLENGEMODE)."
    ),
    references=("RFC 3261 §22.2", "RFC 3261 §22.3"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        texts: set[str] = set()
        for index in range(1, len(exchange.attempts)):
            response = challenge_response(exchange.attempts[index - 1])
            if response is None:
                continue
            required = {ANSWER_HEADER[c.header] for c in response.challenges}
            retry = exchange.attempts[index].request
            given = {c.header for c in retry.credentials}
            if not required or not given or given & required:
                continue
            offered = ", ".join(sorted({c.header.value for c in response.challenges}))
            answered = ", ".join(sorted(h.value for h in given))
            texts.add(f"{response.status} ({offered}) answered with {answered}")
            messages.extend((response, retry))
        if messages:
            groups.add(
                exchange,
                tuple(sorted(texts)),
                "; ".join(sorted(texts)),
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
