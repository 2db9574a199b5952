"""SA303 credentials-rejected — well-formed credentials were refused: wrong username or password.

What it checks
    An attempt carrying digest credentials that is answered with a fresh 401/407 (not
    ``stale=true``) or a 403, when nothing else explains it: the header pairs with the
    challenge (else SA502), the realm matches (else SA101), the algorithm is one offered (else
    SA102), the nonce is the latest and the retry was prompt (else SA201), qop is complete
    (else SA105), opaque is echoed (else SA507) and every challenge was answered (else SA504).
    A digest uri differing from the Request-URI (SA508) does not stop it: many servers ignore
    the uri, so the password remains the prime suspect. The finding names the username, never the
    password or the response hash.

    A client with the wrong password sends it on every call, so the finding is one per client
    and server (by IP), method and usernames: it counts those exchanges and names every one
    of them.

Why it matters
    What remains after the other checks is the secret itself: the password (or the username
    the server knows it under) is wrong. Servers re-challenge once with a new nonce, then
    send 403 or keep looping.

How to fix
    Re-enter the password by hand on both sides (pasted passwords often carry a trailing
    space or hidden character); check that the auth username is the one the server expects
    (it may differ from the SIP user / From user). Genesys BYOC: the trunk's Digest
    credentials; Asterisk pjsip: the auth section's username/password; FreeSWITCH gateway:
    username/password; VOS3000 routing gateway: Additional Settings auth username/password.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroup,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
)
from sipauth_analyzer.rules.facts import (
    ANSWER_HEADER,
    algorithm_name,
    answered_challenges,
    challenge_response,
    digest_challenges,
    digest_credentials,
    slow_retry,
    unanswered_parts,
)
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.rules.verdicts import explained_by_verdict
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA303",
    name="credentials-rejected",
    severity=Severity.ERROR,
    summary="Consistent credentials were answered with a new challenge or 403: wrong username "
    "or password",
    explanation=(
        "The credentials match the challenge in realm, nonce, algorithm and qop, yet the "
        "server refused them, so the secret (or the auth username) is wrong."
    ),
    remediation=(
        "Re-type the password on client and server (no copy-paste: trailing spaces and hidden "
        "characters are common); verify the auth username, which may differ from the SIP "
        "user. Genesys BYOC trunk Digest credentials, Asterisk pjsip auth section, FreeSWITCH "
        "gateway username/password, VOS3000 routing gateway Additional Settings."
    ),
    references=("RFC 3261 §22.2", "RFC 3261 §22.3", "RFC 3261 §21.4.4"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    # One finding per client, server, method and usernames (base.PeerGroups); the details
    # are the statuses that refused each exchange.
    groups: PeerGroups[frozenset[int]] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        users: set[str] = set()
        statuses: set[int] = set()
        for index, attempt in enumerate(exchange.attempts):
            final = attempt.final
            if final is None or final.status not in (401, 403, 407):
                continue
            if final.status != 403 and any(c.stale for c in digest_challenges(final)):
                continue  # stale=true: the password was right (RFC 7616 §3.3)
            if explained_by_verdict(ctx, attempt.request):
                continue  # proven with known credentials: SA110-SA113's case
            for credentials in digest_credentials(attempt.request):
                answered = answered_challenges(ctx, exchange, index, credentials)
                if not answered:
                    continue
                if index > 0 and credentials.nonce is not None:
                    previous = exchange.attempts[index - 1].final
                    latest = {c.nonce for c in (digest_challenges(previous) if previous else [])}
                    if latest and credentials.nonce not in latest:
                        continue  # an outdated nonce: SA201's case
                if slow_retry(ctx, attempt, credentials) is not None:
                    continue  # slower than the nonce lifetime: SA201's case
                if index > 0:
                    previous_response = challenge_response(exchange.attempts[index - 1])
                    if previous_response is not None and unanswered_parts(
                        previous_response, attempt.request
                    ):
                        continue  # a challenge left unanswered: SA504's case
                consistent = any(
                    ANSWER_HEADER.get(c.header) is credentials.header
                    and c.realm == credentials.realm
                    and algorithm_name(c.algorithm) == algorithm_name(credentials.algorithm)
                    and (not credentials.qop or (credentials.nc and credentials.cnonce))
                    and (c.opaque is None or c.opaque == credentials.opaque)
                    for c, _ in answered
                )
                if not consistent:
                    continue
                messages.extend((attempt.request, final))
                statuses.add(final.status or 0)
                if credentials.username:
                    users.add(credentials.username)
        if not messages:
            continue
        groups.add(exchange, (exchange.method, *sorted(users)), frozenset(statuses), messages)
    yield from peer_group_findings(ctx, META, groups, _rejected_text)


def _rejected_text(group: PeerGroup[frozenset[int]]) -> str:
    user_text = ", ".join(f'"{u}"' for u in group.keys[1:]) or "(no username)"
    refused: set[int] = set().union(*group.details)
    status_text = " / ".join(str(s) for s in sorted(refused))
    where = f" in {group.count} exchanges" if group.count > 1 else ""
    return (
        f"credentials for username {user_text} answered with {status_text}{where}: the "
        "server does not accept this username/password"
    )
