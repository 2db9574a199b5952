"""Parity with Wireshark: for every capture we have, we find the SIP messages tshark finds.

Each capture (the synthetic ones in tests/captures/, the repository's sample_pcaps/ and the real
collection in ../shared/real_pcaps/) is read by tshark and by ``read_sip``; both are reduced to a
set of (frame, Call-ID, CSeq number, method-or-status) and compared. Where we differ on purpose
— tshark cannot see inside HEP, or does not show an INCOMPLETE fragmented datagram that we
report — the difference is listed in ``EXPECTED_DIFFERENCES`` with its reason, and the test
asserts the differences are exactly those: a new difference fails, and so does a listed one
that went away.

tshark shows one row per frame; a frame carrying several SIP messages (TCP) has its fields
joined by the aggregator, which by default is a comma — but a comma can sit inside a Call-ID
(the fuzzed aaa capture has one), so we ask for the ASCII unit separator instead.
``-o tcp.reassemble_out_of_order:TRUE`` is passed for every file so tshark rebuilds out-of-order
TCP segments as we do (it is off by default in Wireshark 4.0). tshark's own SIP heuristics
(UDP and TCP, on by default) find SIP on the synthetic non-standard ports 5080 and 15060 and
on 5062 and 8080 (WebSocket, via HTTP) without any decode-as; only heplify's TCP 6060 capture
needs ``-d`` because a port-based X11 guess wins there.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import read_sip
from tests.conftest import (
    CAPTURES_DIR,
    REAL_PCAPS_DIR,
    REAL_PCAPS_MISSING,
    SAMPLE_PCAPS_DIR,
    capture_files,
)

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        shutil.which("tshark") is None,
        reason="tshark is not on PATH (make tshark installs it; CI has it)",
    ),
]

TSHARK_TIMEOUT = 120  # seconds per file; the largest real capture takes about 3 s
TSHARK_FIELDS = ("frame.number", "sip.Call-ID", "sip.CSeq.seq", "sip.Method", "sip.Status-Code")
COMMON_OPTIONS = ("-o", "tcp.reassemble_out_of_order:TRUE")
AGGREGATOR = "\x1f"  # joins the values of one field when a frame holds several messages

# Extra tshark options for one file, keyed by its label (see ``label``).
TSHARK_OPTIONS: dict[str, tuple[str, ...]] = {
    # SIP over TCP 6060: tshark's heuristics lose to its X11 port guess without this.
    "real/sipcapture_heplify/sip_ipv4_tcp_fragmented.pcap": ("-d", "tcp.port==6060,sip"),
}

Key = tuple[int, str, str, str]  # frame, Call-ID, CSeq number, method or status code


@dataclass(frozen=True, slots=True)
class Difference:
    """One message only one side reports, matched by (frame, method-or-status)."""

    side: str  # "ours" (we report it, tshark does not) or "tshark"
    frame: int
    what: str
    reason: str


def _hep(frames: Iterable[tuple[int, str]]) -> tuple[Difference, ...]:
    return tuple(
        Difference("ours", frame, what, "Wireshark 4.0 has no HEP dissector")
        for frame, what in frames
    )


ICMP_QUOTE = "tshark decodes the SIP quoted in an ICMP error; we ignore ICMP payloads"
INCOMPLETE = "the last fragment is missing: tshark shows no SIP, we show what arrived"
LOOSE_CSEQ = "tshark reads a number from a malformed CSeq (non-digits give 0); we report none"
GARBLED_CSEQ_METHOD = "CSeq method garbled by the fuzzer: tshark keeps the number, we drop it"

EXPECTED_DIFFERENCES: dict[str, tuple[Difference, ...]] = {
    # Wireshark 4.0 reassembles SIP over TCP only by the long "Content-Length" name: with the
    # compact "l:" it shows the INVITE in its first segment (body cut) and frame 5 as
    # "Continuation"; we frame by either name (RFC 3261 §7.3.3) and complete it at frame 5.
    "captures/tcp_compact_l.pcap": (
        Difference("tshark", 4, "INVITE", "tshark ignores compact l: when reassembling TCP"),
        Difference("ours", 5, "INVITE", "tshark ignores compact l: when reassembling TCP"),
    ),
    "captures/hep3.pcap": _hep([(1, "REGISTER"), (2, "401"), (3, "REGISTER"), (4, "200")]),
    "captures/frag4_incomplete.pcap": (Difference("ours", 7, "INVITE", INCOMPLETE),),
    "captures/frag6_incomplete.pcap": (Difference("ours", 5, "INVITE", INCOMPLETE),),
    # Frame 1 is the first fragment of a 1500-byte INVITE whose tail was never captured.
    "real/aboutsip_pkts/fragmented_udp_sip.pcap": (Difference("ours", 1, "INVITE", INCOMPLETE),),
    # A scanner's INVITEs rejected with ICMP "administratively prohibited", which quotes them.
    "real/CESNET_ipfixprobe/sip.pcap": tuple(
        Difference("tshark", frame, "INVITE", ICMP_QUOTE) for frame in (7, 10, 12, 14, 15)
    ),
    # Wireshark's fuzzed copy of the aaa capture: each difference is fuzz damage read two ways.
    "real/ntop_nDPI/fuzz-2006-06-26-2594.pcap": (
        # "SIP/2.0 401 Unauthori%s<NUL>": tshark gives up on the NUL in the reason phrase.
        Difference("ours", 108, "401", "a NUL in the reason phrase stops tshark; we read on"),
        # CSeq "%s<NUL> REGISTER" and "<0x11> INVITE".
        Difference("ours", 155, "401", LOOSE_CSEQ),
        Difference("tshark", 155, "401", LOOSE_CSEQ),
        Difference("ours", 550, "407", LOOSE_CSEQ),
        Difference("tshark", 550, "407", LOOSE_CSEQ),
        # CSeq "1 INV\xe8TE", "1 CANCEL<CR><VT>Content-Length: 0", "2 /EGIS\xaa\xaa...".
        Difference("ours", 227, "INVITE", GARBLED_CSEQ_METHOD),
        Difference("tshark", 227, "INVITE", GARBLED_CSEQ_METHOD),
        Difference("ours", 266, "CANCEL", GARBLED_CSEQ_METHOD),
        Difference("tshark", 266, "CANCEL", GARBLED_CSEQ_METHOD),
        Difference("ours", 527, "200", GARBLED_CSEQ_METHOD),
        Difference("tshark", 527, "200", GARBLED_CSEQ_METHOD),
        # The request line ends in a lone CR (its LF became "7"); tshark accepts a bare CR as
        # a line end, our SIP detector wants CRLF (RFC 3261 §7) or LF.
        Difference("tshark", 247, "CANCEL", "request line ended by a lone CR"),
    ),
}


def label(path: Path) -> str:
    for prefix, root in (
        ("captures", CAPTURES_DIR),
        ("sample", SAMPLE_PCAPS_DIR),
        ("real", REAL_PCAPS_DIR),
    ):
        if path.is_relative_to(root):
            return f"{prefix}/{path.relative_to(root).as_posix()}"
    return path.as_posix()


def _all_captures() -> list[pytest.param]:  # type: ignore[valid-type]
    params = [pytest.param(p, id=label(p)) for p in capture_files(CAPTURES_DIR)]
    params += [pytest.param(p, id=label(p)) for p in capture_files(SAMPLE_PCAPS_DIR)]
    real = capture_files(REAL_PCAPS_DIR, recursive=True)
    if real:
        params += [pytest.param(p, id=label(p), marks=pytest.mark.realsip) for p in real]
    else:
        params.append(
            pytest.param(None, id="real", marks=pytest.mark.skip(reason=REAL_PCAPS_MISSING))
        )
    return params


def comparable(call_id: str) -> str:
    """A Call-ID both sides print alike: tshark stops a string at NUL and shows each byte that
    is not UTF-8 as U+FFFD, we keep every byte; compare printable ASCII, the rest as "?"."""
    call_id = call_id.split("\x00", 1)[0]
    return "".join(c if " " <= c <= "~" else "?" for c in call_id)


def _split(field: str) -> list[str]:
    return field.split(AGGREGATOR) if field else []


def tshark_keys(path: Path) -> set[Key]:
    """What tshark decodes as SIP, one key per message."""
    command = [
        "tshark",
        "-n",
        "-r",
        str(path),
        *COMMON_OPTIONS,
        *TSHARK_OPTIONS.get(label(path), ()),
        "-Y",
        "sip",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        f"aggregator={AGGREGATOR}",
    ]
    for name in TSHARK_FIELDS:
        command += ["-e", name]
    # stderr carries "Running as user root" and cut-short warnings; only stdout is data.
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TSHARK_TIMEOUT, check=False
    )
    assert done.returncode in (0, 2), done.stderr  # 2: file cut short, rows before it are fine
    keys: set[Key] = set()
    for line in done.stdout.splitlines():
        frame, call_ids, cseqs, methods, statuses = (line.split("\t") + [""] * 5)[:5]
        call_id_list, cseq_list = _split(call_ids), _split(cseqs)
        kinds = _split(methods) + _split(statuses)
        if not kinds:
            continue  # a TCP segment tshark marks as SIP that only continues a message
        if _split(methods) and _split(statuses):
            # Requests and responses in one frame: tshark lists methods and codes separately,
            # so which Call-ID goes with which is unknown; compare kinds without Call-IDs.
            for kind in kinds:
                keys.add((int(frame), "*", "*", kind))
            continue
        count = len(kinds)
        call_id_list += [""] * (count - len(call_id_list))
        cseq_list += [""] * (count - len(cseq_list))
        for call_id, cseq, kind in zip(call_id_list, cseq_list, kinds, strict=False):
            keys.add((int(frame), comparable(call_id), cseq, kind))
    return keys


def our_keys(path: Path, mixed_frames: set[int]) -> set[Key]:
    keys: set[Key] = set()
    for message in read_sip([str(path)]).messages:
        frame = message.source.frame
        what = (message.method or "") if message.is_request else str(message.status)
        if frame in mixed_frames:
            keys.add((frame, "*", "*", what))
            continue
        cseq = "" if message.cseq_number is None else str(message.cseq_number)
        keys.add((frame, comparable(message.call_id or ""), cseq, what))
    return keys


@pytest.mark.parametrize("path", _all_captures())
def test_same_sip_messages_as_tshark(path: Path) -> None:
    theirs = tshark_keys(path)
    mixed = {key[0] for key in theirs if key[1] == "*"}
    ours = our_keys(path, mixed)
    found = {Difference("ours", k[0], k[3], "") for k in ours - theirs}
    found |= {Difference("tshark", k[0], k[3], "") for k in theirs - ours}
    expected = {
        Difference(d.side, d.frame, d.what, "") for d in EXPECTED_DIFFERENCES.get(label(path), ())
    }
    assert sorted(found, key=repr) == sorted(expected, key=repr), (
        f"{label(path)}: ours-only {sorted(ours - theirs)[:10]}, "
        f"tshark-only {sorted(theirs - ours)[:10]}"
    )


def test_expected_differences_name_existing_files() -> None:
    known = {label(p) for p in capture_files(CAPTURES_DIR)}
    known |= {label(p) for p in capture_files(SAMPLE_PCAPS_DIR)}
    known |= {label(p) for p in capture_files(REAL_PCAPS_DIR, recursive=True)}
    for name in (*EXPECTED_DIFFERENCES, *TSHARK_OPTIONS):
        if name.startswith("real/") and not REAL_PCAPS_DIR.is_dir():
            continue
        assert name in known, name
