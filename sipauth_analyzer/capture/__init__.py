"""Capture stage: capture files → link layer → IP (+defrag) → UDP/TCP (+reassembly) → SIP bytes.

Public interface::

    read_messages(sources, options, notes, stats) -> Iterator[CapturedMessage]

``CaptureError`` is the one exception: a source that cannot be read at all (exit code 2).
"""

from __future__ import annotations

from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.capture.model import CapturedMessage, CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import read_messages

__all__ = ["CaptureError", "CaptureOptions", "CaptureStats", "CapturedMessage", "read_messages"]
