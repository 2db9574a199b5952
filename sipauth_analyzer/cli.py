"""The ``sipauth`` command line. The only place that maps errors to exit codes and exits.

Exit codes (stable, documented in README.md):
  0  success, no finding at or above ``--fail-on``
  1  findings at or above ``--fail-on``
  2  usage, input or configuration error (unreadable capture, bad option, …)
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from sipauth_analyzer import __version__
from sipauth_analyzer.capture.files import CaptureError, expand_sources
from sipauth_analyzer.config import (
    FAIL_ON_CHOICES,
    Config,
    ConfigError,
    check_selectors,
    load_config,
    parse_memory_option,
)
from sipauth_analyzer.pipeline import (
    AnalysisOptions,
    AnalysisResult,
    SipStream,
    analyze,
)
from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.report import messages as messages_report
from sipauth_analyzer.report import rules_doc
from sipauth_analyzer.report.formats import ReportFormat, Style, reporter_for, write_atomically
from sipauth_analyzer.report.ladder import build_ladder, render_markdown, render_text
from sipauth_analyzer.report.view import (
    Filters,
    PeerNames,
    PeerSpec,
    ReportInput,
    ReportInputError,
    TimeBound,
    build_report,
    load_baseline,
    printable,
)
from sipauth_analyzer.rules.base import Severity
from sipauth_analyzer.rules.registry import rule_by_code
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.verify import CredentialsError, WordlistError, build_credentials

F = TypeVar("F", bound=Callable[..., Any])

MAX_TERMINAL_WIDTH = 100  # wider lines are harder to read, and the report is laid out for 80


class ExitStatus(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    ERROR = 2
    INTERRUPTED = 130


class UserError(Exception):
    """A problem the user can fix (bad option value, unreadable configuration): exit 2."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sipauth")
def cli() -> None:
    """Explain why SIP digest authentication fails, from pcap/pcapng captures."""


# -- shared options ------------------------------------------------------------------------------


def engine_options(function: F) -> F:
    function = click.option(
        "--jobs",
        type=click.IntRange(0, 2),
        default=0,
        show_default=True,
        help="Processes for the native engine: 1 reads the capture in this process, 2 in a "
        "second process beside the analysis (same results), 0 picks 2 for inputs of 32 MiB "
        "or more when a second CPU is free.",
    )(function)
    function = click.option(
        "--decode-as",
        multiple=True,
        help="tshark decode-as rule for non-standard ports, e.g. 'tls.port==5062,sip' "
        "(repeatable; needs --engine tshark).",
    )(function)
    function = click.option(
        "--tls-keylog",
        type=click.Path(dir_okay=False),
        default=None,
        help="TLS key log file (SSLKEYLOGFILE format) to decrypt SIP over TLS; needs "
        "--engine tshark.",
    )(function)
    return click.option(
        "--engine",
        type=click.Choice(["native", "tshark"]),
        default="native",
        show_default=True,
        help="native: built-in pure-Python reader (fast); tshark: Wireshark's dissectors "
        "(slower; decrypts TLS with --tls-keylog).",
    )(function)


def _check_engine(engine: str, tls_keylog: str | None, decode_as: Sequence[str] = (),
                  jobs: int = 0) -> None:
    if jobs == 2 and engine != "native":
        raise click.BadParameter("needs --engine native", param_hint="--jobs")
    if decode_as and engine != "tshark":
        raise click.BadParameter("needs --engine tshark", param_hint="--decode-as")
    if tls_keylog is not None and engine != "tshark":
        raise click.BadParameter("needs --engine tshark", param_hint="--tls-keylog")
    if tls_keylog is not None and not os.path.isfile(tls_keylog):
        raise click.BadParameter(f"{tls_keylog}: no such file", param_hint="--tls-keylog")


def _terminal_width(out: TextIO) -> int:
    if not out.isatty():
        return 80
    return max(40, min(shutil.get_terminal_size((80, 24)).columns, MAX_TERMINAL_WIDTH))


def _use_color(out: TextIO, no_color: bool) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return out.isatty()


def _split_list(values: Sequence[str]) -> tuple[str, ...]:
    """``--select SA1,SA303 --select SA6`` → ("SA1", "SA303", "SA6")."""
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


# -- progress -------------------------------------------------------------------------------------


class _Bar:
    """What the analysis tells the progress display; does nothing when there is no display."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def read(self, done: int) -> None:
        """The reader's ``read_progress(bytes_read)`` callback."""
        if self._progress is not None:
            self._progress.update(self._task, completed=done)

    def words(self, done: int, total: int) -> None:
        """The wordlist audit's ``progress(done, total)`` callback."""
        if self._progress is not None:
            self._progress.update(
                self._task, completed=done, total=total, description="auditing passwords"
            )


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[_Bar]:
    """A progress display on stderr (transient). A no-op when disabled.

    The reader reports the bytes it has read (standard input has no size: a spinner then);
    the wordlist audit reports its checks.
    """
    if not enabled:
        yield _Bar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(file=sys.stderr)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=total or None)
        yield _Bar(progress, task)


def _analyze_frozen(
    captures: Sequence[str],
    options: AnalysisOptions,
    *,
    progress: Callable[[int, int], None],
    read_progress: Callable[[int], None],
) -> AnalysisResult:
    """``analyze``, then everything alive (the result) moved out of the collector's sight.

    The result holds many objects and no reference cycles; the process only renders it and
    exits. ``analyze`` pauses the collector while it runs; re-enabling it first would make its
    next pass walk every object the run made (measured: 1.7 s of the 200 k-message storm), and
    each full collection while the report is built would walk them again (26 s → 19 s end to
    end before). So the collector stays off until the result is frozen. A library caller of
    ``analyze`` is not affected: only the CLI does this.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = analyze(captures, options, progress=progress, read_progress=read_progress)
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
    return result


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _run(
    captures: Sequence[str], options: AnalysisOptions, *, per_file: bool, show_progress: bool
) -> list[tuple[str | None, AnalysisResult]]:
    files = expand_sources(captures, NoteSink())
    total = sum(_size(f) for f in files if f != "-")
    if not per_file:
        with _progress(show_progress, total, "reading captures (bytes)") as bar:
            result = _analyze_frozen(
                list(captures), options, progress=bar.words, read_progress=bar.read
            )
            return [(None, result)]
    results: list[tuple[str | None, AnalysisResult]] = []
    with _progress(show_progress, total, "reading captures (bytes)") as bar:
        done = 0
        for path in files:

            def read(bytes_read: int, base: int = done) -> None:
                bar.read(base + bytes_read)

            results.append(
                (
                    path,
                    _analyze_frozen([path], options, progress=bar.words, read_progress=read),
                )
            )
            done += _size(path)
            bar.read(done)
    return results


# -- analyze --------------------------------------------------------------------------------------


def _load_config(config_path: str | None) -> Config:
    try:
        return load_config(Path(config_path) if config_path else None)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


@cli.command("analyze")
@click.argument("captures", nargs=-1, required=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in ReportFormat]),
    default="text",
    show_default=True,
    help="text: for people; json: versioned schema (docs/json-schema.md); junit: a test case "
    "per rule per capture; sarif: SARIF 2.1.0 for code scanning; markdown: for a ticket.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the report to FILE (atomically) instead of standard output.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON_CHOICES),
    default=None,
    help="Exit 1 when a finding at or above this severity remains (default: error, or "
    "fail-on from the configuration).",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    default=None,
    help="A JSON report from an earlier run: findings whose fingerprint it holds are reported "
    "as known and do not count.",
)
@click.option("--select", multiple=True, help="Only these rules (codes, prefixes such as SA1, "
              "or names; comma-separated or repeated).")
@click.option("--ignore", multiple=True, help="Skip these rules (codes, prefixes or names).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Configuration file (default: sipauth.toml or [tool.sipauth] in "
              "pyproject.toml, searched upwards from the current directory).")
@click.option("--call-id", "call_ids", multiple=True,
              help="Only exchanges/findings with this Call-ID (repeatable).")
@click.option("--peer", "peers", multiple=True,
              help="Only exchanges/findings where IP[:PORT] is client or server (repeatable).")
@click.option("--since", default=None,
              help="Only exchanges active at or after this time: ISO 8601 (UTC if no zone) "
              "or seconds from the capture's first packet.")
@click.option("--until", default=None, help="Only exchanges active at or before this time.")
@click.option("--method", "methods", multiple=True,
              help="Only exchanges of this request method (REGISTER, INVITE…; repeatable).")
@click.option("--per-file", is_flag=True,
              help="Analyse each capture on its own (default: all captures as one timeline).")
@click.option("--show-secrets", is_flag=True,
              help="Show digest response and cnonce values (hidden by default: they allow an "
              "offline password guess).")
@click.option("--credentials", "credentials_file", type=click.Path(dir_okay=False),
              default=None, help="TOML file of known usernames and passwords (or HA1 hashes): "
              "every authenticated request gets a verdict (wrong password, wrong username, …).")
@click.option("--password-env", default=None, metavar="VAR",
              help="Take the known password from environment variable VAR (never from the "
              "command line).")
@click.option("--ask-password", is_flag=True,
              help="Prompt for the known password (input hidden).")
@click.option("--wordlist", type=click.Path(dir_okay=False), default=None,
              help="Audit captured responses against the passwords in this file (one a line).")
@click.option("--max-kept-messages", type=click.IntRange(min=0), default=None, metavar="N",
              help="Message budget (default 500000, about 1 GiB; config key max-kept-messages): "
              "past it, exchanges are counted but no longer diagnosed. Raise it when the "
              "report says it was reached and the machine has the memory.")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory the analysis may use, e.g. 512M or 2G (config key max-memory). "
              "Default auto: the container's cgroup limit, the memory available and ulimit -v. "
              "From 60 % of it on, exchanges are counted but no longer diagnosed, instead of the "
              "run being killed. off: no limit.")
@click.option("--no-ladders", is_flag=True, help="Do not draw call-flow ladders in the report.")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@engine_options
def analyze_command(  # click passes every option by keyword
    *,
    captures: Sequence[str],
    output_format: str,
    output: str | None,
    fail_on: str | None,
    baseline: str | None,
    select: Sequence[str],
    ignore: Sequence[str],
    config_path: str | None,
    call_ids: Sequence[str],
    peers: Sequence[str],
    since: str | None,
    until: str | None,
    methods: Sequence[str],
    per_file: bool,
    show_secrets: bool,
    no_ladders: bool,
    no_color: bool,
    quiet: bool,
    credentials_file: str | None,
    password_env: str | None,
    ask_password: bool,
    wordlist: str | None,
    max_kept_messages: int | None,
    max_memory: str | None,
    engine: str,
    tls_keylog: str | None,
    decode_as: Sequence[str],
    jobs: int,
) -> int:
    """Analyse CAPTURES (files, directories, or - for stdin) and report why digest auth fails.

    The filters (--call-id, --peer, --since, --until, --method) apply after correlation: the
    whole capture is analysed, then only the matching exchanges and findings are reported
    (metrics are recomputed over them).

    Exit status: 0 no finding at or above --fail-on, 1 findings at or above it, 2 usage,
    input or configuration error, 130 interrupted.
    """
    _check_engine(engine, tls_keylog, decode_as, jobs)
    config = _load_config(config_path)
    selected = _split_list(select) or config.select
    ignored = _split_list(ignore) or config.ignore
    try:
        if select:
            check_selectors("--select", selected or ())
        if ignore:
            check_selectors("--ignore", ignored)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    threshold_name = fail_on or config.fail_on or "error"
    threshold = None if threshold_name == "never" else Severity(threshold_name)
    try:
        filters = Filters(
            call_ids=tuple(call_ids),
            peers=tuple(PeerSpec.parse(p) for p in peers),
            since=TimeBound.parse(since) if since is not None else None,
            until=TimeBound.parse(until) if until is not None else None,
            methods=tuple(m.upper() for m in _split_list(methods)),
        )
        peer_names = PeerNames.from_mapping(config.peers)
        known = load_baseline(Path(baseline)) if baseline else frozenset()
        known_credentials = build_credentials(
            credentials_file=credentials_file,
            password_env=password_env,
            ask_password=_prompt_password if ask_password else None,
            options=config.verify,
        )
    except (ReportInputError, CredentialsError) as exc:
        raise UserError(str(exc)) from None
    memory_limit = config.max_memory
    if max_memory is not None:
        try:
            memory_limit = parse_memory_option(max_memory)
        except ConfigError as exc:
            raise UserError(f"--max-memory: {exc}") from None
    correlate = config.correlate
    if max_kept_messages is not None:
        correlate = dataclasses.replace(correlate, max_kept_messages=max_kept_messages)
    options = AnalysisOptions(
        capture=config.capture,
        correlate=correlate,
        rules=config.rules,
        select=selected,
        ignore=ignored,
        redact=not show_secrets,
        engine=engine,
        tls_keylog=tls_keylog,
        decode_as=tuple(decode_as),
        jobs=jobs,
        credentials=known_credentials,
        wordlist=wordlist,
        verify=config.verify,
        max_memory=memory_limit,
    )
    stderr = sys.stderr
    results = _run(
        captures, options, per_file=per_file, show_progress=not quiet and stderr.isatty()
    )
    report = build_report(
        results,
        filters=filters,
        baseline=known,
        baseline_name=baseline,
        peers=peer_names,
        fail_on=threshold,
        show_secrets=show_secrets,
        ladders=not no_ladders,
        version=__version__,
    )
    _emit(report, ReportFormat(output_format), output, no_color)
    return ExitStatus.FINDINGS if report.failing() else ExitStatus.OK


def _prompt_password(label: str) -> str:
    value: str = click.prompt(label, hide_input=True, err=True)
    return value


def _emit(report: ReportInput, output_format: ReportFormat, output: str | None,
          no_color: bool) -> None:
    render = reporter_for(output_format)
    if output is None:
        out = sys.stdout
        render(report, out, Style(color=_use_color(out, no_color), width=_terminal_width(out)))
        out.flush()
        return
    target = Path(output)
    sources = {os.path.realpath(s) for s in report.sources if s != "-"}
    if os.path.realpath(target) in sources:
        raise UserError(f"--output {output} is one of the input captures; refusing to overwrite it")
    try:
        write_atomically(target, lambda out: render(report, out, Style(color=False, width=80)))
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None


# -- flow ----------------------------------------------------------------------------------------


@cli.command("flow")
@click.argument("captures", nargs=-1, required=True)
@click.option("--call-id", "call_ids", multiple=True, required=True,
              help="The Call-ID to draw (repeatable; every message with it is shown).")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown"]),
              default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the ladder to FILE (atomically) instead of standard output.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Configuration file (for peer names).")
@click.option("--width", type=click.IntRange(40, 400), default=None,
              help="Line width of the text ladder (default: the terminal's, or 80).")
@engine_options
def flow_command(
    *,
    captures: Sequence[str],
    call_ids: Sequence[str],
    output_format: str,
    output: str | None,
    config_path: str | None,
    width: int | None,
    engine: str,
    tls_keylog: str | None,
    decode_as: Sequence[str],
    jobs: int,
) -> None:
    """Draw the call flow (sngrep-style ladder) of a Call-ID in CAPTURES.

    Columns are endpoints; each arrow shows the Wireshark frame number, the time since the
    previous message, the method or status, and the digest headers' realm, nonce prefix,
    algorithm and username. Digest response and cnonce values are never shown.
    """
    _check_engine(engine, tls_keylog, decode_as, jobs)
    config = _load_config(config_path)
    try:
        names = PeerNames.from_mapping(config.peers)
    except ReportInputError as exc:
        raise UserError(str(exc)) from None
    # Only the asked Call-IDs' messages are kept (and the other Call-IDs' names, for the hint).
    wanted: dict[str, list[SipMessage]] = {call_id: [] for call_id in call_ids}
    present: set[str] = set()
    for message in SipStream(
        list(captures), config.capture, engine=engine, tls_keylog=tls_keylog,
        decode_as=decode_as, jobs=jobs,
    ):
        call_id_of_message = message.call_id
        if call_id_of_message:
            present.add(call_id_of_message)
            kept = wanted.get(call_id_of_message)
            if kept is not None:
                kept.append(message)
    lines: list[str] = []
    out_width = width or _terminal_width(sys.stdout)
    for call_id in call_ids:
        messages = wanted[call_id]
        if not messages:
            seen = sorted(present)
            hint = ", ".join(seen[:5]) + (f" (+{len(seen) - 5} more)" if len(seen) > 5 else "")
            raise UserError(
                f"Call-ID {call_id!r} not found in the capture"
                + (f"; Call-IDs present: {hint}" if hint else "; it holds no SIP messages")
            )
        ladder = build_ladder(messages, title=f"Call-ID {call_id}", name_endpoint=names.endpoint)
        if lines:
            lines.append("")
        if output_format == "markdown":
            lines.extend(render_markdown(ladder))
        else:
            lines.extend(render_text(ladder, out_width))
    text = printable("\n".join(lines)) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomically(Path(output), lambda out: _write_text(out, text))
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None


def _write_text(out: TextIO, text: str) -> None:
    out.write(text)


# -- rules / explain -------------------------------------------------------------------------------


@cli.command("rules")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True,
              help="markdown is what docs/rules.md holds (generated: sipauth rules --format "
              "markdown > docs/rules.md).")
def rules_command(output_format: str) -> None:
    """List every rule: code, name, severity and summary."""
    if output_format == "markdown":
        click.echo(rules_doc.rules_markdown(), nl=False)
    elif output_format == "json":
        click.echo(rules_doc.rules_json(), nl=False)
    else:
        click.echo(rules_doc.rules_text(), nl=False)


@cli.command("explain")
@click.argument("rule")
def explain_command(rule: str) -> None:
    """Print the documentation of RULE (a code such as SA101, or a name such as realm-mismatch)."""
    found = rule_by_code(rule)
    if found is None:
        raise click.BadParameter(f"no rule {rule!r} (see: sipauth rules)", param_hint="RULE")
    click.echo(rules_doc.explain(found), nl=False)


# -- messages ------------------------------------------------------------------------------------


@cli.command("messages")
@click.argument("captures", nargs=-1, required=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per message, then notes; json: an array (notes go to stderr).",
)
@engine_options
def messages_command(
    *,
    captures: Sequence[str],
    output_format: str,
    engine: str,
    tls_keylog: str | None,
    decode_as: Sequence[str],
    jobs: int,
) -> None:
    """List every SIP message found in CAPTURES (files, directories, or - for stdin).

    Frame numbers are Wireshark's: type `frame.number == N` in its display filter.
    """
    _check_engine(engine, tls_keylog, decode_as, jobs)
    out = sys.stdout
    # Written as read, in both formats: memory stays flat on any capture. A capture that turns
    # out unreadable part-way leaves the output unfinished, with exit status 2.
    stream = SipStream(
        list(captures), engine=engine, tls_keylog=tls_keylog, decode_as=decode_as, jobs=jobs
    )
    if output_format == "json":
        messages_report.write_json(stream, out)
        err = sys.stderr
        for note in stream.notes:
            err.write(messages_report.format_note(note) + "\n")
        return
    several_files = len(expand_sources(captures, NoteSink())) > 1
    messages_report.write_text(
        stream, lambda: stream.notes, out, several_files=several_files
    )


def _unencodable_as_escapes(stream: TextIO) -> None:
    """Write what UTF-8 cannot encode as a backslash escape instead of failing.

    Only a lone surrogate is unencodable, and only a file name puts one in a report: Python
    decodes a name that is not UTF-8 (a Latin-1 ``captura_año.pcap`` from a Windows share) with
    surrogateescape. Under a UTF-8 locale the standard streams are strict and the report died
    with a traceback and exit status 1, which CI reads as "findings"; under the C locale they
    wrote the raw byte back, and the JSON was no longer UTF-8. ``\udcf1`` is readable, and in
    a JSON string it is the escape of that same character.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run click without its own exit handling, then map outcomes to codes."""
    _unencodable_as_escapes(sys.stdout)
    _unencodable_as_escapes(sys.stderr)
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("sipauth: interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("sipauth: interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(ExitStatus.ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(ExitStatus.OK if exc.exit_code == 0 else ExitStatus.ERROR)
    except (CaptureError, UserError, CredentialsError, WordlistError) as exc:
        click.echo(f"sipauth: error: {exc}", err=True)
        sys.exit(ExitStatus.ERROR)
    except MemoryError as exc:
        # The stack that held the analysis is gone by now, so there is memory to say so.
        detail = f" ({exc})" if str(exc) else ""
        click.echo(
            f"sipauth: error: out of memory{detail}; the memory budget did not see the limit "
            "coming: give it with --max-memory (the memory this run may use) or lower "
            "--max-kept-messages",
            err=True,
        )
        sys.exit(ExitStatus.ERROR)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitStatus.OK)
    sys.exit(code if isinstance(code, int) else ExitStatus.OK)
