"""Rebuild every synthetic test capture in this directory, deterministically.

Run ``.venv/bin/python tests/captures/build_captures.py`` from the repository root. Each capture
is packed byte by byte with ``struct`` (no scapy, no randomness, fixed timestamps starting at
``BASE_TIME``), so rerunning the script reproduces the committed files exactly. Addresses come
from the documentation ranges only: 192.0.2.0/24, 198.51.100.0/24 (RFC 5737) and 2001:db8::/32
(RFC 3849).

The SIP text is realistic: REGISTER / INVITE answered by 401 / 407 and retried with real RFC 2617
digest credentials (qop=auth, computed from the password below), with Via branches carrying the
RFC 3261 §8.1.1.7 magic cookie, From tags, Max-Forwards, User-Agent, Contact and SDP bodies.
``README.md`` beside this script says what each capture holds and what it tests; the expected
results live in tests/capture/test_synthetic_captures.py.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import itertools
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent
BASE_TIME = 1_700_000_000  # 2023-11-14T22:13:20Z; every capture starts here
FRAME_STEP_US = 20_000  # 20 ms between consecutive frames

UA_IP = "192.0.2.10"
PROXY_IP = "198.51.100.20"
UA_IP6 = "2001:db8::10"
PROXY_IP6 = "2001:db8:1::20"
TUNNEL_A = "192.0.2.1"  # tunnel endpoints / mirror source and collector
TUNNEL_B = "192.0.2.2"
UA_MAC = bytes.fromhex("020000000a01")
PROXY_MAC = bytes.fromhex("020000001401")

USERNAME = "alice"
PASSWORD = "correct horse"
REALM = "sip.example.com"

# Link-layer type numbers (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_USER0 = 147
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

Packet = tuple[float, bytes]  # (capture time, bytes starting at the link layer)


# --------------------------------------------------------------------------------------------
# SIP text
# --------------------------------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Leg:
    """One SIP conversation between the user agent and the proxy."""

    call_id: str
    ua_host: str = UA_IP
    proxy_host: str = PROXY_IP
    ua_port: int = 5060
    proxy_port: int = 5060
    transport: str = "UDP"  # as written in Via
    tag: str = "1928301774"

    @property
    def ua_hostport(self) -> str:
        host = f"[{self.ua_host}]" if ":" in self.ua_host else self.ua_host
        return f"{host}:{self.ua_port}"

    @property
    def proxy_hostport(self) -> str:
        host = f"[{self.proxy_host}]" if ":" in self.proxy_host else self.proxy_host
        return host if self.proxy_port == 5060 else f"{host}:{self.proxy_port}"

    def nonce(self, cseq: int) -> str:
        return _md5(f"nonce:{self.call_id}:{cseq}")[:24]


def _digest(leg: Leg, method: str, uri: str, nonce: str, header: str) -> str:
    cnonce = _md5(f"cnonce:{leg.call_id}")[:16]
    ha1 = _md5(f"{USERNAME}:{REALM}:{PASSWORD}")
    ha2 = _md5(f"{method}:{uri}")
    response = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
    return (
        f'{header}: Digest username="{USERNAME}", realm="{REALM}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}", algorithm=MD5, cnonce="{cnonce}", '
        f'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )


def sdp_body(leg: Leg, candidates: int = 0) -> bytes:
    """An audio offer; ``candidates`` ICE candidate lines make it as large as WebRTC SDP gets."""
    family = "IP6" if ":" in leg.ua_host else "IP4"
    lines = [
        "v=0",
        f"o={USERNAME} 2890844526 2890844526 IN {family} {leg.ua_host}",
        "s=-",
        f"c=IN {family} {leg.ua_host}",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0 8 9 18 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:18 G729/8000",
        "a=fmtp:18 annexb=no",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    for index in range(candidates):
        lines.append(
            f"a=candidate:{842163049 + index} 1 udp {2122260223 - index} {leg.ua_host} "
            f"{49170 + 2 * index} typ host generation 0 network-id {index + 1}"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def request(
    leg: Leg,
    method: str,
    cseq: int,
    *,
    auth: str | None = None,
    body: bytes = b"",
    compact: bool = False,
    branch_seq: int | None = None,
    cseq_method: str | None = None,
) -> bytes:
    """A request from the user agent; ``auth`` is "Authorization" or "Proxy-Authorization"."""
    if method == "REGISTER":
        uri = f"sip:{REALM}"
        to = f"<sip:{USERNAME}@{REALM}>"
    else:
        uri = f"sip:+15555550100@{REALM}"
        to = f"<sip:+15555550100@{REALM}>"
    branch = f"z9hG4bK{_md5(f'{leg.call_id}:{cseq}:{branch_seq or 0}:{method}')[:12]}"
    names = (
        ("v", "f", "t", "i", "m", "c", "l")
        if compact
        else ("Via", "From", "To", "Call-ID", "Contact", "Content-Type", "Content-Length")
    )
    lines = [
        f"{method} {uri} SIP/2.0",
        f"{names[0]}: SIP/2.0/{leg.transport} {leg.ua_hostport};branch={branch};rport",
        "Max-Forwards: 70",
        f'{names[1]}: "Alice" <sip:{USERNAME}@{REALM}>;tag={leg.tag}',
        f"{names[2]}: {to}",
        f"{names[3]}: {leg.call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        f"{names[4]}: <sip:{USERNAME}@{leg.ua_hostport};transport={leg.transport.lower()}>",
    ]
    if method == "REGISTER":
        lines.append("Expires: 3600")
    if method == "INVITE":
        lines.append("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REFER")
    if auth is not None:
        nonce = leg.nonce(cseq - 1)
        lines.append(_digest(leg, method, uri, nonce, auth))
    lines.append("User-Agent: ExamplePhone/4.2.1")
    if body:
        lines.append(f"{names[5]}: application/sdp")
    lines.append(f"{names[6]}: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(
    leg: Leg,
    status: int,
    reason: str,
    method: str,
    cseq: int,
    *,
    challenge: str | None = None,
    compact: bool = False,
    branch_seq: int | None = None,
) -> bytes:
    """The proxy's answer to ``request(leg, method, cseq)``."""
    branch = f"z9hG4bK{_md5(f'{leg.call_id}:{cseq}:{branch_seq or 0}:{method}')[:12]}"
    to_user = USERNAME if method == "REGISTER" else "+15555550100"
    names = (
        ("v", "f", "t", "i", "l") if compact else ("Via", "From", "To", "Call-ID", "Content-Length")
    )
    to_tag = "" if status == 100 else f";tag=as{_md5(leg.call_id)[:8]}"
    received = leg.ua_host
    lines = [
        f"SIP/2.0 {status} {reason}",
        f"{names[0]}: SIP/2.0/{leg.transport} {leg.ua_hostport};branch={branch};"
        f"received={received};rport={leg.ua_port}",
        f'{names[1]}: "Alice" <sip:{USERNAME}@{REALM}>;tag={leg.tag}',
        f"{names[2]}: <sip:{to_user}@{REALM}>{to_tag}",
        f"{names[3]}: {leg.call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if challenge is not None:
        lines.append(
            f'{challenge}: Digest realm="{REALM}", nonce="{leg.nonce(cseq)}", '
            f'opaque="5ccc069c403ebaf9f0171e9517f40e41", algorithm=MD5, qop="auth"'
        )
    if status == 200 and method == "REGISTER":
        lines.append(f"Contact: <sip:{USERNAME}@{leg.ua_hostport}>;expires=3600")
    lines.append("Server: ExampleProxy/1.0")
    lines.append(f"{names[4]}: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def register_flow(leg: Leg) -> list[tuple[bool, bytes]]:
    """REGISTER → 401 → REGISTER with Authorization → 200, as (from_ua, text) pairs."""
    return [
        (True, request(leg, "REGISTER", 1)),
        (False, response(leg, 401, "Unauthorized", "REGISTER", 1, challenge="WWW-Authenticate")),
        (True, request(leg, "REGISTER", 2, auth="Authorization")),
        (False, response(leg, 200, "OK", "REGISTER", 2)),
    ]


def invite_flow(leg: Leg, candidates: int = 0) -> list[tuple[bool, bytes]]:
    """INVITE → 407 → ACK → INVITE with Proxy-Authorization → 200."""
    body = sdp_body(leg, candidates)
    return [
        (True, request(leg, "INVITE", 1, body=body)),
        (
            False,
            response(
                leg,
                407,
                "Proxy Authentication Required",
                "INVITE",
                1,
                challenge="Proxy-Authenticate",
            ),
        ),
        (True, request(leg, "ACK", 1)),
        (True, request(leg, "INVITE", 2, auth="Proxy-Authorization", body=body)),
        (False, response(leg, 200, "OK", "INVITE", 2)),
    ]


# --------------------------------------------------------------------------------------------
# Packet layers
# --------------------------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 4:
        return a.packed + b.packed + struct.pack("!BBH", 0, proto, length)
    return a.packed + b.packed + struct.pack("!IxxxB", length, proto)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    checksum = _checksum(_pseudo_header(src, dst, 17, length) + header + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, checksum) + payload


TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp(
    src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes
) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    checksum = _checksum(_pseudo_header(src, dst, 6, 20 + len(payload)) + header + payload)
    return header[:16] + struct.pack("!H", checksum) + header[18:] + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 0x1C46,
    more_fragments: bool = False,
    offset: int = 0,
    dont_fragment: bool = False,
    total_length: int | None = None,
) -> bytes:
    flags = (0x2000 if more_fragments else 0) | (0x4000 if dont_fragment else 0)
    length = total_length if total_length is not None else 20 + len(payload)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        length,
        ident,
        flags | (offset // 8),
        64,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 0x6000_0000, len(payload), next_header, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


def ip_udp(
    src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int = 0x1C46
) -> bytes:
    """An unfragmented IPv4 or IPv6 packet carrying one UDP datagram."""
    datagram = udp(src, dst, sport, dport, payload)
    if ":" in src:
        return ipv6(src, dst, 17, datagram)
    return ipv4(src, dst, 17, datagram, ident=ident)


def ethernet(payload: bytes, ethertype: int, *, from_ua: bool = True) -> bytes:
    dst, src = (PROXY_MAC, UA_MAC) if from_ua else (UA_MAC, PROXY_MAC)
    return dst + src + struct.pack("!H", ethertype) + payload


def ether_ip(ip_packet: bytes, *, from_ua: bool = True) -> bytes:
    ethertype = 0x86DD if ip_packet[0] >> 4 == 6 else 0x0800
    return ethernet(ip_packet, ethertype, from_ua=from_ua)


def gre(payload: bytes, protocol: int, *, sequence: int | None = None) -> bytes:
    if sequence is None:
        return struct.pack("!HH", 0, protocol) + payload
    return struct.pack("!HHI", 0x1000, protocol, sequence) + payload


def erspan2(inner: bytes, session: int = 100, index: int = 0) -> bytes:
    # ERSPAN type II (draft-foschiano-erspan §4.1): Ver=1 | VLAN=0, then COS=0 | En=0 (no VLAN
    # tag in the mirrored frame) | T=0 | session id, then reserved(12) | index(20).
    return struct.pack("!HHI", 1 << 12, session, index) + inner


def erspan3(inner: bytes, session: int = 200, timestamp: int = 0, platform: bool = False) -> bytes:
    # ERSPAN type III (draft-foschiano-erspan §4.2): Ver=2 | VLAN, COS | BSO=0 (good frame) | T |
    # session id, a 32-bit timestamp, then SGT(16) | P=1 (Ethernet PDU) | FT=0 | HW | D | Gra | O.
    # The O bit says an 8-byte platform-specific subheader follows the 12-byte header.
    header = struct.pack("!HHIHH", 2 << 12, session, timestamp, 0, 0x8000 | int(platform))
    if platform:
        header += struct.pack("!II", (3 << 26) | 0x1234, timestamp)  # Platf ID 3, port index
    return header + inner


# --------------------------------------------------------------------------------------------
# File formats
# --------------------------------------------------------------------------------------------


def frame_time(index: int) -> float:
    return BASE_TIME + index * FRAME_STEP_US / 1_000_000


def pcap_bytes(
    linktype: int,
    packets: Sequence[Packet],
    *,
    big_endian: bool = False,
    nanoseconds: bool = False,
    snaplen: int = 65535,
) -> bytes:
    endian = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = [struct.pack(f"{endian}IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for when, data in packets:
        seconds = int(when)
        fraction = round((when - seconds) * (1_000_000_000 if nanoseconds else 1_000_000))
        captured = data[:snaplen]
        out.append(struct.pack(f"{endian}IIII", seconds, fraction, len(captured), len(data)))
        out.append(captured)
    return b"".join(out)


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def pcapng_shb() -> bytes:
    options = _option(4, b"sipauth build_captures.py") + _option(0, b"")
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options)


def pcapng_idb(linktype: int, *, tsresol: int | None = None, snaplen: int = 0) -> bytes:
    options = b""
    if tsresol is not None:
        options += _option(9, bytes([tsresol]))
    if options:
        options += _option(0, b"")
    return _block(1, struct.pack("<HHI", linktype, 0, snaplen) + options)


def _ticks(when: float, per_second: int) -> tuple[int, int]:
    seconds = int(when)
    micro = round((when - seconds) * 1_000_000)
    ticks = seconds * per_second + micro * per_second // 1_000_000
    return ticks >> 32, ticks & 0xFFFFFFFF


def pcapng_epb(interface: int, when: float, data: bytes, *, per_second: int = 1_000_000) -> bytes:
    high, low = _ticks(when, per_second)
    return _block(
        6, struct.pack("<IIIII", interface, high, low, len(data), len(data)) + _pad4(data)
    )


def pcapng_spb(data: bytes) -> bytes:
    return _block(3, struct.pack("<I", len(data)) + _pad4(data))


def pcapng_obsolete_pb(interface: int, when: float, data: bytes) -> bytes:
    high, low = _ticks(when, 1_000_000)
    return _block(
        2, struct.pack("<HHIIII", interface, 0, high, low, len(data), len(data)) + _pad4(data)
    )


# --------------------------------------------------------------------------------------------
# Scenario helpers
# --------------------------------------------------------------------------------------------


def udp_flow_packets(
    leg: Leg, flow: Sequence[tuple[bool, bytes]], wrap: Callable[[bytes, bool], bytes]
) -> list[bytes]:
    """One IP packet per message, each wrapped by ``wrap(ip_packet, from_ua)``."""
    packets = []
    for index, (from_ua, text) in enumerate(flow):
        if from_ua:
            ip = ip_udp(
                leg.ua_host, leg.proxy_host, leg.ua_port, leg.proxy_port, text, 0x1C46 + index
            )
        else:
            ip = ip_udp(
                leg.proxy_host, leg.ua_host, leg.proxy_port, leg.ua_port, text, 0x3A10 + index
            )
        packets.append(wrap(ip, from_ua))
    return packets


def timed(frames: Sequence[bytes]) -> list[Packet]:
    return [(frame_time(index), data) for index, data in enumerate(frames)]


def write(name: str, data: bytes) -> None:
    (OUT_DIR / name).write_bytes(data)


def write_pcap(
    name: str,
    linktype: int,
    frames: Sequence[bytes],
    *,
    big_endian: bool = False,
    nanoseconds: bool = False,
) -> None:
    packets = timed(frames)
    write(name, pcap_bytes(linktype, packets, big_endian=big_endian, nanoseconds=nanoseconds))


def eth_wrap(ip: bytes, from_ua: bool) -> bytes:
    return ether_ip(ip, from_ua=from_ua)


def fragment_ipv4(src: str, dst: str, datagram: bytes, ident: int, chunk: int) -> list[bytes]:
    """Split a UDP datagram into IPv4 fragments carrying ``chunk`` bytes each (multiple of 8)."""
    pieces = []
    for offset in range(0, len(datagram), chunk):
        part = datagram[offset : offset + chunk]
        more = offset + chunk < len(datagram)
        pieces.append(ipv4(src, dst, 17, part, ident=ident, more_fragments=more, offset=offset))
    return pieces


def fragment_ipv6(src: str, dst: str, datagram: bytes, ident: int, chunk: int) -> list[bytes]:
    pieces = []
    for offset in range(0, len(datagram), chunk):
        part = datagram[offset : offset + chunk]
        more = offset + chunk < len(datagram)
        frag_header = struct.pack("!BBHI", 17, 0, offset | (1 if more else 0), ident)
        pieces.append(ipv6(src, dst, 44, frag_header + part))
    return pieces


class TcpConnection:
    """Sequence-number bookkeeping for one client → server TCP connection (Ethernet framed)."""

    def __init__(self, leg: Leg, client_isn: int = 0x1000_0000, server_isn: int = 0x2000_0000):
        self.leg = leg
        self.next_seq = {True: client_isn, False: server_isn}

    def segment(
        self, from_ua: bool, payload: bytes, flags: int = TCP_PSH | TCP_ACK, seq: int | None = None
    ) -> bytes:
        leg = self.leg
        src, dst = (leg.ua_host, leg.proxy_host) if from_ua else (leg.proxy_host, leg.ua_host)
        sport, dport = (leg.ua_port, leg.proxy_port) if from_ua else (leg.proxy_port, leg.ua_port)
        own = self.next_seq[from_ua] if seq is None else seq
        ack = self.next_seq[not from_ua] if flags & TCP_ACK else 0
        segment = tcp(src, dst, sport, dport, own, ack, flags, payload)
        if seq is None:
            self.next_seq[from_ua] += len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        ip = (
            ipv6(src, dst, 6, segment)
            if ":" in src
            else ipv4(src, dst, 6, segment, dont_fragment=True)
        )
        return ether_ip(ip, from_ua=from_ua)

    def handshake(self) -> list[bytes]:
        return [
            self.segment(True, b"", TCP_SYN),
            self.segment(False, b"", TCP_SYN | TCP_ACK),
            self.segment(True, b"", TCP_ACK),
        ]

    def send_split(self, from_ua: bool, payload: bytes, cuts: Sequence[int]) -> list[bytes]:
        """``payload`` as consecutive segments, cut at the given byte offsets."""
        bounds = [0, *cuts, len(payload)]
        return [self.segment(from_ua, payload[a:b]) for a, b in itertools.pairwise(bounds)]


# --------------------------------------------------------------------------------------------
# The captures
# --------------------------------------------------------------------------------------------


def build_link_types() -> None:
    def flow(
        name: str, host: str = UA_IP, proxy: str = PROXY_IP
    ) -> tuple[Leg, list[tuple[bool, bytes]]]:
        leg = Leg(
            call_id=f"reg-{name}@{host if ':' not in host else 'ua.example.com'}",
            ua_host=host,
            proxy_host=proxy,
        )
        return leg, register_flow(leg)

    leg, f = flow("ethernet")
    write_pcap("link_ethernet.pcap", LINKTYPE_ETHERNET, udp_flow_packets(leg, f, eth_wrap))

    leg, f = flow("vlan")
    write_pcap(
        "link_vlan.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(
            leg,
            f,
            lambda ip, ua: ethernet(struct.pack("!HH", 100, 0x0800) + ip, 0x8100, from_ua=ua),
        ),
    )

    leg, f = flow("qinq")
    write_pcap(
        "link_qinq.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(
            leg,
            f,
            lambda ip, ua: ethernet(
                struct.pack("!HH", 300, 0x8100) + struct.pack("!HH", 100, 0x0800) + ip,
                0x88A8,
                from_ua=ua,
            ),
        ),
    )

    def pppoe(ip: bytes, ua: bool) -> bytes:
        ppp = struct.pack("!H", 0x0021) + ip
        return ethernet(
            struct.pack("!BBHH", 0x11, 0x00, 0x2A01, len(ppp)) + ppp, 0x8864, from_ua=ua
        )

    leg, f = flow("pppoe")
    write_pcap("link_pppoe.pcap", LINKTYPE_ETHERNET, udp_flow_packets(leg, f, pppoe))

    def sll(ip: bytes, ua: bool) -> bytes:
        mac = UA_MAC if ua else PROXY_MAC
        return (
            struct.pack("!HHH", 4 if ua else 0, 1, 6)
            + mac
            + b"\x00\x00"
            + struct.pack("!H", 0x0800)
            + ip
        )

    leg, f = flow("sll")
    write_pcap("link_sll.pcap", LINKTYPE_LINUX_SLL, udp_flow_packets(leg, f, sll))

    def sll2(ip: bytes, ua: bool) -> bytes:
        mac = UA_MAC if ua else PROXY_MAC
        return struct.pack("!HHIHBB", 0x0800, 0, 2, 1, 4 if ua else 0, 6) + mac + b"\x00\x00" + ip

    leg, f = flow("sll2")
    write_pcap("link_sll2.pcap", LINKTYPE_LINUX_SLL2, udp_flow_packets(leg, f, sll2))

    leg, f = flow("raw101")
    write_pcap("link_raw101.pcap", LINKTYPE_RAW, udp_flow_packets(leg, f, lambda ip, ua: ip))
    leg, f = flow("ipv4-228")
    write_pcap("link_ipv4_228.pcap", LINKTYPE_IPV4, udp_flow_packets(leg, f, lambda ip, ua: ip))
    leg, f = flow("ipv6-229", UA_IP6, PROXY_IP6)
    write_pcap("link_ipv6_229.pcap", LINKTYPE_IPV6, udp_flow_packets(leg, f, lambda ip, ua: ip))

    leg, f = flow("null-le")
    write_pcap(
        "link_null_le.pcap",
        LINKTYPE_NULL,
        udp_flow_packets(leg, f, lambda ip, ua: struct.pack("<I", 2) + ip),
    )
    # LOOP is always network byte order; carry IPv6 with the Darwin/BSD AF_INET6 value 30.
    leg, f = flow("loop-be", UA_IP6, PROXY_IP6)
    write_pcap(
        "link_loop_be.pcap",
        LINKTYPE_LOOP,
        udp_flow_packets(leg, f, lambda ip, ua: struct.pack(">I", 30) + ip),
    )

    # USER0 holds whatever a site put there: here Ethernet frames, which we must not guess at.
    leg, f = flow("user0")
    write_pcap("link_user0.pcap", LINKTYPE_USER0, udp_flow_packets(leg, f, eth_wrap))


def build_tunnels() -> None:
    def outer(inner_ip: bytes, proto: int, ua: bool) -> bytes:
        src, dst = (TUNNEL_A, TUNNEL_B) if ua else (TUNNEL_B, TUNNEL_A)
        return ether_ip(ipv4(src, dst, proto, inner_ip), from_ua=ua)

    leg = Leg(call_id="inv-gre@192.0.2.10")
    write_pcap(
        "tunnel_gre.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(leg, invite_flow(leg), lambda ip, ua: outer(gre(ip, 0x0800), 47, ua)),
    )

    leg = Leg(call_id="inv-gre-teb@192.0.2.10")
    write_pcap(
        "tunnel_gre_teb.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(
            leg,
            invite_flow(leg),
            lambda ip, ua: outer(gre(ether_ip(ip, from_ua=ua), 0x6558), 47, ua),
        ),
    )

    counter = iter(range(1, 100))
    leg = Leg(call_id="inv-erspan2@192.0.2.10")
    write_pcap(
        "tunnel_erspan2.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(
            leg,
            invite_flow(leg),
            lambda ip, ua: outer(
                gre(erspan2(ether_ip(ip, from_ua=ua), index=3), 0x88BE, sequence=next(counter)),
                47,
                ua,
            ),
        ),
    )

    counter3 = iter(range(1, 100))
    leg = Leg(call_id="inv-erspan3@192.0.2.10")

    def erspan3_wrap(ip: bytes, ua: bool) -> bytes:
        seq = next(counter3)
        # Odd frames carry the optional platform-specific subheader (O bit), even ones do not.
        inner = erspan3(ether_ip(ip, from_ua=ua), timestamp=seq * 1000, platform=seq % 2 == 1)
        return outer(gre(inner, 0x22EB, sequence=seq), 47, ua)

    write_pcap(
        "tunnel_erspan3.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(leg, invite_flow(leg), erspan3_wrap),
    )

    leg = Leg(call_id="inv-ipip@192.0.2.10")
    write_pcap(
        "tunnel_ipip.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(leg, invite_flow(leg), lambda ip, ua: outer(ip, 4, ua)),
    )

    leg = Leg(call_id="inv-6in4@ua.example.com", ua_host=UA_IP6, proxy_host=PROXY_IP6)
    write_pcap(
        "tunnel_6in4.pcap",
        LINKTYPE_ETHERNET,
        udp_flow_packets(leg, invite_flow(leg), lambda ip, ua: outer(ip, 41, ua)),
    )

    leg = Leg(call_id="inv-vxlan@192.0.2.10")

    def vxlan(ip: bytes, ua: bool) -> bytes:
        header = struct.pack("!B3xI", 0x08, 5001 << 8)  # I flag, VNI 5001
        src, dst = (TUNNEL_A, TUNNEL_B) if ua else (TUNNEL_B, TUNNEL_A)
        return ether_ip(
            ip_udp(src, dst, 49152 + len(ip) % 1000, 4789, header + ether_ip(ip, from_ua=ua)),
            from_ua=ua,
        )

    write_pcap(
        "tunnel_vxlan.pcap", LINKTYPE_ETHERNET, udp_flow_packets(leg, invite_flow(leg), vxlan)
    )


def build_ipv6_extension_headers() -> None:
    leg = Leg(call_id="reg-ipv6-ext@ua.example.com", ua_host=UA_IP6, proxy_host=PROXY_IP6)
    frames = []
    for from_ua, text in register_flow(leg):
        src, dst = (UA_IP6, PROXY_IP6) if from_ua else (PROXY_IP6, UA_IP6)
        datagram = udp(src, dst, 5060, 5060, text)
        pad_n = b"\x01\x04\x00\x00\x00\x00"  # one PadN option filling the 8-octet header
        dest_opts = struct.pack("!BB", 17, 0) + pad_n
        hop_by_hop = struct.pack("!BB", 60, 0) + pad_n
        frames.append(
            ether_ip(ipv6(src, dst, 0, hop_by_hop + dest_opts + datagram), from_ua=from_ua)
        )
    write_pcap("ipv6_ext_headers.pcap", LINKTYPE_ETHERNET, frames)


def build_ip_fragments() -> None:
    def frag_flow(
        name: str,
        chunk: int,
        reorder: Callable[[list[bytes]], list[bytes]] | None = None,
        drop_last: bool = False,
        v6: bool = False,
    ) -> None:
        host, proxy = (UA_IP6, PROXY_IP6) if v6 else (UA_IP, PROXY_IP)
        leg = Leg(
            call_id=f"inv-{name}@{'ua.example.com' if v6 else UA_IP}",
            ua_host=host,
            proxy_host=proxy,
        )
        frames: list[bytes] = []
        flow = invite_flow(leg, candidates=14)
        for index, (from_ua, text) in enumerate(flow):
            src, dst = (host, proxy) if from_ua else (proxy, host)
            datagram = udp(src, dst, 5060, 5060, text)
            if 20 + len(datagram) <= 1500 - (20 if v6 else 0):
                frames.append(
                    ether_ip(ip_udp(src, dst, 5060, 5060, text, 0x5000 + index), from_ua=from_ua)
                )
                continue
            splitter = fragment_ipv6 if v6 else fragment_ipv4
            pieces = splitter(src, dst, datagram, 0x5000 + index, chunk)
            is_retry = index == 3  # the INVITE carrying Proxy-Authorization
            if is_retry and reorder is not None:
                pieces = reorder(pieces)
            if is_retry and drop_last:
                frames.extend(ether_ip(p, from_ua=from_ua) for p in pieces[:-1])
                break  # the caller never gets further: the proxy never saw the INVITE
            frames.extend(ether_ip(p, from_ua=from_ua) for p in pieces)
        write_pcap(f"{name}.pcap", LINKTYPE_ETHERNET, frames)

    frag_flow("frag4_two", 1480)
    frag_flow("frag4_three", 976)
    # Last fragment first, then the first, the first again (a duplicate), then the middle one.
    frag_flow("frag4_out_of_order", 976, reorder=lambda p: [p[2], p[0], p[0], p[1]])
    frag_flow("frag4_incomplete", 976, drop_last=True)
    frag_flow("frag6_complete", 1232, v6=True)
    frag_flow("frag6_incomplete", 1232, drop_last=True, v6=True)


def build_tcp() -> None:
    # One INVITE over three segments, then the 407 in one.
    leg = Leg(call_id="inv-tcp-split3@192.0.2.10", ua_port=50600, transport="TCP")
    conn = TcpConnection(leg)
    flow = invite_flow(leg, candidates=6)
    invite = flow[0][1]
    frames = [
        *conn.handshake(),
        *conn.send_split(True, invite, [600, 1200]),
        conn.segment(False, flow[1][1]),
    ]
    write_pcap("tcp_split3.pcap", LINKTYPE_ETHERNET, frames)

    # 100 Trying and 401 coalesced in one segment (a proxy flushing its write buffer once).
    leg = Leg(call_id="reg-tcp-coalesced@192.0.2.10", ua_port=50601, transport="TCP")
    conn = TcpConnection(leg)
    reg = register_flow(leg)
    trying = response(leg, 100, "Trying", "REGISTER", 1)
    frames = [
        *conn.handshake(),
        conn.segment(True, reg[0][1]),
        conn.segment(False, trying + reg[1][1]),
        conn.segment(True, reg[2][1]),
        conn.segment(False, reg[3][1]),
    ]
    write_pcap("tcp_coalesced.pcap", LINKTYPE_ETHERNET, frames)

    # The INVITE's three segments captured as 1, 3, 2.
    leg = Leg(call_id="inv-tcp-ooo@192.0.2.10", ua_port=50602, transport="TCP")
    conn = TcpConnection(leg)
    flow = invite_flow(leg, candidates=6)
    handshake = conn.handshake()
    parts = conn.send_split(True, flow[0][1], [600, 1200])
    frames = [*handshake, parts[0], parts[2], parts[1], conn.segment(False, flow[1][1])]
    write_pcap("tcp_out_of_order.pcap", LINKTYPE_ETHERNET, frames)

    # The first REGISTER's segment is retransmitted (same seq, same bytes) before the 401.
    leg = Leg(call_id="reg-tcp-retrans@192.0.2.10", ua_port=50603, transport="TCP")
    conn = TcpConnection(leg)
    reg = register_flow(leg)
    seq = conn.next_seq[True] + 1  # after the SYN
    frames = [
        *conn.handshake(),
        conn.segment(True, reg[0][1]),
        conn.segment(True, reg[0][1], seq=seq),
        conn.segment(False, reg[1][1]),
        conn.segment(True, reg[2][1]),
        conn.segment(False, reg[3][1]),
    ]
    write_pcap("tcp_retransmission.pcap", LINKTYPE_ETHERNET, frames)

    # Bytes 0..599 then 400..end: 200 bytes sent twice (a retransmission with more data).
    leg = Leg(call_id="reg-tcp-overlap@192.0.2.10", ua_port=50604, transport="TCP")
    conn = TcpConnection(leg)
    reg = register_flow(leg)
    start = conn.next_seq[True] + 1
    retry = reg[2][1]
    handshake = conn.handshake()
    first = conn.segment(True, reg[0][1])
    challenge = conn.segment(False, reg[1][1])
    base = conn.next_seq[True]
    assert base == start + len(reg[0][1])
    frames = [
        *handshake,
        first,
        challenge,
        conn.segment(True, retry[:600], seq=base),
        conn.segment(True, retry[400:], seq=base + 400),
    ]
    conn.next_seq[True] = base + len(retry)
    frames.append(conn.segment(False, reg[3][1]))
    write_pcap("tcp_overlap.pcap", LINKTYPE_ETHERNET, frames)

    # The authenticated REGISTER's middle segment (inside its headers) was never captured.
    leg = Leg(call_id="reg-tcp-gap@192.0.2.10", ua_port=50605, transport="TCP")
    conn = TcpConnection(leg)
    reg = register_flow(leg)
    frames = [*conn.handshake(), conn.segment(True, reg[0][1]), conn.segment(False, reg[1][1])]
    parts_gap = conn.send_split(True, reg[2][1], [150, 300])
    frames += [parts_gap[0], parts_gap[2], conn.segment(False, reg[3][1])]
    write_pcap("tcp_gap.pcap", LINKTYPE_ETHERNET, frames)

    # Compact header forms throughout (RFC 3261 §7.3.3); framing must use "l:".
    leg = Leg(call_id="inv-tcp-compact@192.0.2.10", ua_port=50606, transport="TCP")
    conn = TcpConnection(leg)
    body = sdp_body(leg)
    invite = request(leg, "INVITE", 1, body=body, compact=True)
    proxy_auth = response(
        leg,
        407,
        "Proxy Authentication Required",
        "INVITE",
        1,
        challenge="Proxy-Authenticate",
        compact=True,
    )
    ack = request(leg, "ACK", 1, compact=True)
    retry = request(leg, "INVITE", 2, auth="Proxy-Authorization", body=body, compact=True)
    trying = response(leg, 100, "Trying", "INVITE", 2, compact=True)
    ok = response(leg, 200, "OK", "INVITE", 2, compact=True)
    header_end = invite.index(b"\r\n\r\n") + 4
    frames = [
        *conn.handshake(),
        *conn.send_split(True, invite, [header_end + 40]),  # the body is split
        conn.segment(False, proxy_auth),
        conn.segment(True, ack + retry),
        conn.segment(False, trying + ok),
    ]
    write_pcap("tcp_compact_l.pcap", LINKTYPE_ETHERNET, frames)

    # SIP on ports nobody registered for it: UDP 5080, then TCP 15060.
    leg_udp = Leg(call_id="reg-udp-5080@192.0.2.10", ua_port=5080, proxy_port=5080)
    frames = udp_flow_packets(leg_udp, register_flow(leg_udp), eth_wrap)
    leg_tcp = Leg(
        call_id="reg-tcp-15060@192.0.2.10", ua_port=50607, proxy_port=15060, transport="TCP"
    )
    conn = TcpConnection(leg_tcp)
    frames += conn.handshake()
    frames += [conn.segment(from_ua, text) for from_ua, text in register_flow(leg_tcp)]
    write_pcap("nonstandard_ports.pcap", LINKTYPE_ETHERNET, frames)


def build_file_formats() -> None:
    def eth_register(name: str) -> list[bytes]:
        leg = Leg(call_id=f"reg-{name}@192.0.2.10")
        return udp_flow_packets(leg, register_flow(leg), eth_wrap)

    write_pcap(
        "pcap_big_endian.pcap", LINKTYPE_ETHERNET, eth_register("big-endian"), big_endian=True
    )
    write_pcap(
        "pcap_nanosecond.pcap", LINKTYPE_ETHERNET, eth_register("nanosecond"), nanoseconds=True
    )
    write(
        "gzip_pcap.pcap",
        gzip.compress(pcap_bytes(LINKTYPE_ETHERNET, timed(eth_register("gzip-pcap"))), mtime=0),
    )

    frames = eth_register("gzip-pcapng")
    write(
        "gzip_pcapng.pcapng",
        gzip.compress(
            pcapng_shb()
            + pcapng_idb(LINKTYPE_ETHERNET)
            + b"".join(pcapng_epb(0, frame_time(i), f) for i, f in enumerate(frames)),
            mtime=0,
        ),
    )

    # Interface 0 is Ethernet at microseconds; interface 1 raw IPv4 at nanoseconds (if_tsresol 9).
    leg = Leg(call_id="reg-two-interfaces@192.0.2.10")
    ip_packets = udp_flow_packets(leg, register_flow(leg), lambda ip, ua: ip)
    blocks = [pcapng_shb(), pcapng_idb(LINKTYPE_ETHERNET), pcapng_idb(LINKTYPE_RAW, tsresol=9)]
    for index, ip in enumerate(ip_packets):
        if index % 2 == 0:
            blocks.append(pcapng_epb(0, frame_time(index), ether_ip(ip)))
        else:
            blocks.append(pcapng_epb(1, frame_time(index), ip, per_second=1_000_000_000))
    write("pcapng_two_interfaces.pcapng", b"".join(blocks))

    # EPB, SPB, obsolete PB, an unknown block (skipped, not a frame), EPB.
    frames = eth_register("block-types")
    # 0x0BAD / 0x40000BAD are Custom Blocks; 0x00000F0F is assigned to nothing: readers skip it.
    unknown = _block(0x00000F0F, b"not a packet, skip me...")
    write(
        "pcapng_block_types.pcapng",
        b"".join(
            [
                pcapng_shb(),
                pcapng_idb(LINKTYPE_ETHERNET),
                pcapng_epb(0, frame_time(0), frames[0]),
                pcapng_spb(frames[1]),
                pcapng_obsolete_pb(0, frame_time(2), frames[2]),
                unknown,
                pcapng_epb(0, frame_time(3), frames[3]),
            ]
        ),
    )

    # tcpdump -s 200: the ~900-byte INVITE is cut after 200 bytes of frame.
    leg = Leg(call_id="inv-snaplen@192.0.2.10")
    invite = request(leg, "INVITE", 1, body=sdp_body(leg, candidates=1))
    frames = [ether_ip(ip_udp(UA_IP, PROXY_IP, 5060, 5060, invite))]
    proxy_auth = response(
        leg, 407, "Proxy Authentication Required", "INVITE", 1, challenge="Proxy-Authenticate"
    )
    frames.append(ether_ip(ip_udp(PROXY_IP, UA_IP, 5060, 5060, proxy_auth), from_ua=False))
    write("snaplen_truncated.pcap", pcap_bytes(LINKTYPE_ETHERNET, timed(frames), snaplen=200))

    # The capture was copied while tcpdump was still writing: the last record stops short.
    full = pcap_bytes(LINKTYPE_ETHERNET, timed(eth_register("cut-short")))
    write("last_record_cut.pcap", full[:-150])


def build_hep() -> None:
    """HEPv3 (Homer) from an SBC at 192.0.2.50 to a collector at 192.0.2.60, UDP 9060."""
    leg = Leg(call_id="reg-hep3@192.0.2.10")
    frames = []

    def chunk(kind: int, value: bytes) -> bytes:
        return struct.pack("!HHH", 0, kind, 6 + len(value)) + value

    for index, (from_ua, text) in enumerate(register_flow(leg)):
        src, dst = (UA_IP, PROXY_IP) if from_ua else (PROXY_IP, UA_IP)
        when = frame_time(index)
        chunks = b"".join(
            [
                chunk(1, b"\x02"),  # IPv4
                chunk(2, b"\x11"),  # UDP
                chunk(3, ipaddress.IPv4Address(src).packed),
                chunk(4, ipaddress.IPv4Address(dst).packed),
                chunk(7, struct.pack("!H", 5060)),
                chunk(8, struct.pack("!H", 5060)),
                chunk(9, struct.pack("!I", int(when))),
                chunk(10, struct.pack("!I", round((when - int(when)) * 1_000_000))),
                chunk(11, b"\x01"),  # SIP
                chunk(12, struct.pack("!I", 2001)),
                chunk(15, text),
            ]
        )
        hep = b"HEP3" + struct.pack("!H", 6 + len(chunks)) + chunks
        frames.append(
            ether_ip(ip_udp("192.0.2.50", "192.0.2.60", 40000, 9060, hep, 0x7000 + index))
        )
    write_pcap("hep3.pcap", LINKTYPE_ETHERNET, frames)


def _ws_frame(payload: bytes, mask: bytes | None, opcode: int = 1, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return header + payload
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


def build_websocket() -> None:
    """SIP over WebSocket (RFC 7118) on TCP 8080: upgrade, then one SIP message per WS message."""
    leg = Leg(
        call_id="reg-ws@df7jal23ls0d.invalid",
        ua_host=UA_IP,
        ua_port=51000,
        proxy_port=8080,
        transport="WS",
    )
    conn = TcpConnection(leg)
    upgrade = (
        b"GET / HTTP/1.1\r\nHost: 198.51.100.20:8080\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Origin: https://phone.example.com\r\nSec-WebSocket-Protocol: sip\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    accept = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
    )
    frames = [*conn.handshake(), conn.segment(True, upgrade), conn.segment(False, accept)]
    masks = iter([bytes.fromhex("37fa213d"), bytes.fromhex("9c0e51a2")])
    for from_ua, text in register_flow(leg):
        frames.append(conn.segment(from_ua, _ws_frame(text, next(masks) if from_ua else None)))
    write_pcap("websocket.pcap", LINKTYPE_ETHERNET, frames)


def build_tls() -> None:
    """A SIP-over-TLS connection on 5061: handshake and a ClientHello, nothing readable."""
    leg = Leg(call_id="unused@192.0.2.10", ua_port=51001, proxy_port=5061, transport="TLS")
    conn = TcpConnection(leg)
    sni = b"sip.example.com"
    server_name = struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni
    extensions = struct.pack("!HH", 0, len(server_name)) + server_name
    extensions += struct.pack("!HHB", 0x002B, 3, 2) + bytes([3, 4])  # supported_versions: TLS 1.3
    hello = (
        struct.pack("!H", 0x0303)
        + hashlib.sha256(b"client random").digest()
        + b"\x00"
        + struct.pack("!H", 4)
        + struct.pack("!HH", 0x1301, 0xC02F)
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    record = struct.pack("!BHH", 0x16, 0x0301, len(handshake)) + handshake
    frames = [*conn.handshake(), conn.segment(True, record)]
    write_pcap("tls_client_hello.pcap", LINKTYPE_ETHERNET, frames)


def main() -> int:
    build_link_types()
    build_tunnels()
    build_ipv6_extension_headers()
    build_ip_fragments()
    build_tcp()
    build_file_formats()
    build_hep()
    build_websocket()
    build_tls()
    return 0


if __name__ == "__main__":
    sys.exit(main())
