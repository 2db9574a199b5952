"""The ``sipauth`` command line. The only place that maps errors to exit codes and exits.

Exit codes (stable, documented in README.md):
  0  success, no finding at or above ``--fail-on``
  1  findings at or above ``--fail-on``
  2  usage, input or configuration error (unreadable capture, bad option, …)
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Sequence

import click

from sipauth_analyzer import __version__
from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.pipeline import read_sip
from sipauth_analyzer.report import messages as messages_report


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
def messages_command(captures: Sequence[str], output_format: str) -> None:
    """List every SIP message found in CAPTURES (files, directories, or - for stdin).

    Frame numbers are Wireshark's: type `frame.number == N` in its display filter.
    """
    result = read_sip(list(captures))
    out = click.get_text_stream("stdout")
    if output_format == "json":
        messages_report.write_json(result.messages, out)
        err = click.get_text_stream("stderr")
        for note in result.notes:
            err.write(messages_report.format_note(note) + "\n")
    else:
        messages_report.write_text(result.messages, result.notes, out)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run click without its own exit handling, then map outcomes to codes."""
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
    except (CaptureError, UserError) as exc:
        click.echo(f"sipauth: error: {exc}", err=True)
        sys.exit(ExitStatus.ERROR)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitStatus.OK)
    sys.exit(code if isinstance(code, int) else ExitStatus.OK)
