"""SA601 brute-force — one source guessing usernames or passwords against a server.

What it checks
    Authentication failures from one source IP to one server: a credentialed request answered
    by a (non-stale) 401/407 or a 403, or an uncredentialed one answered by 403/404 (extension
    probing). Within any ``brute_force_window_s`` seconds it fires when

    * ``brute_force_usernames`` or more distinct usernames failed (enumeration, credential
      stuffing), or
    * ``brute_force_failures`` or more failures occurred, unless they look like one
      misconfigured device: a single username, no proof of different passwords, and either the
      same response value every time, at most two Call-IDs (a device looping on its one
      wrong password keeps its Call-ID, RFC 3261 §10.2; guessing tools start new ones), or
      only calls (credentialed requests other than REGISTER) to at least half as many
      distinct Request-URIs as Call-IDs (a PBX dialling out over a trunk with a wrong
      password: each call is a new Call-ID to the number dialled, while a guessing tool
      varies the password, not the destination). Proof of different passwords: the same
      username, nonce, cnonce and nc answered with different responses — only the password
      can make them differ.

    Exchanges from sources found here (or by SA602) are left out of the configuration rules
    (1xx, 2xx, 3xx, 5xx): their advice is for misconfigured devices, not for attackers.

Why it matters
    Toll fraud starts with guessed SIP credentials. A misconfigured phone is a support ticket;
    a scanner is an attack — they need different responses, so they are told apart.

How to fix
    Block the source (firewall, fail2ban, Kamailio pike / htable bans), do not expose the SIP
    port to the internet without an allow-list, use long random SIP passwords and auth
    usernames that differ from extension numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from sipauth_analyzer.rules.base import (
    Finding,
    RuleContext,
    RuleMeta,
    Severity,
    make_finding,
    plural,
    quoted,
)
from sipauth_analyzer.rules.hostile import brute_force, exchanges_of

META = RuleMeta(
    code="SA601",
    name="brute-force",
    severity=Severity.ERROR,
    summary="One source failed authentication with many usernames or many guesses in a short time",
    explanation=(
        "Many failing usernames, or many failures proven to use different passwords or spread "
        "over many registrations or calls to one destination within a minute, is credential "
        "guessing — distinct from one device repeating its one wrong password, including a "
        "PBX whose calls to many numbers all fail on a wrong trunk password."
    ),
    remediation=(
        "Block the source address (firewall, fail2ban, Kamailio pike/htable); allow-list "
        "trunk peers; use long random passwords and auth usernames that are not the "
        "extension number."
    ),
    references=("RFC 3261 §26.3.2.4", "RFC 7616 §5.1"),
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for (client_ip, server_ip), attack in brute_force(ctx).items():
        best = attack.failures
        names = sorted({f.username for f in best})
        span = best[-1].time - best[0].time
        shown = ", ".join(f'"{n}"' for n in names[:10]) + (" …" if len(names) > 10 else "")
        agents = sorted({a for f in best if (a := f.request.user_agent)})
        agent_text = f"; User-Agent {quoted(agents[:3])}" if agents else ""
        kind = "username guessing" if attack.reason == "usernames" else "password guessing"
        first = best[0].request
        yield make_finding(
            ctx,
            META,
            f"{client_ip} failed authentication {len(best)} times against {server_ip} within "
            f"{span:.1f} s with {plural(len(names), 'username')} ({shown}) over "
            f"{plural(len({f.call_id for f in best}), 'Call-ID')} — {kind}{agent_text}",
            messages=[m for f in best for m in (f.request, f.answer)],
            client=first.source.src,
            server=first.source.dst,
            keys=(attack.reason,),
            evidence_headers=("User-Agent", "Authorization", "Proxy-Authorization"),
            exchanges=exchanges_of(ctx, (f.request for f in best)),
        )
