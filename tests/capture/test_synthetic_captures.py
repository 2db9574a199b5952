"""Every synthetic capture in tests/captures/ read end to end through ``read_sip``.

The captures were built by tests/captures/build_captures.py, so the truth is known exactly: for
each file this asserts the list of messages read — (frame, frames, method or status, Call-ID,
CSeq number, transport, sorted flags) in capture order — and the kinds of the notes raised.
Frame numbers are Wireshark's (tests/test_tshark_parity.py checks them against tshark).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import SipRead, read_sip
from sipauth_analyzer.primitives import Endpoint, Transport
from tests.conftest import CAPTURES_DIR

UDP, TCP, WS = Transport.UDP, Transport.TCP, Transport.WS
IP_REASSEMBLED, TCP_REASSEMBLED = "ip-reassembled", "tcp-reassembled"
INCOMPLETE, TRUNCATED, HEP, WEBSOCKET = "incomplete", "truncated", "hep", "websocket"
BASE_TIME = 1_700_000_000  # build_captures.BASE_TIME; frames are 20 ms apart

Row = tuple[int, tuple[int, ...], str, str | None, int | None, Transport, tuple[str, ...]]


def row(
    frame: int,
    what: str,
    call_id: str | None,
    cseq: int | None,
    transport: Transport = UDP,
    *,
    frames: tuple[int, ...] | None = None,
    flags: tuple[str, ...] = (),
) -> Row:
    return (frame, frames or (frame,), what, call_id, cseq, transport, tuple(sorted(flags)))


def register(
    call_id: str,
    frames: tuple[int, int, int, int] = (1, 2, 3, 4),
    transport: Transport = UDP,
    flags: tuple[str, ...] = (),
) -> list[Row]:
    """REGISTER → 401 → REGISTER with Authorization → 200, one frame each."""
    a, b, c, d = frames
    return [
        row(a, "REGISTER", call_id, 1, transport, flags=flags),
        row(b, "401", call_id, 1, transport, flags=flags),
        row(c, "REGISTER", call_id, 2, transport, flags=flags),
        row(d, "200", call_id, 2, transport, flags=flags),
    ]


def invite(call_id: str) -> list[Row]:
    """INVITE → 407 → ACK → INVITE with Proxy-Authorization → 200 in frames 1–5."""
    return [
        row(1, "INVITE", call_id, 1),
        row(2, "407", call_id, 1),
        row(3, "ACK", call_id, 1),
        row(4, "INVITE", call_id, 2),
        row(5, "200", call_id, 2),
    ]


def fragmented_invite(call_id: str, first: tuple[int, ...], retry: tuple[int, ...]) -> list[Row]:
    """The INVITE flow where both INVITEs arrive as IP fragments (frames ``first`` / ``retry``)."""
    after_first = first[-1]
    done = retry[-1]
    return [
        row(after_first, "INVITE", call_id, 1, frames=first, flags=(IP_REASSEMBLED,)),
        row(after_first + 1, "407", call_id, 1),
        row(after_first + 2, "ACK", call_id, 1),
        row(done, "INVITE", call_id, 2, frames=retry, flags=(IP_REASSEMBLED,)),
        row(done + 1, "200", call_id, 2),
    ]


# file name → (expected messages, expected note kinds with their counts)
EXPECTED: dict[str, tuple[list[Row], dict[str, int]]] = {
    # -- link types ----------------------------------------------------------------------------
    "link_ethernet.pcap": (register("reg-ethernet@192.0.2.10"), {}),
    "link_vlan.pcap": (register("reg-vlan@192.0.2.10"), {}),
    "link_qinq.pcap": (register("reg-qinq@192.0.2.10"), {}),
    "link_pppoe.pcap": (register("reg-pppoe@192.0.2.10"), {}),
    "link_sll.pcap": (register("reg-sll@192.0.2.10"), {}),
    "link_sll2.pcap": (register("reg-sll2@192.0.2.10"), {}),
    "link_raw101.pcap": (register("reg-raw101@192.0.2.10"), {}),
    "link_ipv4_228.pcap": (register("reg-ipv4-228@192.0.2.10"), {}),
    "link_ipv6_229.pcap": (register("reg-ipv6-229@ua.example.com"), {}),
    "link_null_le.pcap": (register("reg-null-le@192.0.2.10"), {}),
    "link_loop_be.pcap": (register("reg-loop-be@ua.example.com"), {}),
    "link_user0.pcap": ([], {"unsupported-linktype": 1}),
    # -- tunnels -------------------------------------------------------------------------------
    "tunnel_gre.pcap": (invite("inv-gre@192.0.2.10"), {}),
    "tunnel_gre_teb.pcap": (invite("inv-gre-teb@192.0.2.10"), {}),
    "tunnel_erspan2.pcap": (invite("inv-erspan2@192.0.2.10"), {}),
    "tunnel_erspan3.pcap": (invite("inv-erspan3@192.0.2.10"), {}),
    "tunnel_ipip.pcap": (invite("inv-ipip@192.0.2.10"), {}),
    "tunnel_6in4.pcap": (invite("inv-6in4@ua.example.com"), {}),
    "tunnel_vxlan.pcap": (invite("inv-vxlan@192.0.2.10"), {}),
    "ipv6_ext_headers.pcap": (register("reg-ipv6-ext@ua.example.com"), {}),
    # -- IP fragments --------------------------------------------------------------------------
    "frag4_two.pcap": (fragmented_invite("inv-frag4_two@192.0.2.10", (1, 2), (5, 6)), {}),
    "frag4_three.pcap": (fragmented_invite("inv-frag4_three@192.0.2.10", (1, 2, 3), (6, 7, 8)), {}),
    # Retry fragments arrive last (6), first (7), first again (8: an identical duplicate, which
    # adds no bytes and so is not one of the frames the datagram was built from), middle (9).
    "frag4_out_of_order.pcap": (
        fragmented_invite("inv-frag4_out_of_order@192.0.2.10", (1, 2, 3), (6, 7, 9)),
        {},
    ),
    # The retry's last fragment never arrives: what did arrive is still shown, flagged, because
    # "the INVITE with credentials is lost in fragments" is exactly what the user must learn.
    "frag4_incomplete.pcap": (
        [
            *fragmented_invite("inv-frag4_incomplete@192.0.2.10", (1, 2, 3), (6, 7))[:3],
            row(
                7,
                "INVITE",
                "inv-frag4_incomplete@192.0.2.10",
                2,
                frames=(6, 7),
                flags=(IP_REASSEMBLED, INCOMPLETE),
            ),
        ],
        {"ip-fragments-incomplete": 1},
    ),
    "frag6_complete.pcap": (
        fragmented_invite("inv-frag6_complete@ua.example.com", (1, 2), (5, 6)),
        {},
    ),
    "frag6_incomplete.pcap": (
        [
            *fragmented_invite("inv-frag6_incomplete@ua.example.com", (1, 2), (5,))[:3],
            row(5, "INVITE", "inv-frag6_incomplete@ua.example.com", 2, flags=(INCOMPLETE,)),
        ],
        {"ip-fragments-incomplete": 1},
    ),
    # -- TCP (frames 1–3 are the handshake) ----------------------------------------------------
    "tcp_split3.pcap": (
        [
            row(
                6,
                "INVITE",
                "inv-tcp-split3@192.0.2.10",
                1,
                TCP,
                frames=(4, 5, 6),
                flags=(TCP_REASSEMBLED,),
            ),
            row(7, "407", "inv-tcp-split3@192.0.2.10", 1, TCP),
        ],
        {},
    ),
    "tcp_coalesced.pcap": (
        [
            row(4, "REGISTER", "reg-tcp-coalesced@192.0.2.10", 1, TCP),
            row(5, "100", "reg-tcp-coalesced@192.0.2.10", 1, TCP),
            row(5, "401", "reg-tcp-coalesced@192.0.2.10", 1, TCP),
            row(6, "REGISTER", "reg-tcp-coalesced@192.0.2.10", 2, TCP),
            row(7, "200", "reg-tcp-coalesced@192.0.2.10", 2, TCP),
        ],
        {},
    ),
    "tcp_out_of_order.pcap": (
        [
            row(
                6,
                "INVITE",
                "inv-tcp-ooo@192.0.2.10",
                1,
                TCP,
                frames=(4, 5, 6),
                flags=(TCP_REASSEMBLED,),
            ),
            row(7, "407", "inv-tcp-ooo@192.0.2.10", 1, TCP),
        ],
        {},
    ),
    "tcp_retransmission.pcap": (register("reg-tcp-retrans@192.0.2.10", (4, 6, 7, 8), TCP), {}),
    "tcp_overlap.pcap": (
        [
            row(4, "REGISTER", "reg-tcp-overlap@192.0.2.10", 1, TCP),
            row(5, "401", "reg-tcp-overlap@192.0.2.10", 1, TCP),
            row(
                7,
                "REGISTER",
                "reg-tcp-overlap@192.0.2.10",
                2,
                TCP,
                frames=(6, 7),
                flags=(TCP_REASSEMBLED,),
            ),
            row(8, "200", "reg-tcp-overlap@192.0.2.10", 2, TCP),
        ],
        {},
    ),
    # The authenticated REGISTER lost bytes 150–299 (inside its headers): it cannot be shown.
    "tcp_gap.pcap": (
        [
            row(4, "REGISTER", "reg-tcp-gap@192.0.2.10", 1, TCP),
            row(5, "401", "reg-tcp-gap@192.0.2.10", 1, TCP),
            row(8, "200", "reg-tcp-gap@192.0.2.10", 2, TCP),
        ],
        {"tcp-gap": 1},
    ),
    "tcp_compact_l.pcap": (
        [
            row(
                5,
                "INVITE",
                "inv-tcp-compact@192.0.2.10",
                1,
                TCP,
                frames=(4, 5),
                flags=(TCP_REASSEMBLED,),
            ),
            row(6, "407", "inv-tcp-compact@192.0.2.10", 1, TCP),
            row(7, "ACK", "inv-tcp-compact@192.0.2.10", 1, TCP),
            row(7, "INVITE", "inv-tcp-compact@192.0.2.10", 2, TCP),
            row(8, "100", "inv-tcp-compact@192.0.2.10", 2, TCP),
            row(8, "200", "inv-tcp-compact@192.0.2.10", 2, TCP),
        ],
        {},
    ),
    "nonstandard_ports.pcap": (
        [
            *register("reg-udp-5080@192.0.2.10"),
            *register("reg-tcp-15060@192.0.2.10", (8, 9, 10, 11), TCP),
        ],
        {},
    ),
    # -- file formats --------------------------------------------------------------------------
    "pcap_big_endian.pcap": (register("reg-big-endian@192.0.2.10"), {}),
    "pcap_nanosecond.pcap": (register("reg-nanosecond@192.0.2.10"), {}),
    "gzip_pcap.pcap": (register("reg-gzip-pcap@192.0.2.10"), {}),
    "gzip_pcapng.pcapng": (register("reg-gzip-pcapng@192.0.2.10"), {}),
    "pcapng_two_interfaces.pcapng": (register("reg-two-interfaces@192.0.2.10"), {}),
    # EPB, SPB, obsolete PB, an unknown block (not a frame), EPB.
    "pcapng_block_types.pcapng": (register("reg-block-types@192.0.2.10"), {}),
    # Snap length 200: each message keeps only its first 158 bytes — the start line, Via,
    # Max-Forwards and part of From — so Call-ID, CSeq and To are gone. One note per file says
    # "recapture with -s 0"; the parser's missing-header notes are consequences and suppressed.
    "snaplen_truncated.pcap": (
        [
            row(1, "INVITE", None, None, flags=(TRUNCATED,)),
            row(2, "407", None, None, flags=(TRUNCATED,)),
        ],
        {"snaplen-truncated": 1},
    ),
    "last_record_cut.pcap": (register("reg-cut-short@192.0.2.10")[:3], {"capture-truncated": 1}),
    # -- encapsulations read by content --------------------------------------------------------
    "hep3.pcap": (register("reg-hep3@192.0.2.10", flags=(HEP,)), {}),
    "websocket.pcap": (
        register("reg-ws@df7jal23ls0d.invalid", (6, 7, 8, 9), WS, flags=(WEBSOCKET,)),
        {},
    ),
    "tls_client_hello.pcap": ([], {"tls-flow": 1}),
}


def read(name: str) -> SipRead:
    return read_sip([str(CAPTURES_DIR / name)])


def rows_of(result: SipRead) -> list[Row]:
    out: list[Row] = []
    for message in result.messages:
        source = message.source
        what = (message.method or "?") if message.is_request else str(message.status)
        out.append(
            (
                source.frame,
                source.frames,
                what,
                message.call_id,
                message.cseq_number,
                source.transport,
                tuple(sorted(source.flags)),
            )
        )
    return out


def test_every_capture_has_an_expectation() -> None:
    on_disk = {p.name for p in CAPTURES_DIR.iterdir() if p.suffix in (".pcap", ".pcapng")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_messages_and_notes(name: str) -> None:
    expected_rows, expected_notes = EXPECTED[name]
    result = read(name)
    assert rows_of(result) == expected_rows
    assert Counter(note.kind for note in result.notes) == Counter(expected_notes)
    assert all(m.source.file == str(CAPTURES_DIR / name) for m in result.messages)


# -- details beyond the message list ----------------------------------------------------------


def test_frame_times_follow_each_interface_resolution() -> None:
    """Interface 1 of the two-interface pcapng counts nanoseconds (if_tsresol 9)."""
    for name in ("pcapng_two_interfaces.pcapng", "pcap_nanosecond.pcap", "pcap_big_endian.pcap"):
        times = [m.source.time for m in read(name).messages]
        assert times == pytest.approx([BASE_TIME + i * 0.02 for i in range(4)], abs=1e-6), name


def test_hep_messages_carry_the_encapsulated_endpoints_and_time() -> None:
    result = read("hep3.pcap")
    ua, proxy = Endpoint("192.0.2.10", 5060), Endpoint("198.51.100.20", 5060)
    assert [(m.source.src, m.source.dst) for m in result.messages] == [
        (ua, proxy),
        (proxy, ua),
        (ua, proxy),
        (proxy, ua),
    ]
    assert [m.source.time for m in result.messages] == pytest.approx(
        [BASE_TIME + i * 0.02 for i in range(4)], abs=1e-6
    )


@pytest.mark.parametrize(
    ("name", "ua", "proxy"),
    [
        ("tunnel_gre.pcap", "192.0.2.10", "198.51.100.20"),
        ("tunnel_vxlan.pcap", "192.0.2.10", "198.51.100.20"),
        ("tunnel_6in4.pcap", "2001:db8::10", "2001:db8:1::20"),
        ("link_loop_be.pcap", "2001:db8::10", "2001:db8:1::20"),
    ],
)
def test_tunnelled_messages_use_the_inner_endpoints(name: str, ua: str, proxy: str) -> None:
    first = read(name).messages[0].source
    assert (first.src, first.dst) == (Endpoint(ua, 5060), Endpoint(proxy, 5060))


def test_fragmented_invite_size_and_fragment_count() -> None:
    result = read("frag4_three.pcap")
    retry = result.messages[3].source
    assert retry.ip_fragments == 3
    assert retry.wire_size == len(retry.data) > 2300
    assert result.messages[3].credentials[0].username == "alice"


@pytest.mark.parametrize(
    ("name", "kind", "frames"),
    [
        ("frag4_incomplete.pcap", "ip-fragments-incomplete", (6, 7)),
        ("frag6_incomplete.pcap", "ip-fragments-incomplete", (5,)),
        ("tcp_gap.pcap", "tcp-gap", (6, 7)),
        ("last_record_cut.pcap", "capture-truncated", (3,)),
        ("snaplen_truncated.pcap", "snaplen-truncated", (1,)),
        ("tls_client_hello.pcap", "tls-flow", (4,)),
    ],
)
def test_notes_name_the_frames_concerned(name: str, kind: str, frames: tuple[int, ...]) -> None:
    (note,) = [n for n in read(name).notes if n.kind == kind]
    assert note.frames == frames
    assert note.file == str(CAPTURES_DIR / name)


def test_incomplete_fragments_keep_what_arrived() -> None:
    result = read("frag4_incomplete.pcap")
    partial = result.messages[-1].source
    assert len(partial.data) == 2 * 976 - 8  # two fragments' bytes minus the UDP header
    assert partial.wire_size > len(partial.data)


def test_truncated_message_reports_its_size_on_the_wire() -> None:
    invite_msg = read("snaplen_truncated.pcap").messages[0].source
    assert len(invite_msg.data) == 200 - 14 - 20 - 8
    assert invite_msg.wire_size > 850


def test_unsupported_linktype_names_the_type() -> None:
    result = read("link_user0.pcap")
    (note,) = result.notes
    assert "147" in note.detail or "USER0" in note.detail.upper()
    assert result.stats.packets == 4


def test_tls_flow_is_counted_once() -> None:
    assert read("tls_client_hello.pcap").stats.tls_flows == 1


def test_captures_are_small_and_the_builder_is_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilding into a scratch directory reproduces the committed bytes exactly."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "build_captures", CAPTURES_DIR / "build_captures.py"
    )
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_captures", builder)  # dataclasses look it up
    spec.loader.exec_module(builder)
    monkeypatch.setattr(builder, "OUT_DIR", tmp_path)
    assert builder.main() == 0
    for name in EXPECTED:
        committed = (CAPTURES_DIR / name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, name
        assert len(committed) < 8192, name
