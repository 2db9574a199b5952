"""What the capture stage hands to the SIP stage: one candidate SIP message's bytes and provenance.

The capture stage recognises SIP by content (a request line ending in ``SIP/2.0`` or a
``SIP/2.0 NNN`` status line) on any port, reassembles IP fragments and TCP streams, unwraps
tunnels/HEP/WebSocket, and frames messages on stream transports by Content-Length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipauth_analyzer.primitives import Endpoint, Transport, remember

# Flags a CapturedMessage may carry (stable strings: they appear in JSON output).
FLAG_IP_REASSEMBLED = "ip-reassembled"  # rebuilt from several IP fragments
FLAG_TCP_REASSEMBLED = "tcp-reassembled"  # rebuilt from several TCP segments
FLAG_TRUNCATED = "truncated"  # cut short by the capture's snap length: recapture with -s 0
FLAG_INCOMPLETE = "incomplete"  # some IP fragments / TCP bytes never arrived; data is partial
FLAG_HEP = "hep"  # unwrapped from HEP v2/v3; endpoints and time are the HEP ones
FLAG_WEBSOCKET = "websocket"  # carried in WebSocket frames (RFC 7118)

# Sizes on the wire repeat (a user agent's REGISTERs, and the challenges answering them, are
# the same size each time), and every int above 256 is an object of its own, 28 bytes per kept
# message: the copies kept until the report share one per size, in a table bounded by
# primitives.remember like every sharing table hostile input could fill.
_SHARED_SIZES: dict[int, int] = {}
_SHARED_SIZES_LIMIT = 4096


def shared_size(size: int) -> int:
    """``size``, as the one int object that stands for it in kept messages."""
    seen = _SHARED_SIZES.get(size)
    if seen is not None:
        return seen
    return remember(_SHARED_SIZES, size, size, _SHARED_SIZES_LIMIT)


# Treated as immutable but not frozen: a frozen dataclass's __init__ sets each of its 11
# fields through object.__setattr__, ~1.6 µs per message, and every message is built up to three
# times (read, payload dropped, handed over by --jobs 2): ~1 s of CPU on a 200,000-message storm.
# unsafe_hash keeps it hashable by value, as it was. Nothing assigns to a field after __init__.
@dataclass(slots=True, unsafe_hash=True)
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

    def without_data(self) -> CapturedMessage:
        """This message with empty ``data`` and the same provenance.

        For a consumer done with the bytes: the analysis parses a message once and keeps only
        its provenance until the report, so keeping the payload would double what each
        message costs (``wire_size`` still says how large it was on the wire).
        """
        # Positional: this runs once per message of a capture, and keywords cost more.
        return CapturedMessage(
            b"",
            self.file,
            self.frame,
            self.frames,
            self.time,
            self.src,
            self.dst,
            self.transport,
            shared_size(self.wire_size),
            self.ip_fragments,
            self.flags,
        )


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
    the capture grows. Every field can be set in the configuration file by its name.
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
    # Notes written one by one per kind and file (the pipeline's NoteSink cap); the rest are
    # counted in one summary note, so a hostile capture (100k half-open connections, each
    # "unfinished") cannot grow the note list without bound. 1000 is more than anyone reads.
    max_notes_per_kind: int = 1_000
    # Tunnels inside tunnels (GRE, VXLAN, IP-in-IP, GTP-U, ERSPAN) followed at most; real
    # networks nest two or three, so 8 only stops a crafted packet from recursing (noted once).
    max_tunnel_depth: int = 8
    # A pcap record or pcapng block longer than this is corrupt: the file is read up to it
    # and a capture-truncated note says so. 256 MiB is three orders of magnitude above any
    # real frame (an IP datagram is at most 64 KiB; Wireshark's default snap length is
    # 256 KiB), so only a broken length field reaches it.
    max_record_length: int = 256 << 20
    # Bytes read from a capture at a time: large enough that the per-chunk overhead vanishes
    # against the per-packet loop, small enough to stay far below the memory target.
    read_chunk_size: int = 8 << 20
    # Endpoint objects cached by the transport demux (shared across packets of one flow);
    # the cache is cleared when full, so a port scan cannot grow it.
    endpoint_cache_size: int = 65_536
    # Bytes of a TCP direction that never showed a SIP start line scanned before it is
    # ignored: 64 KiB is a full max_message_size of non-SIP bytes (TLS, HTTP, anything else).
    max_resync_scan: int = 65_536
    # Bytes of an HTTP head awaited during a WebSocket handshake (RFC 6455 §4) before the
    # direction is ignored; browsers send well under 4 KiB, 16 KiB leaves room for cookies.
    max_http_head: int = 16_384
    # Bytes searched for the next WebSocket frame header after a TCP gap, per attempt: bounds
    # the work one segment can cause to one default max_message_size.
    max_ws_resync_scan: int = 65_536
    # SCTP association directions with fragmented user messages pending (RFC 9260 §6.9);
    # SIP over SCTP rarely fragments, so 1024 is plenty while bounding the table.
    max_sctp_reassemblies: int = 1_024
    # SIP messages held back to restore capture (frame) order while an earlier frame is still
    # being reassembled: an IP datagram missing a fragment waits ip_reassembly_timeout, a
    # half-received TCP message up to tcp_idle_timeout. When full, the oldest message goes out
    # early and a reorder-limit note says from which frame the order may be off.
    max_reorder_messages: int = 50_000
