"""Every rule's two scenarios as wire lists: ``saNNN_fires()`` where the rule must fire,
``saNNN_quiet()`` where it must stay silent — the one source for both the rule tests
(tests/rules/test_*_rules.py) and the per-rule pcaps (tests/rules/captures/scenarios.py,
written by build_rule_captures.py).

Changing a scenario here changes a committed capture: rebuild the captures and let
tests/rules/test_rule_captures.py check them. The public helpers below build the shapes the
scenarios share and the variants the rule tests probe beside them.

The verdict rules (SA110–SA113) need the known password and SA603 a weak one: their digest
responses are real MD5 values computed here with hashlib, independently of the analyzer's own
digest code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE
from sipauth_analyzer.primitives import Endpoint, Transport
from tests.rules.sipbuild import (
    PROXY_REQUIRED,
    UAC,
    UAS,
    UNAUTHORIZED,
    Step,
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

ATTACKER = Endpoint("203.0.113.66", 5070)
KNOWN_USER = "edge"
KNOWN_PASSWORD = "Trunk-Secret-42"  # the password the engineer knows (--credentials)
WEAK_PASSWORD = "123456"  # in SA603's audit wordlist

Reply = tuple[int, str, Sequence[str]]
OK: Reply = (200, "OK", ())
FORBIDDEN: Reply = (403, "Forbidden", ())

SHA256_OFFER = ', algorithm=SHA-256, qop="auth"'
MD5_OFFER = ', algorithm=MD5, qop="auth"'


# -- shapes shared by several scenarios --------------------------------------------------------


def stale_www(nonce: str = "n2") -> str:
    """A re-challenge saying the previous nonce expired (RFC 2617 §3.2.1 stale=true)."""
    return www(nonce=nonce, extra=', qop="auth", stale=true')


def register_challenged(
    challenge: Sequence[str],
    final: Step,
    retry: Sequence[str] = (creds(),),
    *,
    cseqs: Sequence[int] | None = None,
) -> list[Wire]:
    """REGISTER → 401 carrying ``challenge`` → REGISTER carrying ``retry`` → ``final``."""
    return exchange(responses=[(401, UNAUTHORIZED, challenge), final], retries=[retry], cseqs=cseqs)


def invite_challenged(
    final: Step,
    *,
    retry: Sequence[str] = (creds("Proxy-Authorization"),),
    call_id: str = "call-1@192.0.2.10",
    branches: Sequence[str] | None = None,
    acks: bool = False,
    ack_headers: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
    fragments: Sequence[int] | None = None,
) -> list[Wire]:
    """INVITE → 407 → INVITE carrying ``retry`` → ``final`` (None: never answered)."""
    return exchange(
        "INVITE",
        responses=[(407, PROXY_REQUIRED, [proxy_auth()]), final],
        retries=[retry],
        call_id=call_id,
        branches=branches,
        acks=acks,
        ack_headers=ack_headers,
        sizes=sizes,
        fragments=fragments,
    )


def unanswered(
    challenge: Reply, method: str = "REGISTER", *, user_agent: str | None = None
) -> list[Wire]:
    """A request challenged once and never retried; a later OPTIONS shows the capture went on."""
    return exchange(method, responses=[challenge], user_agent=user_agent) + tail(10)


def digest_ok(header: str = "Authorization", method: str = "REGISTER") -> list[Wire]:
    """A challenge answered with matching credentials and accepted: the quiet baseline."""
    if header == "Authorization":
        challenge: Reply = (401, UNAUTHORIZED, [www()])
    else:
        challenge = (407, PROXY_REQUIRED, [proxy_auth()])
    return exchange(method, responses=[challenge, OK], retries=[[creds(header)]])


def stale_rechallenge(*, answered: bool) -> list[Wire]:
    """REGISTER → 401 (n1) → REGISTER → 401 stale=true (n2), then the client either answers n2
    and gets 200, or gives up."""
    first = (401, UNAUTHORIZED, [www(nonce="n1")])
    second = (401, UNAUTHORIZED, [stale_www()])
    if answered:
        return exchange(
            responses=[first, second, OK], retries=[[creds(nonce="n1")], [creds(nonce="n2")]]
        )
    return exchange(responses=[first, second], retries=[[creds(nonce="n1")]]) + tail(10)


def preemptive_reuse(t0: float, nonce: str, nc: str, call_id: str, cseq: int) -> list[Wire]:
    """A REGISTER refresh reusing ``nonce`` preemptively (nonce count ``nc``), accepted with 200."""
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
        responses=[OK],
    )


def nonce_refresh(nc: str) -> list[Wire]:
    """A clean registration, then a refresh 30 s later reusing its nonce n1 with count ``nc``."""
    return clean_register(0.0, call_id="reg@x", nonce="n1") + preemptive_reuse(
        30.0, "n1", nc, "reg@x", 3
    )


def auth_loop(cycles: int) -> list[Wire]:
    """Challenged ``cycles`` times, each time with a new nonce and answered, then 403."""
    responses: list[Step] = [
        (401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(1, cycles + 1)
    ]
    responses.append(FORBIDDEN)
    retries = [[creds(nonce=f"n{i}")] for i in range(1, len(responses))]
    return exchange(responses=responses, retries=retries) + tail(30)


def ignored_challenges(count: int) -> list[Wire]:
    """``count`` REGISTERs 5 s apart, each challenged and never answered."""
    wires: list[Wire] = []
    for index in range(count):
        wires += exchange(
            t0=index * 5.0,
            call_id=f"s{index}@x",
            from_tag=f"t{index}",
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{index}")])],
        )
    return wires + tail(count * 5.0 + 10)


def inbound_challenge(t0: float) -> list[Wire]:
    """The server (UAS) sends the client an INVITE and is challenged by it; never answered."""
    return exchange(
        "INVITE",
        t0=t0,
        call_id="in@sbc",
        responses=[(401, UNAUTHORIZED, [www(realm="edge")])],
        src=UAS,
        dst=UAC,
    )


def invite_of_size(body_size: int) -> list[Wire]:
    """An INVITE with a ``body_size``-byte body, answered with 200."""
    return exchange("INVITE", responses=[OK], sizes=[body_size])


def fragmented_retry(
    body_size: int, *, answered: bool = True, retry_flags: frozenset[str] = frozenset()
) -> list[Wire]:
    """INVITE → 407 → INVITE with credentials in 2 IP fragments (the first attempt in one);
    ``retry_flags`` mark what the capture layer saw of the retry's reassembly."""
    wires = invite_challenged(
        OK if answered else None, sizes=[body_size, body_size], fragments=[0, 2]
    )
    if retry_flags:
        wires[2] = replace(wires[2], flags=retry_flags)
    return wires


def over_tcp(wires: list[Wire]) -> list[Wire]:
    """The same messages over TCP, where size limits do not apply (RFC 3261 §18.1.1)."""
    return [
        replace(w, text=w.text.replace("SIP/2.0/UDP", "SIP/2.0/TCP"), transport=Transport.TCP)
        for w in wires
    ]


def two_proxy_realms(*, answer_both: bool) -> list[Wire]:
    """INVITE → 407 with realms edge-proxy and core-proxy → INVITE answering one or both."""
    challenge = [
        proxy_auth(realm="edge-proxy", nonce="a1"),
        proxy_auth(realm="core-proxy", nonce="b1"),
    ]
    answer = [creds("Proxy-Authorization", realm="edge-proxy", nonce="a1")]
    if answer_both:
        answer.append(creds("Proxy-Authorization", realm="core-proxy", nonce="b1"))
        final: Reply = OK
    else:
        final = (407, PROXY_REQUIRED, [proxy_auth(realm="core-proxy", nonce="b2")])
    wires = exchange(
        "INVITE", responses=[(407, PROXY_REQUIRED, challenge), final], retries=[answer]
    )
    return wires if answer_both else wires + tail(10)


def invite_and(method: str, branch: str) -> tuple[str, str]:
    """An INVITE and a CANCEL or ACK for it with the same CSeq number (RFC 3261 §9.1, §17.1.1.3)."""
    return (
        request("INVITE", cseq=1, branch="z9hG4bK-inv"),
        request(method, cseq=1, branch=branch),
    )


def cancel(*, challenged: bool) -> list[Wire]:
    """INVITE, then CANCEL: the CANCEL is challenged with 407, or accepted with 200."""
    invite, cancel_request = invite_and("CANCEL", "z9hG4bK-inv")
    if challenged:
        return [
            Wire(invite, UAC, UAS, 0.0),
            Wire(response(invite, 100, "Trying", to_tag=""), UAS, UAC, 0.01),
            Wire(cancel_request, UAC, UAS, 1.0),
            Wire(
                response(cancel_request, 407, PROXY_REQUIRED, headers=[proxy_auth()]),
                UAS,
                UAC,
                1.01,
            ),
            Wire(response(invite, 487, "Request Terminated"), UAS, UAC, 1.02),
        ]
    return [
        Wire(invite, UAC, UAS, 0.0),
        Wire(cancel_request, UAC, UAS, 1.0),
        Wire(response(cancel_request, 200, "OK"), UAS, UAC, 1.01),
        Wire(response(invite, 487, "Request Terminated"), UAS, UAC, 1.02),
    ]


def guesses(users: list[str], *, call_ids_differ: bool = True) -> list[Wire]:
    """One attacker source tries ``users`` in turn (one wrong response each), 2 s apart."""
    wires: list[Wire] = []
    for index, user in enumerate(users):
        call_id = f"g{index}@attacker" if call_ids_differ else "same@attacker"
        wires += exchange(
            t0=index * 2.0,
            step=0.01,
            call_id=call_id,
            from_tag=f"f{index}",
            src=ATTACKER,
            user=user,
            user_agent="pjsip",
            cseqs=[2 * index + 1, 2 * index + 2],
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{index}")]), FORBIDDEN],
            retries=[[creds(user=user, nonce=f"n{index}", response_hash=f"{index:032x}")]],
        )
    return wires


def options_from(user_agent: str, src: Endpoint = UAC) -> list[Wire]:
    """An OPTIONS probe carrying ``user_agent``, answered with 200."""
    return exchange("OPTIONS", src=src, user_agent=user_agent, responses=[OK])


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


def password_exchange(
    password: str, final: Reply, *, user: str = KNOWN_USER, stale_first: bool = False
) -> list[Wire]:
    """REGISTER → 401 → REGISTER answered with ``password`` hashed for ``user`` → ``final``.

    ``stale_first``: the server first answers the correct retry with 401 stale=true (its nonce
    expired), and the client retries with the new nonce.
    """
    retries = [[creds(user=user, response_hash=_digest(user, password, "n1"))]]
    responses: list[Step] = [(401, UNAUTHORIZED, [www(nonce="n1")])]
    if stale_first:
        responses.append((401, UNAUTHORIZED, [stale_www()]))
        retries.append([creds(user=user, nonce="n2", response_hash=_digest(user, password, "n2"))])
    responses.append(final)
    return exchange(responses=responses, retries=retries, user=user)


# -- 1xx: challenge / credentials consistency ---------------------------------------------------


def sa101_fires() -> list[Wire]:
    return register_challenged([www(realm="SBC-PROD-01")], FORBIDDEN, [creds(realm="genesys.com")])


def sa101_quiet() -> list[Wire]:
    return digest_ok()


def sa102_fires() -> list[Wire]:
    return register_challenged([www(extra=SHA256_OFFER)], FORBIDDEN)  # retry: MD5 (no algorithm)


def sa102_quiet() -> list[Wire]:
    """SHA-256 and MD5 offered, SHA-256 used."""
    return register_challenged(
        [www(extra=SHA256_OFFER), www(nonce="n1b", extra=MD5_OFFER)],
        OK,
        [creds(extra=', algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c1"')],
    )


def sa103_fires() -> list[Wire]:
    return register_challenged(
        [www(nonce="n1", extra=SHA256_OFFER), www(nonce="n2", extra=MD5_OFFER)],
        OK,
        [creds(nonce="n2", extra=', algorithm=MD5, qop=auth, nc=00000001, cnonce="c1"')],
    )


def sa103_quiet() -> list[Wire]:
    return sa102_quiet()


def sa104_fires() -> list[Wire]:
    return register_challenged([www()], OK, [creds(extra="")])


def sa104_quiet() -> list[Wire]:
    return register_challenged([www(extra="")], OK, [creds(extra="")])


def sa105_fires() -> list[Wire]:
    return register_challenged([www()], OK, [creds(extra=', qop=auth, cnonce="c1"')])


def sa105_quiet() -> list[Wire]:
    return digest_ok()


# With the known credentials the verdict rules explain the 403; see captures/scenarios.py.


def sa110_fires() -> list[Wire]:
    return password_exchange("Trunk-Secret-24", FORBIDDEN)


def sa110_quiet() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD, OK)


def sa111_fires() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD + " ", FORBIDDEN)


def sa111_quiet() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD + " ", OK)


def sa112_fires() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD, FORBIDDEN, user="edgee")


def sa112_quiet() -> list[Wire]:
    return password_exchange("guess-1", FORBIDDEN, user="edgee")


def sa113_fires() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD, FORBIDDEN)


def sa113_quiet() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD, OK, stale_first=True)


# -- 2xx: nonce lifecycle -----------------------------------------------------------------------


def sa201_fires() -> list[Wire]:
    return stale_rechallenge(answered=False)


def sa201_quiet() -> list[Wire]:
    return clean_register()


def sa202_fires() -> list[Wire]:
    """Preemptive credentials with an old nonce → 401 stale=true → retry → 200."""
    return exchange(
        first_headers=[creds(nonce="old-nonce")],
        responses=[(401, UNAUTHORIZED, [stale_www("n1")]), OK],
        retries=[[creds(nonce="n1")]],
    )


def sa202_quiet() -> list[Wire]:
    return stale_rechallenge(answered=False)  # stale, but no recovery


def sa203_fires() -> list[Wire]:
    return nonce_refresh("00000001")


def sa203_quiet() -> list[Wire]:
    return nonce_refresh("00000002")


# -- 3xx: flow ------------------------------------------------------------------------------------


def sa301_fires() -> list[Wire]:
    return auth_loop(3)


def sa301_quiet() -> list[Wire]:
    return auth_loop(2)  # the default limit


def sa302_fires() -> list[Wire]:
    return unanswered((401, UNAUTHORIZED, [www(realm="pbx")]))


def sa302_quiet() -> list[Wire]:
    return clean_register()


def sa303_fires() -> list[Wire]:
    return invite_challenged(FORBIDDEN, retry=[creds("Proxy-Authorization", user="trunk-7")])


def sa303_quiet() -> list[Wire]:
    return stale_rechallenge(answered=True)


def sa304_fires() -> list[Wire]:
    return ignored_challenges(4)


def sa304_quiet() -> list[Wire]:
    return ignored_challenges(3)


def sa305_fires() -> list[Wire]:
    """The client authenticates to the server; the server's INVITE to the client is ignored."""
    return invite_challenged(OK, call_id="out@edge") + inbound_challenge(5.0) + tail(20)


def sa305_quiet() -> list[Wire]:
    return inbound_challenge(5.0) + tail(20)


# -- 4xx: transport -------------------------------------------------------------------------------


def sa401_fires() -> list[Wire]:
    return invite_of_size(1400)


def sa401_quiet() -> list[Wire]:
    return over_tcp(sa401_fires())


def sa402_fires() -> list[Wire]:
    return fragmented_retry(850)


def sa402_quiet() -> list[Wire]:
    return invite_challenged(OK, sizes=[300, 300], fragments=[0, 0])


def sa403_fires() -> list[Wire]:
    return fragmented_retry(850, answered=False) + tail(60)


def sa403_quiet() -> list[Wire]:
    return fragmented_retry(850)


def sa404_fires() -> list[Wire]:
    return fragmented_retry(600, retry_flags=frozenset({FLAG_INCOMPLETE}))


def sa404_quiet() -> list[Wire]:
    return fragmented_retry(600)


# -- 5xx: header semantics ------------------------------------------------------------------------


def sa501_fires() -> list[Wire]:
    return unanswered((401, UNAUTHORIZED, [proxy_auth()]))


def sa501_quiet() -> list[Wire]:
    return digest_ok()


def sa502_fires() -> list[Wire]:
    """407 answered with Authorization (not Proxy-Authorization) → 407 again."""
    return exchange(
        "INVITE",
        responses=[
            (407, PROXY_REQUIRED, [proxy_auth(nonce="n1")]),
            (407, PROXY_REQUIRED, [proxy_auth(nonce="n2")]),
        ],
        retries=[[creds("Authorization")]],
    ) + tail(10)


def sa502_quiet() -> list[Wire]:
    return digest_ok("Proxy-Authorization", "INVITE")


def sa503_fires() -> list[Wire]:
    return unanswered((407, PROXY_REQUIRED, [proxy_auth()]), user_agent="OldPhone/1.0")


def sa503_quiet() -> list[Wire]:
    return unanswered((407, PROXY_REQUIRED, [proxy_auth()]), "INVITE")


def sa504_fires() -> list[Wire]:
    return two_proxy_realms(answer_both=False)


def sa504_quiet() -> list[Wire]:
    return two_proxy_realms(answer_both=True)


def sa505_fires() -> list[Wire]:
    return cancel(challenged=True)


def sa505_quiet() -> list[Wire]:
    return cancel(challenged=False)


def sa506_fires() -> list[Wire]:
    """A 401 offering Basic, then a REGISTER sending Basic credentials."""
    offered = exchange(responses=[(401, UNAUTHORIZED, ['WWW-Authenticate: Basic realm="pbx"'])])
    used = exchange(
        t0=5.0,
        call_id="basic@x",
        from_tag="t2",
        first_headers=["Authorization: Basic ZWRnZTpodW50ZXIy"],
        responses=[OK],
    )
    return offered + used + tail(20)


def sa506_quiet() -> list[Wire]:
    return digest_ok()


def sa507_fires() -> list[Wire]:
    return register_challenged([www(extra=', qop="auth", opaque="5ccc069c"')], OK)


def sa507_quiet() -> list[Wire]:
    return clean_register()


def sa508_fires() -> list[Wire]:
    return register_challenged([www()], FORBIDDEN, [creds(uri="sip:sbc.example")])


def sa508_quiet() -> list[Wire]:
    return register_challenged([www()], OK, [creds(uri="sip:sbc.example")])


def sa509_fires() -> list[Wire]:
    return invite_challenged(OK, branches=["z9hG4bK-same", "z9hG4bK-same"])


def sa509_quiet() -> list[Wire]:
    return digest_ok("Proxy-Authorization", "INVITE")


def sa510_fires() -> list[Wire]:
    return register_challenged([www()], OK, cseqs=[1, 1])


def sa510_quiet() -> list[Wire]:
    return digest_ok()


def sa511_fires() -> list[Wire]:
    return invite_challenged(OK, acks=True, ack_headers=[])


def sa511_quiet() -> list[Wire]:
    return invite_challenged(OK, acks=True)


# -- 6xx: security --------------------------------------------------------------------------------


def sa601_fires() -> list[Wire]:
    return guesses(["100", "101", "102", "103", "104"])


def sa601_quiet() -> list[Wire]:
    return guesses(["100", "101", "102", "103"])  # below the threshold of 5


def sa602_fires() -> list[Wire]:
    return options_from("friendly-scanner", src=ATTACKER)


def sa602_quiet() -> list[Wire]:
    return options_from("Yealink SIP-T46S 66.86.0.15")


def sa603_fires() -> list[Wire]:
    return password_exchange(WEAK_PASSWORD, OK)


def sa603_quiet() -> list[Wire]:
    return password_exchange(KNOWN_PASSWORD, OK)
