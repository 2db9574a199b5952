"""Turn a list of ``Wire`` messages (tests/rules/sipbuild.py) into a classic pcap, byte by byte.

Every packet is Ethernet / IPv4 / UDP or TCP with correct lengths and checksums, packed with
``struct`` (no randomness: IP IDs count up, MACs derive from the IP, times are
``BASE_TIME + wire.time``), so the same wires always give the same bytes.

- UDP: a message larger than one MTU, or whose wire asks for ``ip_fragments > 1``, is really
  IP-fragmented (RFC 791 §3.2: offsets in 8-byte units, MF on all but the last); a wire flagged
  ``incomplete`` loses its last fragment, so the capture layer, not the test, finds the gap.
- TCP: the first message between two endpoints opens a connection with a real three-way
  handshake; each message is then sent in MSS-sized segments (RFC 9293 §3.7.1) on that
  connection, whichever side speaks.

``pcap_bytes`` returns the file and, per wire, the Wireshark frame numbers that carried it (the
last one is the frame Wireshark and the analyzer name the message by).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from sipauth_analyzer.capture.model import FLAG_INCOMPLETE
from sipauth_analyzer.primitives import Endpoint, Transport
from tests.rules.sipbuild import Wire

BASE_TIME = 1_700_000_000  # 2023-11-14T22:13:20Z: wire.time 0.0 is this instant
MTU = 1500  # Ethernet: the largest IPv4 packet that needs no fragmentation
MSS = 1460  # MTU minus 20-byte IPv4 and 20-byte TCP headers
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
HANDSHAKE_STEP = 0.0001  # seconds between SYN, SYN-ACK and ACK, just before the first message
ISN_CLIENT = 1_000_000  # initial sequence numbers: fixed so files are reproducible
ISN_SERVER = 2_000_000

_PROTO_TCP = 6
_PROTO_UDP = 17
_TCP_SYN = 0x02
_TCP_ACK = 0x10
_TCP_PSH = 0x08


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _ip4(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def _mac(address: str) -> bytes:
    # A locally administered unicast MAC (02:…) carrying the IPv4 address, so each host keeps one.
    return b"\x02\x00" + _ip4(address)


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    return _ip4(src) + _ip4(dst) + struct.pack("!BBH", 0, proto, length)


def udp_datagram(src: Endpoint, dst: Endpoint, payload: bytes) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", src.port, dst.port, length, 0)
    checksum = _checksum(_pseudo_header(src.ip, dst.ip, _PROTO_UDP, length) + header + payload)
    # RFC 768: a computed checksum of zero is sent as all ones (zero means "no checksum").
    return struct.pack("!HHHH", src.port, dst.port, length, checksum or 0xFFFF) + payload


def tcp_segment(
    src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, payload: bytes = b""
) -> bytes:
    def header(checksum: int) -> bytes:
        offset = 5 << 4  # 20-byte header, no options
        return struct.pack(
            "!HHIIBBHHH", src.port, dst.port, seq, ack, offset, flags, 65535, checksum, 0
        )

    length = 20 + len(payload)
    pseudo = _pseudo_header(src.ip, dst.ip, _PROTO_TCP, length)
    return header(_checksum(pseudo + header(0) + payload)) + payload


def ipv4_packet(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    ident: int,
    *,
    offset: int = 0,
    more: bool = False,
) -> bytes:
    flags_offset = (0x2000 if more else 0) | (offset // 8)

    def header(checksum: int) -> bytes:
        return struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            ident & 0xFFFF,
            flags_offset,
            64,
            proto,
            checksum,
            _ip4(src),
            _ip4(dst),
        )

    return header(_checksum(header(0))) + payload


def ethernet_frame(src: str, dst: str, ip_packet: bytes) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack("!H", 0x0800) + ip_packet


def fragment_count(wire: Wire) -> int:
    """How many IP fragments carry this UDP wire: what it asks for, at least what the MTU needs."""
    datagram = 8 + len(wire.text.encode())
    return max(wire.ip_fragments, _ceil_div(datagram, MTU - 20), 1)


@dataclass(slots=True)
class _Connection:
    """One TCP connection: the next sequence number each side will send."""

    next_seq: dict[Endpoint, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Writer:
    records: list[tuple[float, bytes]] = field(default_factory=list)
    ident: int = 0x1000
    connections: dict[frozenset[Endpoint], _Connection] = field(default_factory=dict)

    def emit(self, time: float, src: str, dst: str, proto: int, payload: bytes) -> int:
        self.ident += 1
        packet = ipv4_packet(src, dst, proto, payload, self.ident)
        self.records.append((time, ethernet_frame(src, dst, packet)))
        return len(self.records)

    def udp(self, wire: Wire) -> list[int]:
        datagram = udp_datagram(wire.src, wire.dst, wire.text.encode())
        count = fragment_count(wire)
        if count == 1:
            return [self.emit(wire.time, wire.src.ip, wire.dst.ip, _PROTO_UDP, datagram)]
        if count == _ceil_div(len(datagram), MTU - 20):
            chunk = MTU - 20  # as a sending stack does: full-MTU fragments, the rest last
        else:
            # The scenario asks for more fragments than the MTU needs (a smaller path MTU):
            # equal pieces, each but the last a multiple of 8 bytes long (RFC 791 §3.2).
            chunk = _ceil_div(_ceil_div(len(datagram), count), 8) * 8
        pieces = [datagram[i : i + chunk] for i in range(0, len(datagram), chunk)]
        if len(pieces) != count:
            raise ValueError(f"cannot cut {len(datagram)} bytes into {count} fragments")
        if FLAG_INCOMPLETE in wire.flags:
            pieces = pieces[:-1]  # the last fragment never reaches the capture
        self.ident += 1
        ident = self.ident
        frames: list[int] = []
        for index, piece in enumerate(pieces):
            packet = ipv4_packet(
                wire.src.ip,
                wire.dst.ip,
                _PROTO_UDP,
                piece,
                ident,
                offset=index * chunk,
                more=index < count - 1,
            )
            self.records.append((wire.time, ethernet_frame(wire.src.ip, wire.dst.ip, packet)))
            frames.append(len(self.records))
        return frames

    def tcp(self, wire: Wire) -> list[int]:
        key = frozenset((wire.src, wire.dst))
        connection = self.connections.get(key)
        frames: list[int] = []
        if connection is None:
            connection = self._handshake(wire, frames)
            self.connections[key] = connection
        peer_next = connection.next_seq[wire.dst]
        data = wire.text.encode()
        for start in range(0, len(data), MSS):
            piece = data[start : start + MSS]
            seq = connection.next_seq[wire.src]
            segment = tcp_segment(wire.src, wire.dst, seq, peer_next, _TCP_ACK | _TCP_PSH, piece)
            frames.append(self.emit(wire.time, wire.src.ip, wire.dst.ip, _PROTO_TCP, segment))
            connection.next_seq[wire.src] = seq + len(piece)
        return frames

    def _handshake(self, wire: Wire, frames: list[int]) -> _Connection:
        client, server = wire.src, wire.dst
        start = wire.time - 3 * HANDSHAKE_STEP
        if self.records:
            start = max(start, self.records[-1][0])
        steps = [
            (client, server, ISN_CLIENT, 0, _TCP_SYN),
            (server, client, ISN_SERVER, ISN_CLIENT + 1, _TCP_SYN | _TCP_ACK),
            (client, server, ISN_CLIENT + 1, ISN_SERVER + 1, _TCP_ACK),
        ]
        for index, (src, dst, seq, ack, flags) in enumerate(steps):
            segment = tcp_segment(src, dst, seq, ack, flags)
            frames.append(
                self.emit(start + index * HANDSHAKE_STEP, src.ip, dst.ip, _PROTO_TCP, segment)
            )
        return _Connection({client: ISN_CLIENT + 1, server: ISN_SERVER + 1})


def _record(time: float, frame: bytes) -> bytes:
    micros = round((BASE_TIME + time) * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    return struct.pack("<IIII", seconds, fraction, len(frame), len(frame)) + frame


def pcap_bytes(wires: list[Wire]) -> tuple[bytes, list[list[int]]]:
    """The pcap file for ``wires`` and, per wire, the frame numbers that carried it."""
    writer = _Writer()
    carried: list[list[int]] = []
    for wire in wires:
        if wire.transport is Transport.UDP:
            carried.append(writer.udp(wire))
        elif wire.transport is Transport.TCP:
            carried.append(writer.tcp(wire))
        else:
            raise ValueError(f"no packet writer for {wire.transport}")
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    return header + b"".join(_record(t, f) for t, f in writer.records), carried
