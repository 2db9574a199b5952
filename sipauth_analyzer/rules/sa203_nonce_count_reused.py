"""SA203 nonce-count-reused — a nonce is reused with qop without the nonce count increasing.

What it checks
    Requests from one client to one server that reuse a nonce with ``qop``: each must carry a
    larger ``nc`` than the last request with that nonce (RFC 7616 §3.4: nc counts the requests
    the client has sent with the nonce). Retransmissions of one request are not counted. The
    finding is one per client and server (by IP), however many nonces were reused.

Why it matters
    Servers that track nonce counts treat a repeated or lower nc as a replay and reject it,
    typically with a fresh challenge; clients that reset nc to 00000001 on every REGISTER
    refresh then fail every other refresh.

How to fix
    Update the client's SIP stack; or make it fetch a fresh nonce for each request (turn off
    nonce caching). Kamailio: the auth module's nonce-count checking ('nc_enabled').
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.facts import digest_credentials
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA203",
    name="nonce-count-reused",
    severity=Severity.WARNING,
    summary="A nonce was reused with qop but the nonce count (nc) did not increase",
    explanation=(
        "With qop, nc must grow with every request using the same nonce; a repeated nc looks "
        "like a replay and is rejected by servers that check it."
    ),
    remediation=(
        "Fix or update the client so nc increments per nonce, or have it use each nonce once. "
        "Kamailio checks nonce counts when 'nc_enabled' is set."
    ),
    references=("RFC 7616 §3.4", "RFC 7616 §5.3", "RFC 2617 §3.2.2"),
)


def _nc_value(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def check(ctx: RuleContext) -> Iterator[Finding]:
    # (client IP, server IP, nonce) → (highest nc, the request that carried it)
    highest: dict[tuple[str, str, str], tuple[int, SipMessage]] = {}
    reported: dict[tuple[str, str, str], list[SipMessage]] = {}
    ordered = sorted(
        ctx.correlation.transactions,
        key=lambda t: (t.request.source.time, t.request.source.frame),
    )
    for transaction in ordered:
        request = transaction.request
        for credentials in digest_credentials(request):
            nc = _nc_value(credentials.nc)
            if credentials.nonce is None or not credentials.qop or nc is None:
                continue
            key = (transaction.client.ip, transaction.server.ip, credentials.nonce)
            previous = highest.get(key)
            if previous is not None and nc <= previous[0]:
                reported.setdefault(key, [previous[1]]).append(request)
            if previous is None or nc > previous[0]:
                highest[key] = (nc, request)
    # One finding per client and server (by IP): a client that resets nc does so with every
    # nonce it reuses. Each nonce's text as before; with several, the first and the count.
    by_peers: dict[tuple[str, str], list[tuple[str, list[SipMessage]]]] = {}
    for (client_ip, server_ip, _nonce), messages in reported.items():
        first = messages[0]
        texts = []
        for message in messages[1:]:
            ncs = [c.nc for c in digest_credentials(message) if c.nc]
            texts.append(f"frame {message.source.frame} nc={ncs[0] if ncs else '?'}")
        text = (
            f"nonce reused by {client_ip} towards {server_ip} without nc increasing "
            f"(highest earlier: frame {first.source.frame}; then {', '.join(texts)})"
        )
        by_peers.setdefault((client_ip, server_ip), []).append((text, messages))
    for nonces in by_peers.values():
        text, messages = nonces[0]
        if len(nonces) > 1:
            text += f" — first of {len(nonces)} nonces reused this way"
        first = messages[0]
        yield make_finding(
            ctx,
            META,
            text,
            messages=[message for _, messages_of_one in nonces for message in messages_of_one],
            client=first.source.src,
            server=first.source.dst,
            keys=("nc",),
        )
