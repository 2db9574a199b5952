"""What the verify stage produces: one verdict per authenticated request, weak-password hits.

Nothing here ever holds a password unless the user asked for secrets (``--show-secrets``): a
``Verification`` names the credential that matched and the *kind* of near miss, never the text.
Frame numbers are Wireshark's; requests are keyed by ``(file, frame)`` because frame numbers
restart in every capture file.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

# Rules find the verdicts in ``RuleContext.cache`` under this key (a ``Verifications``).
VERIFICATIONS_CACHE_KEY = "verify.verifications"
# … and the weak-password hits (a tuple of ``WeakPasswordHit``) under this one.
WEAK_PASSWORDS_CACHE_KEY = "verify.weak_passwords"

FrameKey = tuple[str, int]  # (capture file, Wireshark frame number)
# progress(done, total): words tried so far of the words the audit will try.
ProgressCallback = Callable[[int, int], None]


class Verdict(enum.StrEnum):
    """The verdict on one authenticated request, given the known credentials."""

    VERIFIED = "verified"  # the response matches a known password for the username sent
    WRONG_PASSWORD = "wrong-password"  # a known user, and no known password matches
    WRONG_USERNAME = "wrong-username"  # a known password matches under an unknown username
    REALM_MISMATCH = "realm-mismatch"  # matches, with a realm other than the challenge's
    URI_MISMATCH = "uri-mismatch"  # matches only with a digest uri that is not the Request-URI
    STALE_NONCE = "stale-nonce"  # right password, nonce not from the latest challenge
    NEAR_MISS = "near-miss"  # a whitespace / case / quote variant of the password matches
    UNKNOWN_USER = "unknown-user"  # no known credentials for this username, nothing matches
    UNVERIFIABLE = "unverifiable"  # cannot be recomputed (algorithm, missing fields, …)


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict for one request carrying digest credentials, with a human detail line.

    ``matched_user`` is the known username whose secret matched (for ``wrong-username`` the
    known user whose password the client used); ``variant`` names the near miss
    ("trailing space"). ``status`` is the request's final response (None when unanswered).
    """

    file: str
    frame: int
    method: str
    verdict: Verdict
    detail: str
    exchange_id: int | None = None
    username: str | None = None  # the auth username as sent (resolved when userhash=true)
    realm: str | None = None  # as sent in the credentials
    algorithm: str | None = None  # canonical, e.g. "MD5", "SHA-256-SESS"
    qop: str | None = None
    matched_user: str | None = None
    variant: str | None = None
    status: int | None = None

    @property
    def key(self) -> FrameKey:
        return (self.file, self.frame)

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_json(self) -> dict[str, str]:
        """The ``"verification"`` object of the JSON report."""
        return {"verdict": self.verdict.value, "detail": self.detail}


# (file, frame) → verdict, in capture order.
Verifications = dict[FrameKey, Verification]


@dataclass(frozen=True, slots=True)
class WeakPasswordHit:
    """An authenticated request whose response matches a password from the audit wordlist.

    ``password`` is only filled in when the user asked for secrets (``--show-secrets``);
    otherwise it is None and no report can leak it.
    """

    file: str
    frame: int
    method: str
    username: str
    realm: str
    status: int | None
    exchange_id: int | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """Named limits of the verify stage (every loop here is bounded by one of them)."""

    # Entries read from a credentials file; more is a configuration mistake, not a trunk.
    max_credentials: int = 1000
    # Authenticated requests verified per run; the rest get no verdict and a note says so.
    max_requests: int = 100_000
    # Try whitespace / letter-case / typographic-quote variants of known passwords.
    near_miss: bool = True
    # Wordlist audit: words read (the rest ignored, with a note), longest word kept, and the
    # cap on word × response computations (one hash each), which bounds the audit's time.
    max_wordlist_words: int = 1_000_000
    max_word_length: int = 256
    max_wordlist_checks: int = 5_000_000
    # Progress is reported after this many words (and once at the end).
    progress_every_words: int = 1000
