"""``python -m bench.phases``: the stage timings of docs/performance.md must time what the CLI runs.

No figure is asserted (timings belong to ``make bench``): these tests check that each stage was
reached and that the report it times is the CLI's, byte for byte.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.phases import STAGES, main, measure
from sipauth_analyzer.pipeline import AnalysisOptions

ROOT = Path(__file__).resolve().parents[1]
BRUTE_FORCE = str(ROOT / "sample_pcaps" / "brute-force-svcrack.pcap")


def test_every_stage_is_timed_and_the_report_is_the_clis() -> None:
    phases = measure([BRUTE_FORCE], AnalysisOptions(jobs=1))
    assert phases.messages == 80
    # Each wrapped stage ran: a stage never reached would keep its initial 0.0.
    for stage in ("reading", "correlation", "finish", "rules", "report"):
        assert phases.seconds[stage] > 0, stage
    assert phases.total >= sum(phases.seconds.values()) * 0.999
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "sipauth_analyzer",
            "analyze",
            BRUTE_FORCE,
            "--format",
            "json",
            "--jobs",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 1, cli.stderr  # svcrack's failures are errors: exit code 1
    assert phases.report_chars == len(cli.stdout)


def test_the_wrapped_internals_are_restored() -> None:
    from sipauth_analyzer import pipeline
    from sipauth_analyzer.correlate.exchanges import Correlator

    before = (Correlator.add, Correlator.finish, vars(pipeline)["run_rules"])
    lines: list[str] = []
    main([BRUTE_FORCE, "--jobs", "1"], out=lines.append)
    assert (Correlator.add, Correlator.finish, vars(pipeline)["run_rules"]) == before
    (text,) = lines
    for stage in STAGES:
        assert f"\n{stage} " in text
    assert "80 messages correlated" in text


def test_each_part_of_the_run_has_its_peak_where_linux_can_reset_it() -> None:
    from bench.phases import PEAK_PARTS, _PeakMeter, render

    phases = measure([BRUTE_FORCE], AnalysisOptions(jobs=1))
    if not _PeakMeter().works:
        assert phases.peaks == {}
        assert "peak RSS of this process, MiB: n/a" in render(phases)
        return
    assert set(phases.peaks) == set(PEAK_PARTS)
    # The interpreter and the package alone take more than 10 MiB; nothing gets near 10 GiB.
    assert all(10 < peak < 10_000 for peak in phases.peaks.values()), phases.peaks
    line = render(phases).splitlines()[-1]
    assert line.startswith("peak RSS of this process, MiB: streaming ")
    assert line.index("finish") < line.index("rules") < line.index("report")


def test_the_wait_for_the_reader_process_is_measured_only_with_one() -> None:
    from multiprocessing.connection import Connection

    real_recv_bytes = Connection.recv_bytes
    alone = measure([BRUTE_FORCE], AnalysisOptions(jobs=1))
    assert alone.waited == 0.0
    with_reader = measure([BRUTE_FORCE], AnalysisOptions(jobs=2))
    assert Connection.recv_bytes is real_recv_bytes
    assert with_reader.cpu_reader > 0  # the reader process ran
    # It had to start, read and send its first batch while this process waited.
    assert 0 < with_reader.waited <= with_reader.seconds["reading"]


def test_the_collector_runs_as_in_the_cli(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Off through analyze, and the analysis frozen before it runs again: re-enabled first, its
    next pass walked every object of the analysis inside the "report" stage (≈ 0.4 s of the
    200 k storm's report, which the CLI never pays; cli._analyze_frozen)."""
    import gc

    from sipauth_analyzer import pipeline

    seen: dict[str, bool] = {}
    real_analyze, real_freeze = pipeline.analyze, gc.freeze

    def analyze(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen["enabled during analyze"] = gc.isenabled()
        return real_analyze(*args, **kwargs)

    def freeze() -> None:
        seen["enabled at freeze"] = gc.isenabled()
        real_freeze()

    monkeypatch.setattr(pipeline, "analyze", analyze)
    monkeypatch.setattr(gc, "freeze", freeze)
    assert gc.isenabled()
    measure([BRUTE_FORCE], AnalysisOptions(jobs=1))
    assert seen == {"enabled during analyze": False, "enabled at freeze": False}
    assert gc.isenabled() and gc.get_freeze_count() == 0
