"""The general packet decoder: link layer → IP (+defragmentation, tunnels) → transport demux.

This is the complete, slower path. :mod:`sipauth_analyzer.capture.reader` drops the common case
(untunnelled IPv4/UDP whose payload starts with a byte ≥ 0x80, i.e. RTP) before it gets here.

Link layers: Ethernet (802.1Q / 802.1ad / QinQ tags, PPPoE session, MPLS), Linux SLL and SLL2,
raw IP, BSD null / loopback, PPP. Tunnels: GRE (v0 with optional checksum / key / sequence, v1
"enhanced GRE" as PPTP uses, RFC 2637 §4.1) carrying IP, Ethernet (0x6558), PPP and ERSPAN
types I–III; IP-in-IP (4, 41); VXLAN (UDP 4789, RFC 7348); GTP-U (UDP 2152, 3GPP TS 29.281).
Tunnel nesting is bounded so hostile input cannot recurse without end.

ICMP / ICMPv6 error messages quote the offending IP header and the first 8 bytes of its
transport header (RFC 792, RFC 4443 §2.4): they are never decoded as if they carried SIP.
"""

from __future__ import annotations

import socket
import struct
from typing import Protocol

from sipauth_analyzer.capture.ipfrag import Datagram, IpReassembler
from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_IP_REASSEMBLED,
    FLAG_TRUNCATED,
    CapturedMessage,
    CaptureOptions,
)
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink

# Loop guards against crafted packets, not tunables (so not in CaptureOptions): real traffic
# carries a handful of extension headers (RFC 8200 §4.1 lists the order of at most ~8) and
# one to three VLAN tags or MPLS labels.
#: IPv6 extension headers walked before giving up on a packet.
MAX_IPV6_EXTENSION_HEADERS = 16
#: 802.1Q-style tags or MPLS labels skipped before giving up on a frame.
MAX_STACKED_TAGS = 16

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW_OPENBSD = 12
LINKTYPE_RAW_BSDOS = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

#: tcpdump's LINKTYPE_ names (https://www.tcpdump.org/linktypes.html), for stats and notes.
LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL", 1: "ETHERNET", 6: "IEEE802_5", 8: "SLIP", 9: "PPP", 10: "FDDI", 12: "RAW",
    14: "RAW", 50: "PPP_HDLC", 51: "PPP_ETHER", 101: "RAW", 104: "C_HDLC",
    105: "IEEE802_11", 108: "LOOP", 113: "LINUX_SLL", 119: "PRISM_HEADER",
    127: "IEEE802_11_RADIOTAP", 147: "USER0", 187: "BLUETOOTH_HCI_H4", 192: "PPI",
    195: "IEEE802_15_4_WITHFCS", 201: "BLUETOOTH_HCI_H4_WITH_PHDR", 220: "USB_LINUX_MMAPPED",
    228: "IPV4", 229: "IPV6", 249: "USBPCAP", 252: "WIRESHARK_UPPER_PDU", 253: "NETLINK",
    263: "NFLOG", 276: "LINUX_SLL2",
}

SUPPORTED_LINKTYPES = frozenset({
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSDOS,
    LINKTYPE_PPP_HDLC, LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
    LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
})

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_PPPOE_SESSION = 0x8864
ETHERTYPE_TEB = 0x6558  # transparent Ethernet bridging (RFC 1701)
ETHERTYPE_PPP = 0x880B
ETHERTYPE_ERSPAN_2 = 0x88BE
ETHERTYPE_ERSPAN_3 = 0x22EB
ETHERTYPE_MPLS = frozenset({0x8847, 0x8848})
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100})

PORT_VXLAN = 4789  # RFC 7348 §5
PORT_GTP_U = 2152  # 3GPP TS 29.281 §4.4.2
GTP_G_PDU = 0xFF

_IPV6_SKIPPABLE = frozenset({0, 43, 60, 135, 139, 140, 253, 254})

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_ipv4_header = struct.Struct("!BxHHHxB2x4s4s").unpack_from
_ipv6_header = struct.Struct("!4xHB1x16s16s").unpack_from
_udp_header = struct.Struct("!HHH").unpack_from
_tcp_header = struct.Struct("!HHI4xBB").unpack_from
_sctp_ports = struct.Struct("!HH").unpack_from
_ntoa = socket.inet_ntoa


def _ntop6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype)
    return name if name else f"LINKTYPE_{linktype}"


# The flags a reassembled datagram's messages carry, by (reassembled, incomplete, truncated):
# eight shared sets instead of one per datagram (each message keeps its flags to the report).
_DATAGRAM_FLAGS: dict[tuple[bool, bool, bool], frozenset[str]] = {
    (reassembled, incomplete, truncated): frozenset(
        flag
        for flag, present in (
            (FLAG_IP_REASSEMBLED, reassembled),
            (FLAG_INCOMPLETE, incomplete),
            (FLAG_TRUNCATED, truncated),
        )
        if present
    )
    for reassembled in (False, True)
    for incomplete in (False, True)
    for truncated in (False, True)
}

class Demux(Protocol):
    """What the decoder needs from the transport layer (``capture.transport.TransportDemux``)."""

    def udp(  # noqa: PLR0917 - the transport layer's fixed interface
            self, frame: int, time: float, frames: tuple[int, ...], src_ip: str, dst_ip: str,
            sport: int, dport: int, payload: bytes, wire_size: int, ip_fragments: int,
            flags: frozenset[str]) -> list[CapturedMessage]: ...

    def tcp(  # noqa: PLR0917 - the transport layer's fixed interface
            self, frame: int, time: float, src_ip: str, dst_ip: str, sport: int, dport: int,
            seq: int, tcp_flags: int, payload: bytes, truncated: bool) -> list[CapturedMessage]:
        ...

    def sctp(  # noqa: PLR0917 - the transport layer's fixed interface
            self, frame: int, time: float, src_ip: str, dst_ip: str, sport: int, dport: int,
             payload: bytes) -> list[CapturedMessage]: ...

    def expire(self, now: float) -> list[CapturedMessage]: ...

    def finish(self) -> list[CapturedMessage]: ...


_NO_FLAGS: frozenset[str] = frozenset()
_TRUNCATED = frozenset({FLAG_TRUNCATED})


class PacketDecoder:
    """Decodes the packets of one capture file and feeds its transport demux.

    ``packet`` returns the messages that became complete (from this packet, or from state that
    expired by capture time before it); ``finish`` flushes everything at the end of the file.
    """

    def __init__(self, options: CaptureOptions, notes: NoteSink, file: str, demux: Demux,
                 *, tick_interval: float = 1.0) -> None:
        self._options = options
        self._notes = notes
        self._file = file
        self._demux = demux
        self._reassembler = IpReassembler(options, notes, file)
        self._max_depth = options.max_tunnel_depth
        self._tick_interval = tick_interval
        self._last_tick: float | None = None
        self._unsupported: dict[int, list[int]] = {}  # linktype -> [packets, first frame]
        self._out: list[CapturedMessage] = []
        # Per-datagram context: differs from the packet's own when reassembled from fragments.
        self._frame = 0
        self._time = 0.0
        self._frames: tuple[int, ...] = ()
        self._ip_fragments = 0
        self._flags: frozenset[str] = _NO_FLAGS
        self._incomplete = False

    @property
    def open_reassemblies(self) -> int:
        return len(self._reassembler)

    # -- entry points -----------------------------------------------------------------------

    def packet(self, frame: int, time: float, linktype: int, data: bytes,
               wire_length: int) -> list[CapturedMessage]:
        out: list[CapturedMessage] = []
        self._out = out
        last = self._last_tick
        if last is None or time - last >= self._tick_interval or time < last:
            self._tick(time)
        self._frame = frame
        self._time = time
        self._frames = (frame,)
        self._ip_fragments = 0
        self._flags = _NO_FLAGS
        self._incomplete = False
        try:
            if linktype == LINKTYPE_ETHERNET:
                self._ethernet(data, 0, 0)
            elif linktype == LINKTYPE_LINUX_SLL:
                if len(data) >= 16:
                    self._ethertype(_u16(data, 14)[0], data, 16, 0)
            elif linktype == LINKTYPE_LINUX_SLL2:
                if len(data) >= 20:
                    self._ethertype(_u16(data, 0)[0], data, 20, 0)
            elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSDOS):
                self._ip(data, 0, 0)
            elif linktype == LINKTYPE_IPV4:
                self._ipv4(data, 0, 0)
            elif linktype == LINKTYPE_IPV6:
                self._ipv6(data, 0, 0)
            elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
                self._null(data)
            elif linktype in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC):
                self._ppp(data, 0, 0)
            else:
                seen = self._unsupported.get(linktype)
                if seen is None:
                    self._unsupported[linktype] = [1, frame]
                else:
                    seen[0] += 1
        except (struct.error, IndexError, ValueError):
            # Lengths are checked before every read; this is a last line of defence so that
            # one malformed packet can never stop the run.
            self._notes.add(Note(kind="packet-malformed",
                                 detail=f"frame {frame}: could not be decoded; skipped (noted "
                                 "once per file)",
                                 frames=(frame,), file=self._file),
                            once=f"packet-malformed:{self._file}")
        return out

    def finish(self) -> list[CapturedMessage]:
        out: list[CapturedMessage] = []
        self._out = out
        for datagram in self._reassembler.finish():
            self._datagram(datagram, 0)
        out.extend(self._demux.finish())
        for linktype, (count, first) in sorted(self._unsupported.items()):
            self._notes.add(Note(
                kind="unsupported-linktype",
                detail=f"{self._file}: link type {linktype} ({linktype_name(linktype)}) is not "
                f"supported; its {count} packet(s) were skipped",
                level=NoteLevel.WARNING, frames=(first,), file=self._file),
                once=f"unsupported-linktype:{self._file}:{linktype}")
        return out

    def _tick(self, now: float) -> None:
        self._last_tick = now
        for datagram in self._reassembler.expire(now):
            self._datagram(datagram, 0)
        self._out.extend(self._demux.expire(now))

    # -- link layers ------------------------------------------------------------------------

    def _ethernet(self, data: bytes, off: int, depth: int) -> None:
        if len(data) - off < 14:
            return
        self._ethertype(_u16(data, off + 12)[0], data, off + 14, depth)

    def _ethertype(self, ethertype: int, data: bytes, off: int, depth: int) -> None:
        tags = 0
        while ethertype in VLAN_ETHERTYPES:
            if len(data) - off < 4 or tags >= MAX_STACKED_TAGS:
                return
            ethertype = _u16(data, off + 2)[0]
            off += 4
            tags += 1
        if ethertype == ETHERTYPE_IPV4:
            self._ipv4(data, off, depth)
        elif ethertype == ETHERTYPE_IPV6:
            self._ipv6(data, off, depth)
        elif ethertype == ETHERTYPE_PPPOE_SESSION:
            # RFC 2516 §4: 6-byte PPPoE header, then the PPP protocol field.
            if len(data) - off >= 8:
                self._ppp_protocol(_u16(data, off + 6)[0], data, off + 8, depth)
        elif ethertype in ETHERTYPE_MPLS:
            # RFC 3032: skip labels to bottom-of-stack, then guess IP by its version nibble.
            for _ in range(MAX_STACKED_TAGS):
                if len(data) - off < 4:
                    return
                bottom = data[off + 2] & 0x01
                off += 4
                if bottom:
                    self._ip(data, off, depth)
                    return

    def _null(self, data: bytes) -> None:
        if len(data) < 4:
            return
        # The AF value is in the capturing host's byte order (LOOP: network order), so accept
        # either. AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD)
        # or 30 (macOS).
        family = int.from_bytes(data[:4], "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:4], "big")
        if family == 2:
            self._ipv4(data, 4, 0)
        elif family in (24, 28, 30):
            self._ipv6(data, 4, 0)

    def _ppp(self, data: bytes, off: int, depth: int) -> None:
        if len(data) - off >= 2 and data[off] == 0xFF and data[off + 1] == 0x03:
            off += 2  # HDLC address and control (RFC 1662 §3.1)
        if len(data) - off < 1:
            return
        if data[off] & 0x01:  # protocol field compression (RFC 1661 §6.5)
            self._ppp_protocol(data[off], data, off + 1, depth)
        elif len(data) - off >= 2:
            self._ppp_protocol(_u16(data, off)[0], data, off + 2, depth)

    def _ppp_protocol(self, protocol: int, data: bytes, off: int, depth: int) -> None:
        if protocol == 0x0021:
            self._ipv4(data, off, depth)
        elif protocol == 0x0057:
            self._ipv6(data, off, depth)

    # -- IP ---------------------------------------------------------------------------------

    def _ip(self, data: bytes, off: int, depth: int) -> None:
        if len(data) <= off:
            return
        version = data[off] >> 4
        if version == 4:
            self._ipv4(data, off, depth)
        elif version == 6:
            self._ipv6(data, off, depth)

    def _ipv4(self, data: bytes, off: int, depth: int) -> None:
        size = len(data)
        if size - off < 20:
            return
        version_ihl, total, ident, fragment, proto, src_raw, dst_raw = _ipv4_header(data, off)
        if version_ihl >> 4 != 4:
            return
        header_len = (version_ihl & 0x0F) * 4
        if header_len < 20 or size - off < header_len:
            return
        truncated = False
        if total == 0:  # TCP segmentation offload captures leave the length 0
            end = size
        elif total < header_len:
            return
        elif off + total > size:
            end = size
            truncated = True
        else:
            end = off + total  # anything after is Ethernet padding
        src = _ntoa(src_raw)
        dst = _ntoa(dst_raw)
        start = off + header_len
        frag_offset = (fragment & 0x1FFF) * 8
        more = fragment & 0x2000
        if frag_offset or more:
            for datagram in self._reassembler.add(
                version=4, src=src, dst=dst, ident=ident, proto=proto, offset=frag_offset,
                more_fragments=bool(more), payload=data[start:end], frame=self._frame,
                time=self._time, truncated=truncated,
            ):
                self._datagram(datagram, depth)
            return
        self._transport(proto, src, dst, data, start, end, depth, truncated)

    def _ipv6(self, data: bytes, off: int, depth: int) -> None:
        size = len(data)
        if size - off < 40 or data[off] >> 4 != 6:
            return
        payload_len, next_header, src_raw, dst_raw = _ipv6_header(data, off)
        start = off + 40
        truncated = False
        if payload_len == 0:  # jumbogram (RFC 2675) or offloaded: take what was captured
            end = size
        else:
            end = start + payload_len
            if end > size:
                end = size
                truncated = True
        self._ipv6_chain(next_header, _ntop6(src_raw), _ntop6(dst_raw), data, start, end, depth,
                         fragments_allowed=True, truncated=truncated)

    def _ipv6_chain(  # noqa: PLR0917 - per-packet path: positional is cheapest
            self, next_header: int, src: str, dst: str, data: bytes, off: int,
                    end: int, depth: int, *, fragments_allowed: bool,
                    truncated: bool = False) -> None:
        """Walk IPv6 extension headers (RFC 8200 §4) to the upper-layer header."""
        for _ in range(MAX_IPV6_EXTENSION_HEADERS):
            if next_header in _IPV6_SKIPPABLE:
                if end - off < 8:
                    return
                next_header, off = data[off], off + (data[off + 1] + 1) * 8
            elif next_header == 51:  # AH: length in 4-octet units minus 2 (RFC 4302 §2.2)
                if end - off < 8:
                    return
                next_header, off = data[off], off + (data[off + 1] + 2) * 4
            elif next_header == 44:
                if end - off < 8 or not fragments_allowed:
                    return
                inner = data[off]
                offset_flags = _u16(data, off + 2)[0]
                ident = _u32(data, off + 4)[0]
                off += 8
                frag_offset = offset_flags & 0xFFF8
                more = offset_flags & 0x0001
                if not frag_offset and not more:
                    next_header = inner  # atomic fragment (RFC 6946): not really fragmented
                    continue
                for datagram in self._reassembler.add(
                    version=6, src=src, dst=dst, ident=ident, proto=inner, offset=frag_offset,
                    more_fragments=bool(more), payload=data[off:end], frame=self._frame,
                    time=self._time, truncated=truncated,
                ):
                    self._datagram(datagram, depth)
                return
            else:
                break
        else:
            return
        if off > end:
            return
        # ESP (50) is encrypted and 59 means "no next header": _transport ignores both.
        self._transport(next_header, src, dst, data, off, end, depth, truncated)

    def _datagram(self, datagram: Datagram, depth: int) -> None:
        """Decode a reassembled (or abandoned, partial) datagram in its own frame context."""
        if not datagram.payload:
            return
        saved = (self._frame, self._time, self._frames, self._ip_fragments, self._flags,
                 self._incomplete)
        self._frame = datagram.frame
        self._time = datagram.time
        self._frames = datagram.frames
        # An abandoned datagram was fragmented even when one fragment arrived: at least one
        # more was sent and lost (the firewall-drops-fragments case), so count it.
        self._ip_fragments = len(datagram.frames) + (0 if datagram.complete else 1)
        self._flags = _DATAGRAM_FLAGS[
            (len(datagram.frames) > 1, not datagram.complete, bool(datagram.truncated))
        ]
        self._incomplete = not datagram.complete
        try:
            payload = datagram.payload
            if datagram.version == 4:
                self._transport(datagram.proto, datagram.src, datagram.dst, payload, 0,
                                len(payload), depth, datagram.truncated)
            else:
                self._ipv6_chain(datagram.proto, datagram.src, datagram.dst, payload, 0,
                                 len(payload), depth, fragments_allowed=False,
                                 truncated=datagram.truncated)
        finally:
            (self._frame, self._time, self._frames, self._ip_fragments, self._flags,
             self._incomplete) = saved

    # -- transport and tunnels ----------------------------------------------------------------

    def _tunnel_allowed(self, depth: int) -> bool:
        if depth < self._max_depth:
            return True
        self._notes.add(Note(
            kind="tunnel-too-deep",
            detail=f"{self._file}: frame {self._frame} nests more than "
            f"max_tunnel_depth={self._max_depth} tunnels; the innermost ones were not decoded",
            frames=(self._frame,), file=self._file), once=f"tunnel-too-deep:{self._file}")
        return False

    def _transport(  # noqa: PLR0917 - per-packet path: positional is cheapest
            self, proto: int, src: str, dst: str, data: bytes, off: int, end: int,
                   depth: int, truncated: bool = False) -> None:
        """``truncated``: the IP packet claims more bytes than were captured (snap length)."""
        if proto == 17:
            self._udp(src, dst, data, off, end, depth)
            return
        if self._incomplete:
            return  # only a partial UDP datagram is worth showing (e.g. a dropped 2nd fragment)
        if proto == 6:
            self._tcp(src, dst, data, off, end, truncated)
        elif proto == 132:
            if end - off >= 12:
                sport, dport = _sctp_ports(data, off)
                self._out.extend(self._demux.sctp(self._frame, self._time, src, dst, sport,
                                                  dport, data[off + 12 : end]))
        elif proto == 4:
            if self._tunnel_allowed(depth):
                self._ipv4(data[off:end], 0, depth + 1)
        elif proto == 41:
            if self._tunnel_allowed(depth):
                self._ipv6(data[off:end], 0, depth + 1)
        elif proto == 47 and self._tunnel_allowed(depth):
            self._gre(data[off:end], depth + 1)
        # ICMP (1) / ICMPv6 (58) errors quote other packets: deliberately ignored.

    def _tcp(  # noqa: PLR0917 - per-packet path: positional is cheapest
            self, src: str, dst: str, data: bytes, off: int, end: int, truncated: bool
    ) -> None:
        if end - off < 20:
            return
        sport, dport, seq, offset_byte, flag_byte = _tcp_header(data, off)
        header_len = (offset_byte >> 4) * 4
        if header_len < 20:
            return
        tcp_flags = ((offset_byte & 0x01) << 8) | flag_byte
        start = min(off + header_len, end)
        self._out.extend(self._demux.tcp(self._frame, self._time, src, dst, sport, dport, seq,
                                         tcp_flags, data[start:end], truncated))

    def _udp(  # noqa: PLR0917 - per-packet path: positional is cheapest
            self, src: str, dst: str, data: bytes, off: int, end: int, depth: int) -> None:
        if end - off < 8:
            return
        sport, dport, length = _udp_header(data, off)
        if length < 8:
            return
        start = off + 8
        stop = off + length
        truncated = stop > end
        if truncated:
            stop = end
            # A partial datagram is short because fragments are missing, not because of the
            # snap length: FLAG_INCOMPLETE says so already.
            truncated = not self._incomplete
        if start < stop and data[start] >= 0x80:
            return  # RTP / RTCP / SRTP (version 2) or other binary: never a SIP start line
        if not self._incomplete:
            if PORT_VXLAN in (dport, sport) and self._vxlan(data, start, stop, depth):
                return
            if PORT_GTP_U in (dport, sport) and self._gtp_u(data, start, stop, depth):
                return
        flags = self._flags
        if truncated:
            flags = flags | _TRUNCATED
        self._out.extend(self._demux.udp(self._frame, self._time, self._frames, src, dst, sport,
                                         dport, data[start:stop], length - 8,
                                         self._ip_fragments, flags))

    def _vxlan(self, data: bytes, off: int, end: int, depth: int) -> bool:
        # RFC 7348 §5: flags byte with the I bit, 24-bit VNI, then an inner Ethernet frame.
        if end - off < 8 + 14 or not data[off] & 0x08:
            return False
        if self._tunnel_allowed(depth):
            self._ethernet(data[off + 8 : end], 0, depth + 1)
        return True

    def _gtp_u(self, data: bytes, off: int, end: int, depth: int) -> bool:
        # 3GPP TS 29.281 §5.1: version 1, PT=1; E/S/PN add 4 bytes; extension headers chain.
        if end - off < 8:
            return False
        flags = data[off]
        if flags >> 5 != 1 or not flags & 0x10:
            return False
        if data[off + 1] != GTP_G_PDU:
            return True  # echo, error indication, end marker: signalling, no user data
        stop = min(end, off + 8 + _u16(data, off + 2)[0])
        pos = off + 8
        if flags & 0x07:
            if stop - pos < 4:
                return True
            next_extension = data[pos + 3]
            pos += 4
            for _ in range(MAX_STACKED_TAGS):
                if not next_extension:
                    break
                if pos >= stop:
                    return True
                ext_len = data[pos] * 4
                if ext_len == 0 or pos + ext_len > stop:
                    return True
                next_extension = data[pos + ext_len - 1]
                pos += ext_len
            else:
                return True
        if self._tunnel_allowed(depth):
            self._ip(data[pos:stop], 0, depth + 1)
        return True

    def _gre(self, data: bytes, depth: int) -> None:
        size = len(data)
        if size < 4:
            return
        flags = _u16(data, 0)[0]
        protocol = _u16(data, 2)[0]
        version = flags & 0x07
        off = 4
        if version == 0:
            if flags & 0x4000:
                return  # RFC 1701 source routing: obsolete, not followed
            if flags & 0x8000:
                off += 4  # checksum + reserved (RFC 2784 §2)
            if flags & 0x2000:
                off += 4  # key (RFC 2890 §2.1)
            if flags & 0x1000:
                off += 4  # sequence number (RFC 2890 §2.2)
        elif version == 1:
            off += 4  # enhanced GRE: payload length + call ID always present (RFC 2637 §4.1)
            if flags & 0x1000:
                off += 4
            if flags & 0x0080:
                off += 4  # acknowledgment number
        else:
            return
        if off > size:
            return
        if protocol in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            self._ip(data, off, depth)
        elif protocol == ETHERTYPE_TEB:
            self._ethernet(data, off, depth)
        elif protocol == ETHERTYPE_PPP:
            self._ppp(data, off, depth)
        elif protocol == ETHERTYPE_ERSPAN_2:
            # ERSPAN type II has an 8-byte header and GRE sequence numbers; type I has neither.
            if flags & 0x1000:
                off += 8
            self._ethernet(data, off, depth)
        elif protocol == ETHERTYPE_ERSPAN_3:
            # Type III: 12-byte header, plus an 8-byte platform subheader when O is set.
            if size - off < 12:
                return
            off += 20 if data[off + 11] & 0x01 else 12
            self._ethernet(data, off, depth)
