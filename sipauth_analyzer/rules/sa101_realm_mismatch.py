"""SA101 realm-mismatch — the credentials name a realm the challenge did not.

What it checks
    Every digest credential is compared with the challenge it answers (the one whose nonce it
    echoes, else the previous 401/407 of the same exchange). The realm must be byte-for-byte
    the challenge's realm: RFC 3261 §22.4 / RFC 7616 §3.4 compare it case-sensitively, and it
    is hashed into HA1 = H(username:realm:password). Credentials answering a realm that no
    challenge offered are reported too.

Why it matters
    With a different realm the server computes a different HA1 and the response never
    matches, even with the right username and password: the client is challenged again
    (a 401/407 loop) or gets a 403.

Example
    ``Proxy-Authenticate: Digest realm="SBC-PROD-01"`` answered by
    ``Proxy-Authorization: Digest realm="genesys.com", …``.

How to fix
    Copy the realm from the challenge exactly (case included) into the client's trunk or
    account settings, or leave the client's realm empty so it uses whatever it is offered.
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
    in_exchanges,
    named_users,
    peer_group_findings,
)
from sipauth_analyzer.rules.facts import answered_challenges, digest_credentials
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA101",
    name="realm-mismatch",
    severity=Severity.ERROR,
    summary="Credentials use a realm that differs from the challenge's realm (case-sensitive)",
    explanation=(
        "The realm is part of HA1 = H(username:realm:password), so credentials built for another "
        "realm can never verify, whatever the password. Realms are compared byte for byte."
    ),
    remediation=(
        "Set the client's authentication realm to the challenge's realm exactly, or leave it "
        "empty so the client adopts the offered one. Genesys Cloud BYOC: the trunk's Digest "
        "Authentication realm field must hold the SBC's realm (copy it from the "
        "Proxy-Authenticate header), not a default such as genesys.com. Asterisk (pjsip): the "
        "outbound auth section's realm; FreeSWITCH: the gateway's 'realm' parameter; Kamailio "
        "as the server: the realm given to auth_challenge() / www_authenticate()."
    ),
    references=("RFC 3261 §22.4", "RFC 7616 §3.4", "RFC 2617 §3.2.2"),
)


# What one exchange showed: its (offered realm, credentials realm) pairs and usernames.
_Mismatch = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[_Mismatch] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        messages: list[SipMessage] = []
        pairs: set[tuple[str, str]] = set()
        users: set[str] = set()
        for index, attempt in enumerate(exchange.attempts):
            for credentials in digest_credentials(attempt.request):
                answered = answered_challenges(ctx, exchange, index, credentials)
                realms = {c.realm for c, _ in answered if c.realm is not None}
                if not realms or credentials.realm in realms:
                    continue
                messages.extend(response for _, response in answered)
                messages.append(attempt.request)
                got = credentials.realm if credentials.realm is not None else ""
                pairs.update((realm, got) for realm in realms)
                if credentials.username:
                    users.add(credentials.username)
        if not pairs:
            continue
        ordered = tuple(sorted(pairs))
        keys = tuple(f"{offered}\x1e{got}" for offered, got in ordered)
        groups.add(exchange, keys, (ordered, tuple(users)), messages)
    # One finding per client, server and realm pairs (base.PeerGroups): a PBX configured with
    # the wrong realm sends it for every extension.
    yield from peer_group_findings(ctx, META, groups, _mismatch_text)


def _mismatch_text(group: PeerGroup[_Mismatch]) -> str:
    parts = []
    for offered, got in group.details[0][0]:  # equal keys: equal realm pairs
        got_text = f'"{got}"' if got else "(no realm)"
        text = f'challenge realm "{offered}" ≠ credentials realm {got_text}'
        if got and offered.lower() == got.lower():
            text += " (only letter case differs, which still changes the hash)"
        parts.append(text)
    users = {user for _, users_of_one in group.details for user in users_of_one}
    message = "; ".join(parts) + (f" (username {named_users(users)})" if users else "")
    return message + in_exchanges(group.count)
