"""The reader process (``--jobs 2``: capture/worker.py, sip/transfer.py) gives exactly what
reading and parsing in process give: parsed messages, notes (in order, with the same caps),
progress calls, stats, errors, and therefore byte-identical reports."""

from __future__ import annotations

import gzip
import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipauth_analyzer import pipeline
from sipauth_analyzer.capture import worker
from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.capture.model import CapturedMessage, CaptureOptions, CaptureStats
from sipauth_analyzer.capture.worker import worth_a_reader_process
from sipauth_analyzer.cli import cli
from sipauth_analyzer.pipeline import iter_sip
from sipauth_analyzer.primitives import Note, NoteSink
from sipauth_analyzer.sip import transfer
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.parser import ANALYSIS_PARSE_OPTIONS, SipParseOptions
from tests.conftest import (
    CAPTURES_DIR,
    SAMPLE_PCAPS_DIR,
    capture_files,
)

REGRESSIONS_DIR = Path(__file__).resolve().parents[1] / "fuzz" / "regressions"
LOCAL_CAPTURES = [
    *capture_files(CAPTURES_DIR, recursive=True),
    *capture_files(SAMPLE_PCAPS_DIR),
    *capture_files(REGRESSIONS_DIR),
]


Read = tuple[list[SipMessage], list[Note], CaptureStats, list[int], str | None]

# Where the reader process parses: its own choice by SIP density, always there, never there.
PLACEMENTS = {"adaptive": None, "reader": float("inf"), "analysis": 0.0}


@pytest.fixture(autouse=True, params=list(PLACEMENTS))
def parse_placement(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every comparison below holds wherever the messages are parsed (the child is forked
    after the patch, so it sees it)."""
    max_gap = PLACEMENTS[request.param]
    if max_gap is not None:
        monkeypatch.setattr(transfer, "PARSE_IN_READER_MAX_GAP", max_gap)
    return str(request.param)


def _read(jobs: int, sources: list[str], options: CaptureOptions | None = None,
          parse_options: SipParseOptions | None = None) -> Read:
    options = options or CaptureOptions()
    sink = NoteSink(max_per_kind=options.max_notes_per_kind)
    stats = CaptureStats()
    progress: list[int] = []
    messages: list[SipMessage] = []
    error = None
    try:
        messages.extend(iter_sip(sources, options, sink, stats, read_progress=progress.append,
                                 parse_options=parse_options, jobs=jobs))
    except CaptureError as exc:
        error = str(exc)
    sink.close()
    return messages, sink.notes, stats, progress, error


def _same_read(sources: list[str], options: CaptureOptions | None = None) -> None:
    for parse_options in (None, ANALYSIS_PARSE_OPTIONS):
        here = _read(1, sources, options, parse_options)
        there = _read(2, sources, options, parse_options)
        assert there[0] == here[0]  # every parsed message, field by field, in order
        for ours, theirs in zip(here[0], there[0], strict=True):
            assert theirs.kept_headers == ours.kept_headers
            assert theirs.credentials == ours.credentials  # lazily parsed, the same
            assert theirs.challenges == ours.challenges
            assert theirs.problems == ours.problems
        assert there[1] == here[1]  # every note, in the order it was added
        assert there[2] == here[2]
        assert there[3] == here[3]
        assert there[4] == here[4]
        assert not multiprocessing.active_children()


@pytest.mark.parametrize("path", LOCAL_CAPTURES, ids=lambda p: p.name)
def test_every_local_capture_reads_the_same_in_the_reader_process(path: Path) -> None:
    _same_read([str(path)])


def test_every_real_capture_reads_the_same_in_the_reader_process(real_pcaps_dir: Path) -> None:
    paths = capture_files(real_pcaps_dir, recursive=True)
    assert paths
    for path in paths:
        _same_read([str(path)])


def test_several_sources_and_a_directory_read_as_one_timeline(tmp_path: Path) -> None:
    _same_read([str(CAPTURES_DIR), str(SAMPLE_PCAPS_DIR / "README.md"),
                str(CAPTURES_DIR / "tcp_gap.pcap")])


def test_note_caps_apply_in_the_parent_as_in_one_process() -> None:
    # A cap of 1 per kind makes every repeated note kind overflow: the summary notes must match.
    _same_read([str(p) for p in LOCAL_CAPTURES[:20]], CaptureOptions(max_notes_per_kind=1))


def test_unreadable_sources_raise_the_same_capture_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all" * 10)
    bad_gzip = tmp_path / "cut.pcap.gz"
    bad_gzip.write_bytes(gzip.compress((CAPTURES_DIR / "link_ethernet.pcap").read_bytes())[:40])
    for sources in ([str(tmp_path / "missing.pcap")], [str(junk)],
                    [str(CAPTURES_DIR / "link_ethernet.pcap"), str(junk)], [str(bad_gzip)]):
        here = _read(1, sources)
        there = _read(2, sources)
        assert here[4] is not None or here[1]  # each of them is an error or a warning
        assert there == here


def test_a_reader_stopped_early_stops_its_process() -> None:
    stream = iter_sip([str(CAPTURES_DIR / "tcp_split3.pcap")], CaptureOptions(), NoteSink(),
                      CaptureStats(), jobs=2)
    first = next(stream)
    assert first.source.frame >= 1
    stream.close()
    assert not multiprocessing.active_children()


def test_a_reader_process_that_dies_is_an_error_not_a_hang(monkeypatch) -> None:
    def die(*_args: object) -> None:
        import os

        os._exit(3)

    monkeypatch.setattr(worker, "_run_in_child", die)
    with pytest.raises(RuntimeError, match="exit code 3"):
        list(iter_sip([str(CAPTURES_DIR / "link_ethernet.pcap")], CaptureOptions(),
                      NoteSink(), CaptureStats(), jobs=2))


def test_auto_mode_keeps_small_inputs_and_stdin_in_process(tmp_path: Path, monkeypatch) -> None:
    small = str(CAPTURES_DIR / "link_ethernet.pcap")
    assert not worth_a_reader_process([small], 0)
    assert not worth_a_reader_process([small], 1)
    assert worth_a_reader_process([small], 2)
    assert not worth_a_reader_process(["-"], 2)  # only this process can read its stdin
    monkeypatch.setattr(worker, "AUTO_MIN_BYTES", 1)
    monkeypatch.setattr(worker, "usable_cpus", lambda: 2)
    assert worth_a_reader_process([small], 0)
    assert worth_a_reader_process([str(CAPTURES_DIR)], 0)
    monkeypatch.setattr(worker, "usable_cpus", lambda: 1)
    assert not worth_a_reader_process([small], 0)


@pytest.mark.parametrize("fmt", ["json", "text", "sarif"])
def test_reports_are_byte_identical_with_one_or_two_processes(fmt: str) -> None:
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "2"):
        result = runner.invoke(cli, ["analyze", "--per-file", str(SAMPLE_PCAPS_DIR),
                                     str(CAPTURES_DIR), "--format", fmt, "--jobs", jobs])
        assert result.exit_code in (0, 1), result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 1000


def test_jobs_2_needs_the_native_engine() -> None:
    result = CliRunner().invoke(cli, ["analyze", str(CAPTURES_DIR / "link_ethernet.pcap"),
                                      "--engine", "tshark", "--jobs", "2"])
    assert result.exit_code == 2
    assert "--jobs" in result.output


def test_messages_listing_is_identical_with_one_or_two_processes() -> None:
    runner = CliRunner()
    outputs = [
        runner.invoke(cli, ["messages", str(CAPTURES_DIR), "--format", "json", "--jobs", jobs])
        for jobs in ("1", "2")
    ]
    assert outputs[0].exit_code == outputs[1].exit_code == 0
    assert outputs[0].output == outputs[1].output
    assert outputs[0].output.count('"frame"') > 50


def test_the_analysing_process_parses_what_the_reader_hands_over(
    parse_placement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed_over: list[int] = []
    parse_here = pipeline._parse_noted

    def counting(captured: CapturedMessage, sink: NoteSink, options: SipParseOptions | None
                 ) -> SipMessage | None:
        handed_over.append(captured.frame)  # only this process's calls: the child's are its own
        return parse_here(captured, sink, options)

    monkeypatch.setattr(pipeline, "_parse_noted", counting)
    sources = [str(CAPTURES_DIR / "tcp_split3.pcap")]
    messages = _read(2, sources)[0]
    assert messages
    if parse_placement == "analysis":
        assert handed_over == [m.source.frame for m in messages]
    else:  # a small all-SIP capture is dense: the reader parses it
        assert handed_over == []


def _distinct_objects_per_value(messages: list[SipMessage]) -> dict[str, int]:
    objects: dict[str, set[int]] = {}
    for message in messages:
        for value in message.values:
            objects.setdefault(value, set()).add(id(value))
    return {value: len(ids) for value, ids in objects.items() if len(ids) > 1}


@pytest.mark.parametrize("name", ["register-407.pcap", "brute-force-svcrack.pcap"])
def test_equal_header_values_arrive_as_one_string(name: str) -> None:
    """What the decoder no longer does itself (sip/transfer.py): the reader's parser shares
    equal values and marshal keeps them one object within a batch, as one process does."""
    sources = [str(SAMPLE_PCAPS_DIR / name)]
    here = _read(1, sources, parse_options=ANALYSIS_PARSE_OPTIONS)[0]
    there = _read(2, sources, parse_options=ANALYSIS_PARSE_OPTIONS)[0]
    assert len(there) == len(here) > 1
    repeated = sum(len(m.values) for m in there) - len({v for m in there for v in m.values})
    assert repeated > len(there)  # the capture does repeat values (Call-ID, From, CSeq...)
    assert _distinct_objects_per_value(here) == {}
    assert _distinct_objects_per_value(there) == {}


@pytest.mark.parametrize("jobs", [1, 2])
def test_kept_messages_share_one_int_per_wire_size(jobs: int) -> None:
    """capture.model.shared_size: every kept copy (without_data in the parser, the decoder in
    the analysing process) of a size above the ints CPython caches is one object."""
    sources = [str(SAMPLE_PCAPS_DIR / "brute-force-svcrack.pcap")]
    messages = _read(jobs, sources, parse_options=ANALYSIS_PARSE_OPTIONS)[0]
    sizes = [m.source.wire_size for m in messages]
    assert len(sizes) > len(set(sizes)) and min(sizes) > 256  # sizes do repeat, uncached
    objects: dict[int, set[int]] = {}
    for size in sizes:
        objects.setdefault(size, set()).add(id(size))
    assert {size: len(ids) for size, ids in objects.items() if len(ids) > 1} == {}


def test_the_shared_size_table_stays_bounded() -> None:
    """A capture of ever-new sizes (hostile or just varied) cannot grow the table past its
    limit; a size keeps its value whether or not it was shared."""
    from sipauth_analyzer.capture import model

    limit = model._SHARED_SIZES_LIMIT
    for size in range(1_000, 1_000 + 3 * limit):
        assert model.shared_size(size) == size
        assert len(model._SHARED_SIZES) <= limit
    again = model.shared_size(int("70000"))  # built at run time: not a cached constant
    assert model.shared_size(int("70000")) is again


def test_a_reader_process_out_of_memory_is_a_memory_error_here(monkeypatch) -> None:
    def exhausted(*_args: object) -> Iterator[object]:
        yield from ()
        raise MemoryError

    monkeypatch.setattr(pipeline, "stream_from_child", _with_producer(exhausted))
    with pytest.raises(MemoryError, match="reader process ran out of memory"):
        list(iter_sip([str(CAPTURES_DIR / "link_ethernet.pcap")], CaptureOptions(),
                      NoteSink(), CaptureStats(), jobs=2))


def _with_producer(produce: Callable[..., Iterator[object]]) -> Callable[..., object]:
    """stream_from_child, with ``produce`` run in the child instead of the pipeline's."""
    real = worker.stream_from_child

    def stream(_produce: object, encode: Any, decode: Any, notes: NoteSink,
               stats: CaptureStats, **kwargs: Any) -> object:
        return real(produce, encode, decode, notes, stats, **kwargs)

    return stream


# The parent, killed outright once the reader is well ahead of it: its pid, then SIGKILL.
_KILLED_PARENT = """
import multiprocessing, os, signal, sys
from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.pipeline import iter_sip
from sipauth_analyzer.primitives import NoteSink
stream = iter_sip([sys.argv[1]], CaptureOptions(), NoteSink(), CaptureStats(), jobs=2)
next(stream)
(reader,) = multiprocessing.active_children()
print(reader.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a reparented child may stay one where nothing reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_reader_process_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL (the OOM killer, a CI timeout) gives the parent no chance to stop its reader.
    The reader must then fail on its next send instead of blocking forever on a full pipe
    whose only reading end it holds itself."""
    import signal
    import subprocess
    import sys
    import time

    from bench.generate import StormParams, generate_storm

    # Far more than the pipe holds (1 MiB), so the reader is blocked sending when the parent dies.
    capture = generate_storm(StormParams(messages=20_000), tmp_path).path
    parent = subprocess.run([sys.executable, "-c", _KILLED_PARENT, str(capture)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    reader = int(parent.stdout.split()[0])
    try:
        deadline = time.monotonic() + 30
        while _running(reader) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(reader), "the orphaned reader process is still running"
    finally:
        if _running(reader):
            os.kill(reader, signal.SIGKILL)
