"""SipStream: read_sip's messages one at a time, with the same notes and stats at the end."""

from __future__ import annotations

import pytest

from sipauth_analyzer.pipeline import SipStream, read_sip
from tests.conftest import CAPTURES_DIR, SAMPLE_PCAPS_DIR


@pytest.mark.parametrize(
    "capture",
    [SAMPLE_PCAPS_DIR / "invite-407-success.pcap", CAPTURES_DIR / "snaplen_truncated.pcap"],
    ids=lambda p: p.name,
)
def test_a_stream_gives_what_read_sip_gives(capture: object) -> None:
    stream = SipStream([str(capture)])
    with pytest.raises(RuntimeError, match="only after the iteration"):
        _ = stream.notes
    frames = [(m.source.frame, m.summary) for m in stream]
    read = read_sip([str(capture)])
    assert frames == [(m.source.frame, m.summary) for m in read.messages]
    assert frames
    assert stream.notes == read.notes
    assert stream.stats == read.stats
