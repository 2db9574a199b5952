"""Weak-password audit: which captured digest responses were computed from a listed password.

Weak trunk passwords invite toll fraud (scanners such as sipvicious ``svcrack`` try exactly
such lists). Each captured response is a salted hash of the password (RFC 7616 §5.1 calls this
the offline dictionary attack every digest exchange allows), so a wordlist can be tried against
it offline. Work is grouped by (username, realm, algorithm) so each word costs one H(A1) per
group plus one hash per response; the total is capped by ``max_wordlist_checks`` and progress
is reported through a callback. Hits name user and realm; the password only with
``reveal=True`` (``--show-secrets``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sipauth_analyzer.correlate.model import Correlation
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink
from sipauth_analyzer.verify.model import ProgressCallback, VerifyOptions, WeakPasswordHit
from sipauth_analyzer.verify.verifier import (
    RequestContext,
    ResponseCheck,
    decoded_username,
    digest_credentials,
    request_contexts,
    response_check,
)


class WordlistError(OSError):
    """The wordlist file cannot be read."""


def read_wordlist(
    path: str | os.PathLike[str],
    options: VerifyOptions | None = None,
    notes: NoteSink | None = None,
) -> list[str]:
    """One word per line, exactly as written (only the line ending removed); blank lines and
    duplicates dropped. Bytes that are not UTF-8 survive (surrogateescape), so Latin-1 lists
    such as the classic leaked-password files still hash to their original bytes."""
    limits = options or VerifyOptions()
    words: dict[str, None] = {}
    too_long = 0
    truncated = False
    try:
        with Path(path).open("rb") as handle:
            for raw in handle:
                line = raw.rstrip(b"\n")
                if line.endswith(b"\r"):
                    line = line[:-1]
                if not line:
                    continue
                if len(line) > limits.max_word_length:
                    too_long += 1
                    continue
                if len(words) >= limits.max_wordlist_words:
                    truncated = True
                    break
                words.setdefault(line.decode("utf-8", "surrogateescape"), None)
    except OSError as error:
        raise WordlistError(f"cannot read wordlist {path}: {error.strerror}") from None
    if notes is not None and (too_long or truncated):
        parts = []
        if too_long:
            parts.append(f"{too_long} words longer than max_word_length={limits.max_word_length}")
        if truncated:
            parts.append(f"words after the first max_wordlist_words={limits.max_wordlist_words}")
        notes.add(Note(kind="wordlist-limited", detail="wordlist: ignored " + " and ".join(parts)))
    return list(words)


@dataclass(slots=True)
class _Target:
    context: RequestContext
    check: ResponseCheck
    method: str
    uri: str
    username: str
    realm: str
    hit: str | None = None


def _targets(
    correlation: Correlation, skipped: list[str]
) -> dict[tuple[str, str, str], list[_Target]]:
    groups: dict[tuple[str, str, str], list[_Target]] = {}
    for context in request_contexts(correlation):
        for credentials in digest_credentials(context.message):
            check = response_check(context.message, credentials)
            username = decoded_username(credentials)
            if not isinstance(check, ResponseCheck) or username is None:
                skipped.append("unverifiable")
                continue
            if credentials.userhash:
                skipped.append("userhash")  # the real username is unknown
                continue
            realm = credentials.realm or ""
            target = _Target(
                context, check, context.message.method or "", credentials.uri or "", username, realm
            )
            groups.setdefault((username, realm, check.base_algorithm), []).append(target)
    return groups


def audit_wordlist(
    correlation: Correlation,
    words: Sequence[str],
    options: VerifyOptions | None = None,
    *,
    reveal: bool = False,
    progress: ProgressCallback | None = None,
    notes: NoteSink | None = None,
) -> list[WeakPasswordHit]:
    """Every authenticated request whose response a word from ``words`` reproduces."""
    limits = options or VerifyOptions()
    skipped: list[str] = []
    groups = _targets(correlation, skipped)
    responses = sum(len(targets) for targets in groups.values())
    checks = 0
    stopped_at: int | None = None
    total = len(words)
    for done, word in enumerate(words, start=1):
        if checks >= limits.max_wordlist_checks:
            stopped_at = done - 1
            break
        for (username, realm, _), targets in groups.items():
            open_targets = [t for t in targets if t.hit is None]
            if not open_targets:
                continue
            base = open_targets[0].check.base_ha1(username, realm, word)
            for target in open_targets:
                checks += 1
                if target.check.matches(base, target.method, target.uri):
                    target.hit = word
        if progress is not None and (done % limits.progress_every_words == 0 or done == total):
            progress(done, total)
    if notes is not None:
        if stopped_at is not None:
            notes.add(
                Note(
                    kind="wordlist-limited",
                    detail=f"wordlist audit stopped after {stopped_at} of {total} words "
                    f"({checks} checks over {responses} responses; "
                    f"max_wordlist_checks={limits.max_wordlist_checks})",
                    level=NoteLevel.WARNING,
                )
            )
        if skipped:
            notes.add(
                Note(
                    kind="wordlist-skipped",
                    detail=f"wordlist audit skipped {len(skipped)} credentials that cannot be "
                    "recomputed (unsupported algorithm, missing fields, userhash)",
                    level=NoteLevel.INFO,
                )
            )
    hits = [
        WeakPasswordHit(
            file=t.context.message.source.file,
            frame=t.context.message.source.frame,
            method=t.method,
            username=t.username,
            realm=t.realm,
            status=t.context.status,
            exchange_id=t.context.exchange_id,
            password=t.hit if reveal else None,
        )
        for targets in groups.values()
        for t in targets
        if t.hit is not None
    ]
    hits.sort(key=lambda h: (h.file, h.frame))
    return hits
