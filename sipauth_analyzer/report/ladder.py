"""Call-flow ladders (sngrep-style): endpoints as columns, one arrow per SIP message.

Each row shows the Wireshark frame number, the time since the previous message, the method or
status, and a one-line summary of the digest headers (realm, nonce prefix, algorithm, qop,
username). The digest ``response`` and ``cnonce`` are never shown, whatever ``--show-secrets``
says: a ladder is for reading the flow, and those two values are what an offline password
guess needs (RFC 7616 §5.1).

Plain text only (no rich): the same lines go to the terminal, to Markdown code blocks and to
``sipauth flow``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipauth_analyzer.primitives import Endpoint
from sipauth_analyzer.sip.message import SipMessage

NONCE_PREFIX = 8  # characters of a nonce shown: enough to tell two challenges apart
MAX_LADDER_ROWS = 200  # a ladder longer than this is cut, with a line saying so
_MARGIN = 17  # "frame" + "+delta" columns before the first lifeline


@dataclass(frozen=True, slots=True)
class LadderRow:
    frame: int
    time: float
    delta: float  # seconds since the previous row (0 for the first)
    src: int  # column index
    dst: int
    label: str  # "REGISTER", "401 Unauthorized"
    auth: str  # digest summary, "" when the message has no auth header
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class Ladder:
    title: str
    endpoints: tuple[str, ...]  # column labels
    rows: tuple[LadderRow, ...]
    omitted: int = 0  # rows beyond MAX_LADDER_ROWS


def _short(value: str | None, keep: int = NONCE_PREFIX) -> str:
    if value is None:
        return "-"
    return value if len(value) <= keep else value[:keep] + "…"


def auth_summary(message: SipMessage) -> str:
    """``realm="x" nonce=abcd1234… alg=MD5 qop=auth`` for challenges / credentials."""
    parts: list[str] = []
    for challenge in message.challenges:
        text = f"{_header_tag(challenge.header.value)} {challenge.scheme}"
        if challenge.realm is not None:
            text += f' realm="{challenge.realm}"'
        if challenge.nonce is not None:
            text += f" nonce={_short(challenge.nonce)}"
        text += f" alg={challenge.algorithm or 'MD5'}"
        if challenge.qop_options:
            text += f" qop={','.join(challenge.qop_options)}"
        if challenge.stale:
            text += " stale"
        parts.append(text)
    for credentials in message.credentials:
        text = f"{_header_tag(credentials.header.value)} {credentials.scheme}"
        if credentials.username is not None:
            text += f' user="{credentials.username}"'
        if credentials.realm is not None:
            text += f' realm="{credentials.realm}"'
        if credentials.nonce is not None:
            text += f" nonce={_short(credentials.nonce)}"
        text += f" alg={credentials.algorithm or 'MD5'}"
        if credentials.qop:
            text += f" qop={credentials.qop} nc={credentials.nc or '-'}"
        parts.append(text)
    return "; ".join(parts)


def _header_tag(header: str) -> str:
    """Short names so the summary fits under an arrow: WWW-Auth, Proxy-Auth, Authz, Proxy-Authz."""
    return {
        "WWW-Authenticate": "WWW-Auth",
        "Proxy-Authenticate": "Proxy-Auth",
        "Authorization": "Authz",
        "Proxy-Authorization": "Proxy-Authz",
    }.get(header, header)


def build_ladder(
    messages: Sequence[SipMessage],
    *,
    title: str = "",
    name_endpoint: Callable[[Endpoint], str] | None = None,
    retransmissions: frozenset[int] = frozenset(),
) -> Ladder:
    """A ladder of ``messages`` (put in time order here); endpoints by first appearance.

    ``name_endpoint`` labels a column (peer names); ``retransmissions`` holds the ``id()`` of
    messages to mark as retransmitted copies.
    """
    ordered = sorted(messages, key=lambda m: (m.source.time, m.source.frame))
    columns: list[Endpoint] = []
    for message in ordered:
        for endpoint in (message.source.src, message.source.dst):
            if endpoint not in columns:
                columns.append(endpoint)
    namer: Callable[[Endpoint], str] = name_endpoint or str
    rows: list[LadderRow] = []
    previous: float | None = None
    for message in ordered[:MAX_LADDER_ROWS]:
        source = message.source
        label = (message.method or "?") if message.is_request else message.summary
        if message.is_request and message.credentials:
            label += " +auth"
        rows.append(
            LadderRow(
                frame=source.frame,
                time=source.time,
                delta=0.0 if previous is None else source.time - previous,
                src=columns.index(source.src),
                dst=columns.index(source.dst),
                label=label,
                auth=auth_summary(message),
                retransmission=id(message) in retransmissions,
            )
        )
        previous = source.time
    return Ladder(
        title=title,
        endpoints=tuple(str(namer(e)) for e in columns),
        rows=tuple(rows),
        omitted=max(0, len(ordered) - MAX_LADDER_ROWS),
    )


def _positions(count: int, width: int) -> list[int]:
    usable = max(width - _MARGIN - 1, 10)
    if count <= 1:
        return [_MARGIN]
    step = usable // (count - 1)
    return [_MARGIN + i * step for i in range(count)]


def _fit(text: str, room: int) -> str:
    if room <= 0:
        return ""
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def _lifelines(positions: Sequence[int], width: int) -> list[str]:
    line = [" "] * width
    for x in positions:
        if x < width:
            line[x] = "|"
    return line


def render_text(ladder: Ladder, width: int = 80) -> list[str]:
    """The ladder as plain lines no longer than ``width``."""
    width = max(width, 40)
    positions = _positions(len(ladder.endpoints), width)
    lines: list[str] = []
    if ladder.title:
        lines.append(_fit(ladder.title, width))
    header = _header_row(ladder.endpoints, positions, width)
    if header is None:
        # Long peer names: a legend, and letters above the lifelines.
        letters = [_letter(i) for i in range(len(ladder.endpoints))]
        for letter, label in zip(letters, ladder.endpoints, strict=True):
            lines.append(_fit(f"  {letter} = {label}", width))
        header = _header_row(tuple(letters), positions, width) or ""
    lines.append(header)
    lines.append(f"{'frame':>6} {'+time':>9}" + "".join(_lifelines(positions, width))[16:].rstrip())
    for row in ladder.rows:
        lines.append(_arrow_line(row, positions, width))
        if row.auth:
            lo = min(positions[row.src], positions[row.dst])
            hi = max(positions[row.src], positions[row.dst])
            left = lo + 2
            # Between the arrow's lifelines when there is room (wrapped), else to the edge.
            room = hi - 1 - left if hi - lo >= 30 else width - left
            for chunk in _wrap(row.auth, room, _AUTH_LINES):
                line = _lifelines(positions, width)
                line[left : left + len(chunk)] = list(chunk)
                lines.append("".join(line[:width]).rstrip())
    if ladder.omitted:
        lines.append(f"… {ladder.omitted} more messages not shown")
    return lines


_AUTH_LINES = 4  # lines an auth summary may wrap to under one arrow


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else str(index)


def _header_row(labels: Sequence[str], positions: Sequence[int], width: int) -> str | None:
    """Labels centred on their lifelines, or None when they would overlap or not fit."""
    line = [" "] * width
    free_from = 0
    for x, label in zip(positions, labels, strict=True):
        start = min(max(x - len(label) // 2, free_from), width - len(label))
        if start < free_from or start < 0:
            return None
        line[start : start + len(label)] = list(label)
        free_from = start + len(label) + 1
    return "".join(line).rstrip()


def _wrap(text: str, room: int, max_lines: int) -> list[str]:
    """Split at spaces into lines of at most ``room`` characters; the last one cut with …."""
    if room < 8:
        return []
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= room:
            current = candidate
            continue
        if current:
            out.append(current)
        current = word
    if current:
        out.append(current)
    out = [_fit(chunk, room) for chunk in out]
    if len(out) > max_lines:
        out = [*out[: max_lines - 1], _fit(" ".join(out[max_lines - 1 :]), room)]
    return out


def format_delta(seconds: float) -> str:
    """``0``, ``+0.4ms``, ``+1.250s``: sub-second gaps matter (retransmission timers, T1)."""
    if seconds <= 0:
        return "0"
    if seconds < 1:
        return f"+{seconds * 1000:.1f}ms"
    return f"+{seconds:.3f}s"


def _arrow_line(row: LadderRow, positions: Sequence[int], width: int) -> str:
    line = _lifelines(positions, width)
    prefix = f"{row.frame:>6} {format_delta(row.delta):>9}"
    line[: len(prefix)] = list(prefix)
    a, b = positions[row.src], positions[row.dst]
    label = row.label + (" (retr.)" if row.retransmission else "")
    if a == b:
        # Same endpoint both ways (a loop back to itself): a short hook to the right.
        text = _fit(f"<-' {label}", width - a - 1)
        line[a + 1 : a + 1 + len(text)] = list(text)
        return "".join(line[:width]).rstrip()
    lo, hi = min(a, b), max(a, b)
    span = hi - lo - 1
    body = ["-"] * span
    if a < b:
        body[-1] = ">"
    else:
        body[0] = "<"
    text = _fit(f" {label} ", span - 4)
    start = max(2, (span - len(text)) // 2)
    body[start : start + len(text)] = list(text)
    line[lo + 1 : hi] = body[:span]
    return "".join(line[:width]).rstrip()


def render_markdown(ladder: Ladder) -> list[str]:
    """A table (frame, time, from, to, message, auth) that pastes into any ticket system."""
    lines = [f"**{ladder.title}**", ""] if ladder.title else []
    lines.append("| Frame | +time | From | To | Message | Auth headers |")
    lines.append("|---:|---:|---|---|---|---|")
    for row in ladder.rows:
        cells = [
            str(row.frame),
            format_delta(row.delta),
            ladder.endpoints[row.src],
            ladder.endpoints[row.dst],
            row.label + (" (retransmission)" if row.retransmission else ""),
            row.auth,
        ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if ladder.omitted:
        lines.append("")
        lines.append(f"… {ladder.omitted} more messages not shown")
    return lines


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "
