"""The verify stage: prove, with known credentials, why digest authentication failed.

Sits between correlation and the rules: it recomputes every captured digest response from the
engineer's known passwords (credentials.py loads them; verifier.py gives each authenticated
request one ``Verdict``) and audits responses against a wordlist (wordlist.py). Rules read the
verdicts from ``RuleContext.cache``; reports render them. No password ever leaves this stage
unless the user asked for secrets.
"""

from __future__ import annotations

from sipauth_analyzer.verify.credentials import (
    CredentialsError,
    KnownCredential,
    build_credentials,
    load_credentials,
)
from sipauth_analyzer.verify.model import (
    VERIFICATIONS_CACHE_KEY,
    WEAK_PASSWORDS_CACHE_KEY,
    ProgressCallback,
    Verdict,
    Verification,
    Verifications,
    VerifyOptions,
    WeakPasswordHit,
)
from sipauth_analyzer.verify.verifier import verify_correlation
from sipauth_analyzer.verify.wordlist import WordlistError, audit_wordlist, read_wordlist

__all__ = [
    "VERIFICATIONS_CACHE_KEY",
    "WEAK_PASSWORDS_CACHE_KEY",
    "CredentialsError",
    "KnownCredential",
    "ProgressCallback",
    "Verdict",
    "Verification",
    "Verifications",
    "VerifyOptions",
    "WeakPasswordHit",
    "WordlistError",
    "audit_wordlist",
    "build_credentials",
    "load_credentials",
    "read_wordlist",
    "verify_correlation",
]
