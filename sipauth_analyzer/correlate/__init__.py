"""Correlation stage: SIP messages → transactions, auth exchanges and metrics.

Public interface::

    correlate(messages, options) -> Correlation

``Correlator`` is the same thing incrementally (``add`` each message, then ``finish``).
Messages must come in capture order. Nothing here raises on odd traffic: what cannot be matched
becomes data (orphan responses, ``correlate-*`` notes).
"""

from __future__ import annotations

from collections.abc import Iterable

from sipauth_analyzer.correlate.exchanges import Correlator, decide_outcome
from sipauth_analyzer.correlate.metrics import combine_metrics, compute_metrics
from sipauth_analyzer.correlate.model import (
    AuthExchange,
    Correlation,
    Metrics,
    Outcome,
    PeerPair,
    Transaction,
)
from sipauth_analyzer.correlate.options import CorrelateOptions
from sipauth_analyzer.sip.message import SipMessage


def correlate(
    messages: Iterable[SipMessage], options: CorrelateOptions | None = None
) -> Correlation:
    """Correlate ``messages`` (in capture order) into transactions, exchanges and metrics."""
    correlator = Correlator(options if options is not None else CorrelateOptions())
    for message in messages:
        correlator.add(message)
    return correlator.finish()


__all__ = [
    "AuthExchange",
    "CorrelateOptions",
    "Correlation",
    "Correlator",
    "Metrics",
    "Outcome",
    "PeerPair",
    "Transaction",
    "combine_metrics",
    "compute_metrics",
    "correlate",
    "decide_outcome",
]
