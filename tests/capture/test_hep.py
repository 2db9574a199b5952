"""HEP v2/v3 unwrapping, over UDP and TCP, with packets built here (no sample capture exists)."""

from __future__ import annotations

import socket
import struct
import zlib

from sipauth_analyzer.capture.hep import HepError, HepPacket, looks_like_hep, parse_hep
from sipauth_analyzer.capture.model import (
    FLAG_HEP,
    FLAG_TCP_REASSEMBLED,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.transport import TransportDemux
from sipauth_analyzer.primitives import Endpoint, NoteSink, Transport
from tests.capture.test_tcp import REGISTER, Wire


def chunk(kind: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, kind, 6 + len(value)) + value


def hep3(payload: bytes = REGISTER, *, ipv6: bool = False, proto: int = 17,
         payload_type: int = 1, compressed: bool = False, extra: bytes = b"") -> bytes:
    if ipv6:
        family = 10
        addresses = chunk(5, socket.inet_pton(socket.AF_INET6, "2001:db8::1")) + chunk(
            6, socket.inet_pton(socket.AF_INET6, "2001:db8::2"))
    else:
        family = 2
        addresses = chunk(3, socket.inet_aton("192.0.2.1"))
        addresses += chunk(4, socket.inet_aton("192.0.2.2"))
    body = (
        chunk(1, bytes([family])) + chunk(2, bytes([proto])) + addresses
        + chunk(7, struct.pack("!H", 5070)) + chunk(8, struct.pack("!H", 5060))
        + chunk(9, struct.pack("!I", 1_700_000_000)) + chunk(10, struct.pack("!I", 250_000))
        + chunk(11, bytes([payload_type])) + chunk(12, struct.pack("!I", 2001))
        + chunk(99, b"vendor", vendor=0x1234) + extra
        + (chunk(16, zlib.compress(payload)) if compressed else chunk(15, payload))
        + chunk(17, b"call-id@host")
    )
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def hep2(
    payload: bytes = REGISTER, *, little_endian_time: bool = True, padded: bool = True
) -> bytes:
    header = struct.pack("!BBBBHH", 2, 16, 2, 17, 5070, 5060)
    addresses = socket.inet_aton("192.0.2.1") + socket.inet_aton("192.0.2.2")
    order = "<" if little_endian_time else ">"
    time = struct.pack(order + "II", 1_700_000_000, 250_000) + struct.pack("<H", 7)
    return header + addresses + time + (b"\x00\x00" if padded else b"") + payload


def udp(demux: TransportDemux, data: bytes, port: int = 9060) -> list:
    return demux.udp(5, 1_700_000_001.0, (5,), "10.9.9.9", "10.9.9.8", 40000, port, data,
                     len(data), 0, frozenset())


def make() -> tuple[TransportDemux, NoteSink]:
    notes = NoteSink()
    return TransportDemux(CaptureOptions(), notes, CaptureStats(), "hep.pcap"), notes


def test_hep3_over_udp_uses_original_endpoints_and_time() -> None:
    demux, notes = make()
    [message] = udp(demux, hep3(), port=12345)  # detected by magic on any port
    assert message.data == REGISTER
    assert message.src == Endpoint("192.0.2.1", 5070) and message.dst == Endpoint("192.0.2.2", 5060)
    assert message.time == 1_700_000_000.25
    assert (message.frame, message.frames) == (5, (5,))
    assert message.transport is Transport.UDP
    assert message.flags == frozenset({FLAG_HEP})
    assert notes.notes == []


def test_hep3_fields_ipv6_tcp_and_compressed() -> None:
    packet = parse_hep(hep3(ipv6=True, proto=6, compressed=True), 0.0, 65536)
    assert isinstance(packet, HepPacket)
    assert (packet.src_ip, packet.dst_ip) == ("2001:db8::1", "2001:db8::2")
    assert packet.ip_proto == 6 and packet.capture_id == 2001
    assert packet.correlation_id == b"call-id@host" and packet.payload == REGISTER
    demux, _ = make()
    [message] = udp(demux, hep3(ipv6=True, proto=6))
    assert message.transport is Transport.TCP


def test_hep3_non_sip_payload_type_is_ignored_silently() -> None:
    demux, notes = make()
    assert udp(demux, hep3(b'{"rtcp": 1}', payload_type=5)) == []
    assert notes.notes == []


def test_hep3_malformed_packets_are_noted() -> None:
    good = hep3()
    bad_cases = {
        "length": good[:4] + struct.pack("!H", len(good) + 10) + good[6:],
        "chunk": good[:6] + struct.pack("!HHH", 0, 1, 200) + good[12:],
        "no payload": b"HEP3" + struct.pack("!H", 6 + 7) + chunk(1, b"\x02"),
        "cut": good[:-20],
    }
    for name, data in bad_cases.items():
        demux, notes = make()
        assert udp(demux, data) == [], name
        assert [n.kind for n in notes.notes] == ["hep-malformed"], name
        assert notes.notes[0].frames == (5,)
    demux, notes = make()
    assert udp(demux, hep3(b"not sip at all\r\n")) == []
    assert "does not start with a SIP start line" in notes.notes[0].detail


def test_hep2_both_time_byte_orders_and_packing() -> None:
    for little in (True, False):
        for padded in (True, False):
            demux, notes = make()
            [message] = udp(demux, hep2(little_endian_time=little, padded=padded))
            assert message.data == REGISTER
            assert message.time == 1_700_000_000.25
            assert message.src == Endpoint("192.0.2.1", 5070)
            assert notes.notes == []


def test_hep2_bad_family_is_malformed() -> None:
    data = bytearray(hep2())
    data[1] = 40  # claims an IPv6 header on an IPv4 family
    assert looks_like_hep(bytes(data)) is False  # not even tried as HEP off the HEP ports
    result = parse_hep(bytes(data), 0.0, 65536)
    assert isinstance(result, HepError)


def test_sip_on_hep_port_is_still_sip() -> None:
    demux, _ = make()
    [message] = udp(demux, REGISTER, port=9060)
    assert message.flags == frozenset()


def test_hep3_over_tcp_stream_split_and_merged() -> None:
    wire = Wire()
    wire.syn()
    stream = hep3() + hep3(ipv6=True)
    first = wire.send(0, stream[:50])
    second = wire.send(50, stream[50:])
    assert first == []
    assert [m.data for m in second] == [REGISTER, REGISTER]
    assert second[0].frames == (2, 3) and second[0].frame == 3
    assert second[0].flags == frozenset({FLAG_HEP, FLAG_TCP_REASSEMBLED})
    assert second[1].flags == frozenset({FLAG_HEP}) and second[1].frames == (3,)
    assert second[0].time == 1_700_000_000.25
