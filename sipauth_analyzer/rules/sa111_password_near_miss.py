"""SA111 password-near-miss — the client's password is the known one plus a copy-paste slip.

What it checks
    With ``--credentials``, a response that does not match the known password is retried with
    the slips field guides warn about: a trailing or leading space, newline or tab, surrounding
    whitespace removed, letter case swapped (Caps Lock), all lower / upper case, the first
    letter capitalised, typographic quotes (‘ ’ “ ”) instead of straight ones or the reverse.
    It fires when one of them reproduces the response of a request that was not accepted.

Why it matters
    The password *looks* right in every configuration screen; only the invisible character or
    the case differs, so people re-check it and find nothing. The finding names the slip,
    never the password.

Example
    SIPp configured with ``"wonderland-42 "``: the response matches the known password with a
    trailing space; the registrar answers 403.

How to fix
    Retype the password on the client instead of pasting it (password managers and PDFs add
    spaces, newlines and curly quotes). Check Caps Lock on phones' web UIs.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity
from sipauth_analyzer.rules.verdicts import frames_text, users_text, verdict_findings
from sipauth_analyzer.verify.model import Verdict, Verification

META = RuleMeta(
    code="SA111",
    name="password-near-miss",
    severity=Severity.ERROR,
    summary="The client's password differs from the known one only by whitespace, letter case "
    "or quote style",
    explanation=(
        "A variant of the known password (trailing space, newline, case, typographic quotes) "
        "reproduces the client's response: a copy-paste or keyboard slip."
    ),
    remediation=(
        "Retype the password on the client by hand; remove trailing whitespace; check Caps "
        "Lock and smart-quote autocorrection."
    ),
    references=("RFC 7616 §3.4.1", "RFC 3261 §22.4"),
)


def _wanted(verification: Verification) -> bool:
    return verification.verdict is Verdict.NEAR_MISS and not verification.accepted


def _describe(chosen: list[Verification]) -> str:
    variants = sorted({v.variant for v in chosen if v.variant})
    return (
        f"{users_text(chosen)}: the response ({frames_text(chosen)}) matches the known "
        f"password with {' / '.join(variants)} — a copy-paste slip in the client's password"
    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    yield from verdict_findings(ctx, META, _wanted, _describe)
