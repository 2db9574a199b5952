"""SA112 auth-username-mismatch — a known password is used under an unknown auth username.

What it checks
    With ``--credentials``, it fires when a refused request's auth username is not among the
    known credentials, yet the response matches a known user's password hashed under that
    username: the password is right, the auth username is not (a typo, or the SIP user / From
    user entered where the auth user belongs).

Why it matters
    The server looks the account up by the auth username (RFC 3261 §22.4, RFC 7616 §3.4.2
    H(A1) = H(username:realm:password)); with a misspelt name it finds no account or another
    one, and answers 403 or challenges again, which looks exactly like a wrong password.

Example
    ``username="alcie"`` with ``alice``'s password → 403 Forbidden.

How to fix
    Correct the auth username on the client (Asterisk pjsip ``auth`` ``username``, Genesys
    BYOC Digest user name, FreeSWITCH gateway ``username`` / ``auth-username``); it may differ
    from the user in the From / To URI.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity
from sipauth_analyzer.rules.verdicts import frames_text, verdict_findings
from sipauth_analyzer.verify.model import Verdict, Verification

META = RuleMeta(
    code="SA112",
    name="auth-username-mismatch",
    severity=Severity.ERROR,
    summary="A known password was sent under an auth username the credentials do not know: "
    "the auth username is wrong",
    explanation=(
        "The response matches a known user's password hashed under a different username, so "
        "the password is right and the auth username is misspelt or the wrong one."
    ),
    remediation=(
        "Fix the auth username on the client; it may differ from the SIP user in From/To. "
        "Asterisk pjsip auth username, Genesys BYOC Digest user name, FreeSWITCH "
        "auth-username."
    ),
    references=("RFC 3261 §22.4", "RFC 7616 §3.4.2"),
)


def _wanted(verification: Verification) -> bool:
    return verification.verdict is Verdict.WRONG_USERNAME and not verification.accepted


def _describe(chosen: list[Verification]) -> str:
    pairs = sorted({(v.username or "", v.matched_user or "") for v in chosen})
    text = "; ".join(
        f'auth username "{sent}" carries the known password of "{known}"' for sent, known in pairs
    )
    return f"{text} ({frames_text(chosen)}): the auth username is wrong, not the password"


def check(ctx: RuleContext) -> Iterator[Finding]:
    yield from verdict_findings(ctx, META, _wanted, _describe)
