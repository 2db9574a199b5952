"""Test helper: drive a ``TransportDemux`` from a real capture decoded by scapy.

The project's own file reader is written in parallel; until it lands, this helper does the
link/IP/transport decoding with scapy (a dev dependency) and feeds the demux exactly as the
reader will: UDP payload + UDP length, TCP segments with seq/flags, SCTP chunks.
IP fragments are not reassembled here (the captures driven through it have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sipauth_analyzer.capture.model import CapturedMessage, CaptureOptions, CaptureStats
from sipauth_analyzer.capture.transport import TransportDemux
from sipauth_analyzer.primitives import NoteSink

REAL_PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real_pcaps"


@dataclass
class DriveResult:
    messages: list[CapturedMessage]
    notes: NoteSink
    stats: CaptureStats
    demux: TransportDemux
    skipped_fragments: list[int] = field(default_factory=list)


def drive(path: Path, options: CaptureOptions | None = None) -> DriveResult:
    from scapy.all import IP, SCTP, TCP, UDP, IPv6, PcapReader

    options = options or CaptureOptions()
    notes = NoteSink()
    stats = CaptureStats()
    demux = TransportDemux(options, notes, stats, path.name)
    messages: list[CapturedMessage] = []
    skipped: list[int] = []
    with PcapReader(str(path)) as reader:
        for frame, packet in enumerate(reader, start=1):
            time = float(packet.time)
            if IP in packet:
                ip = packet[IP]
                if ip.flags.MF or ip.frag:
                    skipped.append(frame)
                    continue
                src, dst = ip.src, ip.dst
            elif IPv6 in packet:
                ip = packet[IPv6]
                src, dst = ip.src, ip.dst
            else:
                continue
            if UDP in ip:
                udp = ip[UDP]
                payload = bytes(udp.payload)[: max(udp.len - 8, 0)]  # drop Ethernet padding
                messages += demux.udp(frame, time, (frame,), src, dst, udp.sport, udp.dport,
                                      payload, udp.len - 8, 0, frozenset())
            elif TCP in ip:
                tcp = ip[TCP]
                payload = bytes(tcp.payload)
                if IP in packet:
                    wire = ip.len - ip.ihl * 4 - tcp.dataofs * 4
                else:
                    wire = ip.plen - tcp.dataofs * 4  # no extension headers in these files
                payload = payload[: max(wire, 0)]  # scapy keeps Ethernet padding as payload
                messages += demux.tcp(frame, time, src, dst, tcp.sport, tcp.dport, tcp.seq,
                                      int(tcp.flags), payload, wire > len(payload))
            elif SCTP in ip:
                raw = bytes(ip[SCTP])
                messages += demux.sctp(frame, time, src, dst, ip[SCTP].sport, ip[SCTP].dport,
                                       raw[12:])
    messages += demux.finish()
    return DriveResult(messages, notes, stats, demux, skipped)
