"""Builds SipMessages from raw SIP text for correlation tests (through the real parser)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.correlate import Correlator
from sipauth_analyzer.correlate.model import Correlation
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.sip.message import SipMessage, parse_message


def endpoint(text: str) -> Endpoint:
    host, _, port = text.rpartition(":")
    return Endpoint(host.strip("[]"), int(port))


def make_message(
    text: str,
    frame: int,
    time: float,
    src: str,
    dst: str,
    transport: str = "UDP",
    file: str = "test.pcap",
) -> SipMessage:
    """Wrap SIP text (LF or CRLF line ends) in a CapturedMessage and parse it."""
    lines = text.strip("\n").split("\n")
    data = ("\r\n".join(line.rstrip("\r") for line in lines) + "\r\n\r\n").encode()
    captured = CapturedMessage(
        data=data,
        file=file,
        frame=frame,
        frames=(frame,),
        time=time,
        src=endpoint(src),
        dst=endpoint(dst),
        transport=Transport(transport),
        wire_size=len(data),
    )
    parsed = parse_message(captured)
    assert isinstance(parsed, SipMessage), parsed
    return parsed


def digest_challenge(nonce: str, realm: str = "example.com", extra: str = "") -> str:
    return f'Digest realm="{realm}", nonce="{nonce}"{extra}'


def digest_credentials(
    nonce: str, user: str = "alice", realm: str = "example.com", extra: str = ""
) -> str:
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
        f'uri="sip:example.com", response="0123456789abcdef0123456789abcdef"{extra}'
    )


@dataclass
class Flow:
    """A little SIP conversation: frames number themselves, time advances per message."""

    messages: list[SipMessage] = field(default_factory=list)
    time: float = 1000.0
    step: float = 0.1

    @property
    def next_frame(self) -> int:
        return len(self.messages) + 1

    def request(
        self,
        method: str,
        *,
        src: str = "10.0.0.1:5060",
        dst: str = "10.0.0.2:5060",
        call_id: str = "call-1",
        cseq: int = 1,
        cseq_method: str | None = None,
        from_tag: str = "ft1",
        from_uri: str = "sip:alice@example.com",
        to_tag: str | None = None,
        branch: str = "z9hG4bK-1",
        vias: tuple[str, ...] = (),
        auth: str | None = None,
        auth_header: str = "Authorization",
        at: float | None = None,
    ) -> SipMessage:
        """``vias`` are extra Via lines *below* the top one (a proxied request)."""
        if at is not None:
            self.time = at
        else:
            self.time += self.step
        host = src.rpartition(":")[0]
        lines = [
            f"{method} sip:bob@example.com SIP/2.0",
            f"Via: SIP/2.0/UDP {src};branch={branch}",
            *(f"Via: {via}" for via in vias),
            "Max-Forwards: 70",
            f"From: <{from_uri}>;tag={from_tag}",
            "To: <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {cseq_method or method}",
            f"Contact: <sip:alice@{host}>",
        ]
        if auth is not None:
            lines.append(f"{auth_header}: {auth}")
        lines.append("Content-Length: 0")
        message = make_message("\n".join(lines), self.next_frame, self.time, src, dst)
        self.messages.append(message)
        return message

    def response(
        self,
        request: SipMessage,
        status: int,
        reason: str = "Reason",
        *,
        challenge: str | None = None,
        challenge_header: str | None = None,
        to_tag: str | None = "tt1",
        cseq_method: str | None = None,
        at: float | None = None,
    ) -> SipMessage:
        """A response to ``request`` (same Via, Call-ID, From, CSeq), sent back dst → src."""
        if at is not None:
            self.time = at
        else:
            self.time += self.step
        source = request.source
        cseq = request.cseq
        assert cseq is not None
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in request.header("via")]
        lines += [
            f"From: {request.first('from')}",
            "To: <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag and status > 100 else ""),
            f"Call-ID: {request.call_id}",
            f"CSeq: {cseq[0]} {cseq_method or cseq[1]}",
        ]
        if challenge is not None:
            header = challenge_header or (
                "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            )
            lines.append(f"{header}: {challenge}")
        lines.append("Content-Length: 0")
        message = make_message(
            "\n".join(lines), self.next_frame, self.time, str(source.dst), str(source.src)
        )
        self.messages.append(message)
        return message

    def again(self, message: SipMessage, *, at: float | None = None) -> SipMessage:
        """A retransmission: the same bytes, a new frame."""
        if at is not None:
            self.time = at
        else:
            self.time += self.step
        source = message.source
        copy = make_message(
            source.data.decode(), self.next_frame, self.time, str(source.src), str(source.dst)
        )
        self.messages.append(copy)
        return copy


def correlate_tracking_peak(correlator: Correlator, messages: Iterable[SipMessage]
                            ) -> tuple[Correlation, int]:
    """Feed ``messages`` to ``correlator``; its Correlation and the longest its message list
    grew meanwhile (what it held at its peak)."""
    longest = 0
    for message in messages:
        correlator.add(message)
        longest = max(longest, len(correlator._messages))
    return correlator.finish(), longest
