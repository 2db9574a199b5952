"""The report formats of ``sipauth analyze``: one small interface, one enum, exhaustive dispatch.

Each format is a module with a ``render(report, out, style)`` function; :func:`reporter_for`
maps every :class:`ReportFormat` member to one (``assert_never`` makes mypy reject a member
without a format), and a test renders every member.
"""

from __future__ import annotations

import contextlib
import enum
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO, assert_never

from sipauth_analyzer.report.view import ReportInput


class ReportFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    SARIF = "sarif"
    MARKDOWN = "markdown"


@dataclass(frozen=True, slots=True)
class Style:
    """How text is laid out: colour (terminal only) and the line width (80 when unknown)."""

    color: bool = False
    width: int = 80


class Reporter(Protocol):
    """What every format provides."""

    def __call__(self, report: ReportInput, out: TextIO, style: Style) -> None: ...


def reporter_for(output_format: ReportFormat) -> Reporter:
    # Imported lazily: `sipauth analyze --format json` never pays for importing rich.
    match output_format:
        case ReportFormat.TEXT:
            from sipauth_analyzer.report import terminal

            return terminal.render
        case ReportFormat.JSON:
            from sipauth_analyzer.report import json_report

            return json_report.render
        case ReportFormat.JUNIT:
            from sipauth_analyzer.report import junit

            return junit.render
        case ReportFormat.SARIF:
            from sipauth_analyzer.report import sarif

            return sarif.render
        case ReportFormat.MARKDOWN:
            from sipauth_analyzer.report import markdown

            return markdown.render
        case _:
            assert_never(output_format)


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``.

    A reader (a CI step, a dashboard polling the file) sees the old report or the new one,
    never half of one; on failure the temporary file is removed and ``path`` is untouched.
    """
    directory = path.parent if str(path.parent) else Path(".")
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # backslashreplace: see cli._unencodable_as_escapes (a file name that is not UTF-8).
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace",
                       newline="\n") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates 0600; a report is an ordinary file, so honour the umask like open().
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_name, 0o666 & ~umask)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
