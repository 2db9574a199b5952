"""HEP (Homer Encapsulation Protocol) v1/v2/v3 decoding: a capture agent's copy of a SIP packet.

HEPv3 (sipcapture "HEP3 rev12"): ``b"HEP3"``, a 16-bit total length, then chunks of
(vendor id u16, type u16, length u16 including this 6-byte header, value), all big-endian.
Generic chunks (vendor 0) used here: 1 IP family, 2 IP protocol, 3/4 IPv4 src/dst, 5/6 IPv6
src/dst, 7/8 ports, 9/10 timestamp seconds/microseconds, 11 payload type (1 = SIP),
12 capture id, 15 payload, 16 compressed payload, 17 correlation id.

HEPv1/v2 (the ``struct hep_hdr`` of Kamailio/OpenSIPS/sngrep): version u8, header length u8
(8 + the address block: 16 for IPv4, 40 for IPv6), family u8 (2 / 10), protocol u8, source
and destination port u16 (network order), the addresses, and for v2 a ``struct hep_timehdr``
(seconds u32, microseconds u32, capture id u16, padded by the C compiler to 12 bytes), then
the payload. Senders write the time fields in *host* order, so both byte orders are tried and
the one closest to the carrying frame's time wins.
"""

from __future__ import annotations

import socket
import zlib
from dataclasses import dataclass

from sipauth_analyzer.capture.sipframe import start_line_end, starts_with_known_method

HEP3_MAGIC = b"HEP3"
HEP_PAYLOAD_SIP = 1  # HEPv3 chunk 11 value for SIP

_AF_INET = 2
_AF_INET6_VALUES = (10, 23, 24, 28, 30)  # AF_INET6 differs by OS (Linux 10, BSDs/macOS 24-30)
_V2_TIME_SIZE = 12  # sizeof(struct hep_timehdr) with its 2 bytes of tail padding
_V2_TIME_PACKED = 10  # the same struct when a sender packs it


@dataclass(frozen=True, slots=True)
class HepPacket:
    """One decoded HEP packet. ``time`` is None when the packet carried no timestamp."""

    version: int
    src_ip: str
    dst_ip: str
    sport: int
    dport: int
    ip_proto: int  # 17 UDP, 6 TCP, 132 SCTP (as the agent saw the original packet)
    time: float | None
    payload_type: int  # HEPv3 chunk 11; v1/v2 carry only SIP
    capture_id: int | None
    correlation_id: bytes | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class HepError:
    """Why a packet that announced itself as HEP could not be decoded."""

    detail: str


def looks_like_hep(data: bytes | bytearray) -> bool:
    """True when ``data`` starts like a HEPv3 packet or a plausible HEPv1/v2 header."""
    if data[:4] == HEP3_MAGIC:
        return True
    return (
        len(data) >= 8
        and data[0] in (1, 2)
        and (
            (data[1] == 16 and data[2] == _AF_INET)
            or (data[1] == 40 and data[2] in _AF_INET6_VALUES)
        )
    )


def hep3_length(data: bytes | bytearray, pos: int = 0) -> int:
    """The total length a HEPv3 header at ``pos`` announces (needs 6 bytes)."""
    return int.from_bytes(data[pos + 4 : pos + 6], "big")


def parse_hep(data: bytes, frame_time: float, max_payload: int) -> HepPacket | HepError:
    """Decode one HEP packet; ``max_payload`` bounds a decompressed payload."""
    if data[:4] == HEP3_MAGIC:
        return _parse_hep3(data, max_payload)
    return _parse_hep12(data, frame_time)


def _parse_hep3(data: bytes, max_payload: int) -> HepPacket | HepError:
    if len(data) < 6:
        return HepError(f"HEPv3 packet of {len(data)} bytes is shorter than its 6-byte header")
    total = hep3_length(data)
    if total < 6 or total > len(data):
        return HepError(f"HEPv3 total length {total} does not fit the {len(data)} bytes received")
    family = ip_proto = sport = dport = None
    src4 = dst4 = src6 = dst6 = None
    seconds = micros = capture_id = None
    payload_type = HEP_PAYLOAD_SIP
    payload: bytes | None = None
    correlation: bytes | None = None
    pos = 6
    while pos < total:
        if pos + 6 > total:
            return HepError(f"HEPv3 chunk header at offset {pos} runs past the packet end")
        vendor = int.from_bytes(data[pos : pos + 2], "big")
        kind = int.from_bytes(data[pos + 2 : pos + 4], "big")
        length = int.from_bytes(data[pos + 4 : pos + 6], "big")
        if length < 6 or pos + length > total:
            return HepError(f"HEPv3 chunk type {kind} at offset {pos} has bad length {length}")
        value = data[pos + 6 : pos + length]
        pos += length
        if vendor != 0:
            continue  # vendor-specific chunks carry nothing we need
        size = len(value)
        if kind == 1 and size == 1:
            family = value[0]
        elif kind == 2 and size == 1:
            ip_proto = value[0]
        elif kind == 3 and size == 4:
            src4 = value
        elif kind == 4 and size == 4:
            dst4 = value
        elif kind == 5 and size == 16:
            src6 = value
        elif kind == 6 and size == 16:
            dst6 = value
        elif kind == 7 and size == 2:
            sport = int.from_bytes(value, "big")
        elif kind == 8 and size == 2:
            dport = int.from_bytes(value, "big")
        elif kind == 9 and size == 4:
            seconds = int.from_bytes(value, "big")
        elif kind == 10 and size == 4:
            micros = int.from_bytes(value, "big")
        elif kind == 11 and size == 1:
            payload_type = value[0]
        elif kind == 12 and size in (2, 4):
            capture_id = int.from_bytes(value, "big")
        elif kind == 15:
            payload = value
        elif kind == 16:
            inflated = _inflate(value, max_payload)
            if inflated is None:
                return HepError("HEPv3 compressed payload (chunk 16) could not be inflated")
            payload = inflated
        elif kind == 17:
            correlation = value
        elif kind in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12):
            return HepError(f"HEPv3 chunk type {kind} has unexpected length {size}")
    if payload is None:
        return HepError("HEPv3 packet has no payload chunk (15 or 16)")
    if sport is None or dport is None:
        return HepError("HEPv3 packet lacks source/destination port chunks (7, 8)")
    if src4 is not None and dst4 is not None and family in (None, _AF_INET):
        src_ip = socket.inet_ntop(socket.AF_INET, src4)
        dst_ip = socket.inet_ntop(socket.AF_INET, dst4)
    elif src6 is not None and dst6 is not None:
        src_ip = socket.inet_ntop(socket.AF_INET6, src6)
        dst_ip = socket.inet_ntop(socket.AF_INET6, dst6)
    else:
        return HepError("HEPv3 packet lacks source/destination address chunks (3/4 or 5/6)")
    time = None
    if seconds is not None:
        time = seconds + (micros or 0) / 1_000_000
    return HepPacket(
        version=3,
        src_ip=src_ip,
        dst_ip=dst_ip,
        sport=sport,
        dport=dport,
        ip_proto=17 if ip_proto is None else ip_proto,
        time=time,
        payload_type=payload_type,
        capture_id=capture_id,
        correlation_id=correlation,
        payload=payload,
    )


def _inflate(value: bytes, max_payload: int) -> bytes | None:
    # wbits 47 = auto-detect zlib or gzip framing; max_length bounds a decompression bomb.
    try:
        inflater = zlib.decompressobj(47)
        out = inflater.decompress(value, max_payload)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:
        return None
    return out


def _parse_hep12(data: bytes, frame_time: float) -> HepPacket | HepError:
    version = data[0]
    header_len = data[1]
    family = data[2]
    if family == _AF_INET:
        address_size, af = 4, socket.AF_INET
    elif family in _AF_INET6_VALUES:
        address_size, af = 16, socket.AF_INET6
    else:
        return HepError(f"HEPv{version} packet has unknown address family {family}")
    if header_len != 8 + 2 * address_size:
        return HepError(f"HEPv{version} header length {header_len} does not match family {family}")
    if len(data) < header_len:
        return HepError(f"HEPv{version} packet of {len(data)} bytes is shorter than its header")
    ip_proto = data[3]
    sport = int.from_bytes(data[4:6], "big")
    dport = int.from_bytes(data[6:8], "big")
    src_ip = socket.inet_ntop(af, data[8 : 8 + address_size])
    dst_ip = socket.inet_ntop(af, data[8 + address_size : header_len])
    time: float | None = None
    capture_id: int | None = None
    start = header_len
    if version == 2:
        if len(data) < header_len + _V2_TIME_PACKED:
            return HepError("HEPv2 packet is too short for its time header")
        time = _v2_time(data[header_len : header_len + 8], frame_time)
        capture_id = int.from_bytes(data[header_len + 8 : header_len + 10], "little")
        start = header_len + _V2_TIME_SIZE
        # A sender that packs struct hep_timehdr leaves out the 2 padding bytes: take the
        # offset at which the payload reads as a SIP start line.
        packed = header_len + _V2_TIME_PACKED
        if not _sip_at(data, start) and _sip_at(data, packed):
            start = packed
    return HepPacket(
        version=version,
        src_ip=src_ip,
        dst_ip=dst_ip,
        sport=sport,
        dport=dport,
        ip_proto=ip_proto,
        time=time,
        payload_type=HEP_PAYLOAD_SIP,
        capture_id=capture_id,
        correlation_id=None,
        payload=data[start:],
    )


def _sip_at(data: bytes, pos: int) -> bool:
    # A known method, not just any token: "GISTER sip:x SIP/2.0" is a valid-looking line.
    return start_line_end(data, pos) >= 0 and (
        data.startswith(b"SIP/2.0 ", pos) or starts_with_known_method(data, pos)
    )


def _v2_time(raw: bytes, frame_time: float) -> float | None:
    best: float | None = None
    for order in ("little", "big"):
        seconds = int.from_bytes(raw[:4], order)
        micros = int.from_bytes(raw[4:8], order)
        if micros >= 1_000_000:
            continue
        candidate = seconds + micros / 1_000_000
        if best is None or abs(candidate - frame_time) < abs(best - frame_time):
            best = candidate
    return best
