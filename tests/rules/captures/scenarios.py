"""Every rule's two scenarios — one where it fires, one where it must not — with what to expect.

The wire lists are those of the rule tests (tests/rules/test_*_rules.py), built with
tests/rules/sipbuild.py; build_rule_captures.py writes each one as a pcap and
tests/rules/test_rule_captures.py runs the whole pipeline over it.

``expected`` lists every finding of the capture as (code, Wireshark frames), in report order.
The frames were worked out by hand from the packets the writer produces: they equal the rule
tests' frame numbers except where a message takes more than one packet — an IP-fragmented UDP
request (the message is named by its last fragment, as in Wireshark) or a TCP handshake — and
each such scenario says so.

The verdict rules (SA110–SA113) need the known password and SA603 a wordlist: their digest
responses are real MD5 values computed here with hashlib, independently of the analyzer's own
digest code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.rules.registry import rule_by_code
from tests.rules.sipbuild import (
    PROXY_REQUIRED,
    UAC,
    UAS,
    UNAUTHORIZED,
    Wire,
    clean_register,
    creds,
    exchange,
    proxy_auth,
    request,
    response,
    tail,
    www,
)

Kind = Literal["fires", "quiet"]
Expected = tuple[tuple[str, tuple[int, ...]], ...]

ATTACKER = Endpoint("203.0.113.66", 5070)
KNOWN_USER = "edge"
KNOWN_PASSWORD = "Trunk-Secret-42"  # the password the engineer knows (--credentials)
WEAK_PASSWORD = "123456"
WORDLIST_NAME = "weak-passwords.txt"
WORDLIST = ("password", "1234", WEAK_PASSWORD, "admin", "letmein")  # SA603's audit list


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


# -- digest arithmetic for the verdict rules (RFC 2617 §3.2.2.1, qop=auth) --------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest(
    user: str, password: str, nonce: str, *, method: str = "REGISTER", realm: str = "sbc.example"
) -> str:
    """``creds()``'s default credentials (uri, nc, cnonce, qop=auth) hashed for real."""
    uri = "sip:+15551230000@198.51.100.20"
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    return _md5(f"{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}")


def _password_exchange(
    password: str,
    final: tuple[int, str],
    *,
    user: str = KNOWN_USER,
    stale_first: bool = False,
) -> list[Wire]:
    """REGISTER → 401 → REGISTER answered with ``password`` hashed for ``user`` → ``final``.

    ``stale_first``: the server first answers the correct retry with 401 stale=true (its nonce
    expired), and the client retries with the new nonce.
    """
    status, reason = final
    retries = [[creds(user=user, response_hash=_digest(user, password, "n1"))]]
    responses: list[tuple[int, str, Sequence[str]]] = [(401, UNAUTHORIZED, [www(nonce="n1")])]
    if stale_first:
        responses.append((401, UNAUTHORIZED, [www(nonce="n2", extra=', qop="auth", stale=true')]))
        retries.append([creds(user=user, nonce="n2", response_hash=_digest(user, password, "n2"))])
    responses.append((status, reason, []))
    return exchange(responses=responses, retries=retries, user=user)


# -- scenario helpers shared with the rule tests ---------------------------------------------


def _digest_ok(header: str = "Authorization", method: str = "REGISTER") -> list[Wire]:
    """A challenge answered with matching credentials and accepted: the quiet baseline."""
    if header == "Authorization":
        challenge = (401, UNAUTHORIZED, [www()])
    else:
        challenge = (407, PROXY_REQUIRED, [proxy_auth()])
    return exchange(method, responses=[challenge, (200, "OK", [])], retries=[[creds(header)]])


def _nonce_reuse(t0: float, nonce: str, nc: str, call_id: str, cseq: int) -> list[Wire]:
    return exchange(
        t0=t0,
        call_id=call_id,
        cseqs=[cseq],
        uri="sip:198.51.100.20",
        first_headers=[
            creds(
                nonce=nonce,
                uri="sip:198.51.100.20",
                extra=f', algorithm=MD5, opaque="op1", qop=auth, nc={nc}, cnonce="0a4f113b"',
            )
        ],
        responses=[(200, "OK", [])],
    )


def _refresh(nc: str) -> list[Wire]:
    return clean_register(0.0, call_id="reg@x", nonce="n1") + _nonce_reuse(
        30.0, "n1", nc, "reg@x", 3
    )


def _loop(cycles: int) -> list[Wire]:
    responses = [(401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(1, cycles + 1)]
    responses.append((403, "Forbidden", []))
    retries = [[creds(nonce=f"n{i}")] for i in range(1, len(responses))]
    return exchange(responses=responses, retries=retries) + tail(30)


def _ignored(count: int) -> list[Wire]:
    wires: list[Wire] = []
    for index in range(count):
        wires += exchange(
            t0=index * 5.0,
            call_id=f"s{index}@x",
            from_tag=f"t{index}",
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{index}")])],
        )
    return wires + tail(count * 5.0 + 10)


def _inbound() -> list[Wire]:
    return exchange(
        "INVITE",
        t0=5.0,
        call_id="in@sbc",
        responses=[(401, UNAUTHORIZED, [www(realm="edge")])],
        src=UAS,
        dst=UAC,
    )


def _invite(sizes: list[int], fragments: list[int], *, answered: bool = True) -> list[Wire]:
    final: list[tuple[int, str, list[str]]] = [(200, "OK", [])] if answered else []
    return exchange(
        "INVITE",
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), *final],
        retries=[[creds("Proxy-Authorization")]],
        sizes=sizes,
        fragments=fragments,
    )


def _over_tcp(wires: list[Wire]) -> list[Wire]:
    return [
        replace(w, text=w.text.replace("SIP/2.0/UDP", "SIP/2.0/TCP"), transport=Transport.TCP)
        for w in wires
    ]


def _two_realms(answer_both: bool) -> list[Wire]:
    challenge = [
        proxy_auth(realm="edge-proxy", nonce="a1"),
        proxy_auth(realm="core-proxy", nonce="b1"),
    ]
    answer = [creds("Proxy-Authorization", realm="edge-proxy", nonce="a1")]
    if answer_both:
        answer.append(creds("Proxy-Authorization", realm="core-proxy", nonce="b1"))
        final: tuple[int, str, list[str]] = (200, "OK", [])
    else:
        final = (407, PROXY_REQUIRED, [proxy_auth(realm="core-proxy", nonce="b2")])
    wires = exchange(
        "INVITE", responses=[(407, PROXY_REQUIRED, challenge), final], retries=[answer]
    )
    return wires if answer_both else wires + tail(10)


def _cancel(challenged: bool) -> list[Wire]:
    invite = request("INVITE", cseq=1, branch="z9hG4bK-inv")
    cancel = request("CANCEL", cseq=1, branch="z9hG4bK-inv")
    if challenged:
        return [
            Wire(invite, UAC, UAS, 0.0),
            Wire(response(invite, 100, "Trying", to_tag=""), UAS, UAC, 0.01),
            Wire(cancel, UAC, UAS, 1.0),
            Wire(response(cancel, 407, PROXY_REQUIRED, headers=[proxy_auth()]), UAS, UAC, 1.01),
            Wire(response(invite, 487, "Request Terminated"), UAS, UAC, 1.02),
        ]
    return [
        Wire(invite, UAC, UAS, 0.0),
        Wire(cancel, UAC, UAS, 1.0),
        Wire(response(cancel, 200, "OK"), UAS, UAC, 1.01),
        Wire(response(invite, 487, "Request Terminated"), UAS, UAC, 1.02),
    ]


def _guesses(users: list[str]) -> list[Wire]:
    wires: list[Wire] = []
    for index, user in enumerate(users):
        wires += exchange(
            t0=index * 2.0,
            step=0.01,
            call_id=f"g{index}@attacker",
            from_tag=f"f{index}",
            src=ATTACKER,
            user=user,
            user_agent="pjsip",
            cseqs=[2 * index + 1, 2 * index + 2],
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{index}")]), (403, "Forbidden", [])],
            retries=[[creds(user=user, nonce=f"n{index}", response_hash=f"{index:032x}")]],
        )
    return wires


# -- the scenarios -----------------------------------------------------------------------------


def _cap(
    code: str,
    kind: Kind,
    about: str,
    wires: list[Wire],
    expected: Expected = (),
    *,
    note_kinds: tuple[str, ...] = (),
    rule_options: tuple[tuple[str, int], ...] = (),
    passwords: tuple[tuple[str, str], ...] = (),
    wordlist: bool = False,
) -> RuleCapture:
    return RuleCapture(
        code, kind, about, tuple(wires), expected, note_kinds, rule_options, passwords, wordlist
    )


def rule_captures() -> list[RuleCapture]:
    """Every capture, in code order, fires before quiet."""
    refused = (403, "Forbidden")
    ok = (200, "OK")
    realm_mismatch = exchange(
        responses=[(401, UNAUTHORIZED, [www(realm="SBC-PROD-01")]), (403, "Forbidden", [])],
        retries=[[creds(realm="genesys.com")]],
    )
    sha256_then_md5_offered = [
        www(extra=', algorithm=SHA-256, qop="auth"'),
        www(nonce="n1b", extra=', algorithm=MD5, qop="auth"'),
    ]
    sha256_used = exchange(
        responses=[(401, UNAUTHORIZED, sha256_then_md5_offered), (200, "OK", [])],
        retries=[[creds(extra=', algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c1"')]],
    )
    known = ((KNOWN_USER, KNOWN_PASSWORD),)
    fragmented_retry = _invite([850, 850], [0, 2])
    small_fragmented_retry = _invite([600, 600], [0, 2])
    incomplete_retry = list(small_fragmented_retry)
    incomplete_retry[2] = replace(incomplete_retry[2], flags=frozenset({FLAG_INCOMPLETE}))
    big_invite = exchange("INVITE", responses=[(200, "OK", [])], sizes=[1400])
    return [
        _cap(
            "SA101",
            "fires",
            "401 realm SBC-PROD-01 answered with realm genesys.com → 403",
            realm_mismatch,
            (("SA101", (2, 3)),),
        ),
        _cap("SA101", "quiet", "401 answered with the challenge's realm → 200", _digest_ok()),
        _cap(
            "SA102",
            "fires",
            "401 offers only SHA-256, retry uses MD5 → 403",
            exchange(
                responses=[
                    (401, UNAUTHORIZED, [www(extra=', algorithm=SHA-256, qop="auth"')]),
                    (403, "Forbidden", []),
                ],
                retries=[[creds()]],
            ),
            (("SA102", (2, 3)),),
        ),
        _cap("SA102", "quiet", "401 offers SHA-256 and MD5, retry uses SHA-256 → 200", sha256_used),
        _cap(
            "SA103",
            "fires",
            "401 offers SHA-256 and MD5, retry picks MD5 → 200",
            exchange(
                responses=[
                    (
                        401,
                        UNAUTHORIZED,
                        [
                            www(nonce="n1", extra=', algorithm=SHA-256, qop="auth"'),
                            www(nonce="n2", extra=', algorithm=MD5, qop="auth"'),
                        ],
                    ),
                    (200, "OK", []),
                ],
                retries=[
                    [creds(nonce="n2", extra=', algorithm=MD5, qop=auth, nc=00000001, cnonce="c1"')]
                ],
            ),
            (("SA103", (2, 3)),),
        ),
        _cap("SA103", "quiet", "401 offers SHA-256 and MD5, retry uses SHA-256 → 200", sha256_used),
        _cap(
            "SA104",
            "fires",
            'challenge offers qop="auth", retry has no qop → 200',
            exchange(
                responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])],
                retries=[[creds(extra="")]],
            ),
            (("SA104", (2, 3)),),
        ),
        _cap(
            "SA104",
            "quiet",
            "challenge without qop, retry without qop → 200",
            exchange(
                responses=[(401, UNAUTHORIZED, [www(extra="")]), (200, "OK", [])],
                retries=[[creds(extra="")]],
            ),
        ),
        _cap(
            "SA105",
            "fires",
            "retry says qop=auth but carries no nc → 200",
            exchange(
                responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])],
                retries=[[creds(extra=', qop=auth, cnonce="c1"')]],
            ),
            (("SA105", (2, 3)),),
        ),
        _cap("SA105", "quiet", "retry with qop=auth, nc and cnonce → 200", _digest_ok()),
        # With credentials, the verdict rules explain the 403 and SA303 stays silent (the
        # password is proven, not suspected); without a verdict (SA112 quiet) SA303 speaks.
        _cap(
            "SA110",
            "fires",
            "REGISTER whose response hashes another password → 403 "
            f"(credentials {KNOWN_USER} / {KNOWN_PASSWORD})",
            _password_exchange("Trunk-Secret-24", refused),
            (("SA110", (3, 4)),),
            passwords=known,
        ),
        _cap(
            "SA110",
            "quiet",
            "REGISTER with the known password → 200",
            _password_exchange(KNOWN_PASSWORD, ok),
            passwords=known,
        ),
        _cap(
            "SA111",
            "fires",
            "the known password plus a trailing space → 403",
            _password_exchange(KNOWN_PASSWORD + " ", refused),
            (("SA111", (3, 4)),),
            passwords=known,
        ),
        _cap(
            "SA111",
            "quiet",
            "the same trailing-space password, accepted by the server → 200",
            _password_exchange(KNOWN_PASSWORD + " ", ok),
            passwords=known,
        ),
        _cap(
            "SA112",
            "fires",
            'the known password under auth username "edgee" → 403',
            _password_exchange(KNOWN_PASSWORD, refused, user="edgee"),
            (("SA112", (3, 4)),),
            passwords=known,
        ),
        _cap(
            "SA112",
            "quiet",
            'auth username "edgee" with an unknown password → 403',
            _password_exchange("guess-1", refused, user="edgee"),
            (("SA303", (3, 4)),),
            passwords=known,
        ),
        _cap(
            "SA113",
            "fires",
            "a response correct for the known password, refused with 403",
            _password_exchange(KNOWN_PASSWORD, refused),
            (("SA113", (3, 4)),),
            passwords=known,
        ),
        _cap(
            "SA113",
            "quiet",
            "the correct response re-challenged with stale=true, then 200",
            _password_exchange(KNOWN_PASSWORD, ok, stale_first=True),
            (("SA202", (3, 4, 5)),),
            passwords=known,
        ),
        _cap(
            "SA201",
            "fires",
            "stale=true re-challenge the client never answers",
            exchange(
                responses=[
                    (401, UNAUTHORIZED, [www(nonce="n1")]),
                    (401, UNAUTHORIZED, [www(nonce="n2", extra=', qop="auth", stale=true')]),
                ],
                retries=[[creds(nonce="n1")]],
            )
            + tail(10),
            (("SA201", (3, 4)),),
        ),
        _cap("SA201", "quiet", "REGISTER → 401 → REGISTER → 200", clean_register()),
        _cap(
            "SA202",
            "fires",
            "preemptive credentials with an old nonce → stale=true → 200",
            exchange(
                first_headers=[creds(nonce="old-nonce")],
                responses=[
                    (401, UNAUTHORIZED, [www(nonce="n1", extra=', qop="auth", stale=true')]),
                    (200, "OK", []),
                ],
                retries=[[creds(nonce="n1")]],
            ),
            (("SA202", (1, 2, 3)),),
        ),
        _cap(
            "SA202",
            "quiet",
            "stale=true re-challenge the client never answers (no recovery)",
            exchange(
                responses=[
                    (401, UNAUTHORIZED, [www(nonce="n1")]),
                    (401, UNAUTHORIZED, [www(nonce="n2", extra=', qop="auth", stale=true')]),
                ],
                retries=[[creds(nonce="n1")]],
            )
            + tail(10),
            (("SA201", (3, 4)),),
        ),
        _cap(
            "SA203",
            "fires",
            "a refresh 30 s later reuses nonce n1 with nc=00000001 again",
            _refresh("00000001"),
            (("SA203", (3, 5)),),
        ),
        _cap("SA203", "quiet", "the refresh reuses n1 with nc=00000002", _refresh("00000002")),
        _cap(
            "SA301",
            "fires",
            "challenged 3 times with a new nonce each time, then 403",
            _loop(3),
            (("SA301", (1, 2, 3, 4, 5, 6, 7, 8)), ("SA303", (3, 4, 5, 6, 7, 8))),
        ),
        _cap(
            "SA301",
            "quiet",
            "challenged twice (the limit), then 403",
            _loop(2),
            (("SA303", (3, 4, 5, 6)),),
        ),
        _cap(
            "SA302",
            "fires",
            'REGISTER → 401 realm "pbx", never answered',
            exchange(responses=[(401, UNAUTHORIZED, [www(realm="pbx")])]) + tail(10),
            (("SA302", (1, 2)),),
        ),
        _cap("SA302", "quiet", "REGISTER → 401 → REGISTER → 200", clean_register()),
        _cap(
            "SA303",
            "fires",
            'INVITE → 407 → INVITE (username "trunk-7") → 403',
            exchange(
                "INVITE",
                responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (403, "Forbidden", [])],
                retries=[[creds("Proxy-Authorization", user="trunk-7")]],
            ),
            (("SA303", (3, 4)),),
        ),
        _cap(
            "SA303",
            "quiet",
            "a retry re-challenged with stale=true, then 200",
            exchange(
                responses=[
                    (401, UNAUTHORIZED, [www(nonce="n1")]),
                    (401, UNAUTHORIZED, [www(nonce="n2", extra=', qop="auth", stale=true')]),
                    (200, "OK", []),
                ],
                retries=[[creds(nonce="n1")], [creds(nonce="n2")]],
            ),
            (("SA202", (3, 4, 5)),),
        ),
        _cap(
            "SA304",
            "fires",
            "4 ignored challenges in 15 s (storm_challenges_per_minute=3)",
            _ignored(4),
            (
                ("SA302", (1, 2)),
                ("SA302", (3, 4)),
                ("SA302", (5, 6)),
                ("SA302", (7, 8)),
                ("SA304", (2, 4, 6, 8)),
            ),
            rule_options=(("storm_challenges_per_minute", 3),),
        ),
        _cap(
            "SA304",
            "quiet",
            "3 ignored challenges in 10 s (storm_challenges_per_minute=3)",
            _ignored(3),
            (("SA302", (1, 2)), ("SA302", (3, 4)), ("SA302", (5, 6))),
            rule_options=(("storm_challenges_per_minute", 3),),
        ),
        _cap(
            "SA305",
            "fires",
            "edge authenticates to the SBC; the SBC's INVITE to edge → 401 ignored",
            exchange(
                "INVITE",
                call_id="out@edge",
                responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
                retries=[[creds("Proxy-Authorization")]],
            )
            + _inbound()
            + tail(20),
            (("SA305", (5, 6)),),
        ),
        _cap(
            "SA305",
            "quiet",
            "only the SBC's INVITE to edge → 401 ignored",
            _inbound() + tail(20),
            (("SA302", (1, 2)),),
        ),
        # The 1755-byte INVITE needs two IP fragments (frames 1-2), so the 200 is frame 3.
        _cap(
            "SA401",
            "fires",
            "a 1755-byte INVITE over UDP (2 IP fragments) → 200",
            big_invite,
            (("SA401", (2,)),),
        ),
        # Over TCP: SYN, SYN-ACK, ACK are frames 1-3, the INVITE two segments (4-5), 200 frame 6.
        _cap("SA401", "quiet", "the same 1755-byte INVITE over TCP → 200", _over_tcp(big_invite)),
        # The retry with credentials is two fragments (frames 3-4): the 200 is frame 5.
        _cap(
            "SA402",
            "fires",
            "INVITE → 407 → INVITE with credentials in 2 IP fragments → 200",
            fragmented_retry,
            (("SA402", (1, 4)),),
        ),
        _cap(
            "SA402",
            "quiet",
            "the same INVITE exchange, small enough for one packet each",
            _invite([300, 300], [0, 0]),
        ),
        # Frames 1-2 INVITE / 407, the fragmented retry 3-4, then the OPTIONS tail at 60 s.
        _cap(
            "SA403",
            "fires",
            "the fragmented retry never gets an answer",
            _invite([850, 850], [0, 2], answered=False) + tail(60),
            (("SA403", (1, 2, 4)), ("SA402", (1, 4))),
        ),
        _cap(
            "SA403",
            "quiet",
            "the fragmented retry is answered with 200",
            fragmented_retry,
            (("SA402", (1, 4)),),
        ),
        # Only the first fragment of the retry (frame 3: all headers, half the body) is in the
        # capture; the 200 is frame 4. (Bodies of 600 bytes, not the rule test's 300: there the
        # cut would fall inside Proxy-Authorization and add SA104 and a parse note.)
        # A lone first fragment proves the retry was fragmented (at least 2 fragments were
        # sent), so SA402 fires beside SA404, as in the rule test.
        _cap(
            "SA404",
            "fires",
            "the retry's second IP fragment is missing from the capture",
            incomplete_retry,
            (("SA402", (1, 3)), ("SA404", (3,))),
            note_kinds=("ip-fragments-incomplete",),
        ),
        # Both fragments (frames 3-4) arrive: the 200 is frame 5.
        _cap(
            "SA404",
            "quiet",
            "both fragments of the 1110-byte retry are captured",
            small_fragmented_retry,
            (("SA402", (1, 4)),),
        ),
        _cap(
            "SA501",
            "fires",
            "a 401 carrying Proxy-Authenticate",
            exchange(responses=[(401, UNAUTHORIZED, [proxy_auth()])]) + tail(10),
            (("SA501", (1, 2)),),
        ),
        _cap(
            "SA501",
            "quiet",
            "401 with WWW-Authenticate answered with Authorization → 200",
            _digest_ok(),
        ),
        _cap(
            "SA502",
            "fires",
            "407 answered with Authorization → 407 again",
            exchange(
                "INVITE",
                responses=[
                    (407, PROXY_REQUIRED, [proxy_auth(nonce="n1")]),
                    (407, PROXY_REQUIRED, [proxy_auth(nonce="n2")]),
                ],
                retries=[[creds("Authorization")]],
            )
            + tail(10),
            (("SA502", (2, 3)),),
        ),
        _cap(
            "SA502",
            "quiet",
            "407 answered with Proxy-Authorization → 200",
            _digest_ok("Proxy-Authorization", "INVITE"),
        ),
        _cap(
            "SA503",
            "fires",
            "REGISTER from OldPhone/1.0 → 407, never answered",
            exchange(responses=[(407, PROXY_REQUIRED, [proxy_auth()])], user_agent="OldPhone/1.0")
            + tail(10),
            (("SA503", (1, 2)),),
        ),
        _cap(
            "SA503",
            "quiet",
            "INVITE → 407, never answered",
            exchange("INVITE", responses=[(407, PROXY_REQUIRED, [proxy_auth()])]) + tail(10),
            (("SA302", (1, 2)),),
        ),
        _cap(
            "SA504",
            "fires",
            "407 with two proxy realms, only edge-proxy answered",
            _two_realms(answer_both=False),
            (("SA504", (2, 3)),),
        ),
        _cap(
            "SA504",
            "quiet",
            "407 with two proxy realms, both answered → 200",
            _two_realms(answer_both=True),
        ),
        _cap(
            "SA505",
            "fires",
            "CANCEL challenged with 407",
            _cancel(challenged=True),
            (("SA505", (3, 4)),),
        ),
        _cap("SA505", "quiet", "CANCEL accepted with 200", _cancel(challenged=False)),
        _cap(
            "SA506",
            "fires",
            "401 offering Basic, and a REGISTER sending Basic credentials",
            exchange(responses=[(401, UNAUTHORIZED, ['WWW-Authenticate: Basic realm="pbx"'])])
            + exchange(
                t0=5.0,
                call_id="basic@x",
                from_tag="t2",
                first_headers=["Authorization: Basic ZWRnZTpodW50ZXIy"],
                responses=[(200, "OK", [])],
            )
            + tail(20),
            (("SA506", (2,)), ("SA506", (3,))),
        ),
        _cap("SA506", "quiet", "Digest challenge and credentials → 200", _digest_ok()),
        _cap(
            "SA507",
            "fires",
            'challenge opaque "5ccc069c" not echoed → 200',
            exchange(
                responses=[
                    (401, UNAUTHORIZED, [www(extra=', qop="auth", opaque="5ccc069c"')]),
                    (200, "OK", []),
                ],
                retries=[[creds()]],
            ),
            (("SA507", (2, 3)),),
        ),
        _cap("SA507", "quiet", 'challenge opaque "op1" echoed → 200', clean_register()),
        _cap(
            "SA508",
            "fires",
            'digest uri "sip:sbc.example" ≠ Request-URI → 403',
            exchange(
                responses=[(401, UNAUTHORIZED, [www()]), (403, "Forbidden", [])],
                retries=[[creds(uri="sip:sbc.example")]],
            ),
            (("SA303", (3, 4)), ("SA508", (3, 4))),
        ),
        _cap(
            "SA508",
            "quiet",
            "the same digest uri, accepted → 200",
            exchange(
                responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])],
                retries=[[creds(uri="sip:sbc.example")]],
            ),
        ),
        _cap(
            "SA509",
            "fires",
            "the INVITE retry reuses the first attempt's Via branch",
            exchange(
                "INVITE",
                responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
                retries=[[creds("Proxy-Authorization")]],
                branches=["z9hG4bK-same", "z9hG4bK-same"],
            ),
            (("SA509", (1, 3)),),
            note_kinds=("correlate-branch-reused",),
        ),
        _cap(
            "SA509",
            "quiet",
            "the INVITE retry has a new branch → 200",
            _digest_ok("Proxy-Authorization", "INVITE"),
        ),
        _cap(
            "SA510",
            "fires",
            "the REGISTER retry keeps CSeq 1",
            exchange(
                responses=[(401, UNAUTHORIZED, [www()]), (200, "OK", [])],
                retries=[[creds()]],
                cseqs=[1, 1],
            ),
            (("SA510", (1, 3)),),
        ),
        _cap("SA510", "quiet", "the REGISTER retry increments CSeq to 2", _digest_ok()),
        _cap(
            "SA511",
            "fires",
            "the 2xx ACK lacks the INVITE's Proxy-Authorization",
            exchange(
                "INVITE",
                responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
                retries=[[creds("Proxy-Authorization")]],
                acks=True,
                ack_headers=[],
            ),
            (("SA511", (4, 6)),),
        ),
        _cap(
            "SA511",
            "quiet",
            "INVITE → 407 → ACK → INVITE → 200 → ACK with credentials",
            exchange(
                "INVITE",
                responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (200, "OK", [])],
                retries=[[creds("Proxy-Authorization")]],
                acks=True,
            ),
        ),
        _cap(
            "SA601",
            "fires",
            "one source tries 5 usernames in 8 s, each refused",
            _guesses(["100", "101", "102", "103", "104"]),
            (("SA601", (3, 4, 7, 8, 11, 12, 15, 16, 19, 20)),),
        ),
        _cap(
            "SA601",
            "quiet",
            "one source tries 4 usernames (below the threshold of 5)",
            _guesses(["100", "101", "102", "103"]),
            (("SA303", (3, 4)), ("SA303", (7, 8)), ("SA303", (11, 12)), ("SA303", (15, 16))),
        ),
        _cap(
            "SA602",
            "fires",
            'OPTIONS from User-Agent "friendly-scanner"',
            exchange(
                "OPTIONS", src=ATTACKER, user_agent="friendly-scanner", responses=[(200, "OK", [])]
            ),
            (("SA602", (1,)),),
        ),
        _cap(
            "SA602",
            "quiet",
            'OPTIONS from User-Agent "Yealink SIP-T46S 66.86.0.15"',
            exchange(
                "OPTIONS", user_agent="Yealink SIP-T46S 66.86.0.15", responses=[(200, "OK", [])]
            ),
        ),
        _cap(
            "SA603",
            "fires",
            f'REGISTER accepted with the password "{WEAK_PASSWORD}" (in {WORDLIST_NAME})',
            _password_exchange(WEAK_PASSWORD, ok),
            (("SA603", (3, 4)),),
            wordlist=True,
        ),
        _cap(
            "SA603",
            "quiet",
            "REGISTER accepted with a password not in the wordlist",
            _password_exchange(KNOWN_PASSWORD, ok),
            wordlist=True,
        ),
    ]
