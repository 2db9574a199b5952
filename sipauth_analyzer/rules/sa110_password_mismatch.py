"""SA110 password-mismatch — proven with the known password: the client sends a different one.

What it checks
    With ``--credentials``, every digest response is recomputed from the known password. This
    fires when a request was refused (401/403/407) and its response matches no known password
    for the auth username it carries, nor any near variant of it (that is SA111).

Why it matters
    Without the password a tool can only infer "wrong username or password" (SA303). Here the
    arithmetic proves it: the username and realm are right, the password the client hashed is
    not the one you know. If the server also holds the password you know, the client's copy is
    wrong; if the detail says the response matches another account's password, the client was
    given the wrong account's secret.

Example
    REGISTER → 401 → REGISTER with ``username="alice"`` whose response does not reproduce
    ``alice``'s known password → 403 Forbidden.

How to fix
    Re-enter the password on the client by hand. Genesys BYOC: the trunk's Digest credentials;
    Asterisk pjsip: the ``auth`` section's ``password``; FreeSWITCH gateway ``password``;
    Kamailio/OpenSIPS subscriber table ``password`` / ``ha1``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity
from sipauth_analyzer.rules.verdicts import frames_text, users_text, verdict_findings
from sipauth_analyzer.verify.model import Verdict, Verification

META = RuleMeta(
    code="SA110",
    name="password-mismatch",
    severity=Severity.ERROR,
    summary="The refused response matches no known password for its username: the client "
    "uses a different password",
    explanation=(
        "Recomputing the digest with the known password does not reproduce the client's "
        "response, while username and realm are right: the client's password differs."
    ),
    remediation=(
        "Re-type the password on the client (no copy-paste). Genesys BYOC trunk Digest "
        "credentials, Asterisk pjsip auth password, FreeSWITCH gateway password."
    ),
    references=("RFC 3261 §22.4", "RFC 7616 §3.4.1", "RFC 2617 §3.2.2"),
)


def _wanted(verification: Verification) -> bool:
    return verification.verdict is Verdict.WRONG_PASSWORD and not verification.accepted


def _describe(chosen: list[Verification]) -> str:
    other = sorted({v.matched_user for v in chosen if v.matched_user})
    text = (
        f"{users_text(chosen)}: the response ({frames_text(chosen)}) matches no known "
        "password — the client is configured with a different password"
    )
    if other:
        text += f" (it matches the password known for {', '.join(repr(u) for u in other)})"
    return text


def check(ctx: RuleContext) -> Iterator[Finding]:
    yield from verdict_findings(ctx, META, _wanted, _describe)
