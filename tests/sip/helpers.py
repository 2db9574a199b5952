"""Shared helpers for the SIP-stage tests: building CapturedMessages and reading real payloads.

Real payloads come from the captures in ``../shared/real_pcaps`` (beside the repo root), read
with tshark; tests that need them skip with a reason when either is missing.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import ParseProblem
from sipauth_analyzer.sip.parser import parse

REAL_PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "real_pcaps"

# Captures with SIP over UDP whose payloads tshark can hand us directly.
REAL_SIP_FILES = (
    "OISF_suricata-verify/sip-method__sip.pcap",
    "ntop_nDPI/sip_hello.pcapng",
    "sipcapture_heplify/erspan_sip_ipv4_udp.pcapng",
    "sipcapture_heplify/ipip0.pcap",
    "sipcapture_heplify/sip_ipv4_tcp_retrans.pcap",
)
FUZZED_FILE = "ntop_nDPI/fuzz-2006-06-26-2594.pcap"


def captured(
    data: bytes | str,
    *,
    transport: Transport = Transport.UDP,
    flags: frozenset[str] = frozenset(),
    frame: int = 1,
) -> CapturedMessage:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return CapturedMessage(
        data=raw,
        file="test.pcap",
        frame=frame,
        frames=(frame,),
        time=0.0,
        src=Endpoint("192.0.2.1", 5060),
        dst=Endpoint("192.0.2.2", 5060),
        transport=transport,
        wire_size=len(raw),
        flags=flags,
    )


def parse_ok(data: bytes | str, **kwargs: object) -> SipMessage:
    """Parse and insist on a SipMessage (the test fails with the problem otherwise)."""
    result = parse(captured(data, **kwargs))  # type: ignore[arg-type]
    assert isinstance(result, SipMessage), result
    return result


def parse_problem(data: bytes | str) -> ParseProblem:
    result = parse(captured(data))
    assert isinstance(result, ParseProblem), result
    return result


def crlf(*lines: str, body: str = "") -> str:
    """A message from header lines, CRLF-terminated, with the blank line and ``body``."""
    return "\r\n".join(lines) + "\r\n\r\n" + body


@functools.cache
def _payloads(relative: str, display_filter: str) -> tuple[bytes, ...]:
    path = REAL_PCAPS / relative
    tshark = shutil.which("tshark")
    if tshark is None or not path.exists():
        return ()
    result = subprocess.run(
        [tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "udp.payload"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out: list[bytes] = []
    for line in result.stdout.splitlines():
        field = line.strip().split(",")[0].replace(":", "")
        if field:
            out.append(bytes.fromhex(field))
    return tuple(out)


def real_sip_payloads() -> list[bytes]:
    """UDP payloads of every SIP frame in REAL_SIP_FILES; skips the test when unavailable."""
    if not REAL_PCAPS.is_dir():
        pytest.skip(f"real captures not found at {REAL_PCAPS}")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (make tshark)")
    payloads: list[bytes] = []
    for relative in REAL_SIP_FILES:
        payloads.extend(_payloads(relative, "sip and udp"))
    if not payloads:
        pytest.skip("tshark found no SIP payloads in the real captures")
    return payloads


def fuzzed_payloads() -> list[bytes]:
    """Every UDP payload of Wireshark's fuzzed copy of the aaa capture (mostly broken SIP)."""
    if not (REAL_PCAPS / FUZZED_FILE).exists():
        pytest.skip(f"fuzzed capture not found at {REAL_PCAPS / FUZZED_FILE}")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (make tshark)")
    payloads = list(_payloads(FUZZED_FILE, "udp"))
    if not payloads:
        pytest.skip("tshark found no UDP payloads in the fuzzed capture")
    return payloads
