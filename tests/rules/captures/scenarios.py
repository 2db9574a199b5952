"""Every rule's two captures — one where it fires, one where it must not — with what to expect.

The wire lists are the rule tests' own scenarios (tests/rules/rule_scenarios.py: the capture
``CODE``/``kind`` holds ``codeNNN_kind()``); build_rule_captures.py writes each one as a pcap
and tests/rules/test_rule_captures.py runs the whole pipeline over it.

``expected`` lists every finding of the capture as (code, Wireshark frames), in report order.
The frames were worked out by hand from the packets the writer produces: they equal the rule
tests' frame numbers except where a message takes more than one packet — an IP-fragmented UDP
request (the message is named by its last fragment, as in Wireshark) or a TCP handshake — and
each such scenario says so.

The verdict rules (SA110–SA113) need the known password and SA603 a wordlist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from sipauth_analyzer.rules.registry import rule_by_code
from tests.rules import rule_scenarios
from tests.rules.rule_scenarios import KNOWN_PASSWORD, KNOWN_USER, WEAK_PASSWORD
from tests.rules.sipbuild import Wire

Kind = Literal["fires", "quiet"]
Expected = tuple[tuple[str, tuple[int, ...]], ...]

WORDLIST_NAME = "weak-passwords.txt"
WORDLIST = ("password", "1234", WEAK_PASSWORD, "admin", "letmein")  # SA603's audit list
KNOWN = ((KNOWN_USER, KNOWN_PASSWORD),)
STORM_LIMIT = (("storm_challenges_per_minute", 3),)


@dataclass(frozen=True, slots=True)
class RuleCapture:
    """One capture file: its scenario, what the pipeline must report, and how to run it."""

    code: str
    kind: Kind
    about: str  # one line for README.md
    wires: tuple[Wire, ...]
    expected: Expected
    note_kinds: tuple[str, ...] = ()  # the notes (anomalies) the capture must yield, sorted
    rule_options: tuple[tuple[str, int], ...] = ()  # RuleOptions overrides
    passwords: tuple[tuple[str, str], ...] = ()  # known credentials: (username, password)
    wordlist: bool = False  # audit with WORDLIST (written beside the captures)

    @property
    def stem(self) -> str:
        rule = rule_by_code(self.code)
        if rule is None:
            raise LookupError(f"{self.code} is not in the registry")
        return f"{rule.META.code}-{rule.META.name}"

    @property
    def filename(self) -> str:
        return f"{self.stem}.{self.kind}.pcap"


def scenario(code: str, kind: Kind) -> Callable[[], list[Wire]]:
    """The rule-test scenario a capture is written from: ``rule_scenarios.sa101_fires`` …"""
    return cast(Callable[[], list[Wire]], getattr(rule_scenarios, f"{code.lower()}_{kind}"))


def _cap(
    code: str,
    kind: Kind,
    about: str,
    expected: Expected = (),
    *,
    note_kinds: tuple[str, ...] = (),
    rule_options: tuple[tuple[str, int], ...] = (),
    passwords: tuple[tuple[str, str], ...] = (),
    wordlist: bool = False,
) -> RuleCapture:
    wires = tuple(scenario(code, kind)())
    return RuleCapture(
        code, kind, about, wires, expected, note_kinds, rule_options, passwords, wordlist
    )


def rule_captures() -> list[RuleCapture]:
    """Every capture, in code order, fires before quiet."""
    return [
        _cap(
            "SA101",
            "fires",
            "401 realm SBC-PROD-01 answered with realm genesys.com → 403",
            (("SA101", (2, 3)),),
        ),
        _cap("SA101", "quiet", "401 answered with the challenge's realm → 200"),
        _cap(
            "SA102", "fires", "401 offers only SHA-256, retry uses MD5 → 403", (("SA102", (2, 3)),)
        ),
        _cap("SA102", "quiet", "401 offers SHA-256 and MD5, retry uses SHA-256 → 200"),
        _cap(
            "SA103",
            "fires",
            "401 offers SHA-256 and MD5, retry picks MD5 → 200",
            (("SA103", (2, 3)),),
        ),
        _cap("SA103", "quiet", "401 offers SHA-256 and MD5, retry uses SHA-256 → 200"),
        _cap(
            "SA104",
            "fires",
            'challenge offers qop="auth", retry has no qop → 200',
            (("SA104", (2, 3)),),
        ),
        _cap("SA104", "quiet", "challenge without qop, retry without qop → 200"),
        _cap("SA105", "fires", "retry says qop=auth but carries no nc → 200", (("SA105", (2, 3)),)),
        _cap("SA105", "quiet", "retry with qop=auth, nc and cnonce → 200"),
        # With credentials, the verdict rules explain the 403 and SA303 stays silent (the
        # password is proven, not suspected); without a verdict (SA112 quiet) SA303 speaks.
        _cap(
            "SA110",
            "fires",
            "REGISTER whose response hashes another password → 403 "
            f"(credentials {KNOWN_USER} / {KNOWN_PASSWORD})",
            (("SA110", (3, 4)),),
            passwords=KNOWN,
        ),
        _cap("SA110", "quiet", "REGISTER with the known password → 200", passwords=KNOWN),
        _cap(
            "SA111",
            "fires",
            "the known password plus a trailing space → 403",
            (("SA111", (3, 4)),),
            passwords=KNOWN,
        ),
        _cap(
            "SA111",
            "quiet",
            "the same trailing-space password, accepted by the server → 200",
            passwords=KNOWN,
        ),
        _cap(
            "SA112",
            "fires",
            'the known password under auth username "edgee" → 403',
            (("SA112", (3, 4)),),
            passwords=KNOWN,
        ),
        _cap(
            "SA112",
            "quiet",
            'auth username "edgee" with an unknown password → 403',
            (("SA303", (3, 4)),),
            passwords=KNOWN,
        ),
        _cap(
            "SA113",
            "fires",
            "a response correct for the known password, refused with 403",
            (("SA113", (3, 4)),),
            passwords=KNOWN,
        ),
        _cap(
            "SA113",
            "quiet",
            "the correct response re-challenged with stale=true, then 200",
            (("SA202", (3, 4, 5)),),
            passwords=KNOWN,
        ),
        _cap(
            "SA201",
            "fires",
            "stale=true re-challenge the client never answers",
            (("SA201", (3, 4)),),
        ),
        _cap("SA201", "quiet", "REGISTER → 401 → REGISTER → 200"),
        _cap(
            "SA202",
            "fires",
            "preemptive credentials with an old nonce → stale=true → 200",
            (("SA202", (1, 2, 3)),),
        ),
        _cap(
            "SA202",
            "quiet",
            "stale=true re-challenge the client never answers (no recovery)",
            (("SA201", (3, 4)),),
        ),
        _cap(
            "SA203",
            "fires",
            "a refresh 30 s later reuses nonce n1 with nc=00000001 again",
            (("SA203", (3, 5)),),
        ),
        _cap("SA203", "quiet", "the refresh reuses n1 with nc=00000002"),
        _cap(
            "SA301",
            "fires",
            "challenged 3 times with a new nonce each time, then 403",
            (("SA301", (1, 2, 3, 4, 5, 6, 7, 8)), ("SA303", (3, 4, 5, 6, 7, 8))),
        ),
        _cap(
            "SA301", "quiet", "challenged twice (the limit), then 403", (("SA303", (3, 4, 5, 6)),)
        ),
        _cap("SA302", "fires", 'REGISTER → 401 realm "pbx", never answered', (("SA302", (1, 2)),)),
        _cap("SA302", "quiet", "REGISTER → 401 → REGISTER → 200"),
        _cap(
            "SA303",
            "fires",
            'INVITE → 407 → INVITE (username "trunk-7") → 403',
            (("SA303", (3, 4)),),
        ),
        _cap(
            "SA303",
            "quiet",
            "a retry re-challenged with stale=true, then 200",
            (("SA202", (3, 4, 5)),),
        ),
        _cap(
            "SA304",
            "fires",
            "4 ignored challenges in 15 s (storm_challenges_per_minute=3)",
            # One SA302 for the four registrations: one client, one server, one realm.
            (("SA302", (1, 2, 3, 4, 5, 6, 7, 8)), ("SA304", (2, 4, 6, 8))),
            rule_options=STORM_LIMIT,
        ),
        _cap(
            "SA304",
            "quiet",
            "3 ignored challenges in 10 s (storm_challenges_per_minute=3)",
            (("SA302", (1, 2, 3, 4, 5, 6)),),
            rule_options=STORM_LIMIT,
        ),
        _cap(
            "SA305",
            "fires",
            "edge authenticates to the SBC; the SBC's INVITE to edge → 401 ignored",
            (("SA305", (5, 6)),),
        ),
        _cap("SA305", "quiet", "only the SBC's INVITE to edge → 401 ignored", (("SA302", (1, 2)),)),
        # The 1755-byte INVITE needs two IP fragments (frames 1-2), so the 200 is frame 3.
        _cap(
            "SA401",
            "fires",
            "a 1755-byte INVITE over UDP (2 IP fragments) → 200",
            (("SA401", (2,)),),
        ),
        # Over TCP: SYN, SYN-ACK, ACK are frames 1-3, the INVITE two segments (4-5), 200 frame 6.
        _cap("SA401", "quiet", "the same 1755-byte INVITE over TCP → 200"),
        # The retry with credentials is two fragments (frames 3-4): the 200 is frame 5.
        _cap(
            "SA402",
            "fires",
            "INVITE → 407 → INVITE with credentials in 2 IP fragments → 200",
            (("SA402", (1, 4)),),
        ),
        _cap("SA402", "quiet", "the same INVITE exchange, small enough for one packet each"),
        # Frames 1-2 INVITE / 407, the fragmented retry 3-4, then the OPTIONS tail at 60 s.
        _cap(
            "SA403",
            "fires",
            "the fragmented retry never gets an answer",
            (("SA403", (1, 2, 4)), ("SA402", (1, 4))),
        ),
        _cap("SA403", "quiet", "the fragmented retry is answered with 200", (("SA402", (1, 4)),)),
        # Only the first fragment of the retry (frame 3: all headers, half the body) is in the
        # capture; the 200 is frame 4. (Bodies of 600 bytes, not the rule test's 300: there the
        # cut would fall inside Proxy-Authorization and add SA104 and a parse note.)
        # A lone first fragment proves the retry was fragmented (at least 2 fragments were
        # sent), so SA402 fires beside SA404, as in the rule test.
        _cap(
            "SA404",
            "fires",
            "the retry's second IP fragment is missing from the capture",
            (("SA402", (1, 3)), ("SA404", (3,))),
            note_kinds=("ip-fragments-incomplete",),
        ),
        # Both fragments (frames 3-4) arrive: the 200 is frame 5.
        _cap(
            "SA404",
            "quiet",
            "both fragments of the 1110-byte retry are captured",
            (("SA402", (1, 4)),),
        ),
        _cap("SA501", "fires", "a 401 carrying Proxy-Authenticate", (("SA501", (1, 2)),)),
        _cap("SA501", "quiet", "401 with WWW-Authenticate answered with Authorization → 200"),
        _cap("SA502", "fires", "407 answered with Authorization → 407 again", (("SA502", (2, 3)),)),
        _cap("SA502", "quiet", "407 answered with Proxy-Authorization → 200"),
        _cap(
            "SA503",
            "fires",
            "REGISTER from OldPhone/1.0 → 407, never answered",
            (("SA503", (1, 2)),),
        ),
        _cap("SA503", "quiet", "INVITE → 407, never answered", (("SA302", (1, 2)),)),
        _cap(
            "SA504",
            "fires",
            "407 with two proxy realms, only edge-proxy answered",
            (("SA504", (2, 3)),),
        ),
        _cap("SA504", "quiet", "407 with two proxy realms, both answered → 200"),
        _cap("SA505", "fires", "CANCEL challenged with 407", (("SA505", (3, 4)),)),
        _cap("SA505", "quiet", "CANCEL accepted with 200"),
        _cap(
            "SA506",
            "fires",
            "401 offering Basic, and a REGISTER sending Basic credentials",
            (("SA506", (2,)), ("SA506", (3,))),
        ),
        _cap("SA506", "quiet", "Digest challenge and credentials → 200"),
        _cap(
            "SA507", "fires", 'challenge opaque "5ccc069c" not echoed → 200', (("SA507", (2, 3)),)
        ),
        _cap("SA507", "quiet", 'challenge opaque "op1" echoed → 200'),
        _cap(
            "SA508",
            "fires",
            'digest uri "sip:sbc.example" ≠ Request-URI → 403',
            (("SA303", (3, 4)), ("SA508", (3, 4))),
        ),
        _cap("SA508", "quiet", "the same digest uri, accepted → 200"),
        _cap(
            "SA509",
            "fires",
            "the INVITE retry reuses the first attempt's Via branch",
            (("SA509", (1, 3)),),
            note_kinds=("correlate-branch-reused",),
        ),
        _cap("SA509", "quiet", "the INVITE retry has a new branch → 200"),
        _cap("SA510", "fires", "the REGISTER retry keeps CSeq 1", (("SA510", (1, 3)),)),
        _cap("SA510", "quiet", "the REGISTER retry increments CSeq to 2"),
        _cap(
            "SA511",
            "fires",
            "the 2xx ACK lacks the INVITE's Proxy-Authorization",
            (("SA511", (4, 6)),),
        ),
        _cap("SA511", "quiet", "INVITE → 407 → ACK → INVITE → 200 → ACK with credentials"),
        _cap(
            "SA601",
            "fires",
            "one source tries 5 usernames in 8 s, each refused",
            (("SA601", (3, 4, 7, 8, 11, 12, 15, 16, 19, 20)),),
        ),
        _cap(
            "SA601",
            "quiet",
            "one source tries 4 usernames (below the threshold of 5)",
            (("SA303", (3, 4)), ("SA303", (7, 8)), ("SA303", (11, 12)), ("SA303", (15, 16))),
        ),
        _cap("SA602", "fires", 'OPTIONS from User-Agent "friendly-scanner"', (("SA602", (1,)),)),
        _cap("SA602", "quiet", 'OPTIONS from User-Agent "Yealink SIP-T46S 66.86.0.15"'),
        _cap(
            "SA603",
            "fires",
            f'REGISTER accepted with the password "{WEAK_PASSWORD}" (in {WORDLIST_NAME})',
            (("SA603", (3, 4)),),
            wordlist=True,
        ),
        _cap(
            "SA603",
            "quiet",
            "REGISTER accepted with a password not in the wordlist",
            wordlist=True,
        ),
    ]
