"""Link layers, IP, tunnels and the hot path, tested against a recording fake transport demux.

Packets are built byte by byte here (struct), so each test states exactly what is on the wire;
the builders are imported by test_files.py and test_ipfrag.py too. Real captures from
../shared/real_pcaps check the same paths on traffic we did not make.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipauth_analyzer.capture.decode import PacketDecoder
from sipauth_analyzer.capture.model import (
    FLAG_INCOMPLETE,
    FLAG_IP_REASSEMBLED,
    FLAG_TRUNCATED,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.primitives import Endpoint, NoteSink, Transport

REAL_PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real_pcaps"
needs_real = pytest.mark.skipif(
    not REAL_PCAPS.is_dir(), reason=f"real captures collection {REAL_PCAPS} is absent"
)

INVITE = (
    b"INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
    b"Call-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
RTP = bytes([0x80, 0x00]) + b"\x00" * 10 + b"\xd5" * 160
UA, PROXY = "192.0.2.10", "198.51.100.20"
UA6, PROXY6 = "2001:db8::10", "2001:db8:1::20"


# -- packet builders -------------------------------------------------------------------------


def udp(payload: bytes, sport: int = 5060, dport: int = 5060, length: int | None = None) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length,
                       0) + payload


def tcp(payload: bytes, sport: int = 5060, dport: int = 5060, seq: int = 1000,
        flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def ipv4(payload: bytes, proto: int = 17, src: str = UA, dst: str = PROXY, ident: int = 1,
         frag: int = 0, options: bytes = b"", total: int | None = None) -> bytes:
    ihl = 5 + len(options) // 4
    length = ihl * 4 + len(payload) if total is None else total
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, ident, frag, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + options + payload


def ipv6(payload: bytes, next_header: int = 17, src: str = UA6, dst: str = PROXY6,
         payload_len: int | None = None) -> bytes:
    plen = len(payload) if payload_len is None else payload_len
    return struct.pack("!IHBB16s16s", 6 << 28, plen, next_header, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def ether(payload: bytes, ethertype: int = 0x0800, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    head = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"
    for tpid, vid in tags:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def sip_udp4(payload: bytes = INVITE, **kw: int) -> bytes:
    return ipv4(udp(payload, **kw))


# -- capture file builders ----------------------------------------------------------------


def pcap_bytes(packets: list[bytes] | list[tuple[bytes, int]], linktype: int = 1, *,
               order: str = "<", nanos: bool = False, snaplen: int = 65535,
               base: float = 1_700_000_000.0, step: float = 0.02) -> bytes:
    """A classic pcap; each packet is bytes or (captured bytes, original length)."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    scale = 1_000_000_000 if nanos else 1_000_000
    for i, item in enumerate(packets):
        data, wire = item if isinstance(item, tuple) else (item, len(item))
        t = round((base + i * step) * scale)
        out.append(struct.pack(order + "IIII", t // scale, t % scale, len(data), wire) + data)
    return b"".join(out)


@dataclass
class Recorder:
    """A fake TransportDemux: records every call, returns one message per SIP-looking UDP."""

    file: str = "test"
    calls: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)
    finished: int = 0

    def udp(self, frame: int, time: float, frames: tuple[int, ...], src_ip: str, dst_ip: str,
            sport: int, dport: int, payload: bytes, wire_size: int, ip_fragments: int,
            flags: frozenset[str]) -> list[CapturedMessage]:
        self.calls.append(("udp", dict(frame=frame, time=time, frames=frames, src=src_ip,
                                       dst=dst_ip, sport=sport, dport=dport, payload=payload,
                                       wire_size=wire_size, ip_fragments=ip_fragments,
                                       flags=flags)))
        return [CapturedMessage(payload, self.file, frame, frames, time, Endpoint(src_ip, sport),
                                Endpoint(dst_ip, dport), Transport.UDP, wire_size,
                                ip_fragments, flags)]

    def tcp(self, frame: int, time: float, src_ip: str, dst_ip: str, sport: int, dport: int,
            seq: int, tcp_flags: int, payload: bytes, truncated: bool) -> list[CapturedMessage]:
        self.calls.append(("tcp", dict(frame=frame, src=src_ip, dst=dst_ip, sport=sport,
                                       dport=dport, seq=seq, tcp_flags=tcp_flags,
                                       payload=payload, truncated=truncated)))
        return []

    def sctp(self, frame: int, time: float, src_ip: str, dst_ip: str, sport: int, dport: int,
             payload: bytes) -> list[CapturedMessage]:
        self.calls.append(("sctp", dict(frame=frame, src=src_ip, dst=dst_ip, sport=sport,
                                        dport=dport, payload=payload)))
        return []

    def expire(self, now: float) -> list[CapturedMessage]:
        self.expires.append(now)
        return []

    def finish(self) -> list[CapturedMessage]:
        self.finished += 1
        return []

    def of(self, kind: str) -> list[dict[str, object]]:
        return [args for k, args in self.calls if k == kind]


def decode_packets(packets: list[bytes] | list[tuple[bytes, int]], linktype: int = 1,
                   options: CaptureOptions | None = None,
                   ) -> tuple[Recorder, NoteSink, list[CapturedMessage]]:
    """Run packets through the general decoder (no hot path), frames 1.., 20 ms apart."""
    recorder = Recorder()
    notes = NoteSink()
    decoder = PacketDecoder(options or CaptureOptions(), notes, "test", recorder)
    out: list[CapturedMessage] = []
    for i, item in enumerate(packets):
        data, wire = item if isinstance(item, tuple) else (item, len(item))
        out.extend(decoder.packet(i + 1, 1_700_000_000.0 + i * 0.02, linktype, data, wire))
    out.extend(decoder.finish())
    return recorder, notes, out


def read_file(path: Path | str, options: CaptureOptions | None = None,
              ) -> tuple[Recorder, NoteSink, CaptureStats, list[CapturedMessage]]:
    """Run a capture file through read_messages with a recording demux."""
    recorders: list[Recorder] = []

    def factory(options: CaptureOptions, notes: NoteSink, stats: CaptureStats,
                file: str) -> Recorder:
        recorders.append(Recorder(file))
        return recorders[-1]

    notes = NoteSink()
    stats = CaptureStats()
    messages = list(read_messages([str(path)], options or CaptureOptions(), notes, stats,
                                  demux_factory=factory))
    return recorders[0], notes, stats, messages


# -- link layers ----------------------------------------------------------------------------


def _one_invite(recorder: Recorder, src: str = UA, dst: str = PROXY) -> None:
    (call,) = recorder.of("udp")
    assert call["payload"] == INVITE
    assert (call["src"], call["dst"], call["sport"], call["dport"]) == (src, dst, 5060, 5060)
    assert call["wire_size"] == len(INVITE)
    assert call["flags"] == frozenset()


@pytest.mark.parametrize("tags", [
    (), ((0x8100, 100),), ((0x88A8, 300), (0x8100, 100)), ((0x9100, 7), (0x8100, 8)),
])
def test_ethernet_with_vlan_tags(tags: tuple[tuple[int, int], ...]) -> None:
    recorder, notes, _ = decode_packets([ether(sip_udp4(), tags=tags)])
    _one_invite(recorder)
    assert notes.notes == []


def test_pppoe_session() -> None:
    pppoe = struct.pack("!BBHH", 0x11, 0, 0x2A01, len(sip_udp4()) + 2) + b"\x00\x21"
    recorder, _, _ = decode_packets([ether(pppoe + sip_udp4(), ethertype=0x8864)])
    _one_invite(recorder)


def test_mpls_label_stack() -> None:
    labels = struct.pack("!I", (100 << 12) | 64) + struct.pack("!I", (200 << 12) | 0x100 | 64)
    recorder, _, _ = decode_packets([ether(labels + sip_udp4(), ethertype=0x8847)])
    _one_invite(recorder)


def test_linux_sll_and_sll2() -> None:
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x00" * 8, 0x0800) + sip_udp4()
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x00" * 8) + sip_udp4()
    _one_invite(decode_packets([sll], linktype=113)[0])
    _one_invite(decode_packets([sll2], linktype=276)[0])


@pytest.mark.parametrize("linktype", [101, 12, 14, 228])
def test_raw_ipv4_link_types(linktype: int) -> None:
    _one_invite(decode_packets([sip_udp4()], linktype=linktype)[0])


@pytest.mark.parametrize("linktype", [101, 229])
def test_raw_ipv6_link_types(linktype: int) -> None:
    _one_invite(decode_packets([ipv6(udp(INVITE))], linktype=linktype)[0], UA6, PROXY6)


@pytest.mark.parametrize(("family", "order", "six"), [
    (2, "<", False), (2, ">", False), (24, "<", True), (28, "<", True), (30, ">", True),
])
@pytest.mark.parametrize("linktype", [0, 108])
def test_null_and_loop_any_byte_order(family: int, order: str, six: bool, linktype: int) -> None:
    packet = ipv6(udp(INVITE)) if six else sip_udp4()
    recorder, _, _ = decode_packets([struct.pack(order + "I", family) + packet], linktype)
    _one_invite(recorder, *((UA6, PROXY6) if six else (UA, PROXY)))


def test_ppp_link_type_with_and_without_hdlc_framing() -> None:
    recorder, _, _ = decode_packets([b"\xff\x03\x00\x21" + sip_udp4(), b"\x21" + sip_udp4()], 9)
    assert len(recorder.of("udp")) == 2


def test_unsupported_link_type_one_note_per_type_and_packets_counted(tmp_path: Path) -> None:
    path = tmp_path / "user0.pcap"
    path.write_bytes(pcap_bytes([ether(sip_udp4())] * 3, linktype=147))
    recorder, notes, stats, messages = read_file(path)
    assert messages == [] and recorder.calls == []
    (note,) = notes.notes
    assert note.kind == "unsupported-linktype"
    assert "147" in note.detail and "USER0" in note.detail and "3 packet(s)" in note.detail
    assert note.frames == (1,)
    assert stats.packets == 3 and stats.linktypes == {"USER0": 3}


# -- IP -------------------------------------------------------------------------------------


def test_ipv4_options_are_skipped_by_ihl() -> None:
    packet = ipv4(udp(INVITE), options=b"\x94\x04\x00\x00\x01\x01\x01\x00")  # RA + NOPs
    _one_invite(decode_packets([ether(packet)])[0])


def test_ethernet_padding_is_not_payload() -> None:
    short = b"\r\n\r\n"
    recorder, _, _ = decode_packets([ether(sip_udp4(short)) + b"\x00" * 10])
    assert recorder.of("udp")[0]["payload"] == short


@pytest.mark.parametrize("chain", [
    [(0, 8)], [(0, 8), (60, 16)], [(43, 24), (60, 8)], [(135, 8)],
])
def test_ipv6_extension_headers_walked(chain: list[tuple[int, int]]) -> None:
    headers = b""
    kinds = [k for k, _ in chain]
    for i, (_kind, size) in enumerate(chain):
        nxt = kinds[i + 1] if i + 1 < len(kinds) else 17
        headers += bytes([nxt, size // 8 - 1]) + b"\x01" * (size - 2)
    packet = ipv6(headers + udp(INVITE), next_header=kinds[0])
    _one_invite(decode_packets([ether(packet, 0x86DD)])[0], UA6, PROXY6)


def test_ipv6_authentication_header_length_units() -> None:
    ah = bytes([17, 4]) + b"\x00" * 22  # (4 + 2) * 4 = 24 bytes (RFC 4302 §2.2)
    _one_invite(decode_packets([ether(ipv6(ah + udp(INVITE), next_header=51), 0x86DD)])[0],
                UA6, PROXY6)


def test_ipv6_esp_stops_the_walk() -> None:
    recorder, notes, _ = decode_packets([ether(ipv6(b"\x00" * 8 + udp(INVITE), 50), 0x86DD)])
    assert recorder.calls == [] and notes.notes == []


def test_icmp_error_quoting_a_sip_packet_is_ignored() -> None:
    icmp4 = ipv4(b"\x03\x03\x00\x00\x00\x00\x00\x00" + sip_udp4(), proto=1)
    icmp6 = ipv6(b"\x01\x04\x00\x00\x00\x00\x00\x00" + ipv6(udp(INVITE)), next_header=58)
    recorder, notes, _ = decode_packets([ether(icmp4), ether(icmp6, 0x86DD)])
    assert recorder.calls == [] and notes.notes == []


def test_tcp_and_sctp_reach_the_demux() -> None:
    sctp = struct.pack("!HHII", 5060, 5061, 1, 0) + b"\x00\x03\x00\x10" + b"x" * 12
    recorder, _, _ = decode_packets([
        ether(ipv4(tcp(INVITE, seq=77, flags=0x19), proto=6)),
        ether(ipv4(sctp, proto=132)),
    ])
    (seg,) = recorder.of("tcp")
    assert (seg["seq"], seg["tcp_flags"], seg["payload"], seg["truncated"]) == (77, 0x19, INVITE,
                                                                               False)
    (chunk,) = recorder.of("sctp")
    assert (chunk["sport"], chunk["dport"], chunk["payload"]) == (5060, 5061, sctp[12:])


# -- snap length ----------------------------------------------------------------------------


def test_snaplen_cut_udp_is_flagged_with_wire_size_from_udp_header() -> None:
    full = ether(sip_udp4())
    recorder, _, _ = decode_packets([(full[:100], len(full))])
    (call,) = recorder.of("udp")
    assert call["payload"] == INVITE[: 100 - 42]
    assert call["wire_size"] == len(INVITE)
    assert call["flags"] == frozenset({FLAG_TRUNCATED})


def test_snaplen_cut_tcp_is_flagged() -> None:
    full = ether(ipv4(tcp(INVITE), proto=6))
    recorder, _, _ = decode_packets([(full[:120], len(full))])
    (seg,) = recorder.of("tcp")
    assert seg["truncated"] is True and seg["payload"] == INVITE[: 120 - 54]


# -- tunnels --------------------------------------------------------------------------------


def gre(payload: bytes, protocol: int, flags: int = 0, extra: bytes = b"") -> bytes:
    return struct.pack("!HH", flags, protocol) + extra + payload


@pytest.mark.parametrize(("flags", "extra"), [
    (0, b""), (0x8000, b"\x00" * 4), (0x2000, b"KEY!"), (0xB000, b"\x00" * 12),
])
def test_gre_v0_optional_fields(flags: int, extra: bytes) -> None:
    outer = ipv4(gre(sip_udp4(), 0x0800, flags, extra), proto=47, src="192.0.2.1",
                 dst="192.0.2.2")
    _one_invite(decode_packets([ether(outer)])[0])


def test_gre_transparent_ethernet_and_ppp_and_ipv6() -> None:
    teb = ipv4(gre(ether(sip_udp4()), 0x6558), proto=47)
    # enhanced GRE v1 (PPTP): key always, sequence present, then PPP with HDLC framing
    ppp = ipv4(gre(b"\xff\x03\x00\x21" + sip_udp4(), 0x880B, 0x3001, b"\x00\x10\x00\x01" +
                   b"\x00\x00\x00\x05"), proto=47)
    six = ipv4(gre(ipv6(udp(INVITE)), 0x86DD), proto=47)
    recorder, _, _ = decode_packets([ether(teb), ether(ppp), ether(six)])
    assert [c["src"] for c in recorder.of("udp")] == [UA, UA, UA6]


def test_erspan_types_one_two_three() -> None:
    inner = ether(sip_udp4())
    type1 = gre(inner, 0x88BE)
    type2 = gre(b"\x10\x64\x00\x01" + b"\x00" * 4 + inner, 0x88BE, 0x1000, b"\x00\x00\x00\x01")
    type3 = gre(b"\x20" + b"\x00" * 11 + inner, 0x22EB, 0x1000, b"\x00\x00\x00\x02")
    type3_o = gre(b"\x20" + b"\x00" * 10 + b"\x01" + b"\xee" * 8 + inner, 0x22EB, 0x1000,
                  b"\x00\x00\x00\x03")
    recorder, _, _ = decode_packets([ether(ipv4(p, proto=47)) for p in (type1, type2, type3,
                                                                         type3_o)])
    assert [c["payload"] for c in recorder.of("udp")] == [INVITE] * 4


def test_ip_in_ip_and_6in4() -> None:
    recorder, _, _ = decode_packets([
        ether(ipv4(sip_udp4(), proto=4, src="192.0.2.1", dst="192.0.2.2")),
        ether(ipv4(ipv6(udp(INVITE)), proto=41)),
        ether(ipv6(sip_udp4(), next_header=4), 0x86DD),
    ])
    assert [c["src"] for c in recorder.of("udp")] == [UA, UA6, UA]


def test_vxlan() -> None:
    vxlan = b"\x08\x00\x00\x00" + struct.pack("!I", 5001 << 8) + ether(sip_udp4())
    recorder, _, _ = decode_packets([ether(ipv4(udp(vxlan, 40000, 4789)))])
    _one_invite(recorder)


def gtp_u(inner: bytes, *, sequence: bool = False, extensions: tuple[bytes, ...] = ()) -> bytes:
    """A G-PDU; each extension is given without its trailing next-extension-type byte."""
    flags = 0x30 | (0x02 if sequence else 0) | (0x04 if extensions else 0)
    body = b""
    if sequence or extensions:
        body = b"\x00\x01\x00" + (b"\x85" if extensions else b"\x00")  # seq, N-PDU, next
    for i, ext in enumerate(extensions):
        body += ext + (b"\x00" if i + 1 == len(extensions) else b"\x85")
    body += inner
    return struct.pack("!BBHI", flags, 0xFF, len(body), 0x1234) + body


@pytest.mark.parametrize(("sequence", "extensions"), [
    (False, ()), (True, ()), (False, (b"\x01\x10\x05",)), (True, (b"\x01\x10\x05",
                                                                   b"\x02" + b"\x00" * 6)),
])
def test_gtp_u_g_pdu_with_optional_fields(sequence: bool, extensions: tuple[bytes, ...]) -> None:
    payload = gtp_u(ipv6(udp(INVITE)), sequence=sequence, extensions=extensions)
    recorder, _, _ = decode_packets([ether(ipv4(udp(payload, 2152, 2152)))])
    _one_invite(recorder, UA6, PROXY6)


def test_gtp_u_signalling_is_not_sip() -> None:
    echo = struct.pack("!BBHI", 0x32, 1, 4, 0) + b"\x00\x01\x00\x00"
    recorder, _, _ = decode_packets([ether(ipv4(udp(echo, 2152, 2152)))])
    assert recorder.calls == []


def test_tunnel_nesting_is_bounded() -> None:
    packet = sip_udp4()
    for _ in range(40):
        packet = ipv4(packet, proto=4)
    start = time.perf_counter()
    recorder, notes, _ = decode_packets([ether(packet)] * 3)
    assert time.perf_counter() - start < 1
    assert recorder.calls == []
    assert [n.kind for n in notes.notes] == ["tunnel-too-deep"]
    assert "max_tunnel_depth=8" in notes.notes[0].detail
    shallow = sip_udp4()
    for _ in range(CaptureOptions().max_tunnel_depth - 1):
        shallow = ipv4(shallow, proto=4)
    _one_invite(decode_packets([ether(shallow)])[0])


def test_tunnel_depth_comes_from_the_options() -> None:
    packet = sip_udp4()
    for _ in range(3):  # three IP-in-IP tunnels
        packet = ipv4(packet, proto=4)
    _one_invite(decode_packets([ether(packet)], options=CaptureOptions(max_tunnel_depth=3))[0])
    recorder, notes, _ = decode_packets([ether(packet)],
                                        options=CaptureOptions(max_tunnel_depth=2))
    assert recorder.calls == []
    assert [n.kind for n in notes.notes] == ["tunnel-too-deep"]
    assert "max_tunnel_depth=2" in notes.notes[0].detail


# -- RTP rejection and the hot path -----------------------------------------------------------


def test_rtp_is_dropped_by_the_general_decoder_too() -> None:
    recorder, _, _ = decode_packets([ether(ipv4(udp(RTP, 10000, 20000)), tags=((0x8100, 5),))])
    assert recorder.calls == []


def mixed_packets() -> list[bytes]:
    """RTP, SIP, an RTP-looking second fragment, tunnelled RTP, an empty UDP datagram."""
    datagram = udp(INVITE + b"\xff" * 1500)
    # The second fragment's byte where an unfragmented packet's UDP payload would start is
    # 0xff: only the fragment check keeps the fast path from dropping it.
    assert datagram[1480 + 8] >= 0x80
    return [
        ether(ipv4(udp(RTP, 10000, 20000))),
        ether(sip_udp4()),
        ether(ipv4(datagram[:1480], ident=9, frag=0x2000)),
        ether(ipv4(datagram[1480:], ident=9, frag=185)),
        ether(ipv4(udp(RTP, 10000, 20000)), tags=((0x8100, 5),)),
        ether(ipv4(udp(b"", 1, 2))),
        ether(ipv4(udp(RTP, 10000, 20000), ident=3, frag=0x4000)),  # DF set: still fast
    ]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("chunk_size", [1 << 20, 61, 64, 1000])
def test_hot_path_matches_general_decoder(tmp_path: Path, order: str, chunk_size: int) -> None:
    packets = mixed_packets()
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap_bytes(packets, order=order))
    expected, _, _ = decode_packets(packets)
    recorder, _, stats, messages = read_file(path, CaptureOptions(read_chunk_size=chunk_size))
    assert recorder.calls == expected.calls
    assert [m.frame for m in messages] == [2, 4, 6]
    assert messages[1].frames == (3, 4) and FLAG_IP_REASSEMBLED in messages[1].flags
    assert stats.packets == len(packets)
    assert stats.bytes == sum(map(len, packets))
    assert stats.first_time == pytest.approx(1_700_000_000.0)
    assert stats.last_time == pytest.approx(1_700_000_000.0 + 0.02 * (len(packets) - 1))


@pytest.mark.parametrize(("linktype", "wrap"), [
    (113, lambda p: struct.pack("!HHH8sH", 0, 1, 6, b"\x00" * 8, 0x0800) + p),
    (276, lambda p: struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x00" * 8) + p),
    (101, lambda p: p),
    (228, lambda p: p),
])
def test_hot_path_for_cooked_and_raw_link_types(tmp_path: Path, linktype: int,
                                                wrap: object) -> None:
    packets = [wrap(ipv4(udp(RTP, 10000, 20000))), wrap(sip_udp4())] * 3  # type: ignore[operator]
    path = tmp_path / "cooked.pcap"
    path.write_bytes(pcap_bytes(packets, linktype))
    recorder, _, stats, messages = read_file(path)
    assert [m.frame for m in messages] == [2, 4, 6]
    assert len(recorder.calls) == 3 and stats.packets == 6


def test_timer_ticks_reach_the_demux_by_capture_time() -> None:
    recorder, _, _ = decode_packets([ether(sip_udp4())] * 200)  # 4 s of capture time
    assert len(recorder.expires) in (4, 5)
    assert recorder.finished == 1


# -- real captures --------------------------------------------------------------------------


def _sip_udp(recorder: Recorder) -> list[dict[str, object]]:
    return [c for c in recorder.of("udp")
            if b"SIP/2.0" in bytes(c["payload"]).split(b"\r\n", 1)[0]]  # type: ignore[arg-type]


@needs_real
def test_real_sll_sctp() -> None:
    recorder, _, stats, _ = read_file(REAL_PCAPS / "sipcapture_heplify" / "sip_sctp.pcap")
    assert stats.linktypes == {"LINUX_SLL": 5}
    assert len(recorder.of("sctp")) == 5
    carrying_sip = [c for c in recorder.of("sctp") if b"SIP/2.0" in c["payload"]]  # type: ignore[operator]
    assert len(carrying_sip) == 4  # INVITE, 100, 403, ACK; the fifth is a bare SACK


@needs_real
def test_real_raw_ip_and_bsd_null() -> None:
    recorder, _, stats, _ = read_file(REAL_PCAPS / "sipcapture_heplify" / "ipip0.pcap")
    assert stats.linktypes == {"RAW": 8} and len(_sip_udp(recorder)) == 8
    recorder, _, stats, _ = read_file(REAL_PCAPS / "OISF_suricata-verify"
                                      / "sip-body-large__sip-body-large.pcap")
    assert stats.linktypes == {"NULL": 16} and len(recorder.of("tcp")) == 16


@needs_real
def test_real_vlan_qinq_pppoe_gre_ppp() -> None:
    recorder, notes, stats, _ = read_file(REAL_PCAPS / "ntop_nDPI" / "gre_sip.pcapng")
    assert stats.packets == 36 and len(_sip_udp(recorder)) == 36
    assert notes.notes == []


@needs_real
def test_real_erspan_gre_teb() -> None:
    recorder, _, _, _ = read_file(REAL_PCAPS / "sipcapture_heplify"
                                  / "erspan_sip_ipv4_udp.pcapng")
    assert len(_sip_udp(recorder)) == 140


@needs_real
def test_real_gtp_u_carrying_ipv6() -> None:
    recorder, _, stats, _ = read_file(REAL_PCAPS / "arkime_arkime" / "gtp-iphone.pcap")
    sip = _sip_udp(recorder)
    assert len(sip) == 4
    assert all(":" in str(c["src"]) for c in sip)  # the inner IPv6 endpoints, not the tunnel's
    assert any(b"SIP/2.0" in bytes(c["payload"]) for c in recorder.of("tcp"))  # type: ignore[arg-type]
    assert stats.packets == 106


@needs_real
def test_real_ip_in_ip() -> None:
    recorder, _, _, _ = read_file(REAL_PCAPS / "irontec_sngrep" / "ipip.pcap")
    assert sum(1 for c in recorder.of("tcp") if c["payload"]) == 4


@needs_real
def test_real_icmp_quotes_are_not_sip() -> None:
    # CESNET's scanner capture has ICMP port-unreachable replies quoting INVITEs (tshark shows
    # them as SIP inside ICMP); they must not become messages.
    recorder, _, stats, _ = read_file(REAL_PCAPS / "CESNET_ipfixprobe" / "sip.pcap")
    assert stats.packets == 50 and len(_sip_udp(recorder)) == 40
    assert not any(frame in (7, 10, 12, 14, 15) for frame in
                   (c["frame"] for c in recorder.of("udp")))


def test_incomplete_flag_constants_are_distinct() -> None:
    assert len({FLAG_INCOMPLETE, FLAG_IP_REASSEMBLED, FLAG_TRUNCATED}) == 3
