"""Capture stage: capture files → link layer → IP (+defragmentation) → UDP/TCP (+reassembly) → SIP-bearing messages.

Public interface::

    read_messages(sources, options, notes, stats) -> Iterator[CapturedMessage]
"""

from __future__ import annotations

from sipauth_analyzer.capture.model import CapturedMessage, CaptureOptions, CaptureStats

__all__ = ["CapturedMessage", "CaptureOptions", "CaptureStats"]
