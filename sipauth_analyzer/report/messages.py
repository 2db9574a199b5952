"""Renders the SIP message list of ``sipauth messages``: a text table or a JSON array."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from sipauth_analyzer.primitives import Note
from sipauth_analyzer.sip.message import SipMessage


def message_record(message: SipMessage) -> dict[str, Any]:
    """The stable JSON shape of one message (documented in README: `sipauth messages`)."""
    source = message.source
    cseq = message.cseq
    return {
        "file": source.file,
        "frame": source.frame,
        "time": round(source.time, 6),
        "src": str(source.src),
        "dst": str(source.dst),
        "transport": source.transport.value,
        "method": message.method if message.is_request else None,
        "status": message.status,
        "call_id": message.call_id,
        "cseq": f"{cseq[0]} {cseq[1]}" if cseq else None,
        "frames": list(source.frames),
        "flags": sorted(source.flags),
    }


def note_record(note: Note) -> dict[str, Any]:
    return {
        "level": note.level.value,
        "kind": note.kind,
        "detail": note.detail,
        "frames": list(note.frames),
        "file": note.file,
    }


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))


def write_json(messages: Iterable[SipMessage], out: TextIO) -> None:
    """A JSON array, one message per line: each encoded by the C encoder and written as it
    comes, so a stream of messages is never held (``json.dump(indent=...)`` would use the
    pure-Python encoder and build it all first)."""
    separator = "[\n"
    for message in messages:
        out.write(separator)
        out.write(_ENCODER.encode(message_record(message)))
        separator = ",\n"
    out.write("[]\n" if separator == "[\n" else "\n]\n")


def format_flags(message: SipMessage) -> str:
    source = message.source
    parts: list[str] = []
    if source.ip_fragments > 1:
        parts.append(f"{source.ip_fragments} IP fragments")
    if len(source.frames) > 1 and "tcp-reassembled" in source.flags:
        parts.append(f"{len(source.frames)} TCP segments")
    for flag in sorted(source.flags - {"ip-reassembled", "tcp-reassembled"}):
        parts.append(flag)
    return ", ".join(parts)


def write_text(
    messages: Iterable[SipMessage],
    notes: Callable[[], Sequence[Note]],
    out: TextIO,
    *,
    several_files: bool,
) -> None:
    """One line per message, written as it comes; then the count and ``notes()`` (asked for once
    the messages are through: a stream's notes are complete only then).

    Times are relative to the first message, as Wireshark's Time column is to the first packet
    (a message stamped earlier than the first, on a capture whose clock stepped back, shows a
    negative time, as in Wireshark). ``several_files``: a ``== FILE`` line before each file's
    messages.
    """
    origin: float | None = None
    current_file: str | None = None
    count = 0
    for message in messages:
        source = message.source
        if origin is None:
            origin = source.time
        count += 1
        if several_files and source.file != current_file:
            current_file = source.file
            out.write(f"== {current_file}\n")
        cseq = message.cseq
        what = message.method if message.is_request else str(message.status)
        flags = format_flags(message)
        line = (
            f"{source.frame:>6} {source.time - origin:>11.6f} {source.src} → {source.dst} "
            f"{source.transport.value:<4} {what or '?':<9} {message.call_id or '-'} "
            f"{f'{cseq[0]} {cseq[1]}' if cseq else '-'}"
        )
        if flags:
            line += f"  [{flags}]"
        out.write(line + "\n")
    out.write(f"{count} SIP message{'s' if count != 1 else ''}\n")
    for note in notes():
        out.write(format_note(note) + "\n")


def format_note(note: Note) -> str:
    where = ""
    if note.frames:
        shown = ", ".join(str(f) for f in note.frames[:8])
        more = f" (+{len(note.frames) - 8} more)" if len(note.frames) > 8 else ""
        where = f" [frame{'s' if len(note.frames) > 1 else ''} {shown}{more}]"
    prefix = f"{note.file}: " if note.file else ""
    return f"{note.level.value}: {prefix}{note.kind}: {note.detail}{where}"
