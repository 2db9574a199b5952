"""Build Correlations for rule tests from raw SIP text, through the real parser and correlate().

``Wire`` is one captured message (text, source, destination, capture time and optional
transport details); ``correlation(wires)`` numbers them as Wireshark frames 1, 2, 3, … in
list order. ``request`` / ``response`` write RFC 3261-shaped messages so each test states only
what matters to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.correlate import correlate
from sipauth_analyzer.correlate.model import Correlation
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.rules.base import Finding, RuleOptions
from sipauth_analyzer.rules.engine import run_rules
from sipauth_analyzer.sip.message import SipMessage, parse_message

UAC = Endpoint("192.0.2.10", 5060)  # the client (e.g. Genesys Edge, a phone)
UAS = Endpoint("198.51.100.20", 5060)  # the server (SBC, registrar)
FILE = "test.pcap"


@dataclass(frozen=True, slots=True)
class Wire:
    text: str
    src: Endpoint
    dst: Endpoint
    time: float
    transport: Transport = Transport.UDP
    ip_fragments: int = 0
    wire_size: int | None = None
    flags: frozenset[str] = frozenset()


def request(
    method: str,
    *,
    cseq: int,
    branch: str,
    call_id: str = "call-1@192.0.2.10",
    uri: str = "sip:+15551230000@198.51.100.20",
    from_tag: str = "ft1",
    user: str = "edge",
    headers: Sequence[str] = (),
    cseq_method: str | None = None,
    via_host: str = "192.0.2.10:5060",
    body_size: int = 0,
) -> str:
    body = "v=0\r\n" + "a=x" * (body_size // 3) if body_size else ""
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {via_host};branch={branch}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@192.0.2.10>;tag={from_tag}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        f"Contact: <sip:{user}@192.0.2.10:5060>",
        *headers,
        f"Content-Length: {len(body)}",
        "",
        body,
    ]
    return "\r\n".join(lines)


def response(
    req: str, status: int, reason: str, *, headers: Sequence[str] = (), to_tag: str = "tt1"
) -> str:
    """A response to ``req``: Via, From, To (plus tag), Call-ID and CSeq copied (§8.2.6.2)."""
    copied = []
    for line in req.split("\r\n")[1:]:
        if not line:
            break
        name = line.split(":", 1)[0].lower()
        if name == "to":
            copied.append(f"{line};tag={to_tag}")
        elif name in ("via", "from", "call-id", "cseq"):
            copied.append(line)
    lines = [f"SIP/2.0 {status} {reason}", *copied, *headers, "Content-Length: 0", "", ""]
    return "\r\n".join(lines)


def www(realm: str = "sbc.example", nonce: str = "n1", extra: str = ', qop="auth"') -> str:
    return f'WWW-Authenticate: Digest realm="{realm}", nonce="{nonce}"{extra}'


def proxy_auth(realm: str = "sbc.example", nonce: str = "n1", extra: str = ', qop="auth"') -> str:
    return f'Proxy-Authenticate: Digest realm="{realm}", nonce="{nonce}"{extra}'


def creds(
    header: str = "Authorization",
    *,
    realm: str = "sbc.example",
    nonce: str = "n1",
    user: str = "edge",
    uri: str = "sip:+15551230000@198.51.100.20",
    response_hash: str = "6629fae49393a05397450978507c4ef1",
    extra: str = ', qop=auth, nc=00000001, cnonce="0a4f113b"',
) -> str:
    return (
        f'{header}: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
        f'uri="{uri}", response="{response_hash}"{extra}'
    )


def captured(wires: Iterable[Wire]) -> list[SipMessage]:
    messages: list[SipMessage] = []
    for frame, wire in enumerate(wires, start=1):
        data = wire.text.encode()
        parsed = parse_message(
            CapturedMessage(
                data=data,
                file=FILE,
                frame=frame,
                frames=(frame,),
                time=wire.time,
                src=wire.src,
                dst=wire.dst,
                transport=wire.transport,
                wire_size=wire.wire_size if wire.wire_size is not None else len(data),
                ip_fragments=wire.ip_fragments,
                flags=wire.flags,
            )
        )
        assert isinstance(parsed, SipMessage), parsed
        messages.append(parsed)
    return messages


def correlation(wires: Iterable[Wire]) -> Correlation:
    return correlate(captured(wires))


def findings(wires: Iterable[Wire], **options: object) -> list[Finding]:
    return run_rules(correlation(wires), RuleOptions(**options))  # type: ignore[arg-type]


def codes(found: Iterable[Finding]) -> list[str]:
    return sorted(f.code for f in found)


def by_code(found: Iterable[Finding], code: str) -> list[Finding]:
    return [f for f in found if f.code == code]


def clean_register(
    t0: float = 0.0,
    *,
    call_id: str = "reg-1@192.0.2.10",
    nonce: str = "n1",
    src: Endpoint = UAC,
    dst: Endpoint = UAS,
) -> list[Wire]:
    """REGISTER → 401 (MD5, qop=auth, opaque) → REGISTER with correct credentials → 200."""
    uri = "sip:198.51.100.20"
    first = request("REGISTER", cseq=1, branch="z9hG4bK-r1", call_id=call_id, uri=uri)
    challenge = response(
        first,
        401,
        "Unauthorized",
        headers=[www(nonce=nonce, extra=', opaque="op1", algorithm=MD5, qop="auth"')],
    )
    retry = request(
        "REGISTER",
        cseq=2,
        branch="z9hG4bK-r2",
        call_id=call_id,
        uri=uri,
        headers=[
            creds(
                nonce=nonce,
                uri=uri,
                extra=', algorithm=MD5, opaque="op1", qop=auth, nc=00000001, cnonce="0a4f113b"',
            )
        ],
    )
    ok = response(retry, 200, "OK")
    return [
        Wire(first, src, dst, t0),
        Wire(challenge, dst, src, t0 + 0.01),
        Wire(retry, src, dst, t0 + 0.05),
        Wire(ok, dst, src, t0 + 0.06),
    ]


Step = tuple[int, str, Sequence[str]] | None  # (status, reason, extra headers) or no response


def exchange(
    method: str = "REGISTER",
    *,
    responses: Sequence[Step],
    retries: Sequence[Sequence[str]] = (),
    t0: float = 0.0,
    step: float = 0.05,
    call_id: str = "call-1@192.0.2.10",
    uri: str | None = None,
    src: Endpoint = UAC,
    dst: Endpoint = UAS,
    branches: Sequence[str] | None = None,
    cseqs: Sequence[int] | None = None,
    first_headers: Sequence[str] = (),
    user_agent: str | None = None,
    acks: bool = False,
    ack_headers: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
    fragments: Sequence[int] | None = None,
    from_tag: str = "ft1",
    user: str = "edge",
) -> list[Wire]:
    """One request and its retries: attempt 0 carries ``first_headers``, attempt i carries
    ``retries[i-1]``; ``responses[i]`` answers attempt i (None: no response at all). For
    INVITE with ``acks``: the ACK for a non-2xx shares the branch; the 2xx ACK gets a new
    branch and ``ack_headers`` (default: the credentials of the attempt)."""
    # One Request-URI for every method, the one creds() hashes by default.
    target = uri or "sip:+15551230000@198.51.100.20"
    wires: list[Wire] = []
    time = t0
    agent = [f"User-Agent: {user_agent}"] if user_agent else []
    for index in range(len(retries) + 1):
        headers = list(first_headers) if index == 0 else list(retries[index - 1])
        branch = branches[index] if branches else f"z9hG4bK-{call_id[:6]}-{index}"
        cseq = cseqs[index] if cseqs else index + 1
        body_size = sizes[index] if sizes else 0
        text = request(
            method,
            cseq=cseq,
            branch=branch,
            call_id=call_id,
            uri=target,
            headers=[*agent, *headers],
            body_size=body_size,
            from_tag=from_tag,
            user=user,
        )
        frags = fragments[index] if fragments else 0
        wires.append(Wire(text, src, dst, time, ip_fragments=frags))
        time += step
        answer = responses[index] if index < len(responses) else None
        if answer is None:
            continue
        status, reason, extra = answer
        wires.append(Wire(response(text, status, reason, headers=extra), dst, src, time))
        time += step
        if method == "INVITE" and acks and status >= 200:
            if status < 300:
                ack_extra = list(headers if ack_headers is None else ack_headers)
                ack = request(
                    "ACK",
                    cseq=cseq,
                    branch=branch + "-ack",
                    call_id=call_id,
                    uri=target,
                    headers=ack_extra,
                    from_tag=from_tag,
                    user=user,
                )
            else:
                ack = request(
                    "ACK",
                    cseq=cseq,
                    branch=branch,
                    call_id=call_id,
                    uri=target,
                    from_tag=from_tag,
                    user=user,
                )
            wires.append(Wire(ack, src, dst, time))
            time += step
    return wires


def frames_of(found: Iterable[Finding], code: str) -> list[tuple[int, ...]]:
    return [f.frames for f in found if f.code == code]


def tail(time: float) -> list[Wire]:
    """An unrelated, clean OPTIONS → 200 at ``time``, so earlier challenges are not "cut off"
    by the end of the capture."""
    text = request(
        "OPTIONS", cseq=1, branch="z9hG4bK-tail", call_id="tail@192.0.2.99", uri="sip:198.51.100.20"
    )
    return [Wire(text, UAC, UAS, time), Wire(response(text, 200, "OK"), UAS, UAC, time + 0.01)]


UNAUTHORIZED = "Unauthorized"
PROXY_REQUIRED = "Proxy Authentication Required"
