"""Builds hostile captures with raw ``struct`` packing: fast enough for 100k-packet files.

No checksums are computed (UDP checksum 0 means "none", RFC 768; the reader does not verify
IPv4 or TCP checksums, as Wireshark does not by default). Addresses are documentation ranges
(RFC 5737): 192.0.2.0/24 for user agents, 198.51.100.0/24 for servers; a counter is spread over
the last octets and the source port so that each stream or datagram key is distinct.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
PCAP_MAGIC = 0xA1B2C3D4
_RECORD = struct.Struct("<IIII")
_ETHERNET_IPV4 = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
TCP_SYN = 0x02
TCP_ACK = 0x10
TCP_PSH_ACK = 0x18


def pcap_header(*, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262_144) -> bytes:
    """The classic pcap global header, little-endian, microsecond timestamps."""
    return struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype)


def record(time: float, data: bytes, *, wire_length: int | None = None) -> bytes:
    """One pcap record: header (captured length = len(data)) and data."""
    seconds = int(time)
    micros = round((time - seconds) * 1e6)
    wire = len(data) if wire_length is None else wire_length
    return _RECORD.pack(seconds, micros, len(data), wire) + data


def address(network: str, index: int) -> bytes:
    """``network`` (three octets, e.g. "192.0.2") plus a last octet derived from ``index``."""
    first, second, third = (int(part) for part in network.split("."))
    return bytes((first, second, third, 1 + index % 250))


def ipv4(
    src: bytes,
    dst: bytes,
    protocol: int,
    payload: bytes,
    *,
    ident: int = 0,
    more_fragments: bool = False,
    fragment_offset: int = 0,
    total_length: int | None = None,
) -> bytes:
    """An IPv4 header (no options) and its payload; ``fragment_offset`` in bytes."""
    flags = (0x2000 if more_fragments else 0) | (fragment_offset // 8)
    length = 20 + len(payload) if total_length is None else total_length
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length & 0xFFFF, ident & 0xFFFF, flags,
                         64, protocol, 0, src, dst)
    return header + payload


def udp(sport: int, dport: int, payload: bytes, *, length: int | None = None) -> bytes:
    size = 8 + len(payload) if length is None else length
    return struct.pack("!HHHH", sport, dport, size & 0xFFFF, 0) + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes, *, flags: int = TCP_PSH_ACK,
        ack: int = 1) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, 0x50, flags, 65535,
                       0, 0) + payload


def ethernet(ip_packet: bytes) -> bytes:
    return _ETHERNET_IPV4 + ip_packet


def sip_register(call_id: str, *, cseq: int = 1, extra_headers: Iterable[str] = (),
                 content_length: int | None = None, body: bytes = b"") -> bytes:
    """A small REGISTER; ``content_length`` may lie about ``body``."""
    length = len(body) if content_length is None else content_length
    lines = [
        "REGISTER sip:sip.example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + call_id,
        "From: <sip:alice@sip.example.com>;tag=" + call_id[:8],
        "To: <sip:alice@sip.example.com>",
        "Call-ID: " + call_id,
        f"CSeq: {cseq} REGISTER",
        *extra_headers,
        f"Content-Length: {length}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + body


class PcapWriter:
    """Streams records to a file so that million-packet captures never sit in memory."""

    def __init__(self, stream: BinaryIO, *, snaplen: int = 262_144) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.records = 0
        stream.write(pcap_header(snaplen=snaplen))

    def add(self, time: float, frame: bytes) -> None:
        self._pending.append(record(time, frame))
        self._pending_bytes += len(frame) + 16
        self.records += 1
        if self._pending_bytes >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        self._stream.write(b"".join(self._pending))
        self._pending.clear()
        self._pending_bytes = 0


def write_capture(path: Path, frames: Iterable[bytes], *, start: float = 1_700_000_000.0,
                  step: float = 0.0001) -> int:
    """Write Ethernet ``frames`` ``step`` seconds apart; returns how many were written."""
    with path.open("wb") as stream:
        writer = PcapWriter(stream)
        for index, frame in enumerate(frames):
            writer.add(start + index * step, frame)
        writer.flush()
        return writer.records
