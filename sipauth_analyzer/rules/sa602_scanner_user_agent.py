"""SA602 scanner-user-agent — requests from a known SIP scanner.

What it checks
    Requests whose User-Agent contains one of ``known_scanner_user_agents`` (case-insensitive:
    friendly-scanner and sipvicious, sipcli, VaxSIPUserAgent, sundayddr, iWar, sip-scan,
    SIPScan, smap, pplsip), one finding per source IP.

Why it matters
    These tools map SIP servers and guess extensions and passwords; their traffic precedes
    toll fraud. (They can fake the header, so absence proves nothing.)

How to fix
    Block the source; keep SIP ports closed to the internet except for known peers;
    Kamailio / Asterisk can drop requests by User-Agent as a cheap first filter.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, Severity, make_finding
from sipauth_analyzer.rules.hostile import exchanges_of, scanners

META = RuleMeta(
    code="SA602",
    name="scanner-user-agent",
    severity=Severity.WARNING,
    summary="Requests carry the User-Agent of a known SIP scanner",
    explanation=(
        "Scanning tools identify themselves by default; their requests probe for extensions "
        "and weak passwords."
    ),
    remediation=(
        "Block the source IP; restrict the SIP port to known peers; drop requests from "
        "scanner User-Agents at the edge (Kamailio, Asterisk, SBC)."
    ),
    references=("RFC 3261 §26.3.2.4",),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for source_ip, (name, messages) in scanners(ctx).items():
        methods = sorted({m.method or "?" for m in messages})
        targets = sorted({m.source.dst.ip for m in messages})
        first = messages[0]
        agent = first.first("user-agent") or ""
        count = len(messages)
        yield make_finding(
            ctx,
            META,
            f"{source_ip} sent {count} {'/'.join(methods)} "
            f"{'request' if count == 1 else 'requests'} with User-Agent "
            f'"{agent}" (known scanner "{name}") to {len(targets)} '
            f"{'address' if len(targets) == 1 else 'addresses'}",
            messages=messages,
            client=first.source.src,
            server=first.source.dst if len(targets) == 1 else None,
            keys=(name,),
            evidence_headers=("User-Agent",),
            exchanges=exchanges_of(ctx, messages),
        )
