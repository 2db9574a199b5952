"""Malformed auth headers and odd flows never make a rule fail (a failure would be a Note)."""

from __future__ import annotations

import random

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.correlate import correlate
from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.rules.engine import run_rules
from sipauth_analyzer.sip.message import SipMessage, parse_message
from tests.rules.sipbuild import (
    PROXY_REQUIRED,
    UNAUTHORIZED,
    clean_register,
    creds,
    exchange,
    proxy_auth,
    www,
)

ALPHABET = ' ",=;:\\<>@\r\x00aZ9éq-'


def _mutate(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 12)):
        position = rng.randrange(len(chars))
        action = rng.random()
        if action < 0.4:
            chars[position] = rng.choice(ALPHABET)
        elif action < 0.7:
            del chars[position]
        else:
            chars.insert(position, rng.choice(ALPHABET))
    return "".join(chars)


def test_rules_survive_mutated_auth_traffic() -> None:
    rng = random.Random(20261122)
    flows = [
        clean_register(),
        exchange(
            "INVITE",
            responses=[(407, PROXY_REQUIRED, [proxy_auth()]), (403, "Forbidden", [])],
            retries=[[creds("Proxy-Authorization")]],
            acks=True,
        ),
        exchange(
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{i}")]) for i in range(4)],
            retries=[[creds(nonce=f"n{i}")] for i in range(3)],
        ),
    ]
    for _ in range(150):
        wires = [w for flow in flows for w in flow]
        messages: list[SipMessage] = []
        for frame, wire in enumerate(wires, start=1):
            text = _mutate(wire.text, rng) if rng.random() < 0.5 else wire.text
            data = text.encode("utf-8", "surrogatepass")
            parsed = parse_message(
                CapturedMessage(
                    data=data,
                    file="fuzz.pcap",
                    frame=frame,
                    frames=(frame,),
                    time=frame * 0.1,
                    src=wire.src,
                    dst=wire.dst,
                    transport=wire.transport,
                    wire_size=len(data),
                )
            )
            if isinstance(parsed, SipMessage):
                messages.append(parsed)
        notes = NoteSink()
        for finding in run_rules(correlate(messages), notes=notes):
            assert finding.frames == tuple(sorted(set(finding.frames)))
        assert notes.notes == []
