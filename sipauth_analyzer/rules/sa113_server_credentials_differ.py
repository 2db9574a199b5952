"""SA113 server-credentials-differ — the client's digest is correct, yet the server refuses it.

What it checks
    With ``--credentials``, it fires when a response reproduces the known password exactly,
    with the challenge's realm, the latest nonce (no ``stale=true``) and a digest uri equal to
    the Request-URI, and the server still answers 401/407 (without stale) or 403.

Why it matters
    The client is provably right, so the fault is on the server: it stores another password
    (or HA1 computed for another realm), maps the auth username to another account, or refuses
    for a reason that is not the digest (IP ACL, account disabled, registration limit) while
    answering as if the credentials were wrong.

How to fix
    Compare the server's stored secret with the one you know (Kamailio ``subscriber`` ha1 /
    password and its realm, Asterisk pjsip auth, FreeSWITCH directory user); check the
    server's logs for the reason it gives itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity
from sipauth_analyzer.rules.verdicts import frames_text, users_text, verdict_findings
from sipauth_analyzer.verify.model import Verdict, Verification

META = RuleMeta(
    code="SA113",
    name="server-credentials-differ",
    severity=Severity.ERROR,
    summary="A digest response proven correct with the known password was refused: the server "
    "holds other credentials",
    explanation=(
        "The client computed the digest correctly for the known password, realm, nonce and "
        "uri; the refusal therefore comes from the server's side."
    ),
    remediation=(
        "Check the password / HA1 (and its realm) stored on the server for this auth "
        "username, and the server's own log for the refusal."
    ),
    references=("RFC 3261 §22.4", "RFC 7616 §3.4.1"),
)


def _wanted(verification: Verification) -> bool:
    return verification.verdict is Verdict.VERIFIED and verification.status in (401, 403, 407)


def _describe(chosen: list[Verification]) -> str:
    statuses = " / ".join(str(s) for s in sorted({v.status or 0 for v in chosen}))
    return (
        f"{users_text(chosen)}: the response ({frames_text(chosen)}) is correct for the known "
        f"password, yet the server answered {statuses}: it holds other credentials for this "
        "account"
    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    yield from verdict_findings(ctx, META, _wanted, _describe)
