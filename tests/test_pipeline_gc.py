"""The pipeline pauses the cyclic GC during a run (pipeline.PAUSE_GC_DURING_RUN): check that it
restores the caller's collector state and that the per-message stages make no cyclic garbage,
the assumption that makes the pause safe for memory (docs/performance.md)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipauth_analyzer import pipeline
from sipauth_analyzer.pipeline import analyze, read_sip

SAMPLES = Path(__file__).resolve().parents[1] / "sample_pcaps"
BRUTE_FORCE = SAMPLES / "brute-force-svcrack.pcap"


@pytest.fixture
def collector_restored() -> Iterator[None]:
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_analyze_pauses_the_collector_and_restores_it(
    collector_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real_iter_sip = pipeline.iter_sip

    def spying_iter_sip(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real_iter_sip(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "iter_sip", spying_iter_sip)
    gc.enable()
    before = gc.get_threshold()
    result = analyze([str(BRUTE_FORCE)])
    assert result.correlation.messages
    assert seen == [False]
    assert gc.isenabled()
    assert gc.get_threshold() == before


def test_a_caller_that_disabled_the_collector_keeps_it_disabled(collector_restored: None) -> None:
    gc.disable()
    read_sip([str(BRUTE_FORCE)])
    assert not gc.isenabled()


def test_reading_and_parsing_make_no_cyclic_garbage(collector_restored: None) -> None:
    # With the collector paused, garbage cycles made per packet would pile up until the run
    # ends; the capture and SIP stages must free everything by reference counting.
    read_sip([str(BRUTE_FORCE)])  # warm-up: first-use caches and lazy imports
    gc.collect()
    gc.disable()
    result = read_sip([str(BRUTE_FORCE)])
    assert len(result.messages) == 80
    del result
    assert gc.collect() == 0
