"""The reader process's pipe (capture/worker.py deepen_pipe): a deeper kernel buffer where the
system grants one, the default where it refuses, the same messages either way."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from sipauth_analyzer.capture import worker
from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.pipeline import iter_sip
from sipauth_analyzer.primitives import NoteSink
from tests.conftest import CAPTURES_DIR

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's"
)


def _pipe_size(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


def _may_ask_for_the_buffer() -> bool:
    """Whether this user may ask for PIPE_BUFFER_BYTES: root may ask for any size, others
    for up to /proc/sys/fs/pipe-max-size."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/sys/fs/pipe-max-size") as limit:
            return int(limit.read()) >= worker.PIPE_BUFFER_BYTES
    except (OSError, ValueError):
        return False


@linux_only
def test_the_pipe_buffer_grows_to_what_was_asked(pipe: tuple[int, int]) -> None:
    if not _may_ask_for_the_buffer():
        pytest.skip("this system's pipe-max-size is below PIPE_BUFFER_BYTES for this user")
    _, write_end = pipe
    default = _pipe_size(write_end)
    granted = worker.deepen_pipe(write_end)
    assert granted is not None
    assert granted >= worker.PIPE_BUFFER_BYTES > default
    assert _pipe_size(write_end) == granted


@linux_only
def test_a_refused_buffer_leaves_the_default(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    _, write_end = pipe
    default = _pipe_size(write_end)
    real_fcntl = fcntl.fcntl

    def refuse(fd: int, command: int, *args: int) -> int:
        if command == fcntl.F_SETPIPE_SZ:
            raise PermissionError(1, "Operation not permitted")
        return real_fcntl(fd, command, *args)

    monkeypatch.setattr(fcntl, "fcntl", refuse)
    assert worker.deepen_pipe(write_end) is None
    assert _pipe_size(write_end) == default


def test_without_f_setpipe_sz_nothing_is_asked(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    monkeypatch.delattr(fcntl, "F_SETPIPE_SZ", raising=False)
    assert worker.deepen_pipe(pipe[1]) is None


def _frames(jobs: int) -> list[tuple[int, str | None]]:
    stream = iter_sip([str(CAPTURES_DIR / "tcp_split3.pcap")], CaptureOptions(), NoteSink(),
                      CaptureStats(), jobs=jobs)
    return [(m.source.frame, m.call_id) for m in stream]


def test_the_reader_process_deepens_its_pipe_and_reads_the_same_when_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    real_deepen = worker.deepen_pipe

    def record(fd: int, size: int = worker.PIPE_BUFFER_BYTES) -> int | None:
        asked.append(fd)
        return real_deepen(fd, size)

    monkeypatch.setattr(worker, "deepen_pipe", record)
    in_process = _frames(jobs=1)
    assert in_process
    assert not asked
    assert _frames(jobs=2) == in_process
    assert len(asked) == 1

    monkeypatch.setattr(worker, "deepen_pipe", lambda fd, size=0: None)
    assert _frames(jobs=2) == in_process
