"""ParseSplit (sip/transfer.py): with a reader process, which messages it parses itself. And
CapturedMessage's value semantics, now that it is no longer frozen."""

from __future__ import annotations

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.sip import transfer


def _captured(file: str, frame: int) -> CapturedMessage:
    endpoint = Endpoint("10.0.0.1", 5060)
    return CapturedMessage(b"", file, frame, (frame,), 0.0, endpoint, endpoint, Transport.UDP, 0)


def test_parse_split_follows_the_density_of_sip() -> None:
    split = transfer.ParseSplit(max_gap=16)
    # An auth storm: a SIP message in every frame.
    assert all(split.in_reader(_captured("storm.pcap", frame)) for frame in range(1, 500))
    # A trunk: one SIP message in 50 frames (the rest RTP). One long gap is not a trend; the
    # average follows within ~12 messages and then stays on the analysing side.
    trunk = [split.in_reader(_captured("trunk.pcap", 50 * n)) for n in range(1, 200)]
    assert trunk[0] is True
    assert trunk.index(False) <= 12
    assert not any(trunk[12:])
    # SIP gets dense again (a registration storm in the middle of the trunk).
    again = [split.in_reader(_captured("trunk.pcap", 10_000 + n)) for n in range(1, 300)]
    assert again[-1] is True
    assert again.index(True) > 10  # it takes a few messages to be sure


def test_a_captured_message_keeps_value_semantics_without_being_frozen() -> None:
    # CapturedMessage is not frozen (its __init__ is 4x cheaper so), but it still compares and
    # hashes by value, as a frozen dataclass did, wherever it ends up in a set or a dict key.
    first, again, other = _captured("a.pcap", 7), _captured("a.pcap", 7), _captured("a.pcap", 8)
    assert first == again and first is not again
    assert hash(first) == hash(again)
    assert len({first, again, other}) == 2
