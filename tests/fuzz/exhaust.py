"""Captures built to exhaust each resource limit, and a child-process runner that measures them.

Builders (each writes one pcap with raw ``struct`` packing, streamed to disk):

* ``fragments``   N first IPv4 fragments (MF set, offset 0) of distinct datagrams, never
                  completed → ``CaptureOptions.max_ip_reassemblies``.
* ``half-open``   N TCP connections, each one segment holding the start of a SIP message whose
                  header block never ends → ``CaptureOptions.max_tcp_streams``.
* ``tcp-hole``    one TCP direction whose first segment is missing, followed by more than
                  ``max_tcp_buffer`` bytes parked behind the hole → ``max_tcp_buffer``.
* ``content-length``  N TCP messages claiming Content-Length 999,999,999 → ``max_message_size``.
* ``long-header`` a 60 KB header line over UDP (one 60 KB IPv4 datagram, as loopback's 64 KiB
                  MTU allows) and over TCP, plus a 70 KB one over TCP (past max_message_size).
* ``malformed``   N UDP messages each with several parse problems → the per-kind note cap.
* ``call-ids``    N REGISTERs, each with its own Call-ID and never answered → the transaction,
                  open-exchange and dialog tables of ``CorrelateOptions``.

``python -m tests.fuzz.exhaust run MODE CAPTURE [LIMITS_JSON]`` reads CAPTURE with ``read_sip``
(MODE ``read``) or ``analyze`` (MODE ``analyze``) and prints one JSON line: note kinds and their
counts, message and packet counts, and the details of limit notes. ``measure`` runs it and takes
the child's peak RSS from ``os.wait4`` — the child's own rusage, the per-child form of
``RUSAGE_CHILDREN`` (which is the maximum over every child the parent ever reaped, so an earlier
tshark run would mask ours).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.forge import (
    TCP_PSH_ACK,
    address,
    ethernet,
    ipv4,
    sip_register,
    tcp,
    udp,
    write_capture,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
UA = "192.0.2"
SERVER = bytes((198, 51, 100, 20))
PARTIAL_SIP = b"REGISTER sip:sip.example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK"


def _flow(index: int) -> tuple[bytes, int]:
    """A distinct (source address, source port) for flow ``index`` (up to 250 * 60,000)."""
    return address(UA, index), 1024 + index // 250 % 60_000


def fragment_frames(count: int) -> Iterator[bytes]:
    for index in range(count):
        src, sport = _flow(index)
        sip = PARTIAL_SIP + str(index).encode()
        # The UDP length announces the whole datagram; only its first 64-byte-aligned part comes.
        head = udp(sport, 5060, sip[:64], length=8 + 1400)
        yield ethernet(ipv4(src, SERVER, 17, head, ident=index, more_fragments=True))


def half_open_frames(count: int) -> Iterator[bytes]:
    for index in range(count):
        src, sport = _flow(index)
        segment = tcp(sport, 5060, 1000, PARTIAL_SIP + str(index).encode() + b"\r\n",
                      flags=TCP_PSH_ACK)
        yield ethernet(ipv4(src, SERVER, 6, segment))


def tcp_hole_frames(total_bytes: int, segment: int = 1400) -> Iterator[bytes]:
    src, sport = _flow(0)
    # A message starts, then one segment never arrives: everything after it waits in the
    # out-of-order buffer until the per-direction budget gives up on the hole.
    start = PARTIAL_SIP + b"hole\r\n"
    yield ethernet(ipv4(src, SERVER, 6, tcp(sport, 5060, 1000, start)))
    seq = 1000 + len(start) + segment
    sent = 0
    filler = (b"X-Filler: " + b"f" * segment)[: segment - 2] + b"\r\n"
    while sent < total_bytes:
        yield ethernet(ipv4(src, SERVER, 6, tcp(sport, 5060, seq, filler)))
        seq += segment
        sent += segment


def content_length_frames(count: int) -> Iterator[bytes]:
    for index in range(count):
        src, sport = _flow(index)
        message = sip_register(f"cl-{index}", content_length=999_999_999, body=b"v=0\r\n")
        yield ethernet(ipv4(src, SERVER, 6, tcp(sport, 5060, 1000, message)))


def long_header_frames() -> Iterator[bytes]:
    line = "X-Long: " + "a" * 60_000
    udp_message = sip_register("long-udp", extra_headers=[line])
    src, sport = _flow(1)
    yield ethernet(ipv4(src, SERVER, 17, udp(sport, 5060, udp_message)))
    src, sport = _flow(2)
    yield ethernet(ipv4(src, SERVER, 6, tcp(sport, 5060, 1000, sip_register(
        "long-tcp", extra_headers=[line]))))
    too_long = sip_register("too-long-tcp", extra_headers=["X-Longer: " + "b" * 70_000])
    src, sport = _flow(3)
    seq = 1000
    for start in range(0, len(too_long), 60_000):
        chunk = too_long[start : start + 60_000]
        yield ethernet(ipv4(src, SERVER, 6, tcp(sport, 5060, seq, chunk)))
        seq += len(chunk)


def call_id_frames(count: int) -> Iterator[bytes]:
    for index in range(count):
        src, sport = _flow(index)
        message = sip_register(f"{index:08x}-exhaust")
        yield ethernet(ipv4(src, SERVER, 17, udp(sport, 5060, message)))


def malformed_frames(count: int) -> Iterator[bytes]:
    for index in range(count):
        src, sport = _flow(index)
        message = (b"REGISTER sip:sip.example.com SIP/2.0\r\nCSeq: banana\r\nCall-ID: m"
                   + str(index).encode() + b"\r\nContent-Length: 5\r\n\r\n")
        yield ethernet(ipv4(src, SERVER, 17, udp(sport, 5060, message)))


BUILDERS: dict[str, Callable[[int], Iterator[bytes]]] = {
    "fragments": fragment_frames,
    "half-open": half_open_frames,
    "tcp-hole": tcp_hole_frames,
    "content-length": content_length_frames,
    "call-ids": call_id_frames,
    "malformed": malformed_frames,
}


def build(kind: str, path: Path, size: int = 0) -> int:
    """Write capture ``kind`` of ``size`` (items, or bytes for tcp-hole); returns its packets."""
    frames = long_header_frames() if kind == "long-header" else BUILDERS[kind](size)
    return write_capture(path, frames)


@dataclass(frozen=True, slots=True)
class Measured:
    """One child run: what it reported and its own peak resident set size."""

    notes: dict[str, int]
    details: dict[str, list[str]]
    messages: int
    packets: int
    peak_rss_mib: float
    seconds: float
    returncode: int
    stderr: str


def measure(mode: str, capture: Path, limits: dict[str, dict[str, int]] | None = None,
            timeout: float = 900.0) -> Measured:
    """Run the child on ``capture``; its peak RSS is its own VmHWM (``os.wait4``'s figure
    only where /proc is missing)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "tests.fuzz.exhaust", "run", mode, str(capture),
               json.dumps(limits or {})]
    out_path = capture.with_name(capture.name + ".out")
    err_path = capture.with_name(capture.name + ".err")
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=REPO_ROOT)
    status, usage = _wait_with_usage(child, timeout)
    seconds = time.monotonic() - started
    lines = out_path.read_text(errors="replace").strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    return Measured(
        notes=report.get("notes", {}),
        details=report.get("details", {}),
        messages=report.get("messages", -1),
        packets=report.get("packets", -1),
        # KiB on Linux; ru_maxrss only where /proc is missing (see _own_peak_rss_kib).
        peak_rss_mib=round((report.get("peak_rss_kib") or usage.ru_maxrss) / 1024, 1),
        seconds=round(seconds, 2),
        returncode=status,
        stderr=err_path.read_text(errors="replace")[-2000:],
    )


def _wait_with_usage(child: subprocess.Popen[bytes], timeout: float,
                     ) -> tuple[int, resource.struct_rusage]:
    """Reap ``child`` with ``os.wait4`` (killing it after ``timeout``): (exit code, rusage)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode, usage
        time.sleep(0.02)
    child.kill()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return -9, usage


def _run(mode: str, capture: str, limits_json: str) -> None:
    from sipauth_analyzer.capture.model import CaptureOptions
    from sipauth_analyzer.correlate import CorrelateOptions
    from sipauth_analyzer.pipeline import AnalysisOptions, analyze, read_sip

    limits = json.loads(limits_json)
    capture_options = CaptureOptions(**limits.get("capture", {}))
    if mode == "read":
        read = read_sip([capture], capture_options)
        notes, messages, packets = read.notes, len(read.messages), read.stats.packets
    else:
        result = analyze([capture], AnalysisOptions(
            capture=capture_options, correlate=CorrelateOptions(**limits.get("correlate", {}))))
        correlation = result.correlation
        # Analysed = listed + let go with their plain exchanges (max_listed_plain_exchanges).
        notes = result.notes
        messages = len(correlation.messages) + correlation.unlisted_messages
        packets = result.stats.packets
    counts = Counter(note.kind for note in notes)
    details: dict[str, list[str]] = {}
    for note in notes:
        if "limit" in note.kind or "full" in note.kind or "too-large" in note.kind or (
                note.kind == "tcp-gap" and "max_tcp_buffer" in note.detail):
            details.setdefault(note.kind, []).append(note.detail)
    print(json.dumps({"notes": counts, "details": details, "messages": messages,
                      "packets": packets, "peak_rss_kib": _own_peak_rss_kib()}))


def _own_peak_rss_kib() -> int | None:
    """This process's peak RSS (VmHWM): its own address space's, unlike ``ru_maxrss``, which a
    process started by fork + exec inherits from its parent (the test runner, hundreds of MiB
    into a run)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


#: The full-size exhaustion captures of issue 6: (name, builder, size, mode, limits).
FULL_SIZE: tuple[tuple[str, str, int, str], ...] = (
    ("100k incomplete IPv4 fragments", "fragments", 100_000, "analyze"),
    ("100k half-open TCP streams", "half-open", 100_000, "analyze"),
    ("3 MB behind one TCP hole", "tcp-hole", 3_000_000, "analyze"),
    ("10k absurd Content-Lengths", "content-length", 10_000, "analyze"),
    ("60/70 KB header lines", "long-header", 0, "analyze"),
    ("100k malformed messages", "malformed", 100_000, "analyze"),
    ("1M Call-IDs", "call-ids", 1_000_000, "analyze"),
)


def report(directory: Path) -> None:
    """Build every full-size capture in ``directory`` and print each one's peak RSS."""
    print(f"{'capture':<34}{'packets':>9}{'seconds':>9}{'RSS MiB':>9}  limit notes")
    for title, kind, size, mode in FULL_SIZE:
        path = directory / f"{kind}.pcap"
        build(kind, path, size)
        measured = measure(mode, path)
        limits = ", ".join(f"{k}×{v}" for k, v in sorted(measured.notes.items())
                           if k in measured.details) or "-"
        print(f"{title:<34}{measured.packets:>9}{measured.seconds:>9.1f}"
              f"{measured.peak_rss_mib:>9.1f}  {limits}"
              + ("" if measured.returncode == 0 else f"  EXIT {measured.returncode}"), flush=True)
        path.unlink()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "report":
        report(Path(argv[1]))
        return 0
    if len(argv) >= 3 and argv[0] == "run":
        _run(argv[1], argv[2], argv[3] if len(argv) > 3 else "{}")
        return 0
    if len(argv) >= 2 and argv[0] == "build":
        size = int(argv[2]) if len(argv) > 2 else 0
        path = Path(argv[3] if len(argv) > 3 else f"{argv[1]}.pcap")
        print(build(argv[1], path, size), "packets written to", path)
        return 0
    print("usage: python -m tests.fuzz.exhaust run read|analyze CAPTURE [LIMITS_JSON]\n"
          "       python -m tests.fuzz.exhaust report SCRATCH_DIR   (full sizes, peak RSS)\n"
          "       python -m tests.fuzz.exhaust build KIND SIZE PATH", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

