"""Correlation throughput on a synthetic registration storm.

Run: ``python -m tests.correlate.bench_storm [CALL_IDS]``.

N Call-IDs, each REGISTER → 401 → REGISTER+Authorization → 200 (every fourth one → 401 again,
a wrong password), plus one retransmission of every tenth first REGISTER. Messages are built as
text and parsed by the real parser *before* timing; the timed part is ``correlate`` alone,
which includes the lazy header parsing it triggers (Call-ID, CSeq, tags, Via, digest headers).
"""

from __future__ import annotations

import sys
import time

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.correlate import CorrelateOptions, Correlation, correlate
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.sip.message import SipMessage, parse_message

_REQUEST = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{branch};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:u{n}@example.com>;tag=f{n}\r\n"
    "To: <sip:u{n}@example.com>\r\n"
    "Call-ID: storm-{n}@{ip}\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "Contact: <sip:u{n}@{ip}:5060>\r\n"
    "Expires: 3600\r\n"
    "{auth}"
    "User-Agent: storm/1.0\r\n"
    "Content-Length: 0\r\n\r\n"
)
_RESPONSE = (
    "SIP/2.0 {status}\r\n"
    "Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{branch};rport=5060\r\n"
    "From: <sip:u{n}@example.com>;tag=f{n}\r\n"
    "To: <sip:u{n}@example.com>;tag=s{n}\r\n"
    "Call-ID: storm-{n}@{ip}\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "{auth}"
    "Content-Length: 0\r\n\r\n"
)
_CHALLENGE = (
    'WWW-Authenticate: Digest realm="example.com", nonce="{nonce}", algorithm=MD5, qop="auth"\r\n'
)
_CREDENTIALS = (
    'Authorization: Digest username="u{n}", realm="example.com", nonce="{nonce}", '
    'uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
    'qop=auth, nc=00000001, cnonce="0a4f113b"\r\n'
)
SERVER = Endpoint("192.0.2.1", 5060)


def storm(call_ids: int) -> list[SipMessage]:
    messages: list[SipMessage] = []
    t = 1_700_000_000.0

    def add(text: str, src: Endpoint, dst: Endpoint) -> None:
        nonlocal t
        t += 0.0005
        data = text.encode()
        captured = CapturedMessage(
            data,
            "storm.pcap",
            len(messages) + 1,
            (len(messages) + 1,),
            t,
            src,
            dst,
            Transport.UDP,
            len(data),
        )
        parsed = parse_message(captured)
        assert isinstance(parsed, SipMessage)
        messages.append(parsed)

    for n in range(call_ids):
        ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        client = Endpoint(ip, 5060)
        nonce = f"{n:08x}cafe"
        first = _REQUEST.format(ip=ip, branch=f"a{n}", n=n, cseq=1, auth="")
        add(first, client, SERVER)
        if n % 10 == 0:
            add(first, client, SERVER)
        challenge = _CHALLENGE.format(nonce=nonce)
        add(
            _RESPONSE.format(
                status="401 Unauthorized", ip=ip, branch=f"a{n}", n=n, cseq=1, auth=challenge
            ),
            SERVER,
            client,
        )
        credentials = _CREDENTIALS.format(n=n, nonce=nonce)
        add(_REQUEST.format(ip=ip, branch=f"b{n}", n=n, cseq=2, auth=credentials), client, SERVER)
        final = ("401 Unauthorized", challenge) if n % 4 == 0 else ("200 OK", "")
        add(
            _RESPONSE.format(status=final[0], ip=ip, branch=f"b{n}", n=n, cseq=2, auth=final[1]),
            SERVER,
            client,
        )
    return messages


def measure(call_ids: int) -> tuple[float, Correlation, int]:
    """Messages per second of ``correlate`` on a freshly parsed storm (lazy caches cold)."""
    messages = storm(call_ids)
    start = time.perf_counter()
    result = correlate(messages, CorrelateOptions())
    elapsed = time.perf_counter() - start
    return len(messages) / elapsed, result, len(messages)


def main() -> None:
    call_ids = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rate, result, count = measure(call_ids)
    print(
        f"{count} messages, {len(result.exchanges)} exchanges, "
        f"{len(result.transactions)} transactions: {rate:,.0f} messages/s"
    )


if __name__ == "__main__":
    main()
