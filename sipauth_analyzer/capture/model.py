"""What the capture stage hands to the SIP stage: one candidate SIP message's bytes and provenance.

The capture stage recognises SIP by content (a request line ending in ``SIP/2.0`` or a
``SIP/2.0 NNN`` status line) on any port, reassembles IP fragments and TCP streams, unwraps
tunnels/HEP/WebSocket, and frames messages on stream transports by Content-Length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipauth_analyzer.primitives import Endpoint, Transport

# Flags a CapturedMessage may carry (stable strings: they appear in JSON output).
FLAG_IP_REASSEMBLED = "ip-reassembled"  # rebuilt from several IP fragments
FLAG_TCP_REASSEMBLED = "tcp-reassembled"  # rebuilt from several TCP segments
FLAG_TRUNCATED = "truncated"  # cut short by the capture's snap length: recapture with -s 0
FLAG_INCOMPLETE = "incomplete"  # some IP fragments / TCP bytes never arrived; data is partial
FLAG_HEP = "hep"  # unwrapped from HEP v2/v3; endpoints and time are the HEP ones
FLAG_WEBSOCKET = "websocket"  # carried in WebSocket frames (RFC 7118)


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """The bytes of one SIP message and where they came from.

    ``frame`` is Wireshark's number for the frame that completes the message (the last fragment
    or segment needed); ``frames`` lists every frame it was rebuilt from, in capture order.
    ``time`` is the completing frame's capture time, seconds since the epoch. ``wire_size`` is
    the message's size on the wire (e.g. the UDP payload length from the UDP header) even when
    the captured bytes are fewer (truncated / incomplete). ``ip_fragments`` is how many IP
    fragments carried it (0 when it was not fragmented).
    """

    data: bytes
    file: str
    frame: int
    frames: tuple[int, ...]
    time: float
    src: Endpoint
    dst: Endpoint
    transport: Transport
    wire_size: int
    ip_fragments: int = 0
    flags: frozenset[str] = frozenset()


@dataclass(slots=True)
class CaptureStats:
    """Counters the capture stage fills in while reading; shown in every report's summary."""

    files: list[str] = field(default_factory=list)
    packets: int = 0
    bytes: int = 0
    sip_messages: int = 0
    linktypes: dict[str, int] = field(default_factory=dict)
    tls_flows: int = 0
    first_time: float | None = None
    last_time: float | None = None


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """Named, documented limits of the capture stage. Each, when hit, is reported as a Note.

    Reassembly state is evicted by *capture* time (never wall-clock), so memory stays flat as
    the capture grows.
    """

    max_ip_reassemblies: int = 10_000  # open IP datagrams being reassembled at once
    ip_reassembly_timeout: float = (
        30.0  # seconds of capture time before an unfinished datagram is incomplete
    )
    max_tcp_streams: int = 20_000  # TCP directions with buffered bytes at once
    max_tcp_buffer: int = 1 << 20  # bytes buffered per TCP direction waiting for a complete message
    tcp_idle_timeout: float = (
        300.0  # seconds of capture time before an idle TCP direction is flushed
    )
    max_message_size: int = 1 << 16  # bytes; a larger "SIP message" is cut and noted
    hep_ports: tuple[int, ...] = (
        9060,
        9061,
    )  # UDP/TCP ports tried as HEP first (HEP is also detected by magic)
