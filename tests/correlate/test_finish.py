"""``Correlator.finish`` ends the correlator's life: it must keep none of the capture alive.

The pipeline runs the rules while the correlator may still be referenced; its open tables and
retry indexes held every open exchange, and so every message of an auth storm, a second time at
the analysis's peak (docs/performance.md, "The correlator lets go when it finishes").
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipauth_analyzer.correlate.exchanges import Correlator
from sipauth_analyzer.correlate.metrics import MetricsBuilder
from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.correlate.options import CorrelateOptions
from sipauth_analyzer.pipeline import read_sip
from sipauth_analyzer.sip.message import SipMessage

SAMPLES = Path(__file__).resolve().parents[2] / "sample_pcaps"
BRUTE_FORCE = SAMPLES / "brute-force-svcrack.pcap"


@pytest.fixture
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as the pipeline runs: anything still alive is held by a reference
    yield
    if enabled:
        gc.enable()


def _live_messages() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, SipMessage))


def test_a_finished_correlator_holds_no_message(collector_paused: None) -> None:
    before = _live_messages()
    messages = read_sip([str(BRUTE_FORCE)]).messages
    correlator = Correlator(CorrelateOptions())
    for message in messages:
        correlator.add(message)
    correlation = correlator.finish()
    # The capture lasts seconds: every transaction was still in the transaction table (a
    # retransmission could come for 64*T1) and led to its exchange and messages.
    assert correlation.exchanges
    assert _live_messages() - before == len(messages) == 80
    del messages, message, correlation
    assert _live_messages() == before
    assert correlator.finish  # still referenced, as pipeline.analyze's frame holds it


def test_the_tables_are_emptied_before_the_metrics_are_built(monkeypatch) -> None:
    """The metrics' records used to be built at the analysis's peak (docs/performance.md,
    "Smaller kept messages, and the tables emptied before the metrics"): the open tables must
    be gone by then, not after."""
    messages = read_sip([str(BRUTE_FORCE)]).messages
    correlator = Correlator(CorrelateOptions())
    for message in messages:
        correlator.add(message)
    assert len(correlator._tx) > 0  # every transaction is still there (see above)
    seen: list[tuple[int, int, int]] = []
    real_add = MetricsBuilder.add

    def add(builder: MetricsBuilder, exchange: AuthExchange) -> None:
        seen.append((len(correlator._tx), len(correlator._open), len(correlator._invites)))
        real_add(builder, exchange)

    monkeypatch.setattr(MetricsBuilder, "add", add)
    correlation = correlator.finish()
    assert len(seen) == len(correlation.exchanges) > 0
    assert set(seen) == {(0, 0, 0)}
