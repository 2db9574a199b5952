"""SA506 basic-auth — the Basic scheme offered or used.

What it checks
    A WWW-Authenticate / Proxy-Authenticate offering ``Basic``, or credentials using it.

Why it matters
    RFC 3261 §22.1 deprecates Basic: servers MUST NOT challenge with it nor accept it. Basic
    credentials are the password in base64 — readable by anyone on the path. (Evidence here
    redacts the token.) Clients that only do Digest also cannot answer a Basic-only
    challenge.

How to fix
    Use Digest (or TLS client certificates); change the password if Basic credentials
    crossed an untrusted network.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.sip.message import SipMessage

META = RuleMeta(
    code="SA506",
    name="basic-auth",
    severity=Severity.ERROR,
    summary="The Basic authentication scheme is offered or used",
    explanation=(
        "Basic is forbidden in SIP since RFC 3261 and sends the password in clear text "
        "(base64); Digest-only clients cannot answer it."
    ),
    remediation=(
        "Configure Digest authentication on the server and client; rotate any password sent "
        "with Basic."
    ),
    references=("RFC 3261 §22.1", "RFC 7617 §4"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str, str], list[SipMessage]] = {}
    for message in ctx.correlation.messages:
        if message.is_request:
            if any(c.scheme.strip().lower() == "basic" for c in message.credentials):
                key = ("used", message.source.src.ip, message.source.dst.ip)
                groups.setdefault(key, []).append(message)
        elif any(c.scheme.strip().lower() == "basic" for c in message.challenges):
            # A challenge flows server → client: keep client first in the key.
            key = ("offered", message.source.dst.ip, message.source.src.ip)
            groups.setdefault(key, []).append(message)
    for (kind, client_ip, server_ip), messages in groups.items():
        first = messages[0]
        client, server = (
            (first.source.src, first.source.dst)
            if kind == "used"
            else (first.source.dst, first.source.src)
        )
        text = (
            f"{client_ip} sent Basic credentials to {server_ip} ({len(messages)} requests): "
            "the password crosses the network in clear text"
            if kind == "used"
            else f"{server_ip} challenges {client_ip} with the Basic scheme "
            f"({len(messages)} responses)"
        )
        yield make_finding(
            ctx,
            META,
            text,
            messages=messages,
            client=client,
            server=server,
            keys=(kind,),
        )
