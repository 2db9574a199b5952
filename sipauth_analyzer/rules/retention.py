"""Which exchanges no rule can say anything about, so that correlation may count them and let
them go (``Correlator(retirable=...)``, ``CorrelateOptions.max_listed_plain_exchanges``).

The test is conservative: an exchange is *plain* only when each rule's own reading of the
capture provably skips it. That is, it has one attempt and no CANCEL, and no message of it

* carries a challenge or credentials header (every 1xx-5xx rule, the verify stage, SA506
  Basic, SA203 nonce counts, the nonce index, SA305's direction counts, the metrics' nonce and
  algorithm figures),
* is a 401/407 (challenges), a 403 or a 404 (SA601 counts unauthenticated 403/404 answers as
  extension probes),
* was cut short or is missing IP fragments or TCP bytes (SA404, and parse problems that the
  report must show),
* is a request over UDP larger than ``udp_size_warning`` (SA401),
* is a request whose User-Agent names a known scanner (SA602, and the hostile-source test
  that keeps attackers out of configuration advice).

A new rule that reads exchanges, transactions or messages without any of these marks must
narrow this test too; tests/test_retention.py runs every rule over real captures with
retirement forced and compares the findings.
"""

from __future__ import annotations

from collections.abc import Callable

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE, FLAG_TRUNCATED
from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.primitives import Transport
from sipauth_analyzer.rules.base import RuleOptions

AUTH_HEADER_KEYS = ("authorization", "proxy-authorization", "www-authenticate",
                    "proxy-authenticate")
STATUSES_RULES_READ = frozenset({401, 403, 404, 407})
CUT_SHORT_FLAGS = frozenset({FLAG_INCOMPLETE, FLAG_TRUNCATED})


def plain_exchange_test(options: RuleOptions) -> Callable[[AuthExchange], bool]:
    """A predicate: True when no rule run with ``options`` can report anything about the
    exchange (see the module docstring)."""
    needles = tuple(needle.lower() for needle in options.known_scanner_user_agents if needle)
    udp_limit = options.udp_size_warning

    def plain(exchange: AuthExchange) -> bool:
        if len(exchange.attempts) != 1 or exchange.cancels:
            return False
        attempt = exchange.attempts[0]
        for message in (
            attempt.request, *attempt.retransmissions, *attempt.responses, *exchange.acks
        ):
            source = message.source
            if source.flags & CUT_SHORT_FLAGS:
                return False
            has_header = message.has_header
            if any(has_header(key) for key in AUTH_HEADER_KEYS):
                return False
            if not message.is_request:
                if message.status in STATUSES_RULES_READ:
                    return False
                continue
            if source.transport is Transport.UDP and source.wire_size > udp_limit:
                return False
            agent = message.first_line("user-agent")  # kept by ANALYSIS_HEADERS
            if agent and needles:
                lowered = agent.lower()
                if any(needle in lowered for needle in needles):
                    return False
        return True

    return plain
