"""Deterministic generators for the benchmark captures: a busy SIP trunk and a SIP storm.

Both write classic little-endian pcap (Ethernet, microsecond timestamps) with raw ``struct``
packing, because building a million packets through scapy would take minutes and the bench
must regenerate them from nothing on a fresh checkout.

* **trunk** — what an SBC's trunk interface sees: ~98 % G.711 RTP (20 ms packetisation,
  12-byte RTP header + 160 samples = 172-byte UDP payloads, RFC 3551 §4.5.14) between media
  addresses, ~2 % SIP: calls challenged with 407 and retried with Proxy-Authorization
  (RFC 3261 §22.3), REGISTER challenged with 401, some calls looping on 407 (wrong password),
  and some authenticated INVITEs bigger than the 1500-byte MTU, sent as IPv4 fragments
  (RFC 3261 §18.1.1 says such requests should go over TCP; many trunks still send them on UDP).
* **storm** — 100 % SIP over UDP: a brute-forcer's REGISTER / INVITE challenge flood and a
  trunk looping on 407 with a wrong password, over many thousands of Call-IDs.

Files are cached in ``bench/out/`` under a name carrying a hash of every parameter and of
``GENERATOR_VERSION``, so they are regenerated only when something that shapes them changes.
Addresses come from the documentation ranges 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import random
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

# Bump when the generated traffic changes shape, so cached files are not reused.
GENERATOR_VERSION = 7

OUT_DIR = Path(__file__).resolve().parent / "out"

PCAP_GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)  # linktype 1
RECORD_HEADER = struct.Struct("<IIII")
# Ethernet (pre-built 14 bytes) + IPv4 + UDP + RTP header + G.711 payload, network byte order.
RTP_BODY = struct.Struct("!14sBBHHHBBH4s4sHHHHBBHII160s")
IPV4_UDP = struct.Struct("!BBHHHBBH4s4sHHHH")
ETHERTYPE_IPV4 = b"\x08\x00"
IP_PROTO_UDP = 17
MTU = 1500  # Ethernet; an IP datagram bigger than this is fragmented (RFC 791)
RTP_SAMPLES = 160  # 20 ms of 8 kHz G.711 (RFC 3551 §4.5.14)
RTP_UDP_PAYLOAD = 12 + RTP_SAMPLES
RTP_FRAME_LEN = 14 + 20 + 8 + RTP_UDP_PAYLOAD
RTP_INTERVAL = 0.020
SIP_PORT = 5060
START_TIME = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fixed so output is byte-for-byte stable

# Trunk roles (RFC 5737 documentation ranges).
SBC_IP = "198.51.100.10"
SBC_REGISTRAR_CLIENT_IP = "198.51.100.11"
CARRIER_PROXY_IP = "203.0.113.5"
CARRIER_REGISTRAR_IP = "203.0.113.6"
SBC_MEDIA_IPS = ("198.51.100.20", "198.51.100.21", "198.51.100.22", "198.51.100.23")
CARRIER_MEDIA_IPS = ("203.0.113.40", "203.0.113.41", "203.0.113.42", "203.0.113.43")
CARRIER_REALM = "sip.carrier.example"
TRUNK_USER = "trunk-4471"
TRUNK_PASSWORD = "correct horse"
WRONG_PASSWORD = "correct-horse"

# Storm roles.
BRUTE_FORCER_IP = "203.0.113.66"
LOOPING_TRUNK_IP = "203.0.113.77"
PBX_REALM = "pbx.example.net"

# UDP ports in 16384-32767 that tshark 4.0 maps to a dissector (`tshark -G decodes`).
_WIRESHARK_UDP_PORTS = frozenset(
    {
        17220,
        17500,
        17754,
        17755,
        17756,
        18246,
        19132,
        19788,
        19948,
        19999,
        20000,
        20561,
        22222,
        23272,
        24576,
        24577,
        25826,
        26000,
        27036,
        27500,
        27910,
        27950,
        27951,
        27952,
        27953,
        27960,
        27961,
        27962,
        27963,
        30030,
        32000,
        32512,
    }
)

# Per 20 trunk calls: which kind each is. Interesting kinds come first so that even a tiny
# capture (the smoke test's 2 k packets) contains a fragmented INVITE and a 407 loop.
CALL_PATTERN = ("large", "loop") + ("normal",) * 18
LOOP_RETRIES = 4  # authenticated INVITEs a looping call sends before giving up
SIP_MSGS_NORMAL_CALL = 10  # INVITE 407 ACK INVITE 100 180 200 ACK BYE 200
SIP_MSGS_LOOP_CALL = 3 + 3 * LOOP_RETRIES
SIP_MSGS_REGISTER = 4


@dataclass(frozen=True, slots=True)
class TrunkParams:
    """Everything that shapes a trunk capture (hashed into its file name)."""

    packets: int = 1_000_000
    seed: int = 20260101
    calls_per_second: float = 50.0
    registers_per_second: float = 5.0
    sip_share: float = 0.02  # wanted fraction of packets that are SIP


@dataclass(frozen=True, slots=True)
class StormParams:
    """Everything that shapes a storm capture (hashed into its file name)."""

    messages: int = 200_000
    seed: int = 20260102
    messages_per_second: float = 4_000.0
    guesses_per_session: int = 4  # credential guesses per brute-force Call-ID


@dataclass(frozen=True, slots=True)
class GeneratedCapture:
    """A capture on disk and what the generator knows it contains (its ground truth)."""

    path: Path
    packets: int
    sip_messages: int
    sip_packets: int
    fragmented_messages: int
    call_ids: int
    duration: float
    size_bytes: int


def _params_hash(kind: str, params: TrunkParams | StormParams) -> str:
    blob = json.dumps(
        {"kind": kind, "version": GENERATOR_VERSION, **asdict(params)}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _media_port(rng: random.Random) -> int:
    """An even RTP port (RFC 3550 §11) in the usual 16384-32767 range, avoiding ports Wireshark
    decodes as another protocol, so tshark's view of the media is plain UDP like on a trunk."""
    while True:
        port = 16_384 + 2 * rng.randrange(8_192)
        if port not in _WIRESHARK_UDP_PORTS:
            return port


def _ip_bytes(ip: str) -> bytes:
    return bytes(int(part) for part in ip.split("."))


def _mac_for(ip: str) -> bytes:
    # Locally administered unicast MACs derived from the IP: stable and distinct per host.
    return b"\x02\x00" + _ip_bytes(ip)


def _ones_complement_sum(words_sum: int) -> int:
    while words_sum >> 16:
        words_sum = (words_sum & 0xFFFF) + (words_sum >> 16)
    return words_sum


def _ipv4_checksum_base(src: bytes, dst: bytes, total_len: int, flags_frag: int) -> int:
    """Sum of every IPv4 header word except the identification and checksum (RFC 791 §3.1)."""
    return (
        0x4500
        + total_len
        + flags_frag
        + ((64 << 8) | IP_PROTO_UDP)
        + int.from_bytes(src[:2], "big")
        + int.from_bytes(src[2:], "big")
        + int.from_bytes(dst[:2], "big")
        + int.from_bytes(dst[2:], "big")
    )


class _IpIdCounter:
    """Per-sender IPv4 identification counters, so fragments of one datagram share an ID."""

    def __init__(self) -> None:
        self._next: dict[bytes, int] = {}

    def take(self, src: bytes) -> int:
        value = self._next.get(src, 0x1000)
        self._next[src] = (value + 1) & 0xFFFF
        return value


def _udp_frames(
    src_ip: str, dst_ip: str, sport: int, dport: int, *, payload: bytes, ids: _IpIdCounter
) -> list[bytes]:
    """Ethernet frames carrying one UDP datagram, fragmented to the MTU when it is too big."""
    src, dst = _ip_bytes(src_ip), _ip_bytes(dst_ip)
    eth = _mac_for(dst_ip) + _mac_for(src_ip) + ETHERTYPE_IPV4
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ident = ids.take(src)
    max_chunk = (MTU - 20) // 8 * 8
    if len(datagram) + 20 <= MTU:
        pieces = [(0, datagram, False)]
        dont_fragment = 0x4000
    else:
        pieces = []
        for offset in range(0, len(datagram), max_chunk):
            chunk = datagram[offset : offset + max_chunk]
            pieces.append((offset, chunk, offset + max_chunk < len(datagram)))
        dont_fragment = 0
    frames = []
    for offset, chunk, more in pieces:
        flags_frag = dont_fragment | (0x2000 if more else 0) | (offset // 8)
        total = 20 + len(chunk)
        checksum = (
            ~_ones_complement_sum(_ipv4_checksum_base(src, dst, total, flags_frag) + ident) & 0xFFFF
        )
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, total, ident, flags_frag, 64, IP_PROTO_UDP, checksum, src, dst
        )
        frames.append(eth + header + chunk)
    return frames


def _record(time: float, frame: bytes) -> bytes:
    seconds = int(time)
    micros = round((time - seconds) * 1_000_000)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    return RECORD_HEADER.pack(seconds, micros, len(frame), len(frame)) + frame


def _call_id_of(message: bytes) -> bytes:
    start = message.find(b"\r\nCall-ID: ") + 11
    return message[start : message.find(b"\r\n", start)]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest_response(
    user: str, realm: str, password: str, *, method: str, uri: str, nonce: str, cnonce: str, nc: str
) -> str:
    """RFC 2617 §3.2.2.1 with qop=auth (what RFC 3261 §22.4 requires SIP to use)."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


def _sip(start_line: str, headers: list[tuple[str, str]], body: str = "") -> bytes:
    """A SIP message with a correct Content-Length (RFC 3261 §20.14: the body's byte count)."""
    body_bytes = body.encode()
    lines = [start_line]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body_bytes:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body_bytes)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body_bytes


def _sdp(origin_ip: str, media_ip: str, port: int, session_id: int, *, large: bool) -> str:
    lines = [
        "v=0",
        f"o=- {session_id} {session_id} IN IP4 {origin_ip}",
        "s=-",
        f"c=IN IP4 {media_ip}",
        "t=0 0",
    ]
    if large:
        lines += [
            f"m=audio {port} RTP/AVP 0 8 9 18 101 13 96 97 98",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:18 G729/8000",
            "a=fmtp:18 annexb=no",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=rtpmap:13 CN/8000",
            "a=rtpmap:96 opus/48000/2",
            "a=fmtp:96 useinbandfec=1;maxaveragebitrate=32000",
            "a=rtpmap:97 AMR-WB/16000",
            "a=fmtp:97 mode-change-capability=2;max-red=0",
            "a=rtpmap:98 iLBC/8000",
            "a=fmtp:98 mode=30",
            "a=ptime:20",
            "a=maxptime:40",
            "a=sendrecv",
            f"a=rtcp:{port + 1} IN IP4 {media_ip}",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
            + hashlib.sha256(str(session_id).encode()).hexdigest()[:40],
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"
            + hashlib.sha256(str(session_id + 1).encode()).hexdigest()[:40],
        ]
    else:
        lines += [
            f"m=audio {port} RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ]
    return "\r\n".join(lines) + "\r\n"


@dataclass(slots=True)
class _RtpStream:
    eth: bytes
    src: bytes
    dst: bytes
    sport: int
    dport: int
    checksum_base: int
    ident: int
    seq: int
    timestamp: int
    ssrc: int
    payload_type: int
    end_time: float
    nominal_time: float
    marker: int


class _PcapWriter:
    """Buffers records and writes them in large blocks (one write per ~4 MiB)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb", buffering=0)
        self._file.write(PCAP_GLOBAL_HEADER)
        self._chunks: list[bytes] = []
        self._pending = 0
        self.size = len(PCAP_GLOBAL_HEADER)

    def add(self, record: bytes) -> None:
        self._chunks.append(record)
        self._pending += len(record)
        if self._pending >= 1 << 22:
            self.flush()

    def flush(self) -> None:
        if self._chunks:
            self._file.write(b"".join(self._chunks))
            self.size += self._pending
            self._chunks.clear()
            self._pending = 0

    def close(self) -> None:
        self.flush()
        self._file.close()


class _TrunkBuilder:
    """Discrete-event simulation of the trunk; events are ``(time, order, action)`` in a heap."""

    def __init__(self, params: TrunkParams, writer: _PcapWriter) -> None:
        self.params = params
        self.writer = writer
        self.rng = random.Random(params.seed)
        self.ids = _IpIdCounter()
        self.heap: list[tuple[float, int, Callable[[float], None]]] = []
        self.order = 0
        self.packets = 0
        self.sip_messages = 0
        self.sip_packets = 0
        self.fragmented = 0
        self.call_ids: set[bytes] = set()
        self.call_index = 0
        self.register_index = 0
        self.last_time = START_TIME
        # Pre-generated "voice": G.711 bytes that are not all equal, so nothing compresses away.
        self.voice = [bytes(self.rng.getrandbits(8) for _ in range(RTP_SAMPLES)) for _ in range(16)]
        self.jitter = [self.rng.uniform(0.0, 0.0004) for _ in range(997)]
        self.mean_call_seconds = self._mean_call_seconds_for_share()

    def _mean_call_seconds_for_share(self) -> float:
        """Call length that makes RTP ``1 - sip_share`` of packets in steady state."""
        p = self.params
        per_pattern = len(CALL_PATTERN)
        media_calls = sum(1 for kind in CALL_PATTERN if kind != "loop") / per_pattern
        loop_calls = 1.0 - media_calls
        sip_per_second = (
            p.calls_per_second
            * (media_calls * SIP_MSGS_NORMAL_CALL + loop_calls * SIP_MSGS_LOOP_CALL)
            + p.registers_per_second * SIP_MSGS_REGISTER
        )
        rtp_per_second = sip_per_second * (1.0 - p.sip_share) / p.sip_share
        concurrent_calls = rtp_per_second / (2 / RTP_INTERVAL)
        return concurrent_calls / (p.calls_per_second * media_calls)

    def push(self, time: float, action: Callable[[float], None]) -> None:
        self.order += 1
        heapq.heappush(self.heap, (time, self.order, action))

    def run(self) -> None:
        start = START_TIME
        # A capture starts mid-traffic: calls already up, whose setup happened before.
        media_share = sum(1 for kind in CALL_PATTERN if kind != "loop") / len(CALL_PATTERN)
        in_progress = round(self.params.calls_per_second * media_share * self.mean_call_seconds)
        for _ in range(in_progress):
            remaining = self.rng.uniform(0.0, 2 * self.mean_call_seconds)
            dialog = self._new_dialog()
            self._start_media(start + self.rng.uniform(0.0, RTP_INTERVAL), dialog, remaining)
            self._schedule_bye(start + remaining, dialog, 3)
        self.push(start + 0.001, self._call_arrival)
        self.push(start + 0.003, self._register_arrival)
        heap = self.heap
        limit = self.params.packets
        while heap and self.packets < limit:
            time, _, action = heapq.heappop(heap)
            action(time)

    # -- SIP ---------------------------------------------------------------------------------
    def _emit_sip(self, time: float, src: str, dst: str, message: bytes) -> None:
        if self.packets >= self.params.packets:
            return
        frames = _udp_frames(src, dst, SIP_PORT, SIP_PORT, payload=message, ids=self.ids)
        if len(frames) > 1:
            self.fragmented += 1
        # Fragments leave the NIC back to back: a few microseconds apart.
        for index, frame in enumerate(frames):
            self.writer.add(_record(max(time, self.last_time) + index * 0.000004, frame))
        self.last_time = max(time, self.last_time) + (len(frames) - 1) * 0.000004
        self.packets += len(frames)
        self.sip_packets += len(frames)
        self.sip_messages += 1
        self.call_ids.add(_call_id_of(message))

    def _later(self, time: float, src: str, dst: str, message: bytes) -> None:
        self.push(time, lambda now: self._emit_sip(now, src, dst, message))

    def _new_dialog(self) -> dict[str, str]:
        rng = self.rng
        call_id = f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}@{SBC_IP}"
        return {
            "call_id": call_id,
            "from_tag": f"{rng.getrandbits(40):010x}",
            "to_tag": f"as{rng.getrandbits(32):08x}",
            "caller": f"+1202555{rng.randrange(10_000):04d}",
            "callee": f"+1312555{rng.randrange(10_000):04d}",
        }

    def _call_arrival(self, now: float) -> None:
        kind = CALL_PATTERN[self.call_index % len(CALL_PATTERN)]
        self.call_index += 1
        self._schedule_call(now, kind)
        self.push(now + self.rng.expovariate(self.params.calls_per_second), self._call_arrival)

    def _register_arrival(self, now: float) -> None:
        self.register_index += 1
        self._schedule_register(now)
        self.push(
            now + self.rng.expovariate(self.params.registers_per_second), self._register_arrival
        )

    def _branch(self) -> str:
        return f"z9hG4bK{self.rng.getrandbits(64):016x}"

    def _nonce(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _schedule_call(self, t: float, kind: str) -> None:
        rng = self.rng
        d = self._new_dialog()
        uri = f"sip:{d['callee']}@{CARRIER_PROXY_IP}"
        from_h = f'"{d["caller"]}" <sip:{d["caller"]}@{SBC_IP}>;tag={d["from_tag"]}'
        to_h = f"<sip:{d['callee']}@{CARRIER_PROXY_IP}>"
        to_tagged = f"{to_h};tag={d['to_tag']}"
        session = rng.randrange(10**9)
        media_ip = SBC_MEDIA_IPS[rng.randrange(len(SBC_MEDIA_IPS))]
        media_port = _media_port(rng)
        large = kind == "large"
        sdp = _sdp(SBC_IP, media_ip, media_port, session, large=large)
        common_req = [
            ("Max-Forwards", "70"),
            ("From", from_h),
            ("To", to_h),
            ("Call-ID", d["call_id"]),
        ]
        ua = [
            ("Contact", f"<sip:{d['caller']}@{SBC_IP}:{SIP_PORT};transport=udp>"),
            ("User-Agent", "AcmeSBC/9.1.2 (build 4471)"),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, NOTIFY"),
            ("Supported", "replaces, timer"),
        ]
        extra = []
        if large:
            # Field reality: PAI + Diversion chains + vendor headers push INVITEs past the MTU.
            extra = [
                ("P-Asserted-Identity", f'"{d["caller"]}" <sip:{d["caller"]}@{SBC_IP};user=phone>'),
                ("P-Asserted-Identity", f"<tel:{d['caller']}>"),
                ("Privacy", "none"),
                ("Session-Expires", "1800;refresher=uac"),
                ("Min-SE", "90"),
            ]
            for hop in range(3):
                extra.append(
                    (
                        "Diversion",
                        f"<sip:+1415555{rng.randrange(10_000):04d}@{SBC_IP};user=phone>"
                        f";reason=unconditional;counter={hop + 1};privacy=off;screen=no",
                    )
                )
            extra.append(
                ("X-Acme-Routing", ";".join(f"hop{i}={rng.getrandbits(48):012x}" for i in range(8)))
            )
        branch1 = self._branch()
        via1 = f"SIP/2.0/UDP {SBC_IP}:{SIP_PORT};branch={branch1};rport"
        invite1 = _sip(
            f"INVITE {uri} SIP/2.0",
            [("Via", via1), *common_req, ("CSeq", "1 INVITE"), *ua, *extra],
            sdp,
        )
        self._later(t, SBC_IP, CARRIER_PROXY_IP, invite1)
        t += rng.uniform(0.002, 0.010)
        nonce = self._nonce()
        opaque = f"{rng.getrandbits(32):08x}"
        challenge = (
            f'Digest realm="{CARRIER_REALM}", nonce="{nonce}", opaque="{opaque}", '
            'algorithm=MD5, qop="auth"'
        )
        server = [("Server", "CarrierEdge/5.4")]

        def challenge_407(via: str, cseq: int) -> bytes:
            return _sip(
                "SIP/2.0 407 Proxy Authentication Required",
                [
                    ("Via", f"{via};received={SBC_IP}"),
                    ("From", from_h),
                    ("To", to_tagged),
                    ("Call-ID", d["call_id"]),
                    ("CSeq", f"{cseq} INVITE"),
                    ("Proxy-Authenticate", challenge),
                    *server,
                ],
            )

        def ack(via: str, cseq: int) -> bytes:
            return _sip(
                f"ACK {uri} SIP/2.0",
                [
                    ("Via", via),
                    ("Max-Forwards", "70"),
                    ("From", from_h),
                    ("To", to_tagged),
                    ("Call-ID", d["call_id"]),
                    ("CSeq", f"{cseq} ACK"),
                ],
            )

        self._later(t, CARRIER_PROXY_IP, SBC_IP, challenge_407(via1, 1))
        t += rng.uniform(0.0003, 0.001)
        self._later(t, SBC_IP, CARRIER_PROXY_IP, ack(via1, 1))
        retries = LOOP_RETRIES if kind == "loop" else 1
        password = WRONG_PASSWORD if kind == "loop" else TRUNK_PASSWORD
        cseq = 1
        via = via1
        for attempt in range(retries):
            cseq += 1
            t += rng.uniform(0.001, 0.004)
            via = f"SIP/2.0/UDP {SBC_IP}:{SIP_PORT};branch={self._branch()};rport"
            cnonce = f"{rng.getrandbits(32):08x}"
            nc = f"{attempt + 1:08x}"
            response = _digest_response(
                TRUNK_USER,
                CARRIER_REALM,
                password,
                method="INVITE",
                uri=uri,
                nonce=nonce,
                cnonce=cnonce,
                nc=nc,
            )
            credentials = (
                f'Digest username="{TRUNK_USER}", realm="{CARRIER_REALM}", nonce="{nonce}", '
                f'uri="{uri}", response="{response}", algorithm=MD5, cnonce="{cnonce}", '
                f'opaque="{opaque}", qop=auth, nc={nc}'
            )
            invite = _sip(
                f"INVITE {uri} SIP/2.0",
                [
                    ("Via", via),
                    *common_req,
                    ("CSeq", f"{cseq} INVITE"),
                    ("Proxy-Authorization", credentials),
                    *ua,
                    *extra,
                ],
                sdp,
            )
            self._later(t, SBC_IP, CARRIER_PROXY_IP, invite)
            if kind == "loop":
                t += rng.uniform(0.002, 0.010)
                self._later(t, CARRIER_PROXY_IP, SBC_IP, challenge_407(via, cseq))
                t += rng.uniform(0.0003, 0.001)
                self._later(t, SBC_IP, CARRIER_PROXY_IP, ack(via, cseq))
        if kind == "loop":
            return
        response_common = [
            ("Via", f"{via};received={SBC_IP}"),
            ("From", from_h),
            ("To", to_tagged),
            ("Call-ID", d["call_id"]),
            ("CSeq", f"{cseq} INVITE"),
        ]
        t += rng.uniform(0.002, 0.008)
        self._later(
            t,
            CARRIER_PROXY_IP,
            SBC_IP,
            _sip(
                "SIP/2.0 100 Trying",
                [
                    ("Via", f"{via};received={SBC_IP}"),
                    ("From", from_h),
                    ("To", to_h),
                    ("Call-ID", d["call_id"]),
                    ("CSeq", f"{cseq} INVITE"),
                    *server,
                ],
            ),
        )
        t += rng.uniform(0.05, 0.3)
        contact = [("Contact", f"<sip:{d['callee']}@{CARRIER_PROXY_IP}:{SIP_PORT}>")]
        self._later(
            t,
            CARRIER_PROXY_IP,
            SBC_IP,
            _sip("SIP/2.0 180 Ringing", [*response_common, *contact, *server]),
        )
        t += rng.uniform(0.5, 3.0)
        carrier_media = CARRIER_MEDIA_IPS[rng.randrange(len(CARRIER_MEDIA_IPS))]
        carrier_port = _media_port(rng)
        answer = _sdp(CARRIER_PROXY_IP, carrier_media, carrier_port, session + 7, large=False)
        self._later(
            t,
            CARRIER_PROXY_IP,
            SBC_IP,
            _sip(
                "SIP/2.0 200 OK",
                [
                    *response_common,
                    *contact,
                    *server,
                    ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"),
                    ("Supported", "timer"),
                ],
                answer,
            ),
        )
        t += rng.uniform(0.0005, 0.002)
        ack_via = f"SIP/2.0/UDP {SBC_IP}:{SIP_PORT};branch={self._branch()};rport"
        self._later(
            t,
            SBC_IP,
            CARRIER_PROXY_IP,
            ack(ack_via, cseq).replace(
                f"ACK {uri}".encode(),
                f"ACK sip:{d['callee']}@{CARRIER_PROXY_IP}:{SIP_PORT}".encode(),
                1,
            ),
        )
        duration = rng.uniform(0.2, 1.8) * self.mean_call_seconds
        media_start = t + 0.01
        self.push(
            media_start,
            lambda now: self._start_media(
                now, d, duration, (media_ip, media_port), (carrier_media, carrier_port)
            ),
        )
        self._schedule_bye(media_start + duration, d, cseq + 1)

    def _schedule_bye(self, t: float, d: dict[str, str], cseq: int) -> None:
        via = f"SIP/2.0/UDP {SBC_IP}:{SIP_PORT};branch={self._branch()};rport"
        from_h = f'"{d["caller"]}" <sip:{d["caller"]}@{SBC_IP}>;tag={d["from_tag"]}'
        to_h = f"<sip:{d['callee']}@{CARRIER_PROXY_IP}>;tag={d['to_tag']}"
        headers = [
            ("From", from_h),
            ("To", to_h),
            ("Call-ID", d["call_id"]),
            ("CSeq", f"{cseq} BYE"),
        ]
        bye = _sip(
            f"BYE sip:{d['callee']}@{CARRIER_PROXY_IP}:{SIP_PORT} SIP/2.0",
            [
                ("Via", via),
                ("Max-Forwards", "70"),
                *headers,
                ("User-Agent", "AcmeSBC/9.1.2 (build 4471)"),
                ("Reason", 'Q.850;cause=16;text="Normal call clearing"'),
            ],
        )
        self._later(t, SBC_IP, CARRIER_PROXY_IP, bye)
        ok = _sip(
            "SIP/2.0 200 OK",
            [("Via", f"{via};received={SBC_IP}"), *headers, ("Server", "CarrierEdge/5.4")],
        )
        self._later(t + self.rng.uniform(0.002, 0.010), CARRIER_PROXY_IP, SBC_IP, ok)

    def _schedule_register(self, t: float) -> None:
        rng = self.rng
        user = f"ext{rng.randrange(100, 400)}"
        call_id = f"{rng.getrandbits(96):024x}@{SBC_REGISTRAR_CLIENT_IP}"
        tag = f"{rng.getrandbits(40):010x}"
        uri = f"sip:{CARRIER_REALM}"
        aor = f"<sip:{user}@{CARRIER_REALM}>"
        base = [
            ("Max-Forwards", "70"),
            ("From", f"{aor};tag={tag}"),
            ("To", aor),
            ("Call-ID", call_id),
        ]
        contact = [
            ("Contact", f"<sip:{user}@{SBC_REGISTRAR_CLIENT_IP}:{SIP_PORT}>;expires=3600"),
            ("User-Agent", "AcmeSBC/9.1.2 (build 4471)"),
            ("Expires", "3600"),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY"),
        ]
        via1 = f"SIP/2.0/UDP {SBC_REGISTRAR_CLIENT_IP}:{SIP_PORT};branch={self._branch()};rport"
        self._later(
            t,
            SBC_REGISTRAR_CLIENT_IP,
            CARRIER_REGISTRAR_IP,
            _sip(
                f"REGISTER {uri} SIP/2.0", [("Via", via1), *base, ("CSeq", "1 REGISTER"), *contact]
            ),
        )
        nonce = self._nonce()
        t += rng.uniform(0.002, 0.010)
        to_resp = f"{aor};tag={rng.getrandbits(32):08x}"

        def response(status: str, via: str, cseq: int, extra: list[tuple[str, str]]) -> bytes:
            return _sip(
                f"SIP/2.0 {status}",
                [
                    ("Via", f"{via};received={SBC_REGISTRAR_CLIENT_IP}"),
                    ("From", f"{aor};tag={tag}"),
                    ("To", to_resp),
                    ("Call-ID", call_id),
                    ("CSeq", f"{cseq} REGISTER"),
                    *extra,
                    ("Server", "CarrierEdge/5.4"),
                ],
            )

        self._later(
            t,
            CARRIER_REGISTRAR_IP,
            SBC_REGISTRAR_CLIENT_IP,
            response(
                "401 Unauthorized",
                via1,
                1,
                [
                    (
                        "WWW-Authenticate",
                        f'Digest realm="{CARRIER_REALM}", nonce="{nonce}", '
                        'algorithm=MD5, qop="auth"',
                    )
                ],
            ),
        )
        t += rng.uniform(0.001, 0.004)
        via2 = f"SIP/2.0/UDP {SBC_REGISTRAR_CLIENT_IP}:{SIP_PORT};branch={self._branch()};rport"
        cnonce = f"{rng.getrandbits(64):016x}"
        resp = _digest_response(
            user,
            CARRIER_REALM,
            TRUNK_PASSWORD,
            method="REGISTER",
            uri=uri,
            nonce=nonce,
            cnonce=cnonce,
            nc="00000001",
        )
        auth = (
            f'Digest username="{user}", realm="{CARRIER_REALM}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc=00000001'
        )
        self._later(
            t,
            SBC_REGISTRAR_CLIENT_IP,
            CARRIER_REGISTRAR_IP,
            _sip(
                f"REGISTER {uri} SIP/2.0",
                [("Via", via2), *base, ("CSeq", "2 REGISTER"), ("Authorization", auth), *contact],
            ),
        )
        t += rng.uniform(0.002, 0.010)
        self._later(
            t,
            CARRIER_REGISTRAR_IP,
            SBC_REGISTRAR_CLIENT_IP,
            response(
                "200 OK",
                via2,
                2,
                [
                    ("Contact", f"<sip:{user}@{SBC_REGISTRAR_CLIENT_IP}:{SIP_PORT}>;expires=3600"),
                    ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
                ],
            ),
        )

    # -- RTP -----------------------------------------------------------------------------------
    def _start_media(
        self,
        now: float,
        dialog: dict[str, str],
        duration: float,
        sbc_side: tuple[str, int] | None = None,
        carrier_side: tuple[str, int] | None = None,
    ) -> None:
        """Both RTP directions of a call, on the addresses its SDP offer/answer gave."""
        rng = self.rng
        sbc_media, sbc_port = sbc_side or (
            SBC_MEDIA_IPS[rng.randrange(len(SBC_MEDIA_IPS))],
            _media_port(rng),
        )
        carrier_media, carrier_port = carrier_side or (
            CARRIER_MEDIA_IPS[rng.randrange(len(CARRIER_MEDIA_IPS))],
            _media_port(rng),
        )
        payload_type = 0 if rng.random() < 0.7 else 8  # PCMU / PCMA (RFC 3551 table 4)
        for src, sport, dst, dport in (
            (sbc_media, sbc_port, carrier_media, carrier_port),
            (carrier_media, carrier_port, sbc_media, sbc_port),
        ):
            src_b, dst_b = _ip_bytes(src), _ip_bytes(dst)
            stream = _RtpStream(
                eth=_mac_for(dst) + _mac_for(src) + ETHERTYPE_IPV4,
                src=src_b,
                dst=dst_b,
                sport=sport,
                dport=dport,
                checksum_base=_ipv4_checksum_base(src_b, dst_b, 20 + 8 + RTP_UDP_PAYLOAD, 0x4000),
                ident=rng.getrandbits(16),
                seq=rng.getrandbits(16),  # RFC 3550 §5.1: random initial seq and timestamp
                timestamp=rng.getrandbits(32),
                ssrc=rng.getrandbits(32),
                payload_type=payload_type,
                end_time=now + duration,
                nominal_time=now + rng.uniform(0.0, 0.002),
                marker=0x80,
            )
            self.push(stream.nominal_time, self._rtp_sender(stream))

    def _rtp_sender(self, stream: _RtpStream) -> Callable[[float], None]:
        pack_body = RTP_BODY.pack
        pack_record = RECORD_HEADER.pack
        voice = self.voice
        jitter = self.jitter
        add = self.writer.add
        push = self.push

        def send(now: float) -> None:
            if self.packets >= self.params.packets:
                return
            ident = stream.ident
            checksum = stream.checksum_base + ident
            checksum = (checksum & 0xFFFF) + (checksum >> 16)
            checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
            seconds = int(now)
            micros = int((now - seconds) * 1_000_000)
            add(
                pack_record(seconds, micros, RTP_FRAME_LEN, RTP_FRAME_LEN)
                + pack_body(
                    stream.eth,
                    0x45,
                    0,
                    20 + 8 + RTP_UDP_PAYLOAD,
                    ident,
                    0x4000,
                    64,
                    IP_PROTO_UDP,
                    checksum,
                    stream.src,
                    stream.dst,
                    stream.sport,
                    stream.dport,
                    8 + RTP_UDP_PAYLOAD,
                    0,
                    0x80,
                    stream.marker | stream.payload_type,
                    stream.seq,
                    stream.timestamp,
                    stream.ssrc,
                    voice[stream.seq & 15],
                )
            )
            self.packets += 1
            self.last_time = max(self.last_time, now)
            stream.ident = (ident + 1) & 0xFFFF
            stream.seq = (stream.seq + 1) & 0xFFFF
            stream.timestamp = (stream.timestamp + RTP_SAMPLES) & 0xFFFFFFFF
            stream.marker = 0
            stream.nominal_time += RTP_INTERVAL
            if stream.nominal_time < stream.end_time:
                push(stream.nominal_time + jitter[stream.seq % 997], send)

        return send


class _StormBuilder:
    """A brute-forcer's REGISTER/INVITE floods and a trunk looping on 407, aimed at one PBX."""

    def __init__(self, params: StormParams, writer: _PcapWriter) -> None:
        self.params = params
        self.writer = writer
        self.rng = random.Random(params.seed)
        self.ids = _IpIdCounter()
        self.heap: list[tuple[float, int, str, str, int, int, bytes]] = []
        self.order = 0
        self.emitted = 0
        self.scheduled = 0
        self.call_ids: set[bytes] = set()
        self.last_time = START_TIME

    def _push(self, t: float, src: str, dst: str, ports: tuple[int, int], message: bytes) -> None:
        self.order += 1
        self.scheduled += 1
        heapq.heappush(self.heap, (t, self.order, src, dst, ports[0], ports[1], message))

    def run(self) -> None:
        rng = self.rng
        t = START_TIME
        kinds = ("register", "register", "register", "invite-scan", "loop")
        index = 0
        heap = self.heap
        limit = self.params.messages
        # Sessions are scheduled ahead of the writer; everything due before the next session
        # start is written first, so the heap holds only a few sessions' worth of messages.
        while self.emitted < limit:
            if self.scheduled < limit:
                kind = kinds[index % len(kinds)]
                index += 1
                self._session(t, kind)
                t += rng.expovariate(self.params.messages_per_second / 10.0)
            while heap and (heap[0][0] <= t or self.scheduled >= limit) and self.emitted < limit:
                when, _, src, dst, sport, dport, message = heapq.heappop(heap)
                frames = _udp_frames(src, dst, sport, dport, payload=message, ids=self.ids)
                when = max(when, self.last_time)
                for offset, frame in enumerate(frames):
                    self.writer.add(_record(when + offset * 0.000004, frame))
                self.last_time = when
                self.emitted += 1
                self.call_ids.add(_call_id_of(message))
            if not heap and self.scheduled >= limit:
                break

    def _session(self, t: float, kind: str) -> None:
        rng = self.rng
        pbx = SBC_IP
        if kind == "loop":
            src, sport = LOOPING_TRUNK_IP, SIP_PORT
            user, ua = "trunk-9000", "Asterisk PBX 16.2.1~dfsg-2ubuntu1"
        else:
            src, sport = BRUTE_FORCER_IP, 5070 + rng.randrange(8)
            user, ua = str(rng.randrange(100, 10_000)), "friendly-scanner"
        call_id = f"{rng.getrandbits(64):016x}{rng.getrandbits(32):08x}"
        tag = f"{rng.getrandbits(32):08x}"
        method = "REGISTER" if kind == "register" else "INVITE"
        uri = (
            f"sip:{PBX_REALM}"
            if method == "REGISTER"
            else f"sip:{rng.randrange(10**10):010d}@{pbx}"
        )
        from_h = f'"{user}" <sip:{user}@{PBX_REALM}>;tag={tag}'
        to_h = f"<sip:{user}@{PBX_REALM}>" if method == "REGISTER" else f"<{uri}>"
        to_tagged = f"{to_h};tag={rng.getrandbits(32):08x}"
        realm = PBX_REALM
        header_name, status = (
            ("WWW-Authenticate", "401 Unauthorized")
            if method == "REGISTER"
            else ("Proxy-Authenticate", "407 Proxy Authentication Required")
        )
        cred_name = "Authorization" if method == "REGISTER" else "Proxy-Authorization"
        body = (
            _sdp(src, src, 4000 + 2 * rng.randrange(1000), rng.randrange(10**6), large=False)
            if method == "INVITE"
            else ""
        )
        nonce = ""
        rounds = {"register": self.params.guesses_per_session, "invite-scan": 1, "loop": 3}[kind]
        for cseq in range(1, rounds + 2):
            via = f"SIP/2.0/UDP {src}:{sport};branch=z9hG4bK-{rng.getrandbits(48):012x};rport"
            headers: list[tuple[str, str]] = [
                ("Via", via),
                ("Max-Forwards", "70"),
                ("From", from_h),
                ("To", to_h),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} {method}"),
                ("Contact", f"<sip:{user}@{src}:{sport}>"),
                ("User-Agent", ua),
            ]
            if cseq > 1:
                guess = f"{rng.randrange(10**6):06d}" if kind != "loop" else WRONG_PASSWORD
                cnonce = f"{rng.getrandbits(32):08x}"
                response = _digest_response(
                    user,
                    realm,
                    guess,
                    method=method,
                    uri=uri,
                    nonce=nonce,
                    cnonce=cnonce,
                    nc="00000001",
                )
                headers.append(
                    (
                        cred_name,
                        (
                            f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                            f'uri="{uri}", response="{response}", algorithm=MD5, '
                            f'cnonce="{cnonce}", qop=auth, nc=00000001'
                        ),
                    )
                )
            if method == "REGISTER":
                headers.append(("Expires", "3600"))
            self._push(
                t, src, pbx, (sport, SIP_PORT), _sip(f"{method} {uri} SIP/2.0", headers, body)
            )
            t += rng.uniform(0.0005, 0.003)
            nonce = f"{rng.getrandbits(128):032x}"
            self._push(
                t,
                pbx,
                src,
                (SIP_PORT, sport),
                _sip(
                    f"SIP/2.0 {status}",
                    [
                        ("Via", f"{via};received={src}"),
                        ("From", from_h),
                        ("To", to_tagged),
                        ("Call-ID", call_id),
                        ("CSeq", f"{cseq} {method}"),
                        (
                            header_name,
                            f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"',
                        ),
                        ("Server", "FPBX-16.0.40(18.20.0)"),
                    ],
                ),
            )
            t += rng.uniform(0.0002, 0.001)
            if method == "INVITE":
                self._push(
                    t,
                    src,
                    pbx,
                    (sport, SIP_PORT),
                    _sip(
                        f"ACK {uri} SIP/2.0",
                        [
                            ("Via", via),
                            ("Max-Forwards", "70"),
                            ("From", from_h),
                            ("To", to_tagged),
                            ("Call-ID", call_id),
                            ("CSeq", f"{cseq} ACK"),
                            ("User-Agent", ua),
                        ],
                    ),
                )
                t += rng.uniform(0.0005, 0.003)


def _cached(kind: str, params: TrunkParams | StormParams, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    size = params.packets if isinstance(params, TrunkParams) else params.messages
    stem = f"{kind}-{size}-{_params_hash(kind, params)}"
    return out_dir / f"{stem}.pcap", out_dir / f"{stem}.json"


def _prune_stale(pcap_path: Path) -> None:
    """Remove captures of the same kind and size made with other parameters or an older
    generator: they are never read again and the 5 M-packet trunk alone is 1.2 GB."""
    kind_size = pcap_path.stem.rsplit("-", 1)[0]
    for old in pcap_path.parent.glob(f"{kind_size}-*"):
        if old.stem != pcap_path.stem and old.suffix in (".pcap", ".json"):
            old.unlink(missing_ok=True)


def _load(meta_path: Path, pcap_path: Path) -> GeneratedCapture | None:
    try:
        meta = json.loads(meta_path.read_text())
        capture = GeneratedCapture(path=pcap_path, **{k: v for k, v in meta.items() if k != "path"})
    except (OSError, ValueError, TypeError):
        return None
    if not pcap_path.is_file() or pcap_path.stat().st_size != capture.size_bytes:
        return None
    return capture


def _save(meta_path: Path, capture: GeneratedCapture) -> None:
    meta = asdict(capture)
    meta["path"] = str(capture.path)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def generate_trunk(params: TrunkParams | None = None, out_dir: Path = OUT_DIR) -> GeneratedCapture:
    """Write (or reuse) the trunk capture for ``params`` and return what it contains."""
    params = params or TrunkParams()
    pcap_path, meta_path = _cached("trunk", params, out_dir)
    cached = _load(meta_path, pcap_path)
    if cached is not None:
        return cached
    _prune_stale(pcap_path)
    tmp = pcap_path.with_suffix(f".tmp{os.getpid()}")
    writer = _PcapWriter(tmp)
    builder = _TrunkBuilder(params, writer)
    try:
        builder.run()
    finally:
        writer.close()
    os.replace(tmp, pcap_path)
    capture = GeneratedCapture(
        path=pcap_path,
        packets=builder.packets,
        sip_messages=builder.sip_messages,
        sip_packets=builder.sip_packets,
        fragmented_messages=builder.fragmented,
        call_ids=len(builder.call_ids),
        duration=round(builder.last_time - START_TIME, 6),
        size_bytes=writer.size,
    )
    _save(meta_path, capture)
    return capture


def generate_storm(params: StormParams | None = None, out_dir: Path = OUT_DIR) -> GeneratedCapture:
    """Write (or reuse) the storm capture for ``params`` and return what it contains."""
    params = params or StormParams()
    pcap_path, meta_path = _cached("storm", params, out_dir)
    cached = _load(meta_path, pcap_path)
    if cached is not None:
        return cached
    _prune_stale(pcap_path)
    tmp = pcap_path.with_suffix(f".tmp{os.getpid()}")
    writer = _PcapWriter(tmp)
    builder = _StormBuilder(params, writer)
    try:
        builder.run()
    finally:
        writer.close()
    os.replace(tmp, pcap_path)
    capture = GeneratedCapture(
        path=pcap_path,
        packets=builder.emitted,
        sip_messages=builder.emitted,
        sip_packets=builder.emitted,
        fragmented_messages=0,
        call_ids=len(builder.call_ids),
        duration=round(builder.last_time - START_TIME, 6),
        size_bytes=writer.size,
    )
    _save(meta_path, capture)
    return capture


def _describe(capture: GeneratedCapture) -> Iterator[str]:
    yield f"{capture.path}"
    yield (
        f"  {capture.packets:,} packets, {capture.size_bytes / 1e6:.1f} MB, "
        f"{capture.duration:.1f} s of traffic"
    )
    yield (
        f"  {capture.sip_messages:,} SIP messages in {capture.sip_packets:,} packets "
        f"({100 * capture.sip_packets / max(capture.packets, 1):.2f} %), "
        f"{capture.fragmented_messages} fragmented, {capture.call_ids:,} Call-IDs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--packets", type=int, default=TrunkParams().packets, help="trunk packets")
    parser.add_argument(
        "--storm", type=int, default=StormParams().messages, help="storm SIP messages"
    )
    parser.add_argument(
        "--big", action="store_true", help="also write the 5 M-packet trunk (memory check)"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    captures = [
        generate_trunk(TrunkParams(packets=args.packets), args.out),
        generate_storm(StormParams(messages=args.storm), args.out),
    ]
    if args.big:
        captures.append(generate_trunk(TrunkParams(packets=5_000_000), args.out))
    for capture in captures:
        for line in _describe(capture):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
