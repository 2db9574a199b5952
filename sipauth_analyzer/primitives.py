"""Small value types shared by every stage: endpoints, transports, frame references, notes;
and the bounded sharing table helper (``remember``).

Standard library only. Everything downstream of the capture layer speaks in these types, so a
frame number here is always Wireshark's frame number (1-based record index within its file).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


class Transport(enum.StrEnum):
    """How a SIP message travelled. WS is SIP over WebSocket (RFC 7118)."""

    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"
    SCTP = "SCTP"
    WS = "WS"


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """An IP address (text form, IPv6 compressed) and a transport port."""

    ip: str
    port: int

    def __str__(self) -> str:
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


class NoteLevel(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth telling the user about the input that is not a finding.

    Malformed traffic is data, not an exception (zeek calls these "weirds"): each note has a
    stable machine-readable ``kind`` (e.g. ``ip-fragments-incomplete``, ``tcp-gap``,
    ``unsupported-linktype``, ``tls-flow``, ``snaplen-truncated``, ``sip-malformed``,
    ``capture-truncated``), a human ``detail`` line, and the frames it concerns.
    """

    kind: str
    detail: str
    level: NoteLevel = NoteLevel.WARNING
    frames: tuple[int, ...] = ()
    file: str | None = None


@dataclass(slots=True)
class NoteSink:
    """Collects notes from every stage: the one place where repeated notes are capped.

    ``once`` keys suppress repeats of the same warning. With ``max_per_kind`` set, only the
    first that many notes of each (kind, file) are kept one by one and the rest are counted;
    :meth:`close` then adds one summary note per capped (kind, file). A hostile capture
    (100k half-open connections, each "unfinished") thus cannot grow the note list without
    bound, and stages need no counters of their own: they just ``add``.

    Past the cap a ``once`` key is no longer remembered either (so that set stays bounded
    too); a repeat of it is then counted among the notes left out.
    """

    max_per_kind: int | None = None
    notes: list[Note] = field(default_factory=list, init=False)
    _seen_once: set[str] = field(default_factory=set, init=False, repr=False)
    _written: dict[tuple[str, str | None], int] = field(
        default_factory=dict, init=False, repr=False
    )
    _left_out: dict[tuple[str, str | None], int] = field(
        default_factory=dict, init=False, repr=False
    )

    def add(self, note: Note, *, once: str | None = None) -> None:
        if once is not None and once in self._seen_once:
            return
        cap = self.max_per_kind
        if cap is not None:
            key = (note.kind, note.file)
            written = self._written.get(key, 0)
            if written >= cap:
                self._left_out[key] = self._left_out.get(key, 0) + 1
                return
            self._written[key] = written + 1
        if once is not None:
            self._seen_once.add(once)
        self.notes.append(note)

    def close(self) -> None:
        """Add one summary note per capped (kind, file); call once, when every stage is done."""
        for (kind, file), count in self._left_out.items():
            where = f"{file}: " if file else ""
            self.notes.append(
                Note(
                    kind=kind,
                    detail=f"{where}{count} more {kind} notes were left out (only the first "
                    f"{self.max_per_kind} are listed one by one)",
                    level=NoteLevel.WARNING,
                    file=file,
                )
            )
        self._left_out.clear()


REDACTED = "…redacted…"
# The digest ``response`` and ``cnonce`` together allow an offline dictionary attack on the
# password (RFC 7616 §5.1); a Basic token is base64(user:password), the password itself
# (RFC 7617). An unterminated quoted value (a message cut short) is redacted to its end.
_SECRET_PARAM = re.compile(r'(?i)\b(response|cnonce)(\s*=\s*)("(?:[^"\\]|\\.)*"?|[^,\s]*)')
_BASIC_TOKEN = re.compile(r"(?i)\b(Basic\s+)([A-Za-z0-9+/=._~-]+)")


def redact_secrets(text: str) -> str:
    """``text`` with digest ``response``/``cnonce`` values and Basic tokens replaced.

    Every place that quotes untrusted header text into a report (evidence, parse-problem
    notes) goes through this one function.
    """
    text = _SECRET_PARAM.sub(lambda m: f'{m.group(1)}{m.group(2)}"{REDACTED}"', text)
    return _BASIC_TOKEN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def remember(table: dict[_K, _V], key: _K, value: _V, limit: int) -> _V:
    """Put ``value`` in a sharing table that is emptied once it holds ``limit`` entries.

    The tables that make equal values one object (header strings, layouts, CSeq tuples, parse
    problems, digest fields) are bounded this way: hostile traffic cannot grow them, and
    emptying one costs only sharing, never a result. Returns ``value``.
    """
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value
