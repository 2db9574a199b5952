"""Shared pytest fixtures: where the test captures live.

Three sources of captures: the synthetic ones built by tests/captures/build_captures.py, the
repository's sample_pcaps/ (real recordings, may be empty), and the read-only collection of real
captures from other projects in ``shared/real_pcaps`` beside the repository root (absent on
machines that only cloned the repository — tests that need it skip with a reason).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

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


def optional_c_function(module: str, name: str) -> Any:
    """``name`` from the optional C extension ``module``, or None when it was not built."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:  # pragma: no cover - depends on the install
        return None


def needs_c_function(function: Any, source: str, fallback: str) -> pytest.MarkDecorator:
    """Skip a module's tests when ``function`` (from ``source``) was not built."""
    return pytest.mark.skipif(
        function is None,
        reason=f"{source} is not built in this install (no C compiler or Python headers when "
        f"it was installed); {fallback}",
    )


def capture_files(directory: Path, *, recursive: bool = False) -> list[Path]:
    """Capture files under ``directory`` in name order; empty when the directory is absent."""
    if not directory.is_dir():
        return []
    walk = directory.rglob("*") if recursive else directory.glob("*")
    return sorted(p for p in walk if p.is_file() and p.suffix in CAPTURE_SUFFIXES)


def every_capture() -> list[Path]:
    """The sample captures, the synthetic ones, and the real ones when ../shared is there."""
    return [
        *capture_files(SAMPLE_PCAPS_DIR),
        *capture_files(CAPTURES_DIR, recursive=True),
        *capture_files(REAL_PCAPS_DIR, recursive=True),
    ]


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


def pytest_addoption(parser: pytest.Parser) -> None:
    """The suite's own options.

    ``--update-snapshots`` rewrites tests/report/snapshots/ from the current output (snapshots
    are never edited by hand: run ``pytest tests/report --update-snapshots``, then review the
    diff). ``--run-slow`` (or SIPAUTH_SLOW=1) also runs tests marked ``slow`` — the full-size
    exhaustion captures, the million-Call-ID capture — which ``make test`` skips to stay
    within its time budget.
    """
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        default=False,
        help="rewrite the report snapshots in tests/report/snapshots/ instead of comparing",
    )
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (or set SIPAUTH_SLOW=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("SIPAUTH_SLOW") == "1":
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow or SIPAUTH_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
