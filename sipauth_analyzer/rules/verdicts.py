"""Shared plumbing of the rules that read known-credential verdicts (SA110-SA113, SA603).

The verify stage puts its verdicts in ``RuleContext.cache`` (see verify/model.py); without
``--credentials`` / ``--wordlist`` there are none and these rules stay silent. One finding per
client, server, method and users, built from the verified requests and their final responses;
messages name users, realms and kinds of mistake, never a password or a response value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroup,
    PeerGroups,
    RuleContext,
    RuleMeta,
    in_exchanges,
    listed,
    peer_group_findings,
)
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.verify.model import (
    VERIFICATIONS_CACHE_KEY,
    WEAK_PASSWORDS_CACHE_KEY,
    Verdict,
    Verification,
    Verifications,
    WeakPasswordHit,
)


def verifications(ctx: RuleContext) -> Verifications:
    found = ctx.cache.get(VERIFICATIONS_CACHE_KEY)
    return found if isinstance(found, dict) else {}


def weak_passwords(ctx: RuleContext) -> tuple[WeakPasswordHit, ...]:
    found = ctx.cache.get(WEAK_PASSWORDS_CACHE_KEY)
    return found if isinstance(found, tuple) else ()


def explained_by_verdict(ctx: RuleContext, request: SipMessage) -> bool:
    """True when a known-credential verdict proves why ``request`` was refused (SA110–SA113).

    The inference rules (SA303) then stay quiet: a proof beats a guess, and one cause gets one
    finding.
    """
    verification = verifications(ctx).get((request.source.file, request.source.frame))
    if verification is None:
        return False
    if verification.verdict is Verdict.VERIFIED:
        return verification.status in (401, 403, 407)
    return verification.verdict in _PROVEN_REFUSALS and not verification.accepted


_PROVEN_REFUSALS = frozenset({Verdict.WRONG_PASSWORD, Verdict.NEAR_MISS, Verdict.WRONG_USERNAME})


def exchange_requests(exchange: AuthExchange) -> Iterator[tuple[SipMessage, SipMessage | None]]:
    """Every request of ``exchange`` that carries credentials, with its final response.

    Verdicts are looked up by (file, frame), and one TCP segment can complete several messages
    in the same frame: a request without credentials must not borrow the verdict of the one
    beside it.
    """
    candidates: list[tuple[SipMessage, SipMessage | None]] = [
        (attempt.request, attempt.final) for attempt in exchange.attempts
    ]
    candidates.extend((ack, None) for ack in exchange.acks)
    candidates.extend((cancel.request, cancel.final) for cancel in exchange.cancels)
    for request, final in candidates:
        if request.credentials:
            yield request, final


def verdict_findings(
    ctx: RuleContext,
    meta: RuleMeta,
    wanted: Callable[[Verification], bool],
    describe: Callable[[list[Verification]], str],
) -> Iterator[Finding]:
    """One finding per client, server, method and users (base.PeerGroups) for the exchanges
    holding verdicts that ``wanted`` keeps: a client configured with the wrong password sends
    it on every call. ``describe`` words the verdicts of all of them."""
    table = verifications(ctx)
    if not table:
        return
    groups: PeerGroups[list[Verification]] = PeerGroups()
    for exchange in ctx.correlation.exchanges:
        chosen: list[Verification] = []
        messages: list[SipMessage] = []
        for request, final in exchange_requests(exchange):
            verification = table.get((request.source.file, request.source.frame))
            if verification is None or not wanted(verification):
                continue
            chosen.append(verification)
            messages.append(request)
            if final is not None:
                messages.append(final)
        if not chosen:
            continue
        keys = sorted({f"{v.username}@{v.realm}" for v in chosen})
        groups.add(exchange, (exchange.method, *keys), chosen, messages)

    def message(group: PeerGroup[list[Verification]]) -> str:
        verdicts = [verification for chosen in group.details for verification in chosen]
        return describe(verdicts) + in_exchanges(group.count)

    yield from peer_group_findings(ctx, meta, groups, message)


def users_text(chosen: list[Verification]) -> str:
    """``"alice" (realm "example.test")`` for the distinct user/realm pairs of ``chosen``."""
    pairs = sorted({(v.username or "", v.realm or "") for v in chosen})
    return ", ".join(f'"{user}" (realm "{realm}")' for user, realm in pairs)


# A finding over many exchanges names this many of their verified frames.
_FRAMES_NAMED = 8


def frames_text(chosen: list[Verification]) -> str:
    frames = sorted({v.frame for v in chosen})
    label = "frame" if len(frames) == 1 else "frames"
    return f"{label} {listed([str(f) for f in frames], _FRAMES_NAMED)}"
