"""Shared pytest fixtures: where the test captures live.

Three sources of captures: the synthetic ones built by tests/captures/build_captures.py, the
repository's sample_pcaps/ (real recordings, may be empty), and the read-only collection of real
captures from other projects in ``shared/real_pcaps`` beside the repository root (absent on
machines that only cloned the repository — tests that need it skip with a reason).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURES_DIR = REPO_ROOT / "tests" / "captures"
SAMPLE_PCAPS_DIR = REPO_ROOT / "sample_pcaps"
REAL_PCAPS_DIR = REPO_ROOT.parent / "shared" / "real_pcaps"
REAL_PCAPS_MISSING = (
    f"the real captures collection {REAL_PCAPS_DIR} is absent "
    "(it lives beside the repository, not in it)"
)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")


def capture_files(directory: Path, *, recursive: bool = False) -> list[Path]:
    """Capture files under ``directory`` in name order; empty when the directory is absent."""
    if not directory.is_dir():
        return []
    walk = directory.rglob("*") if recursive else directory.glob("*")
    return sorted(p for p in walk if p.is_file() and p.suffix in CAPTURE_SUFFIXES)


@pytest.fixture(scope="session")
def captures_dir() -> Path:
    """The synthetic captures (always present: they are committed)."""
    return CAPTURES_DIR


@pytest.fixture(scope="session")
def sample_pcaps_dir() -> Path:
    """The repository's own recorded samples (the directory may hold no captures yet)."""
    return SAMPLE_PCAPS_DIR


@pytest.fixture(scope="session")
def real_pcaps_dir() -> Path:
    """Real captures from other projects; skips the test when the collection is absent."""
    if not REAL_PCAPS_DIR.is_dir():
        pytest.skip(REAL_PCAPS_MISSING)
    return REAL_PCAPS_DIR
