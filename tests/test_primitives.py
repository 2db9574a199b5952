"""NoteSink: ``once`` keys, and the per-(kind, file) cap every stage relies on."""

from __future__ import annotations

from sipauth_analyzer.primitives import Note, NoteSink


def note(kind: str, file: str | None = "a.pcap", detail: str = "d") -> Note:
    return Note(kind=kind, detail=detail, file=file)


def test_without_a_cap_every_note_is_kept_and_close_adds_nothing() -> None:
    sink = NoteSink()
    for index in range(5_000):
        sink.add(note("tcp-gap", detail=str(index)))
    sink.close()
    assert len(sink.notes) == 5_000
    assert [n.detail for n in sink.notes[:3]] == ["0", "1", "2"]


def test_once_keys_suppress_repeats() -> None:
    sink = NoteSink()
    sink.add(note("tls-flow", detail="first"), once="flow 1")
    sink.add(note("tls-flow", detail="again"), once="flow 1")
    sink.add(note("tls-flow", detail="other"), once="flow 2")
    assert [n.detail for n in sink.notes] == ["first", "other"]


def test_cap_is_per_kind_and_file_with_one_summary_each() -> None:
    sink = NoteSink(max_per_kind=2)
    for index in range(5):
        sink.add(note("tcp-gap", "a.pcap", f"a{index}"))
        sink.add(note("tcp-gap", "b.pcap", f"b{index}"))
    sink.add(note("tcp-unfinished", "a.pcap"))
    sink.add(note("sip-bad-cseq", None))
    sink.add(note("sip-bad-cseq", None))
    sink.add(note("sip-bad-cseq", None))
    assert [n.detail for n in sink.notes if n.kind == "tcp-gap"] == ["a0", "b0", "a1", "b1"]
    sink.close()
    summaries = sink.notes[-3:]
    assert [(n.kind, n.file) for n in summaries] == [
        ("tcp-gap", "a.pcap"), ("tcp-gap", "b.pcap"), ("sip-bad-cseq", None)]
    assert summaries[0].detail == ("a.pcap: 3 more tcp-gap notes were left out (only the first "
                                   "2 are listed one by one)")
    assert summaries[2].detail.startswith("1 more sip-bad-cseq notes were left out")
    assert summaries[0].frames == ()
    assert [n.kind for n in sink.notes].count("tcp-unfinished") == 1  # under the cap: no summary
    sink.close()  # a second close has nothing left to summarise
    assert len(sink.notes) == 4 + 1 + 2 + 3


def test_once_and_cap_together() -> None:
    sink = NoteSink(max_per_kind=1)
    sink.add(note("tcp-gap", detail="kept"), once="k1")
    sink.add(note("tcp-gap", detail="repeat"), once="k1")  # suppressed: not counted
    sink.add(note("tcp-gap", detail="capped"), once="k2")
    sink.close()
    assert sink.notes[0].detail == "kept"
    assert "1 more tcp-gap notes" in sink.notes[-1].detail
    assert len(sink.notes) == 2


def test_a_zero_cap_summarises_everything() -> None:
    sink = NoteSink(max_per_kind=0)
    for _ in range(3):
        sink.add(note("tcp-gap"))
    assert sink.notes == []
    sink.close()
    assert len(sink.notes) == 1 and "3 more tcp-gap notes" in sink.notes[0].detail


def test_remember_empties_a_full_table_before_adding() -> None:
    from sipauth_analyzer.primitives import remember

    table: dict[str, int] = {}
    assert remember(table, "a", 1, 2) == 1 and remember(table, "b", 2, 2) == 2
    assert table == {"a": 1, "b": 2}
    remember(table, "c", 3, 2)  # full: emptied first, never past its limit
    assert table == {"c": 3}
