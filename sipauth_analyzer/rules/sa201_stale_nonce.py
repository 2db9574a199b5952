"""SA201 stale-nonce — authentication failed because the nonce had expired or was out of date.

What it checks
    In an exchange that did not succeed: a 401/407 carrying ``stale=true`` (the server saying
    "right password, dead nonce"); a retry echoing the nonce of an *older* challenge instead
    of the latest one; or a retry re-challenged (without stale=true) that came later after
    its challenge than the longest nonce age this server was ever seen to accept — when that
    age is itself at least ``min_slow_retry_s`` (an immediate retry proves nothing about the
    lifetime).

Why it matters
    A stale nonce fails verification regardless of the password. Clients should retry at once
    with the new nonce (RFC 7616 §3.3: stale=true means the client may retry without asking
    the user); clients that keep an old nonce, or answer slowly on a busy or distant network,
    loop until the server gives up.

How to fix
    Raise the server's nonce lifetime (AudioCodes: NonceExpiry, keep it ≥ 60 s; Kamailio:
    auth 'nonce_expire'; Asterisk pjsip: 'nonce_lifetime'), find why the client answers late
    (CPU-starved SBC, packet loss, retransmission timers) and upgrade clients that reuse old
    nonces. Restarting the server does not help.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.correlate.model import AuthExchange, Outcome
from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
    peer_group_message,
)
from sipauth_analyzer.rules.facts import (
    challenge_response,
    digest_challenges,
    digest_credentials,
    issued,
    nonce_lifetimes,
    slow_retry,
)
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA201",
    name="stale-nonce",
    severity=Severity.ERROR,
    summary="Authentication failed on an expired or outdated nonce (stale=true, old nonce, "
    "or a retry slower than the nonce lifetime)",
    explanation=(
        "The server no longer accepts the nonce the client answered, so the response fails "
        "whatever the password. stale=true says exactly that; a retry with an older "
        "challenge's nonce or one slower than any accepted nonce age points the same way."
    ),
    remediation=(
        "Lengthen the server's nonce lifetime (AudioCodes NonceExpiry ≥ 60 s, Kamailio auth "
        "nonce_expire, Asterisk pjsip nonce_lifetime); make the client answer promptly and "
        "with the newest nonce (upgrade clients that cache nonces)."
    ),
    references=("RFC 7616 §3.3", "RFC 2617 §3.2.1", "RFC 3261 §22.4"),
)


def observations(ctx: RuleContext, exchange: AuthExchange) -> tuple[list[str], list[SipMessage]]:
    """Stale-nonce evidence in ``exchange`` (shared with SA202): texts and messages."""
    texts: list[str] = []
    messages: list[SipMessage] = []
    lifetime = nonce_lifetimes(ctx).get(exchange.server.ip, 0.0)
    latest_nonces: set[str] = set()
    for index, attempt in enumerate(exchange.attempts):
        request = attempt.request
        for credentials in digest_credentials(request):
            seen = issued(ctx, attempt, credentials)
            if seen is None:
                continue
            if latest_nonces and credentials.nonce not in latest_nonces:
                texts.append(
                    f"frame {request.source.frame} answers the nonce of an older challenge "
                    f"(frame {seen.response.source.frame}) instead of the latest one"
                )
                messages.extend((seen.response, request))
            delay = request.source.time - seen.response.source.time
            response = challenge_response(attempt)
            if (
                response is not None
                and not any(c.stale for c in digest_challenges(response))
                and slow_retry(ctx, attempt, credentials) is not None
            ):
                texts.append(
                    f"frame {request.source.frame} answered {delay:.1f} s after its challenge; "
                    f"this server was only seen accepting nonces up to {lifetime:.1f} s old"
                )
                messages.extend((seen.response, request, response))
        response = challenge_response(attempt)
        if response is None:
            continue
        challenges = digest_challenges(response)
        latest_nonces = {c.nonce for c in challenges if c.nonce is not None}
        if any(c.stale for c in challenges):
            texts.append(f"frame {response.source.frame} says stale=true (nonce expired)")
            messages.extend((request, response))
            if index + 1 < len(exchange.attempts):
                messages.append(exchange.attempts[index + 1].request)
    return texts, messages


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    for exchange in diagnosable_exchanges(ctx):
        if exchange.outcome is Outcome.SUCCEEDED:
            continue
        texts, messages = observations(ctx, exchange)
        if texts:
            groups.add(
                exchange,
                (exchange.method,),
                "; ".join(dict.fromkeys(texts)),
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
