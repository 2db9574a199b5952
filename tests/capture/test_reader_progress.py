"""The reader reports how far through its input it is, for the CLI's progress bar."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.pipeline import analyze
from sipauth_analyzer.primitives import NoteSink
from tests.conftest import CAPTURES_DIR

CAPTURE = CAPTURES_DIR / "link_ethernet.pcap"


def _read(paths: list[str], chunk_size: int) -> list[int]:
    seen: list[int] = []
    stream = read_messages(
        paths,
        CaptureOptions(read_chunk_size=chunk_size),
        NoteSink(),
        CaptureStats(),
        progress=seen.append,
    )
    for _ in stream:
        pass
    return seen


def test_progress_rises_to_the_file_size_chunk_by_chunk() -> None:
    size = os.path.getsize(CAPTURE)
    seen = _read([str(CAPTURE)], chunk_size=64)
    assert len(seen) > 2
    assert seen == sorted(seen)
    assert seen[-1] == size


def test_progress_adds_up_across_files(tmp_path: Path) -> None:
    second = tmp_path / "second.pcap"
    shutil.copy(CAPTURE, second)
    size = os.path.getsize(CAPTURE)
    seen = _read([str(CAPTURE), str(second)], chunk_size=64)
    assert seen == sorted(seen)
    assert seen[-1] == 2 * size
    assert size in seen or any(v > size for v in seen)


def test_gzip_progress_counts_compressed_bytes(tmp_path: Path) -> None:
    packed = tmp_path / "capture.pcap"  # no .gz: detected by content
    packed.write_bytes(gzip.compress(CAPTURE.read_bytes()))
    seen = _read([str(packed)], chunk_size=64)
    assert seen and seen[-1] == packed.stat().st_size


def test_analyze_passes_read_progress_through() -> None:
    seen: list[int] = []
    analyze([str(CAPTURE)], read_progress=seen.append)
    assert seen and seen[-1] == os.path.getsize(CAPTURE)
