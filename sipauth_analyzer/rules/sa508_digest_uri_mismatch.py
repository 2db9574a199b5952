"""SA508 digest-uri-mismatch — the credentials' ``uri`` is not the request's Request-URI.

What it checks
    Digest credentials whose ``uri`` parameter differs from the Request-URI of the request
    carrying them (ignoring letter case, IPv6 brackets and a default :5060/:5061 port), on a
    request refused with 401/407/403, towards a server never seen accepting such a mismatch
    (many servers do not check the uri at all — then it is harmless and not reported).

Why it matters
    The uri is hashed into HA2 = H(method:uri). RFC 7616 §3.4.6 lets the server check that it
    names the requested resource; servers that do (Kamailio's auth module, Asterisk) reject
    a mismatch. It typically appears when an outbound proxy or SBC rewrites the Request-URI
    after the client computed its response, or when a client reuses credentials computed for
    an earlier request.

How to fix
    Compute the credentials over the final Request-URI (do not rewrite it after
    authentication on the client side); on a B2BUA, authenticate on the leg it sends.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import (
    Finding,
    PeerGroups,
    RuleContext,
    RuleMeta,
    Severity,
    peer_group_findings,
    peer_group_message,
)
from sipauth_analyzer.rules.facts import digest_credentials
from sipauth_analyzer.rules.hostile import diagnosable_exchanges
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import Credentials

META = RuleMeta(
    code="SA508",
    name="digest-uri-mismatch",
    severity=Severity.WARNING,
    summary="The digest uri parameter differs from the Request-URI",
    explanation=(
        "The uri is part of the response hash, and servers that check it against the "
        "Request-URI reject a mismatch."
    ),
    remediation=(
        "Make the client compute credentials over the Request-URI it actually sends; check "
        "outbound proxies / SBCs that rewrite the Request-URI after authentication."
    ),
    references=("RFC 7616 §3.4.6", "RFC 3261 §22.4", "RFC 2617 §3.2.2.5"),
)


def normalized_uri(uri: str) -> str:
    """Compare-friendly form: case-folded, IPv6 brackets dropped, default port removed
    (RFC 3261 §19.1.4 compares hosts case-insensitively; clients commonly write the port)."""
    text = uri.strip().lower().replace("[", "").replace("]", "")
    head, separator, params = text.partition(";")
    for default in (":5060", ":5061"):
        if head.endswith(default):
            head = head[: -len(default)]
    return head + separator + params


def uri_mismatch(request: SipMessage, credentials: Credentials) -> bool:
    target = request.request_uri
    if credentials.uri is None or not target:
        return False
    return normalized_uri(credentials.uri) != normalized_uri(target)


def tolerant_servers(ctx: RuleContext) -> set[str]:
    """Servers seen accepting (2xx) credentials whose uri differs: they do not check it."""
    cached = ctx.cache.get("uri_tolerant_servers")
    if isinstance(cached, set):
        return cached
    tolerant: set[str] = set()
    for transaction in ctx.correlation.transactions:
        final = transaction.final
        if final is None or final.status is None or not 200 <= final.status < 300:
            continue
        request = transaction.request
        if any(uri_mismatch(request, c) for c in digest_credentials(request)):
            tolerant.add(transaction.server.ip)
    ctx.cache["uri_tolerant_servers"] = tolerant
    return tolerant


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: PeerGroups[str] = PeerGroups()
    tolerant = tolerant_servers(ctx)
    for exchange in diagnosable_exchanges(ctx):
        if exchange.server.ip in tolerant:
            continue
        messages: list[SipMessage] = []
        texts: set[str] = set()
        for attempt in exchange.attempts:
            request = attempt.request
            final = attempt.final
            if final is None or final.status not in (401, 403, 407):
                continue  # accepted, or never judged (no answer): the uri did not fail it
            for credentials in digest_credentials(request):
                if not uri_mismatch(request, credentials):
                    continue
                texts.add(f'digest uri "{credentials.uri}" ≠ Request-URI "{request.request_uri}"')
                messages.append(request)
                if final is not None:
                    messages.append(final)
        if messages:
            groups.add(
                exchange,
                tuple(sorted(texts)),
                "; ".join(sorted(texts)) + " and the request was refused; this server was never "
                "seen accepting such credentials",
                messages,
            )
    yield from peer_group_findings(ctx, META, groups, peer_group_message)
