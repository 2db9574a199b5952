"""Deterministic, structure-aware mutations of capture files (and of SIP text).

``locate_fields`` walks a pcap or pcapng file the way a reader would and lists every integer
field whose corruption a reader must survive: global header (snap length, link type), record /
block lengths, pcapng section lengths and IDB options (``if_tsresol``), EPB lengths, then inside
each packet the IPv4 / IPv6 / UDP / TCP length and offset fields, HEP3 chunk lengths and
WebSocket payload lengths. ``mutate`` picks a mutation from a seeded ``random.Random``, so every
case is reproducible from (capture, seed).
"""

from __future__ import annotations

import random
import re
import struct
from dataclasses import dataclass

_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
                b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
# Link-layer header length before the IP header, for the link types the samples use.
_LINK_HEADER = {0: 4, 1: 14, 101: 0, 108: 4, 113: 16, 228: 0, 229: 0, 276: 20, 12: 0, 14: 0}
_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_WS_OPCODES = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)")


@dataclass(frozen=True, slots=True)
class Field:
    """An integer field at ``offset`` of ``size`` bytes in byte order ``order`` (``<``/``>``)."""

    name: str
    offset: int
    size: int
    order: str


@dataclass(frozen=True, slots=True)
class Layout:
    """What ``locate_fields`` found: integer fields and the (start, end) span of each record."""

    fields: tuple[Field, ...]
    records: tuple[tuple[int, int], ...]
    packet_ends: tuple[int, ...]  # end offset of each packet record / packet block
    text_numbers: tuple[tuple[int, int], ...]  # (start, end) of each Content-Length value


def locate_fields(data: bytes) -> Layout:
    """The mutable fields of a pcap / pcapng capture; an empty layout for anything else."""
    fields: list[Field] = []
    records: list[tuple[int, int]] = []
    numbers: list[tuple[int, int]] = []
    magic = data[:4]
    if magic in _PCAP_MAGICS:
        _locate_pcap(data, _PCAP_MAGICS[magic], fields, records, numbers)
        packet_ends = tuple(end for _start, end in records)
    elif magic == _PCAPNG_SHB:
        _locate_pcapng(data, fields, records, numbers)
        packet_ends = tuple(end for start, end in records
                            if _block_type(data, start) in _PACKET_BLOCKS)
    else:
        packet_ends = ()
    return Layout(tuple(fields), tuple(records), packet_ends, tuple(numbers))


_PACKET_BLOCKS = frozenset({2, 3, 6})


def _block_type(data: bytes, start: int) -> int:
    """A pcapng block's type, read in the byte order of the section it sits in."""
    order = "<"
    pos = 0
    while pos < start:  # sections are few; find the one holding ``start``
        if data[pos : pos + 4] == _PCAPNG_SHB:
            order = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        (total,) = struct.unpack_from(order + "I", data, pos + 4)
        pos += total
    return int(struct.unpack_from(order + "I", data, start)[0])


def _locate_pcap(data: bytes, order: str, fields: list[Field], records: list[tuple[int, int]],
                 numbers: list[tuple[int, int]]) -> None:
    fields += [Field("pcap.version_major", 4, 2, order), Field("pcap.snaplen", 16, 4, order),
               Field("pcap.linktype", 20, 4, order)]
    if len(data) < 24:
        return
    (linktype,) = struct.unpack_from(order + "I", data, 20)
    off = 24
    while off + 16 <= len(data):
        (caplen,) = struct.unpack_from(order + "I", data, off + 8)
        fields += [Field("record.caplen", off + 8, 4, order),
                   Field("record.wirelen", off + 12, 4, order)]
        end = off + 16 + caplen
        if end > len(data):
            break
        records.append((off, end))
        _locate_packet(data, off + 16, end, linktype & 0xFFFF, fields, numbers)
        off = end


def _locate_pcapng(data: bytes, fields: list[Field], records: list[tuple[int, int]],
                   numbers: list[tuple[int, int]]) -> None:
    order = "<"
    linktypes: list[int] = []
    off = 0
    while off + 12 <= len(data):
        if data[off : off + 4] == _PCAPNG_SHB:
            order = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes = []
            fields += [Field("shb.byte_order", off + 8, 4, order),
                       Field("shb.section_length", off + 16, 8, order)]
        block_type, total = struct.unpack_from(order + "II", data, off)
        fields.append(Field("block.total_length", off + 4, 4, order))
        if total < 12 or off + total > len(data):
            break
        fields.append(Field("block.trailing_length", off + total - 4, 4, order))
        records.append((off, off + total))
        body = off + 8
        if block_type == 1 and total >= 20:  # Interface Description Block
            (linktype,) = struct.unpack_from(order + "H", data, body)
            linktypes.append(linktype)
            fields += [Field("idb.linktype", body, 2, order), Field("idb.snaplen", body + 4, 4,
                                                                   order)]
            pos = body + 8
            while pos + 4 <= off + total - 4:
                code, length = struct.unpack_from(order + "HH", data, pos)
                fields.append(Field(f"idb.option{code}.length", pos + 2, 2, order))
                if code == 9 and length >= 1:
                    fields.append(Field("idb.if_tsresol", pos + 4, 1, order))
                if code == 0:
                    break
                pos += 4 + ((length + 3) & ~3)
        elif block_type == 6 and total >= 32:  # Enhanced Packet Block
            iface, _hi, _lo, caplen = struct.unpack_from(order + "IIII", data, body)
            fields += [Field("epb.interface", body, 4, order),
                       Field("epb.caplen", body + 12, 4, order),
                       Field("epb.wirelen", body + 16, 4, order)]
            start = body + 20
            if iface < len(linktypes):
                _locate_packet(data, start, min(start + caplen, off + total - 4),
                               linktypes[iface], fields, numbers)
        elif block_type == 3 and total >= 16:  # Simple Packet Block
            fields.append(Field("spb.wirelen", body, 4, order))
        off += total


def _locate_packet(data: bytes, start: int, end: int, linktype: int, fields: list[Field],
                   numbers: list[tuple[int, int]]) -> None:
    link = _LINK_HEADER.get(linktype)
    if link is None:
        return
    ip = start + link
    if ip >= end:
        return
    version = data[ip] >> 4
    if version == 4 and ip + 20 <= end:
        fields += [Field("ipv4.version_ihl", ip, 1, ">"), Field("ipv4.total_length", ip + 2, 2,
                                                                  ">"),
                   Field("ipv4.flags_offset", ip + 6, 2, ">"), Field("ipv4.protocol", ip + 9, 1,
                                                                     ">")]
        protocol = data[ip + 9]
        transport = ip + (data[ip] & 0x0F) * 4
    elif version == 6 and ip + 40 <= end:
        fields += [Field("ipv6.payload_length", ip + 4, 2, ">"),
                   Field("ipv6.next_header", ip + 6, 1, ">")]
        protocol = data[ip + 6]
        transport = ip + 40
        # Hop-by-hop, routing, fragment and destination options headers (RFC 8200 §4).
        for _ in range(8):
            if protocol not in (0, 43, 44, 60) or transport + 8 > end:
                break
            fields.append(Field(f"ipv6.ext{protocol}.length", transport + 1, 1, ">"))
            size = 8 if protocol == 44 else (data[transport + 1] + 1) * 8
            protocol = data[transport]
            transport += size
    else:
        return
    if protocol == 17 and transport + 8 <= end:
        fields.append(Field("udp.length", transport + 4, 2, ">"))
        payload = transport + 8
    elif protocol == 6 and transport + 20 <= end:
        fields += [Field("tcp.seq", transport + 4, 4, ">"),
                   Field("tcp.data_offset", transport + 12, 1, ">"),
                   Field("tcp.flags", transport + 13, 1, ">")]
        payload = transport + (data[transport + 12] >> 4) * 4
    else:
        return
    if payload >= end:
        return
    _locate_payload(data, payload, end, fields, numbers)


def _locate_payload(data: bytes, start: int, end: int, fields: list[Field],
                    numbers: list[tuple[int, int]]) -> None:
    if data[start : start + 4] == b"HEP3" and start + 6 <= end:
        fields.append(Field("hep3.total_length", start + 4, 2, ">"))
        pos = start + 6
        while pos + 6 <= end:
            (length,) = struct.unpack_from(">H", data, pos + 4)
            fields.append(Field("hep3.chunk_length", pos + 4, 2, ">"))
            if length < 6:
                break
            pos += length
    elif data[start] & 0x0F in _WS_OPCODES and not data[start : start + 1].isalpha():
        short = data[start + 1] & 0x7F if start + 1 < end else 0
        fields.append(Field("ws.length7", start + 1, 1, ">"))
        if short == 126:
            fields.append(Field("ws.length16", start + 2, 2, ">"))
        elif short == 127:
            fields.append(Field("ws.length64", start + 2, 8, ">"))
    numbers.extend(m.span(1) for m in _CONTENT_LENGTH.finditer(data, start, end))


def interesting_values(size: int, current: int) -> list[int]:
    """Boundary values for a ``size``-byte unsigned field, including ones near ``current``."""
    top = (1 << (8 * size)) - 1
    values = {0, 1, top, top - 1, top >> 1, (top >> 1) + 1, current + 1, current - 1,
              current * 2, current + 4, current - 4, current + 64}
    if size >= 2:
        values |= {0x7FFF, 0x8000, 0xFFFF, 1500, 9000}
    if size >= 4:
        values |= {1 << 16, (1 << 20) + 1, 256 << 20, (256 << 20) + 1, 0x7FFFFFFF}
    return sorted(v for v in values if 0 <= v <= top)


def _set_field(data: bytearray, field: Field, value: int) -> None:
    code = field.order + _STRUCT_CODES[field.size]
    if field.offset + field.size <= len(data):
        struct.pack_into(code, data, field.offset, value)


def _get_field(data: bytes, field: Field) -> int:
    if field.offset + field.size > len(data):
        return 0
    return int(struct.unpack_from(field.order + _STRUCT_CODES[field.size], data, field.offset)[0])


MUTATIONS = ("truncate", "bitflip", "field", "field-multi", "int-smash", "content-length",
             "record-dup", "record-drop", "record-swap", "fill", "insert", "splice")


def mutate(data: bytes, rng: random.Random, layout: Layout | None = None,
           kind: str | None = None) -> tuple[str, bytes]:
    """One seeded mutation of a capture: (mutation name, mutated bytes)."""
    if not data:
        return "empty", data
    layout = layout or locate_fields(data)
    kind = kind or rng.choice(MUTATIONS)
    out = bytearray(data)
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data))]
    if kind == "bitflip":
        for _ in range(rng.randint(1, 8)):
            index = rng.randrange(len(out))
            out[index] ^= 1 << rng.randrange(8)
        return kind, bytes(out)
    if kind in ("field", "field-multi") and layout.fields:
        for _ in range(1 if kind == "field" else rng.randint(2, 5)):
            field = rng.choice(layout.fields)
            value = rng.choice(interesting_values(field.size, _get_field(data, field)))
            _set_field(out, field, value)
        return kind, bytes(out)
    if kind == "content-length" and layout.text_numbers:
        start, end = rng.choice(layout.text_numbers)
        lie = rng.choice((b"0", b"1", b"99999999999999999999", b"-1", b"4294967296", b"65536",
                          b"", b"1e9", b"12345678901234567890123456789012345678901234567890"))
        return kind, bytes(out[:start] + lie + out[end:])
    if kind in ("record-dup", "record-drop", "record-swap") and len(layout.records) >= 2:
        first = rng.choice(layout.records)
        second = rng.choice(layout.records)
        chunk = bytes(out[first[0] : first[1]])
        if kind == "record-dup":
            return kind, bytes(out[: second[1]] + chunk * rng.randint(1, 50) + out[second[1] :])
        if kind == "record-drop":
            return kind, bytes(out[: first[0]] + out[first[1] :])
        low, high = sorted((first, second))
        if low[1] <= high[0]:
            other = bytes(out[high[0] : high[1]])
            return kind, bytes(out[: low[0]] + other + out[low[1] : high[0]] + chunk
                               + out[high[1] :])
        return kind, bytes(out)
    if kind == "fill":
        start = rng.randrange(len(out))
        length = rng.randint(1, 64)
        out[start : start + length] = bytes([rng.choice((0, 0xFF, 0x41))]) * length
        return kind, bytes(out[: len(data)])
    if kind == "insert":
        at = rng.randrange(len(out) + 1)
        return kind, bytes(out[:at] + rng.randbytes(rng.randint(1, 32)) + out[at:])
    if kind == "splice":
        start = rng.randrange(len(out))
        length = rng.randint(1, 256)
        at = rng.randrange(len(out))
        return kind, bytes(out[:at] + out[start : start + length] + out[at:])
    # int-smash, and the fallback for structure-aware kinds the layout cannot serve
    size = rng.choice((1, 2, 4, 8))
    if len(out) < size:
        return "int-smash", bytes(out)
    offset = rng.randrange(len(out) - size + 1)
    top = (1 << (8 * size)) - 1
    value = rng.choice((0, 1, top, top >> 1, (top >> 1) + 1, 0x7FFF & top, 0xFFFF & top))
    _set_field(out, Field("random", offset, size, rng.choice("<>")), value)
    return "int-smash", bytes(out)


def stacked(data: bytes, rng: random.Random, layout: Layout | None = None) -> tuple[str, bytes]:
    """One to three mutations applied in turn (names joined with '+')."""
    names: list[str] = []
    out = data
    for depth in range(rng.choice((1, 1, 1, 2, 3))):
        name, out = mutate(out, rng, layout if depth == 0 else None)
        names.append(name)
    return "+".join(names), out


def record_boundaries(data: bytes) -> list[int]:
    """Offsets at which a prefix of the file holds only whole records (header end included)."""
    layout = locate_fields(data)
    first = 24 if data[:4] in _PCAP_MAGICS else 0
    return [first, *(end for _start, end in layout.records)]
