"""Small value types shared by every stage: endpoints, transports, frame references, notes.

Standard library only. Everything downstream of the capture layer speaks in these types, so a
frame number here is always Wireshark's frame number (1-based record index within its file).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


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
    """Collects notes from every stage; ``once`` keys suppress repeats of the same warning."""

    notes: list[Note] = field(default_factory=list)
    _seen_once: set[str] = field(default_factory=set)

    def add(self, note: Note, *, once: str | None = None) -> None:
        if once is not None:
            if once in self._seen_once:
                return
            self._seen_once.add(once)
        self.notes.append(note)


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
