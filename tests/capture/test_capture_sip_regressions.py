"""Regression tests for defects a review of the capture and SIP stages found, now fixed.

Secrets quoted into parse-problem notes; a new fragmented datagram reusing a completed one's
IP ID dropped as a "late duplicate"; the same file given twice read twice. Captures are
built in ``tmp_path`` with ``struct`` (raw-IP link type, RFC 791 headers) so the
inputs are byte-exact and need nothing outside the standard library.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from sipauth_analyzer.pipeline import analyze, read_sip
from sipauth_analyzer.primitives import Note

LINKTYPE_RAW = 101
RESPONSE_HEX = "0123456789abcdef0123456789abcdef"


def _pcap(path: Path, packets: list[tuple[float, bytes]]) -> str:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
    for time, data in packets:
        seconds = int(time)
        out += struct.pack("<IIII", seconds, int((time - seconds) * 1e6), len(data), len(data))
        out += data
    path.write_bytes(bytes(out))
    return str(path)


def _ipv4(payload: bytes, *, ident: int = 1, frag_offset: int = 0, more: bool = False,
          src: bytes = bytes([192, 0, 2, 1]), dst: bytes = bytes([192, 0, 2, 2])) -> bytes:
    flags = (0x2000 if more else 0) | (frag_offset // 8)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, 17, 0,
                       src, dst) + payload


def _udp(payload: bytes, sport: int = 5060, dport: int = 5060) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _sip(start: str, cseq: int, method: str, extra: list[str], body: bytes = b"") -> bytes:
    headers = [
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{cseq}",
        "From: <sip:alice@example.test>;tag=1",
        "To: <sip:alice@example.test>",
        "Call-ID: review-1@192.0.2.1",
        f"CSeq: {cseq} {method}",
        *extra,
        f"Content-Length: {len(body)}",
    ]
    return (start + "\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode() + body


def _all_text(notes: Sequence[Note]) -> str:
    return "\n".join(f"{note.kind} {note.detail}" for note in notes)


def test_digest_syntax_note_does_not_leak_response(tmp_path: Path) -> None:
    # A missing comma after username: the "junk after username" detail quotes what follows.
    authorization = (f'Authorization: Digest username="alice" response="{RESPONSE_HEX}", '
                     'realm="example.test", nonce="n1", uri="sip:example.test"')
    packets = [
        (1.0, _ipv4(_udp(_sip("REGISTER sip:example.test SIP/2.0", 1, "REGISTER", [])))),
        (1.1, _ipv4(_udp(_sip("SIP/2.0 401 Unauthorized", 1, "REGISTER",
                              ['WWW-Authenticate: Digest realm="example.test", nonce="n1"'])),
                    src=bytes([192, 0, 2, 2]), dst=bytes([192, 0, 2, 1]))),
        (1.2, _ipv4(_udp(_sip("REGISTER sip:example.test SIP/2.0", 2, "REGISTER",
                              [authorization])))),
    ]
    result = analyze([_pcap(tmp_path / "leak.pcap", packets)])
    assert any(note.kind.endswith("auth-syntax") for note in result.notes)  # the path ran
    assert RESPONSE_HEX[:12] not in _all_text(result.notes)


def test_header_without_colon_note_does_not_leak_response() -> None:
    from sipauth_analyzer.capture.model import CapturedMessage
    from sipauth_analyzer.primitives import Endpoint, Transport
    from sipauth_analyzer.sip.message import SipMessage
    from sipauth_analyzer.sip.parser import parse

    data = _sip("REGISTER sip:example.test SIP/2.0", 2, "REGISTER",
                [f'Proxy-Authorization Digest response="{RESPONSE_HEX}", username="alice"'])
    captured = CapturedMessage(data, "x.pcap", 1, (1,), 0.0, Endpoint("192.0.2.1", 5060),
                               Endpoint("192.0.2.2", 5060), Transport.UDP, len(data))
    message = parse(captured)
    assert isinstance(message, SipMessage)
    problems = message.problems
    assert any(problem.kind == "header-no-colon" for problem in problems)
    assert all(RESPONSE_HEX[:8] not in problem.detail for problem in problems)


def test_ip_id_reuse_within_timeout_keeps_second_datagram(tmp_path: Path) -> None:
    packets: list[tuple[float, bytes]] = []
    for cseq, time in ((1, 10.0), (2, 15.0)):  # 5 s apart, same src/dst/ID/proto
        body = b"v=0\r\n" + b"a=x\r\n" * 300
        datagram = _udp(_sip("INVITE sip:bob@example.test SIP/2.0", cseq, "INVITE", [], body))
        first, second = datagram[:1000], datagram[1000:]
        packets.append((time, _ipv4(first, ident=0x1234, more=True)))
        packets.append((time, _ipv4(second, ident=0x1234, frag_offset=1000)))
    read = read_sip([_pcap(tmp_path / "idreuse.pcap", packets)])
    # tshark -Y sip shows frames 2 and 4 (each datagram reassembled in its last fragment).
    assert [m.source.frame for m in read.messages] == [2, 4]
    assert [m.cseq_number for m in read.messages] == [1, 2]


def test_late_duplicate_fragment_is_still_ignored(tmp_path: Path) -> None:
    body = b"v=0\r\n" + b"a=x\r\n" * 300
    datagram = _udp(_sip("INVITE sip:bob@example.test SIP/2.0", 1, "INVITE", [], body))
    first, second = datagram[:1000], datagram[1000:]
    packets = [
        (10.0, _ipv4(first, ident=0x1234, more=True)),
        (10.0, _ipv4(second, ident=0x1234, frag_offset=1000)),
        (11.0, _ipv4(second, ident=0x1234, frag_offset=1000)),  # the same fragment, late
    ]
    read = read_sip([_pcap(tmp_path / "dup.pcap", packets)])
    assert [m.source.frame for m in read.messages] == [2]
    assert not [n for n in read.notes if n.kind == "ip-fragments-incomplete"]


def test_a_file_given_twice_is_read_once(tmp_path: Path) -> None:
    packets = [(1.0, _ipv4(_udp(_sip("OPTIONS sip:example.test SIP/2.0", 1, "OPTIONS", []))))]
    path = _pcap(tmp_path / "once.pcap", packets)
    read = read_sip([path, str(tmp_path), path])
    assert [m.source.frame for m in read.messages] == [1]
    assert read.stats.packets == 1
    assert [n.kind for n in read.notes] == ["capture-repeated", "capture-repeated"]
