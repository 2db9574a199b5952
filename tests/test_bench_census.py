"""``python -m bench.census``: the memory census of docs/performance.md must count what it says.

It reads private attributes of the correlator's records, so a refactoring there would silently
make it count nothing: these tests hold it to sizes computed here independently.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.census import PARTS, main, take_census
from sipauth_analyzer.pipeline import analyze

SAMPLES = Path(__file__).resolve().parents[1] / "sample_pcaps"
BRUTE_FORCE = str(SAMPLES / "brute-force-svcrack.pcap")


def test_the_census_counts_every_kept_message_once() -> None:
    correlation = analyze([BRUTE_FORCE]).correlation
    messages = correlation.messages
    assert len(messages) == 80
    census = take_census(correlation)
    assert census.count["SipMessage objects"] == 80
    assert census.size["SipMessage objects"] == sum(sys.getsizeof(m) for m in messages)
    assert census.count["CapturedMessage objects"] == 80
    distinct_values = {id(value): value for m in messages for value in m.values}
    assert census.count["header value strings"] == len(distinct_values)
    assert census.size["header value strings"] == sum(
        sys.getsizeof(value) for value in distinct_values.values()
    )
    # svcrack's REGISTERs carry credentials and the PBX answers with challenges: both parsed.
    parsed = [v for m in messages for v in (*(m._challenges or ()), *(m._credentials or ()))]
    assert parsed
    assert census.count["Challenge and Credentials objects"] == len(parsed)
    assert census.count["Transaction objects and their lists"] > len(correlation.transactions)
    # A finished correlator holds no open exchange or transaction (correlate/exchanges.py).
    assert census.correlator_entries == 0


def test_the_printed_table_has_every_part_and_the_resident_size() -> None:
    lines: list[str] = []
    main([BRUTE_FORCE, "--jobs", "1"], out=lines.append)
    (text,) = lines
    assert text.startswith(f"{BRUTE_FORCE}: 80 messages kept for the rules, 20 exchanges")
    for part in PARTS:
        assert f"\n{part} " in text
    assert "open exchanges and transactions the correlator still holds: 0" in text
    assert "resident set size when the rules start:" in text
