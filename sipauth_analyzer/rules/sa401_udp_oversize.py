"""SA401 udp-oversize — SIP requests over UDP larger than RFC 3261 §18.1.1 allows.

What it checks
    UDP requests whose size on the wire exceeds ``udp_size_warning`` (1300 bytes), grouped per
    client → server pair. Authenticated requests that were actually fragmented are reported by
    SA402 instead.

Why it matters
    RFC 3261 §18.1.1: a request within 200 bytes of the path MTU, or over 1300 bytes when the
    MTU is unknown, MUST be sent over a congestion-controlled transport. Large UDP requests
    fragment at the IP layer, and many firewalls and NATs drop fragments; credentials add a
    few hundred bytes, so requests that fit before authentication stop fitting after it.

How to fix
    Use TCP or TLS for the trunk; otherwise trim the request (fewer codecs in SDP, shorter
    headers, no redundant Allow/Supported lists).
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.correlate.model import Transaction
from sipauth_analyzer.primitives import Transport
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.facts import fragmented

META = RuleMeta(
    code="SA401",
    name="udp-oversize",
    severity=Severity.WARNING,
    summary="SIP requests over UDP exceed udp_size_warning bytes (RFC 3261 §18.1.1)",
    explanation=(
        "Requests this large should use TCP/TLS; over UDP they fragment at the IP layer and "
        "fragments are often dropped by firewalls and NATs."
    ),
    remediation=(
        "Switch the trunk to TCP or TLS (Genesys BYOC: trunk protocol; Asterisk pjsip: a TCP "
        "transport; FreeSWITCH: register-transport=tcp; Kamailio: listen on tcp), or shrink "
        "the request (SDP codecs, header lists)."
    ),
    references=("RFC 3261 §18.1.1",),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    limit = ctx.options.udp_size_warning
    groups: dict[tuple[str, str], list[Transaction]] = {}
    for transaction in ctx.correlation.transactions:
        source = transaction.request.source
        if source.transport is not Transport.UDP or source.wire_size <= limit:
            continue
        if transaction.request.credentials and fragmented(ctx, transaction.request):
            continue  # SA402 reports it with the auth context
        groups.setdefault((source.src.ip, source.dst.ip), []).append(transaction)
    for (client_ip, server_ip), transactions in groups.items():
        largest = max(t.request.source.wire_size for t in transactions)
        methods = sorted({t.request.method or "?" for t in transactions})
        first = transactions[0]
        yield make_finding(
            ctx,
            META,
            f"{len(transactions)} UDP {'/'.join(methods)} "
            f"{'request' if len(transactions) == 1 else 'requests'} from {client_ip} to "
            f"{server_ip} {'exceeds' if len(transactions) == 1 else 'exceed'} {limit} bytes "
            f"(largest {largest} bytes)",
            messages=[t.request for t in transactions],
            client=first.client,
            server=first.server,
            keys=tuple(methods),
            evidence_headers=(),
        )
