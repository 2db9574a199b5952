"""SA603 weak-password — the server accepted a password from the audit wordlist.

What it checks
    With ``--wordlist FILE``, every captured digest response is tried against the words of the
    list (offline, RFC 7616 §5.1). It fires for each account (username and realm on a trunk)
    whose accepted request (2xx) was computed from a listed word. Refused requests that match a
    word are guesses (see SA601) and are only listed in the audit, not reported here.

Why it matters
    Scanners (sipvicious ``svcrack``, SIPVicious-derived botnets) try these lists against every
    SIP server on the Internet; a trunk or extension with such a password is toll fraud
    waiting to happen. The finding names the account, never the password (``--show-secrets``
    adds it to the audit only).

How to fix
    Replace the password with a long random one (at least 16 characters); restrict the trunk
    by source IP; rate-limit failed authentications (fail2ban, Kamailio ``pike``/``htable``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.verdicts import exchange_requests, weak_passwords
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA603",
    name="weak-password",
    severity=Severity.WARNING,
    summary="An accepted digest response was computed from a password in the audit wordlist",
    explanation=(
        "The account's password is in a list of common passwords: dictionary attacks such as "
        "svcrack will find it."
    ),
    remediation=(
        "Use a long random password, restrict the trunk by source IP and rate-limit failed "
        "authentication."
    ),
    references=("RFC 7616 §5.1", "RFC 3261 §26.3.2.1"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    hits = [h for h in weak_passwords(ctx) if h.accepted]
    if not hits:
        return
    keys = {(h.file, h.frame) for h in hits}
    by_account: dict[tuple[str, str, str, str], list[tuple[AuthExchange, SipMessage]]] = (
        defaultdict(list)
    )
    users: dict[tuple[str, int], tuple[str, str]] = {
        (h.file, h.frame): (h.username, h.realm) for h in hits
    }
    for exchange in ctx.correlation.exchanges:
        for request, final in exchange_requests(exchange):
            key = (request.source.file, request.source.frame)
            if key not in keys:
                continue
            username, realm = users[key]
            account = (exchange.client.ip, exchange.server.ip, username, realm)
            by_account[account].append((exchange, request))
            if final is not None:
                by_account[account].append((exchange, final))
    for (_, _, username, realm), items in sorted(by_account.items()):
        exchanges = list({id(e): e for e, _ in items}.values())
        yield make_finding(
            ctx,
            META,
            f'account "{username}" (realm "{realm}") authenticated with a password from the '
            "audit wordlist: a dictionary attack will find it",
            messages=[m for _, m in items],
            client=exchanges[0].client,
            server=exchanges[0].server,
            keys=(username, realm),
            exchanges=exchanges,
        )
