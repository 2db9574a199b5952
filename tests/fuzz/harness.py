"""Runs one fuzz case through the reader (or the whole pipeline) and checks its properties.

Properties of every read, whatever the input: nothing but ``CaptureError`` escapes (and that
only for a file that cannot be read at all); every message points at frames the capture has;
every note has a kind and a one-line detail; nothing hangs (the caller's watchdog).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.pipeline import AnalysisResult, SipRead, analyze, read_sip
from sipauth_analyzer.primitives import Note

REPO_ROOT = Path(__file__).resolve().parents[2]
CAPTURES_DIR = REPO_ROOT / "tests" / "captures"
REAL_PCAPS_DIR = REPO_ROOT / ".." / "shared" / "real_pcaps"
REGRESSIONS_DIR = Path(__file__).resolve().parent / "regressions"
CRASHES_DIR = Path(__file__).resolve().parent / "crashes"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
#: Seed captures larger than this are left out of mutation runs (each case re-reads the file).
MAX_SEED_SIZE = 64 << 10


class PropertyViolation(AssertionError):
    """A read finished but broke one of the properties above."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one case produced: the read (None when the file was refused) and the refusal."""

    read: SipRead | None
    refused: str | None = None


def write_case(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``. Unlinking first: truncating an existing file in place
    (O_TRUNC) costs milliseconds on some file systems, a fresh file microseconds."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def check_notes(notes: list[Note]) -> None:
    for note in notes:
        if not note.kind or not isinstance(note.detail, str) or "\n" in note.detail:
            raise PropertyViolation(f"malformed note {note!r}")


def read_case(path: Path) -> Outcome:
    """``read_sip`` on ``path``: CaptureError is an allowed outcome, anything else escapes."""
    try:
        result = read_sip([str(path)])
    except CaptureError as exc:
        if "\n" in str(exc):
            raise PropertyViolation(f"CaptureError message spans lines: {exc!r}") from None
        return Outcome(None, str(exc))
    packets = result.stats.packets
    for message in result.messages:
        source = message.source
        if not 1 <= source.frame <= packets or any(not 1 <= f <= packets for f in source.frames):
            raise PropertyViolation(
                f"message at frame {source.frame} (frames {source.frames}) but the capture has "
                f"{packets} packets")
    check_notes(result.notes)
    return Outcome(result)


def analyze_case(path: Path) -> AnalysisResult | None:
    """The whole pipeline (correlation and every rule); None when the file was refused."""
    try:
        result = analyze([str(path)])
    except CaptureError:
        return None
    check_notes(result.notes)
    return result


def seed_captures() -> list[Path]:
    """Small captures to mutate: the synthetic ones, then the real collection when present."""
    seeds = sorted(p for p in CAPTURES_DIR.rglob("*")
                   if p.is_file() and p.suffix in CAPTURE_SUFFIXES)
    if REAL_PCAPS_DIR.is_dir():
        seeds += sorted(p for p in REAL_PCAPS_DIR.rglob("*")
                        if p.is_file() and p.suffix in CAPTURE_SUFFIXES)
    return [p for p in seeds if 0 < p.stat().st_size <= MAX_SEED_SIZE]
