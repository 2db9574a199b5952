"""Which messages a finding names when it is about more than it may show.

A finding about a flood lists the first ``max_frames_per_finding`` of its messages in capture
order and shows evidence for the first ``max_evidence``. make_finding selects them without
sorting the whole flood; these tests hold it to what sorting everything gives.
"""

from __future__ import annotations

import random

import pytest

from sipauth_analyzer.correlate import CorrelateOptions, correlate
from sipauth_analyzer.rules.base import (
    RuleContext,
    RuleMeta,
    RuleOptions,
    Severity,
    make_finding,
    unique_messages,
)
from sipauth_analyzer.sip.message import SipMessage
from tests.correlate.sipfactory import make_message

META = RuleMeta("SA999", "test-rule", Severity.WARNING, "s", "e", "r")


def _flood(count: int) -> list[SipMessage]:
    """``count`` REGISTERs over two rotated files, with many equal capture times, so that
    file and frame must break ties."""
    messages = []
    for index in range(count):
        file = "a.pcap" if index % 3 else "b.pcap"
        text = (
            "REGISTER sip:example.com SIP/2.0\n"
            f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{index}\n"
            "From: <sip:alice@example.com>;tag=f\n"
            "To: <sip:alice@example.com>\n"
            f"Call-ID: call-{index % 17}\n"
            f"CSeq: {index + 1} REGISTER\n"
            f'Authorization: Digest username="alice", realm="example.com", nonce="n{index}", '
            'uri="sip:example.com", response="0123456789abcdef0123456789abcdef"\n'
            "Content-Length: 0"
        )
        time = 1000.0 + (index // 7) * 0.5  # seven messages share each time
        messages.append(
            make_message(text, index + 1, time, "10.0.0.1:5060", "10.0.0.2:5060", file=file)
        )
    return messages


def _by_sorting_everything(messages: list[SipMessage], limit: int) -> list[SipMessage]:
    unique = list({id(m): m for m in messages}.values())
    unique.sort(key=lambda m: (m.source.time, m.source.file, m.source.frame))
    return unique[:limit]


@pytest.mark.parametrize("limit", [0, 1, 5, 7, 13, 14, 200, 10_000])  # 7, 14: a tie ends
def test_unique_messages_selects_what_a_full_sort_would(limit: int) -> None:
    messages = _flood(600)
    shuffled = messages + messages[:50]  # repeats are dropped
    random.Random(7).shuffle(shuffled)
    selected = unique_messages(shuffled, limit)
    assert [id(m) for m in selected] == [
        id(m) for m in _by_sorting_everything(shuffled, limit)
    ]
    assert len(selected) == min(limit, 600)


def test_a_flood_finding_names_its_earliest_frames_and_shows_their_evidence() -> None:
    messages = _flood(600)
    shuffled = list(messages)
    random.Random(11).shuffle(shuffled)
    options = RuleOptions(max_frames_per_finding=40, max_evidence=6)
    ctx = RuleContext(correlate([], CorrelateOptions()), options)
    finding = make_finding(ctx, META, "flood", messages=shuffled, client=None, server=None)

    expected = _by_sorting_everything(shuffled, 40)
    assert finding.frames == tuple(sorted({m.source.frame for m in expected}))
    assert finding.call_ids == tuple(sorted({m.call_id or "" for m in expected}))
    shown = [(e.time, e.file, e.frame) for e in finding.evidence]
    assert shown == [(m.source.time, m.source.file, m.source.frame) for m in expected[:6]]
    # The evidence is the messages' own header lines, redacted.
    assert all("Authorization: Digest" in e.excerpt for e in finding.evidence)
    assert all("0123456789abcdef" not in e.excerpt for e in finding.evidence)
