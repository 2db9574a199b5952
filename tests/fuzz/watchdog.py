"""A SIGALRM watchdog that turns a hang into a test failure (never a timed assertion).

The bound is a safety net, deliberately generous: a case that takes longer is stuck, not slow.
POSIX only (``signal.setitimer``); callers run in the main thread, as pytest does.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


class Hang(BaseException):
    """Raised inside the watched code when it overruns; BaseException so that no
    ``except Exception`` in the code under test can swallow it."""


@contextlib.contextmanager
def watchdog(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`Hang` in the block if it runs longer than ``seconds`` (wall clock)."""

    def _expired(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"{what} still running after {seconds:g} s (hang or pathological slowness)")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
