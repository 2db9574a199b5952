"""Correlation stays O(1) per message: throughput on a synthetic storm does not collapse."""

from __future__ import annotations

import pytest

from sipauth_analyzer.correlate import Outcome
from tests.correlate.bench_storm import measure


@pytest.mark.slow
def test_storm_is_correlated_correctly_and_fast() -> None:
    small_rate, _, _ = measure(1_000)
    rate, result, count = measure(8_000)
    assert count == 8_000 * 4 + 800
    assert len(result.exchanges) == 8_000
    assert sum(len(t.retransmissions) for t in result.transactions) == 800
    outcomes = [e.outcome for e in result.exchanges]
    assert outcomes.count(Outcome.SUCCEEDED) == 6_000
    assert outcomes.count(Outcome.CHALLENGE_UNANSWERED) == 2_000
    assert result.overall.attempts_until_success == [2] * 6_000
    # Linear: eight times the traffic must not cost much more per message (a scan over
    # open exchanges would make the larger run several times slower per message).
    assert rate > small_rate / 2.5
    # A floor far below the measured figure, so the test only fails on a real regression.
    assert rate > 5_000
