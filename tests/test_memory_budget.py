"""The memory budget (AnalysisOptions.max_memory, pipeline.MemoryGuard): near the memory limit
an analysis stops keeping messages for the rules and sheds the exchanges idle longest, instead
of being killed by the kernel, and every report says where diagnosis stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.generate import StormParams, generate_storm
from sipauth_analyzer import cli as cli_module
from sipauth_analyzer import pipeline
from sipauth_analyzer.cli import cli, main
from sipauth_analyzer.config import ConfigError, load_config, parse_memory_option
from sipauth_analyzer.correlate import CorrelateOptions, Correlator
from sipauth_analyzer.correlate.model import Correlation, Outcome
from sipauth_analyzer.memory import (
    MIB,
    MemoryLimit,
    Usage,
    available_memory,
    cgroup_limit,
    current_usage,
    parse_size,
)
from sipauth_analyzer.pipeline import (
    MEMORY_CHECK_EVERY,
    MEMORY_KEEP_SHARE,
    MEMORY_OPEN_HEADROOM,
    AnalysisOptions,
    MemoryGuard,
    analyze,
)
from sipauth_analyzer.primitives import NoteLevel, NoteSink
from sipauth_analyzer.report.json_report import metrics_record
from sipauth_analyzer.report.view import build_report, undiagnosed_line
from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.retention import plain_exchange_test
from sipauth_analyzer.sip.message import SipMessage
from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOSED_EARLY = "correlate-exchanges-closed-early"
SHED = "correlate-exchanges-shed"
UNDIAGNOSED = "correlate-exchanges-undiagnosed"
ORPHANS = "correlate-orphans-undiagnosed"
# Each simulated message costs this much of the simulated memory.
BYTES_PER_MESSAGE = 1000


def _guessing_flow(exchanges: int) -> Flow:
    """A password-guessing loop: challenge, wrong credentials, challenge again, given up. Each
    exchange then stays open for exchange_idle_timeout in case a retry comes; none does."""
    flow = Flow(step=0.001)
    for index in range(exchanges):
        first = flow.request("REGISTER", call_id=f"g{index}", branch=f"z9hG4bK-a{index}",
                             from_tag=f"t{index}")
        flow.response(first, 401, challenge=digest_challenge(f"n{index}"))
        retry = flow.request("REGISTER", call_id=f"g{index}", branch=f"z9hG4bK-b{index}",
                             from_tag=f"t{index}", cseq=2, auth=digest_credentials(f"n{index}"))
        flow.response(retry, 401, challenge=digest_challenge(f"m{index}"))
    return flow


def _correlator() -> Correlator:
    return Correlator(CorrelateOptions(), retirable=plain_exchange_test(RuleOptions()))


def _guarded(messages: list[SipMessage], limit_messages: int) -> tuple[Correlation, int, int]:
    """Correlate as pipeline.analyze does with a guard whose memory is BYTES_PER_MESSAGE per
    message held; the Correlation, the most messages held at once, and the guard's cap."""
    correlator = _correlator()
    guard = MemoryGuard(
        MemoryLimit(limit_messages * BYTES_PER_MESSAGE, None, "a test limit"),
        usage=lambda: Usage(correlator.held_messages * BYTES_PER_MESSAGE, 0),
    )
    most = 0
    for count, message in enumerate(messages, 1):
        correlator.add(message)
        if not count % MEMORY_CHECK_EVERY:
            guard.check(correlator)
        most = max(most, correlator.held_messages)
    assert guard.max_held is not None
    return correlator.finish(), most, guard.max_held


def _unguarded(messages: list[SipMessage]) -> Correlation:
    correlator = _correlator()
    for message in messages:
        correlator.add(message)
    return correlator.finish()


def _note(correlation: Correlation, kind: str) -> str:
    (note,) = [n for n in correlation.notes if n.kind == kind]
    return note.detail


def test_near_the_limit_the_open_exchanges_are_kept_and_later_ones_let_go() -> None:
    flow = _guessing_flow(4_000)  # 16,000 messages, every exchange still open at the end
    correlation, most, cap = _guarded(flow.messages, limit_messages=10_000)
    # The first check at or past MEMORY_KEEP_SHARE of the limit, all held in open exchanges.
    reached = -(-int(MEMORY_KEEP_SHARE * 10_000) // MEMORY_CHECK_EVERY) * MEMORY_CHECK_EVERY
    kept = reached // 4
    assert len(correlation.exchanges) == kept
    assert all(m.source.frame <= reached for m in correlation.messages)
    assert correlation.undiagnosed_exchanges == 4_000 - kept
    # Open exchanges get a little more room; shedding comes at the checks, in between they grow.
    assert cap == int(reached * (1 + MEMORY_OPEN_HEADROOM))
    assert most <= cap + MEMORY_CHECK_EVERY
    # The whole capture is still counted exactly: shedding the exchanges idle longest split
    # none of these (each was over within 4 ms).
    full = _unguarded(flow.messages)
    assert full.undiagnosed_exchanges == 0
    assert metrics_record(correlation.overall) == metrics_record(full.overall)
    assert correlation.budget_reason is not None
    assert correlation.budget_reason.startswith(
        f"the memory budget ({MEMORY_KEEP_SHARE:.0%} of 10 MiB, a test limit"
    )
    assert _note(correlation, CLOSED_EARLY).startswith(
        f"{correlation.budget_reason} was reached at frame {reached}: the {kept} auth "
        "exchange(s) open then were closed early and kept for the rules"
    )
    assert "were closed early afterwards" in _note(correlation, SHED)
    undiagnosed = _note(correlation, UNDIAGNOSED)
    assert f"{4_000 - kept} exchange(s) that ended after that" in undiagnosed
    assert "--max-memory" in undiagnosed


def test_without_pressure_nothing_changes() -> None:
    flow = _guessing_flow(1_000)
    correlator = _correlator()
    guard = MemoryGuard(MemoryLimit(10**12, None, "a test limit"),
                        usage=lambda: Usage(correlator.held_messages, 0))
    for count, message in enumerate(flow.messages, 1):
        correlator.add(message)
        if not count % MEMORY_CHECK_EVERY:
            guard.check(correlator)
    guarded = correlator.finish()
    assert guard.max_held is None
    full = _unguarded(flow.messages)
    assert len(guarded.exchanges) == len(full.exchanges) == 1_000
    assert guarded.budget_reason is None
    assert [n.detail for n in guarded.notes] == [n.detail for n in full.notes]


def test_the_address_space_limit_counts_too() -> None:
    guard = MemoryGuard(MemoryLimit(None, 1000, "ulimit -v"),
                        usage=lambda: Usage(resident=10, virtual=700))
    correlator = _correlator()
    for message in _guessing_flow(10).messages:
        correlator.add(message)
    guard.check(correlator)
    assert correlator.budget_reached
    assert guard.share(Usage(resident=10, virtual=500)) == 0.5


def test_a_late_answer_joins_a_kept_exchange_and_is_dropped_for_a_shed_one() -> None:
    flow = Flow(step=0.001)
    kept_request = flow.request("INVITE", call_id="kept", branch="z9hG4bK-kept")
    correlator = _correlator()
    correlator.add(kept_request)
    correlator.reach_budget("a test budget", "a test remedy")
    # Past the budget: challenged, still open, then shed; its 401 comes again afterwards.
    shed_request = flow.request("REGISTER", call_id="shed", branch="z9hG4bK-shed", from_tag="s")
    challenge = flow.response(shed_request, 401, challenge=digest_challenge("s"))
    correlator.add(shed_request)
    correlator.add(challenge)
    assert correlator.shed(max_held=1) == 1
    assert correlator.held_messages == 1
    late_kept = flow.response(kept_request, 407, challenge=digest_challenge("k"))
    correlator.add(late_kept)
    correlator.add(flow.again(challenge))
    correlation = correlator.finish()
    (exchange,) = correlation.exchanges
    assert exchange.first.request is kept_request
    assert exchange.final is late_kept
    assert {id(m) for m in correlation.messages} == {id(kept_request), id(late_kept)}
    assert correlation.undiagnosed_exchanges == 1
    assert correlation.undiagnosed_orphans == 1  # the shed exchange's answer joined nothing
    assert correlation.overall.requests == 2
    assert correlation.overall.challenged == 2
    assert _note(correlation, CLOSED_EARLY).startswith("a test budget was reached at frame 1:")


def test_shedding_before_the_budget_and_a_second_budget_do_nothing() -> None:
    correlator = _correlator()
    messages = _guessing_flow(5).messages
    for message in messages[:8]:
        correlator.add(message)
    assert correlator.shed(max_held=0) == 0
    assert correlator.held_messages == 8
    correlator.reach_budget("first", "")
    correlator.reach_budget("second", "")
    for message in messages[8:]:
        correlator.add(message)
    assert correlator.finish().budget_reason == "first"


def test_a_budget_reached_before_any_message_keeps_nothing() -> None:
    correlator = _correlator()
    correlator.reach_budget("a budget spent by the start-up alone", "")
    flow = _guessing_flow(3)
    for message in flow.messages:
        correlator.add(message)
    correlation = correlator.finish()
    assert correlation.exchanges == []
    assert correlation.undiagnosed_exchanges == 3
    assert _note(correlation, UNDIAGNOSED).startswith(
        "a budget spent by the start-up alone was reached at frame 1:"
    )


def _storm(tmp_path: Path, messages: int = 20_000) -> Path:
    return generate_storm(StormParams(messages=messages), tmp_path).path


def test_analyze_reaches_the_memory_budget_and_every_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through pipeline.analyze, with this process's memory use simulated: 10 MiB more at each
    look until 70 MiB, against a 100 MiB limit (the budget is reached at 60 %)."""
    assert MEMORY_KEEP_SHARE == 0.6
    readings = iter(range(1, 10**6))
    monkeypatch.setattr(pipeline, "current_usage",
                        lambda: Usage(min(next(readings), 7) * 10 * MIB, 0))
    capture = _storm(tmp_path)
    result = analyze([str(capture)], AnalysisOptions(jobs=1, max_memory=100 * MIB))
    correlation = result.correlation
    assert correlation.undiagnosed_exchanges > 0
    assert correlation.budget_reason == (
        "the memory budget (60% of 100 MiB, set by --max-memory / max-memory; 60 MiB resident "
        "then)"
    )
    # memory_guard() looked once; the fifth check saw 60 MiB: no exchange kept for the rules
    # starts after the 5,120th message (the ones kept then still take their late messages).
    assert max(e.first.request.source.frame for e in correlation.exchanges) <= 5 * 1024
    line = undiagnosed_line(build_report([(None, result)]))
    assert line is not None
    assert line.startswith(f"Findings cover the capture only up to {correlation.budget_reason}")
    notes = {n.kind for n in result.notes}
    assert {CLOSED_EARLY, SHED, UNDIAGNOSED} <= notes
    full = analyze([str(capture)], AnalysisOptions(jobs=1, max_memory=0))
    assert full.correlation.undiagnosed_exchanges == 0
    assert full.correlation.budget_reason is None
    # Every message is accounted for, kept or let go.
    assert (len(correlation.messages) + correlation.unlisted_messages
            + correlation.undiagnosed_orphans) == len(full.correlation.messages) == 20_000
    # A shed exchange retried afterwards starts a new one: never fewer exchanges.
    assert correlation.overall.requests >= full.correlation.overall.requests


def test_detected_limits_apply_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "detect_limit",
                        lambda: MemoryLimit(512 * MIB, None, "the cgroup memory limit"))
    guard = pipeline.memory_guard(None, NoteSink())
    assert guard is not None
    assert guard.limit.resident == 512 * MIB
    assert pipeline.memory_guard(0, NoteSink()) is None
    monkeypatch.setattr(pipeline, "detect_limit", lambda: None)
    assert pipeline.memory_guard(None, NoteSink()) is None


def test_a_limit_that_cannot_be_measured_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "current_usage", lambda: None)
    sink = NoteSink()
    assert pipeline.memory_guard(256 * MIB, sink) is None
    sink.close()
    (note,) = sink.notes
    assert note.kind == "memory-unmeasured"
    assert note.level is NoteLevel.WARNING


# -- where the limit comes from -----------------------------------------------------------------


def test_sizes() -> None:
    assert parse_size("512M") == 512 * MIB
    assert parse_size("1.5G") == 1536 * MIB
    assert parse_size("300MiB") == 300 * MIB
    assert parse_size("250mb") == 250 * MIB
    assert parse_size("4096") == 4096
    for bad in ("", "M", "12Q", "-5M", "1e9"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)
    assert parse_memory_option("auto") is None
    assert parse_memory_option("off") == 0
    assert parse_memory_option("2G") == 2048 * MIB
    with pytest.raises(ConfigError, match="64M"):
        parse_memory_option("10M")
    with pytest.raises(ConfigError, match="not"):
        parse_memory_option("lots")
    with pytest.raises(ConfigError, match="must be"):
        parse_memory_option(512)


def test_cgroup_v1_and_v2_limits(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    root = tmp_path / "sys"
    # v2: the smallest limit on the way up counts; "max" is none.
    (root / "ci" / "job").mkdir(parents=True)
    (root / "ci" / "memory.max").write_text("1073741824\n")
    (root / "ci" / "job" / "memory.max").write_text("max\n")
    proc.write_text("0::/ci/job\n")
    assert cgroup_limit(proc, root) == 1 << 30
    # v1: the memory controller's hierarchy; its "unlimited" is a huge number.
    v1 = root / "memory" / "docker" / "abc"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("314572800\n")
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    proc.write_text("12:pids:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/\n")
    assert cgroup_limit(proc, root) == 300 * MIB
    # A container sees its own cgroup at the mount point while /proc names the host's path.
    proc.write_text("4:memory:/host/path/unseen\n")
    (root / "memory" / "memory.limit_in_bytes").write_text("268435456\n")
    assert cgroup_limit(proc, root) == 256 * MIB
    proc.write_text("4:memory:/\n")
    assert cgroup_limit(proc, root) == 256 * MIB
    assert cgroup_limit(tmp_path / "missing", root) is None


def test_available_memory_and_usage(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24682280 kB\nMemAvailable:    2097152 kB\n")
    assert available_memory(meminfo) == 2 << 30
    meminfo.write_text("MemTotal: 1 kB\n")
    assert available_memory(meminfo) is None
    assert current_usage(tmp_path / "missing") is None
    if Path("/proc/self/statm").exists():
        usage = current_usage()
        assert usage is not None
        assert 10 * MIB < usage.resident < usage.virtual


def test_max_memory_in_the_configuration_and_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sipauth.toml"
    config.write_text('max-memory = "512M"\n')
    assert load_config(config).max_memory == 512 * MIB
    config.write_text('max-memory = "plenty"\n')
    with pytest.raises(ConfigError, match="max-memory"):
        load_config(config)
    capture = REPO_ROOT / "sample_pcaps" / "register-407.pcap"
    with pytest.raises(SystemExit) as stopped:
        main(["analyze", str(capture), "--max-memory", "lots"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("sipauth: error: --max-memory: 'lots' is not")
    # A limit far above what the run needs changes nothing.
    plain = CliRunner().invoke(cli, ["analyze", str(capture), "--format", "json"])
    limited = CliRunner().invoke(cli, ["analyze", str(capture), "--format", "json",
                                       "--max-memory", "4G"])
    assert plain.exit_code == limited.exit_code
    assert plain.output == limited.output


def test_running_out_of_memory_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def exhausted(*_args: object, **_kwargs: object) -> object:
        raise MemoryError

    monkeypatch.setattr(cli_module, "analyze", exhausted)
    capture = REPO_ROOT / "sample_pcaps" / "register-407.pcap"
    with pytest.raises(SystemExit) as stopped:
        main(["analyze", str(capture), "--format", "json"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("sipauth: error: out of memory")
    assert "--max-memory" in err


# -- real memory, in a process of its own --------------------------------------------------------

_PEAK = """
import json, sys
from sipauth_analyzer.pipeline import AnalysisOptions, analyze
result = analyze([sys.argv[1]], AnalysisOptions(jobs=1, max_memory=int(sys.argv[2])))
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"peak_kib": int(peak), "undiagnosed": result.correlation.undiagnosed_exchanges}))
"""


def _peak(capture: Path, max_memory: int) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", _PEAK, str(capture), str(max_memory)],
                          capture_output=True, text=True, timeout=600, env=env, check=True,
                          cwd=REPO_ROOT)
    figures: dict[str, int] = json.loads(done.stdout)
    return figures


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_real_peak_memory_stays_within_the_limit(tmp_path: Path) -> None:
    """An auth storm whose exchanges all stay open, in a process of its own (VmHWM). Measured
    here: 106 MiB unbounded, 78 MiB under a 96 MiB limit (91 MiB under 128 MiB)."""
    capture = _storm(tmp_path, 40_000)
    limit = 96 * MIB
    unbounded = _peak(capture, 0)
    bounded = _peak(capture, limit)
    assert unbounded["undiagnosed"] == 0
    assert bounded["undiagnosed"] > 0
    assert bounded["peak_kib"] * 1024 < 0.9 * limit, (bounded, unbounded)
    assert unbounded["peak_kib"] * 1024 > limit, (bounded, unbounded)


def test_an_exchange_over_but_awaiting_late_answers_is_kept_too() -> None:
    """Ended with a 200 before the budget, its transactions still in the table in case the 200
    is retransmitted: it began before the budget, so the rules see it, late answer included."""
    flow = Flow(step=0.001)
    register = flow.request("REGISTER", call_id="done", branch="z9hG4bK-d1")
    flow.response(register, 401, challenge=digest_challenge("n"))
    retry = flow.request("REGISTER", call_id="done", branch="z9hG4bK-d2", cseq=2,
                         auth=digest_credentials("n"))
    accepted = flow.response(retry, 200)
    correlator = _correlator()
    for message in flow.messages:
        correlator.add(message)
    correlator.reach_budget("a test budget", "")
    again = flow.again(accepted)
    correlator.add(again)
    correlation = correlator.finish()
    assert correlation.undiagnosed_exchanges == 0
    (exchange,) = correlation.exchanges
    assert exchange.outcome is Outcome.SUCCEEDED
    assert [id(m) for m in exchange.last.responses] == [id(accepted), id(again)]
