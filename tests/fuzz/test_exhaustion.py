"""Captures built to exhaust each resource limit: the limit is hit, REPORTED as a note (never
silent), and the child process that read the capture stays within the benchmark's memory target.

Unit sizes are scaled to run in seconds yet still pass each default limit; the full sizes of
issue 6 (100k fragments, 100k half-open streams, a million Call-IDs) are ``slow`` tests, and
``python -m tests.fuzz.exhaust report DIR`` prints their peak RSS for the closing note.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.capture.model import CaptureOptions
from sipauth_analyzer.correlate import CorrelateOptions
from sipauth_analyzer.pipeline import read_sip
from tests.fuzz.exhaust import Measured, build, measure
from tests.fuzz.watchdog import watchdog

#: docs/performance.md: "peak RSS < 250 MiB" on every workload.
RSS_TARGET_MIB = 250.0
#: Notes of one kind written one by one (the pipeline's NoteSink caps every stage there).
NOTE_CAP = CaptureOptions().max_notes_per_kind


def _run(tmp_path: Path, kind: str, size: int, mode: str = "read",
         limits: dict[str, dict[str, int]] | None = None) -> Measured:
    capture = tmp_path / f"{kind}.pcap"
    packets = build(kind, capture, size)
    measured = measure(mode, capture, limits)
    assert measured.returncode == 0, measured.stderr
    assert measured.packets == packets, "every packet must be read"
    print(f"{kind} x{size} ({mode}): peak RSS {measured.peak_rss_mib} MiB, "
          f"{measured.seconds} s, notes {measured.notes}")
    return measured


def _limit_reported(measured: Measured, kind: str, setting: str) -> None:
    assert measured.notes.get(kind) == 1, f"{kind} must be reported exactly once: {measured.notes}"
    assert any(setting in detail for detail in measured.details[kind]), measured.details[kind]


def test_incomplete_ip_fragments_hit_max_ip_reassemblies(tmp_path: Path) -> None:
    limit = CaptureOptions().max_ip_reassemblies
    measured = _run(tmp_path, "fragments", limit * 2 + 5_000)
    _limit_reported(measured, "ip-reassembly-limit", "max_ip_reassemblies")
    # Each given-up datagram is noted, up to the cap, then counted in one summary.
    assert measured.notes["ip-fragments-incomplete"] == NOTE_CAP + 1
    assert measured.peak_rss_mib < RSS_TARGET_MIB


def test_half_open_tcp_streams_hit_max_tcp_streams(tmp_path: Path) -> None:
    limit = CaptureOptions().max_tcp_streams
    measured = _run(tmp_path, "half-open", limit + 10_000)
    _limit_reported(measured, "tcp-streams-limit", "max_tcp_streams")
    assert measured.notes["tcp-unfinished"] == NOTE_CAP + 1
    assert measured.peak_rss_mib < RSS_TARGET_MIB


def test_bytes_behind_a_tcp_hole_hit_max_tcp_buffer(tmp_path: Path) -> None:
    measured = _run(tmp_path, "tcp-hole", CaptureOptions().max_tcp_buffer + (512 << 10))
    assert measured.notes.get("tcp-gap", 0) >= 1, measured.notes
    assert any("max_tcp_buffer" in detail for detail in measured.details["tcp-gap"])
    assert measured.peak_rss_mib < RSS_TARGET_MIB


def test_absurd_content_length_hits_max_message_size(tmp_path: Path) -> None:
    measured = _run(tmp_path, "content-length", NOTE_CAP + 200)
    assert measured.notes["sip-too-large"] == NOTE_CAP + 1
    assert all("max_message_size" in detail for detail in measured.details["sip-too-large"][:-1])
    assert "200 more sip-too-large" in measured.details["sip-too-large"][-1]


def test_malformed_messages_are_noted_with_a_bounded_note_list(tmp_path: Path) -> None:
    measured = _run(tmp_path, "malformed", NOTE_CAP + 500)
    assert measured.messages == NOTE_CAP + 500
    for kind in ("sip-bad-cseq", "sip-body-short"):
        assert measured.notes[kind] == NOTE_CAP + 1, measured.notes


def test_call_ids_hit_every_correlation_table(tmp_path: Path) -> None:
    """Transactions and open exchanges, at small limits (the defaults are 25k–50k: the
    full-size run is the slow test below)."""
    limits = {"correlate": {"max_transactions": 1_000, "max_open_exchanges": 500}}
    measured = _run(tmp_path, "call-ids", 4_000, "analyze", limits)
    _limit_reported(measured, "correlate-transaction-table-full", "max_transactions=1000")
    _limit_reported(measured, "correlate-open-exchanges-full", "max_open_exchanges=500")
    assert measured.messages == 4_000  # forgetting table entries never drops a message


def test_long_header_lines(tmp_path: Path) -> None:
    """A 60 KB header line is parsed (UDP and TCP); a 70 KB one passes max_message_size on TCP
    and is skipped with a note — never a hang, never silence."""
    capture = tmp_path / "long.pcap"
    build("long-header", capture)
    with watchdog(60, "long header lines"):
        read = read_sip([str(capture)])
    by_call_id = {m.call_id: m for m in read.messages}
    assert set(by_call_id) == {"long-udp", "long-tcp"}
    for message in by_call_id.values():
        assert len(message.header_values("x-long")[0]) == 60_000
    too_large = [n for n in read.notes if n.kind == "sip-too-large"]
    assert len(too_large) == 1 and "max_message_size" in too_large[0].detail


def test_smaller_limits_are_honoured(tmp_path: Path) -> None:
    """Limits come from the options object, not constants: a tiny max_tcp_streams is hit."""
    capture = tmp_path / "half-open.pcap"
    build("half-open", capture, 300)
    read = read_sip([str(capture)], CaptureOptions(max_tcp_streams=100,
                                                   max_ip_reassemblies=10))
    assert [n.kind for n in read.notes].count("tcp-streams-limit") == 1
    assert CorrelateOptions().max_transactions > 0


# --- full sizes (issue 6): slow ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "size", "notes"), [
    ("fragments", 100_000, ("ip-reassembly-limit",)),
    ("half-open", 100_000, ("tcp-streams-limit",)),
    ("malformed", 100_000, ()),
])
def test_full_size_exhaustion(tmp_path: Path, kind: str, size: int,
                              notes: tuple[str, ...]) -> None:
    measured = _run(tmp_path, kind, size, "analyze")
    for note in notes:
        assert measured.notes.get(note) == 1, measured.notes
    assert all(count <= NOTE_CAP + 1 for count in measured.notes.values()), measured.notes


@pytest.mark.slow
def test_a_million_call_ids(tmp_path: Path) -> None:
    """Every default correlation limit is passed (50k transactions, 25k open exchanges) and
    reported, and plain exchanges past max_listed_plain_exchanges are let go (counted); the
    peak RSS is printed (see the report for the figure)."""
    measured = _run(tmp_path, "call-ids", 1_000_000, "analyze")
    for kind in ("correlate-transaction-table-full", "correlate-open-exchanges-full"):
        assert measured.notes.get(kind) == 1, measured.notes
    assert measured.messages == 1_000_000
