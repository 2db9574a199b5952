"""Tests for the ``--engine tshark`` capture engine (sipauth_analyzer.capture.tshark_engine).

Three kinds of test:

* the JSON splitting and per-packet parsing, on hand-written tshark-shaped JSON (no tshark needed);
* error handling: missing tshark, missing key log, unreadable capture, cut-short capture;
* agreement with tshark's own ``-Y sip -T fields`` output on real captures, with the native
  engine on synthetic captures (byte for byte), and TLS decryption of a capture built by
  tests/captures/tls/build_tls_capture.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Generator
from pathlib import Path

import pytest

from sipauth_analyzer.capture import read_messages
from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.capture.model import (
    FLAG_IP_REASSEMBLED,
    FLAG_TCP_REASSEMBLED,
    FLAG_TRUNCATED,
    FLAG_WEBSOCKET,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.capture.tshark_engine import (
    TSHARK_MISSING,
    ParsedPacket,
    TsharkOptions,
    packet_json_chunks,
    parse_packet,
    read_messages_tshark,
)
from sipauth_analyzer.primitives import Endpoint, NoteSink, Transport

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
TLS_DIR = CAPTURES / "tls"
TLS_PCAP = TLS_DIR / "sip_tls_register.pcap"
TLS_KEYLOG = TLS_DIR / "sip_tls_register.keylog"
REAL_PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real_pcaps"

HAVE_TSHARK = shutil.which("tshark") is not None
needs_tshark = pytest.mark.skipif(not HAVE_TSHARK, reason="tshark is not installed")
needs_real = pytest.mark.skipif(not REAL_PCAPS.is_dir(),
                                reason=f"real captures not present at {REAL_PCAPS}")

REGISTER = (b"REGISTER sip:example.com SIP/2.0\r\nCall-ID: a@b\r\nCSeq: 1 REGISTER\r\n"
            b"Content-Length: 0\r\n\r\n")
CHALLENGE = (b"SIP/2.0 401 Unauthorized\r\nCall-ID: a@b\r\nCSeq: 1 REGISTER\r\n"
             b'WWW-Authenticate: Digest realm="example.com", nonce="n"\r\n'
             b"Content-Length: 0\r\n\r\n")


def _read(paths: list[Path], **kwargs: object) -> tuple[list[CapturedMessage], NoteSink,
                                                       CaptureStats]:
    notes, stats = NoteSink(), CaptureStats()
    messages = list(read_messages_tshark([str(p) for p in paths], CaptureOptions(), notes, stats,
                                         **kwargs))  # type: ignore[arg-type]
    return messages, notes, stats


# --- splitting tshark's JSON ------------------------------------------------------------------


def _pretty(packets: list[dict[str, object]]) -> list[str]:
    """Exactly how tshark lays out ``-T json``: two-space indent, one object per packet."""
    text = json.dumps(packets, indent=2)
    return text.splitlines(keepends=True)


def test_chunks_split_one_text_per_packet() -> None:
    packets: list[dict[str, object]] = [{"_source": {"layers": {"n": i, "s": "a\\n}"}}}
                                        for i in range(3)]
    chunks = list(packet_json_chunks(_pretty(packets), limit=10_000))
    assert [json.loads(c) for c in chunks if isinstance(c, str)] == packets
    assert len(chunks) == 3


def test_chunks_oversized_packet_is_skipped_with_its_size() -> None:
    packets: list[dict[str, object]] = [
        {"_source": {"layers": {"small": 1}}},
        {"_source": {"layers": {"big": ["x" * 200] * 50}}},
        {"_source": {"layers": {"small": 2}}},
    ]
    chunks = list(packet_json_chunks(_pretty(packets), limit=500))
    assert isinstance(chunks[1], int) and chunks[1] > 500
    assert [json.loads(c) for c in chunks if isinstance(c, str)] == [packets[0], packets[2]]


def test_chunks_ignore_a_packet_cut_off_by_a_dying_tshark() -> None:
    lines = _pretty([{"_source": {"layers": {"n": 1}}}, {"_source": {"layers": {"n": 2}}}])
    cut = lines[: len(lines) // 2 + 3]
    chunks = list(packet_json_chunks(cut, limit=10_000))
    assert all(isinstance(c, str) for c in chunks)
    assert len(chunks) <= 1


# --- one packet -------------------------------------------------------------------------------


def _raw(data: bytes, offset: int = 0) -> list[object]:
    return [data.hex(), offset, len(data), 0, 1]


def _packet(layers: dict[str, object]) -> str:
    return json.dumps({"_index": "packets", "_source": {"layers": layers}}, indent=2)


def _frame(number: int, protocols: str, *, cap_len: int = 100, length: int = 100
           ) -> dict[str, object]:
    return {"frame.number": str(number), "frame.time_epoch": "1700000000.250000000",
            "frame.protocols": protocols, "frame.cap_len": str(cap_len), "frame.len": str(length)}


def _parse(layers: dict[str, object], options: CaptureOptions | None = None,
           notes: NoteSink | None = None) -> ParsedPacket | None:
    return parse_packet(_packet(layers), "x.pcap", options or CaptureOptions(), TsharkOptions(),
                        notes or NoteSink())


def test_parse_udp_message_uses_udp_length_for_wire_size() -> None:
    packet = _parse({
        "frame": _frame(7, "eth:ethertype:ip:udp:sip"),
        "ip": {"ip.src": "192.0.2.1", "ip.dst": "192.0.2.2"},
        "udp": {"udp.srcport": "5060", "udp.dstport": "5070", "udp.length": str(8 + 900)},
        "sip_raw": _raw(REGISTER),
    })
    assert packet is not None
    (message,) = packet.messages
    assert message.data == REGISTER
    assert (message.frame, message.frames, message.time) == (7, (7,), 1700000000.25)
    assert message.src == Endpoint("192.0.2.1", 5060)
    assert message.dst == Endpoint("192.0.2.2", 5070)
    assert message.transport is Transport.UDP
    assert message.wire_size == 900
    assert message.flags == frozenset()


def test_parse_two_messages_in_one_tcp_segment_after_reassembly() -> None:
    packet = _parse({
        "frame": _frame(9, "eth:ethertype:ipv6:tcp:sip"),
        "ipv6": {"ipv6.src": "2001:db8:0:0::1", "ipv6.dst": "2001:db8::2"},
        "tcp": {"tcp.srcport": "5060", "tcp.dstport": "40000"},
        "tcp.segments": {"tcp.segment": ["4", "9"], "tcp.segment.count": "2"},
        "sip_raw": [_raw(CHALLENGE), _raw(REGISTER, len(CHALLENGE))],
    })
    assert packet is not None
    first, second = packet.messages
    assert (first.data, second.data) == (CHALLENGE, REGISTER)
    # Only the first PDU of the frame can have started in an earlier segment.
    assert first.frames == (4, 9) and FLAG_TCP_REASSEMBLED in first.flags
    assert second.frames == (9,) and FLAG_TCP_REASSEMBLED not in second.flags
    assert first.src == Endpoint("2001:db8::1", 5060)  # compressed IPv6 text
    assert first.transport is Transport.TCP
    assert first.wire_size == len(CHALLENGE)


def test_parse_tunnel_uses_the_inner_ip_header_and_ip_fragments() -> None:
    packet = _parse({
        "frame": _frame(3, "eth:ethertype:ip:gre:ip:udp:sip"),
        "ip": [{"ip.src": "10.0.0.1", "ip.dst": "10.0.0.2"},
               {"ip.src": "192.0.2.1", "ip.dst": "192.0.2.2",
                "ip.fragments": "aa:bb", "ip.fragments_tree": {"ip.fragment": ["1", "3"]}}],
        "udp": {"udp.srcport": "5060", "udp.dstport": "5060", "udp.length": "9000"},
        "sip_raw": _raw(REGISTER),
    })
    assert packet is not None
    (message,) = packet.messages
    assert message.src.ip == "192.0.2.1"
    assert message.frames == (1, 3)
    assert message.ip_fragments == 2
    assert FLAG_IP_REASSEMBLED in message.flags


def test_parse_websocket_tls_and_truncated_frames() -> None:
    ws = _parse({"frame": _frame(5, "eth:ethertype:ip:tcp:http:websocket:sip"),
                 "ip": {"ip.src": "192.0.2.1", "ip.dst": "192.0.2.2"},
                 "tcp": {"tcp.srcport": "8080", "tcp.dstport": "4000"},
                 "sip_raw": _raw(REGISTER)})
    tls = _parse({"frame": _frame(6, "eth:ethertype:ip:tcp:tls:sip", cap_len=60, length=100),
                  "ip": {"ip.src": "192.0.2.1", "ip.dst": "192.0.2.2"},
                  "tcp": {"tcp.srcport": "5061", "tcp.dstport": "4000"},
                  "sip_raw": _raw(REGISTER)})
    assert ws is not None and tls is not None
    assert ws.messages[0].transport is Transport.WS
    assert FLAG_WEBSOCKET in ws.messages[0].flags and not ws.over_tls
    assert tls.messages[0].transport is Transport.TLS and tls.over_tls
    assert FLAG_TRUNCATED in tls.messages[0].flags


def test_parse_client_hello_without_sip_reports_the_tls_flow() -> None:
    packet = _parse({"frame": _frame(4, "eth:ethertype:ip:tcp:tls"),
                     "ip": {"ip.src": "192.0.2.1", "ip.dst": "192.0.2.2"},
                     "tcp": {"tcp.srcport": "40000", "tcp.dstport": "5061"}})
    assert packet is not None
    assert packet.messages == ()
    assert packet.tls_client_hello == (Endpoint("192.0.2.1", 40000), Endpoint("192.0.2.2", 5061))


def test_parse_cuts_a_message_above_max_message_size_and_notes_it() -> None:
    notes = NoteSink()
    packet = _parse({"frame": _frame(2, "eth:ethertype:ip:udp:sip"),
                     "ip": {"ip.src": "192.0.2.1", "ip.dst": "192.0.2.2"},
                     "udp": {"udp.srcport": "5060", "udp.dstport": "5060"},
                     "sip_raw": _raw(REGISTER)},
                    options=CaptureOptions(max_message_size=20), notes=notes)
    assert packet is not None
    assert packet.messages[0].data == REGISTER[:20]
    assert [n.kind for n in notes.notes] == ["sip-too-large"]


def test_parse_garbage_becomes_a_note_not_an_exception() -> None:
    notes = NoteSink()
    options, topts = CaptureOptions(), TsharkOptions()
    assert parse_packet("  {\n  \"_source\": [1,", "x.pcap", options, topts, notes) is None
    assert [n.kind for n in notes.notes] == ["tshark-output-malformed"]
    assert parse_packet("  [1, 2]", "x.pcap", options, topts, notes) is None
    bad_hex = _parse({"frame": _frame(1, "eth:ethertype:ip:udp:sip"), "sip_raw": ["zz", 0, 1]})
    assert bad_hex is not None and bad_hex.messages == ()
    no_layers = _parse({"frame": _frame(1, "sip"), "ip": "nonsense", "udp": [],
                        "sip_raw": _raw(REGISTER)})
    assert no_layers is not None
    assert no_layers.messages[0].src == Endpoint("", 0)


# --- errors -----------------------------------------------------------------------------------


def test_missing_tshark_is_a_one_line_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as caught:
        _read([tmp_path / "x.pcap"],
              tshark_options=TsharkOptions(tshark="no-such-tshark-binary-sipauth"))
    assert str(caught.value) == TSHARK_MISSING


@needs_tshark
def test_missing_keylog_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="key log"):
        _read([CAPTURES / "link_ethernet.pcap"], tls_keylog=str(tmp_path / "nope.keylog"))


@needs_tshark
def test_unreadable_capture_is_a_one_line_capture_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.pcap"
    text.write_text("this is not a capture\n" * 10)
    with pytest.raises(CaptureError) as caught:
        _read([text])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{text}: ") and "capture file" in message
    with pytest.raises(CaptureError, match="no such file"):
        _read([tmp_path / "absent.pcap"])


@needs_tshark
def test_bad_decode_as_rule_is_a_capture_error() -> None:
    with pytest.raises(CaptureError, match="abc"):
        _read([CAPTURES / "link_ethernet.pcap"], decode_as=["udp.port==abc,sip"])


@needs_tshark
def test_cut_short_capture_keeps_its_messages_and_notes_the_truncation() -> None:
    messages, notes, _ = _read([CAPTURES / "last_record_cut.pcap"])
    assert [m.frame for m in messages] == [1, 2, 3]
    (note,) = [n for n in notes.notes if n.kind == "capture-truncated"]
    assert "cut short" in note.detail and note.frames == (3,)


@needs_tshark
def test_stopping_early_does_not_hang() -> None:
    notes, stats = NoteSink(), CaptureStats()
    stream = read_messages_tshark([str(CAPTURES / "link_ethernet.pcap")], CaptureOptions(),
                                  notes, stats)
    assert isinstance(stream, Generator)
    first = next(stream)
    stream.close()  # must kill tshark and return, not wait for it to finish
    assert first.frame == 1


# --- agreement with tshark itself and with the native engine ----------------------------------


_TRANSPORT_BY_PROTOCOL = (("websocket", Transport.WS), ("tls", Transport.TLS),
                          ("sctp", Transport.SCTP), ("tcp", Transport.TCP),
                          ("udp", Transport.UDP))
_SEPARATOR = "\x1f"  # aggregator for repeated fields: cannot occur in a SIP header value


def _tshark_fields(path: Path) -> list[tuple[int, str, str, Transport]]:
    """(frame, Call-ID, CSeq, transport) per SIP message, straight from ``tshark -Y sip``."""
    out = subprocess.run(
        ["tshark", "-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", str(path), "-Y", "sip",
         "-T", "fields", "-E", "occurrence=a",
         "-E", f"aggregator={_SEPARATOR}", "-e", "frame.number", "-e", "sip.Call-ID",
         "-e", "sip.CSeq", "-e", "frame.protocols"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    rows: list[tuple[int, str, str, Transport]] = []
    for line in out.splitlines():
        frame, call_ids, cseqs, protocols = line.split("\t")
        names = protocols.split(":")
        transport = next(t for name, t in _TRANSPORT_BY_PROTOCOL if name in names)
        for call_id, cseq in zip(call_ids.split(_SEPARATOR), cseqs.split(_SEPARATOR),
                                 strict=True):
            rows.append((int(frame), call_id, cseq, transport))
    return rows


def _header(data: bytes, *names: str) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    pattern = "|".join(re.escape(name) for name in names)
    found = re.search(rf"(?im)^(?:{pattern})[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", head)
    return found.group(1) if found else ""


@needs_tshark
@needs_real
@pytest.mark.parametrize("name", [
    "OISF_suricata-verify/sip-method__sip.pcap",
    "sipcapture_heplify/sip_tcp_websocket.pcap",
    "aboutsip_pkts/fragmented_tcp_sip.pcap",
])
def test_real_captures_match_tshark_fields(name: str) -> None:
    path = REAL_PCAPS / name
    messages, _, stats = _read([path])
    got = [(m.frame, _header(m.data, "Call-ID", "i"), _header(m.data, "CSeq"), m.transport)
           for m in messages]
    expected = _tshark_fields(path)
    assert got == expected
    assert stats.sip_messages == len(expected)
    assert stats.files == [str(path)]


@needs_tshark
@needs_real
def test_real_capture_details() -> None:
    aaa = REAL_PCAPS / "OISF_suricata-verify/sip-method__sip.pcap"
    messages, _, stats = _read([aaa])
    assert stats.packets == 691  # every frame, not just the SIP ones
    assert len(messages) == 81
    assert stats.first_time is not None and stats.last_time is not None
    assert stats.first_time == pytest.approx(1120469540.839312)
    assert stats.last_time == pytest.approx(1120471107.427770)
    assert all(m.wire_size == len(m.data) for m in messages)  # nothing cut or truncated

    # fragmented_tcp_sip.pcap: one 5155-byte INVITE in segments 4, 6 and 8.
    tcp_messages, _, _ = _read([REAL_PCAPS / "aboutsip_pkts/fragmented_tcp_sip.pcap"])
    invite = tcp_messages[0]
    assert (invite.frame, invite.frames) == (8, (4, 6, 8))
    assert FLAG_TCP_REASSEMBLED in invite.flags
    length = int(_header(invite.data, "Content-Length", "l"))
    assert len(invite.data) == invite.data.index(b"\r\n\r\n") + 4 + length

    # sip_tcp_websocket.pcap: WebSocket payloads arrive unmasked (RFC 6455 §5.3).
    ws_messages, _, _ = _read([REAL_PCAPS / "sipcapture_heplify/sip_tcp_websocket.pcap"])
    ws = [m for m in ws_messages if m.transport is Transport.WS]
    assert ws and all(FLAG_WEBSOCKET in m.flags for m in ws)
    assert all(m.data.split(b" ", 1)[0] in (b"SIP/2.0", b"INVITE", b"ACK", b"BYE", b"CANCEL",
                                              b"OPTIONS", b"REGISTER", b"PRACK", b"UPDATE")
               for m in ws)


def _key(m: CapturedMessage) -> tuple[object, ...]:
    return (m.frame, m.frames, m.src, m.dst, m.transport, m.data, m.wire_size, m.ip_fragments,
            m.flags)


@needs_tshark
@pytest.mark.parametrize("name", [
    "link_ethernet.pcap", "link_sll2.pcap", "link_ipv6_229.pcap", "link_null_le.pcap",
    "pcapng_two_interfaces.pcapng", "gzip_pcapng.pcapng", "tunnel_vxlan.pcap",
    "tunnel_6in4.pcap", "tunnel_erspan3.pcap", "frag4_two.pcap", "frag4_three.pcap",
    "frag6_complete.pcap", "tcp_split3.pcap", "tcp_coalesced.pcap", "tcp_out_of_order.pcap",
    "tcp_overlap.pcap", "tcp_retransmission.pcap", "websocket.pcap", "nonstandard_ports.pcap",
    "snaplen_truncated.pcap",
])
def test_synthetic_captures_match_the_native_engine_byte_for_byte(name: str) -> None:
    path = CAPTURES / name
    native = list(read_messages([str(path)], CaptureOptions(), NoteSink(), CaptureStats()))
    tshark, _, stats = _read([path])
    assert native, "the capture should hold SIP"
    assert [_key(m) for m in tshark] == [_key(m) for m in native]
    native_stats = CaptureStats()
    list(read_messages([str(path)], CaptureOptions(), NoteSink(), native_stats))
    assert stats.packets == native_stats.packets
    assert (stats.first_time, stats.last_time) == pytest.approx(
        (native_stats.first_time, native_stats.last_time))
    # capinfos counts bytes as they were on the wire; the native engine counts what was saved.
    if any(FLAG_TRUNCATED in m.flags for m in native):
        assert stats.bytes > native_stats.bytes
    else:
        assert stats.bytes == native_stats.bytes


@needs_tshark
def test_coalesced_tcp_segment_yields_both_messages() -> None:
    # The case pyshark gets wrong: frame 5 carries a 100 Trying and a 401 in one segment.
    messages, _, _ = _read([CAPTURES / "tcp_coalesced.pcap"])
    in_frame_5 = [m.data.split(b"\r\n", 1)[0] for m in messages if m.frame == 5]
    assert in_frame_5 == [b"SIP/2.0 100 Trying", b"SIP/2.0 401 Unauthorized"]


# --- TLS decryption ---------------------------------------------------------------------------


needs_tls_capture = pytest.mark.skipif(
    not (TLS_PCAP.is_file() and TLS_KEYLOG.is_file()),
    reason="run tests/captures/tls/build_tls_capture.py to build the TLS capture")


@needs_tshark
@needs_tls_capture
def test_tls_capture_is_decrypted_with_the_key_log() -> None:
    messages, notes, stats = _read([TLS_PCAP], tls_keylog=str(TLS_KEYLOG))
    starts = [m.data.split(b"\r\n", 1)[0] for m in messages]
    assert starts == [b"REGISTER sip:sip.example.com SIP/2.0", b"SIP/2.0 401 Unauthorized",
                      b"REGISTER sip:sip.example.com SIP/2.0", b"SIP/2.0 200 OK"]
    assert all(m.transport is Transport.TLS for m in messages)
    client, server = Endpoint("127.0.0.1", 50611), Endpoint("127.0.0.1", 5061)
    assert [(m.src, m.dst) for m in messages] == [(client, server), (server, client)] * 2
    challenge = messages[1]
    assert _header(challenge.data, "WWW-Authenticate").startswith('Digest realm="sip.example.com"')
    assert _header(messages[2].data, "Authorization").startswith('Digest username="alice"')
    assert {_header(m.data, "Call-ID") for m in messages} == {"tls-register-1@127.0.0.1"}
    for message in messages:  # byte-exact: headers, blank line, Content-Length body
        assert message.data.endswith(b"\r\n\r\n")
        assert _header(message.data, "Content-Length") == "0"
    assert stats.tls_flows == 1
    assert not [n for n in notes.notes if n.kind == "tls-flow"]


@needs_tshark
@needs_tls_capture
def test_tls_capture_without_key_log_yields_nothing_but_a_note() -> None:
    messages, notes, stats = _read([TLS_PCAP])
    assert messages == []
    assert stats.tls_flows == 1
    (note,) = [n for n in notes.notes if n.kind == "tls-flow"]
    assert "127.0.0.1:5061" in note.detail and "--tls-keylog" in note.detail


@needs_tshark
@needs_tls_capture
def test_tls_capture_with_the_wrong_key_log_says_so(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.keylog"
    wrong.write_text("".join(
        line.rsplit(" ", 1)[0] + " " + "00" * 32 + "\n"
        for line in TLS_KEYLOG.read_text().splitlines() if line.strip()))
    messages, notes, _ = _read([TLS_PCAP], tls_keylog=str(wrong))
    assert messages == []
    (note,) = [n for n in notes.notes if n.kind == "tls-flow"]
    assert str(wrong) in note.detail
