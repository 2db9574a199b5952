"""Where an analysis's time goes, stage by stage: ``python -m bench.phases CAPTURE...``.

Runs what ``sipauth analyze --format json`` runs, in this process, and times each stage:

* **reading** — everything of the streaming that is not correlation: in one process the
  reader and the parser; with a reader process (``--jobs 2``), decoding what it sends, parsing
  what it hands over raw, and waiting for it;
* **correlation** — ``Correlator.add`` over every message;
* **finish** — ``Correlator.finish`` (outcomes, metrics, letting go of its tables);
* **rules** — ``run_rules``;
* **the rest of analyze** — notes, verification and the wordlist audit when asked;
* **report** — building and encoding the JSON report, into a counting sink.

It also gives the CPU time of this process and of the reader process, and how long this
process waited for the reader process's next batch (part of "reading"), which together tell
which one bounds the streaming: the one that never waits. And it gives this process's peak
resident set size in each part of the run (the streaming, finish, rules, the rest of analyze,
report): Linux's VmHWM, reset through
``/proc/self/clear_refs`` where each part begins, so the line shows which part sets the
analysis's peak. Where that file cannot be written (not Linux, a hardened kernel) it says n/a.
The stages are timed with ``perf_counter`` around each call, so the figures include no profiler
overhead (add ``--profile`` for a cProfile of the whole run, which does). A development tool: it
wraps internals, and tests/test_bench_phases.py keeps it working.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.tooling import analysis_parser
from sipauth_analyzer import __version__, pipeline
from sipauth_analyzer.correlate.exchanges import Correlator
from sipauth_analyzer.pipeline import AnalysisOptions
from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.json_report import render as render_json
from sipauth_analyzer.report.view import build_report

STAGES = ("reading", "correlation", "finish", "rules", "the rest of analyze", "report")
# Reading and correlation interleave: one peak covers both.
PEAK_PARTS = ("streaming", "finish", "rules", "the rest of analyze", "report")


class _CountingSink:
    """A text stream that keeps only the number of characters written."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


@dataclass
class Phases:
    """Seconds per stage of one run, and CPU seconds per process."""

    seconds: dict[str, float]
    total: float
    cpu_here: float
    cpu_reader: float
    messages: int
    report_chars: int
    # Peak RSS of this process in MiB per part of PEAK_PARTS; empty where it cannot be reset.
    peaks: dict[str, float]
    # Seconds this process spent in recv_bytes on the reader process's pipe (0 without one).
    waited: float = 0.0


class _PeakMeter:
    """This process's peak RSS per part of a run: VmHWM read, then reset, at each boundary."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.works = self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as control:
                control.write("5")  # resets VmHWM to the current RSS (Linux 4.0+)
        except OSError:
            return False
        return True

    @staticmethod
    def _peak_mib() -> float | None:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    def end(self, part: str) -> None:
        """``part`` (which may be entered more than once) ends here; the next begins."""
        if not self.works:
            return
        peak = self._peak_mib()
        if peak is not None:
            self.peaks[part] = max(peak, self.peaks.get(part, 0.0))
        self.works = self._reset()


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(sources: Sequence[str], options: AnalysisOptions) -> Phases:
    """One timed run of analyze and the JSON report (see the module docstring)."""
    spent = dict.fromkeys(STAGES, 0.0)
    counted = {"messages": 0}
    marks: dict[str, float] = {}
    real_add, real_finish = Correlator.add, Correlator.finish
    names = vars(pipeline)  # pipeline.analyze calls the run_rules it imported
    real_run_rules = names["run_rules"]
    real_recv_bytes = Connection.recv_bytes
    clock = time.perf_counter
    meter = _PeakMeter()
    waited = [0.0]

    def add(self: Correlator, message: Any) -> None:
        start = clock()
        real_add(self, message)
        spent["correlation"] += clock() - start
        counted["messages"] += 1

    def finish(self: Correlator) -> Any:
        meter.end("streaming")
        start = marks["streamed"] = clock()
        try:
            return real_finish(self)
        finally:
            spent["finish"] = clock() - start
            meter.end("finish")

    def run_rules(*args: Any, **kwargs: Any) -> Any:
        meter.end("the rest of analyze")
        start = clock()
        try:
            return real_run_rules(*args, **kwargs)
        finally:
            spent["rules"] = clock() - start
            meter.end("rules")

    def recv_bytes(self: Connection, *args: Any) -> bytes:
        # Copying a batch out of the pipe takes microseconds: the rest is waiting for it.
        start = clock()
        try:
            return real_recv_bytes(self, *args)
        finally:
            waited[0] += clock() - start

    Correlator.add = add  # type: ignore[method-assign]
    Correlator.finish = finish  # type: ignore[method-assign]
    Connection.recv_bytes = recv_bytes  # type: ignore[method-assign]
    names["run_rules"] = run_rules
    cpu_start, child_start, start = time.process_time(), _child_cpu(), clock()
    # The collector as the CLI runs it (cli._analyze_frozen): off through analyze, then what it
    # made frozen before the collector runs again. Re-enabled first, its next pass would walk
    # every object of the analysis (≈ 0.4 s on the 200 k storm), inside "report".
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = pipeline.analyze(list(sources), options)
    finally:
        Correlator.add, Correlator.finish = real_add, real_finish  # type: ignore[method-assign]
        Connection.recv_bytes = real_recv_bytes  # type: ignore[method-assign]
        names["run_rules"] = real_run_rules
        analysed = clock()
        meter.end("the rest of analyze")
        gc.freeze()
        if was_enabled:
            gc.enable()
    try:
        sink = _CountingSink()
        report = build_report([(None, result)], version=__version__)
        render_json(report, sink, Style())  # type: ignore[arg-type]  # only write() is used
    finally:
        gc.unfreeze()
    end = clock()
    meter.end("report")
    spent["report"] = end - analysed
    # The streaming ends where finish starts; what correlation did not take of it is reading.
    streamed = marks["streamed"] - start
    spent["reading"] = streamed - spent["correlation"]
    spent["the rest of analyze"] = (analysed - start) - streamed - spent["finish"] - spent["rules"]
    return Phases(
        spent,
        end - start,
        time.process_time() - cpu_start,
        _child_cpu() - child_start,
        counted["messages"],
        sink.chars,
        meter.peaks,
        waited[0],
    )


def render(phases: Phases) -> str:
    lines = [f"{'stage':<22}{'seconds':>9}{'share':>8}{'µs/message':>12}"]
    for stage in STAGES:
        seconds = phases.seconds[stage]
        share = seconds / phases.total if phases.total else 0.0
        per_message = f"{seconds / phases.messages * 1e6:,.1f}" if phases.messages else "n/a"
        lines.append(f"{stage:<22}{seconds:>9.3f}{share:>8.1%}{per_message:>12}")
    lines.append(f"{'total':<22}{phases.total:>9.3f}")
    lines.append(
        f"CPU seconds: this process {phases.cpu_here:.2f}, reader process "
        f"{phases.cpu_reader:.2f}; {phases.messages:,} messages correlated, "
        f"{phases.report_chars:,} characters of JSON; this process waited "
        f"{phases.waited:.2f} s for the reader process"
    )
    peaks = (
        ", ".join(f"{part} {phases.peaks[part]:.1f}" for part in PEAK_PARTS if part in phases.peaks)
        if phases.peaks
        else "n/a (/proc/self/clear_refs cannot be written here)"
    )
    lines.append(f"peak RSS of this process, MiB: {peaks}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = analysis_parser("python -m bench.phases", __doc__)
    parser.add_argument("--repeat", type=int, default=1, help="runs, each printed")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print the N functions of most own time (cProfile; slower)",
    )
    args = parser.parse_args(argv)
    options = AnalysisOptions(jobs=args.jobs)
    for _ in range(args.repeat):
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        phases = measure(args.captures, options)
        if profile is not None:
            profile.disable()
        out(render(phases))
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
