"""Call-flow ladders (sngrep-style): endpoints as columns, one arrow per SIP message.

Each row shows the Wireshark frame number, the time since the previous message, the method or
status, and a one-line summary of the digest headers (realm, nonce prefix, algorithm, qop,
username). The digest ``response`` and ``cnonce`` are never shown, whatever ``--show-secrets``
says: a ladder is for reading the flow, and those two values are what an offline password
guess needs (RFC 7616 §5.1).

Retransmissions are collapsed: the first transmission keeps its row and its auth summary, and
every later copy of it (between the same two endpoints) is folded into ONE row at the first
copy's place, listing every copy's frame number (so ``frame.number == N`` still finds each) and
when the last one was sent, counted from the first transmission. Copies are found by
correlation, not by comparing text: a request's copies are its transaction's
``retransmissions`` (same branch, CSeq and direction, RFC 3261 §17.1.1.2 / §17.1.2.2); a
response's copies are later responses of the same transaction with the same status and To tag
(a server resends its final response for each request copy, §17.2.1 / §17.2.2). Lone copies
whose first transmission is not in the ladder keep a row of their own, marked ``(retr.)``.

The ``+time`` column is the time since the previous message *of the ladder*, hidden copies
included, so a response after several copies shows how long the server took after the last one.

Plain text only (no rich): the same lines go to the terminal, to Markdown code blocks and to
``sipauth flow``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipauth_analyzer.correlate import correlate
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
    # A lone copy whose first transmission is not in this ladder.
    retransmission: bool = False
    # A collapsed row: the frames of every retransmitted copy it stands for (``frame`` is the
    # first), and the seconds from the first transmission to the last copy.
    copies: tuple[int, ...] = ()
    last_copy_after: float = 0.0


@dataclass(frozen=True, slots=True)
class Ladder:
    title: str
    endpoints: tuple[str, ...]  # column labels
    rows: tuple[LadderRow, ...]
    omitted: int = 0  # messages beyond MAX_LADDER_ROWS rows


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

    ``name_endpoint`` labels a column (peer names). Retransmitted copies are found by
    correlating ``messages`` and collapsed into one row per first transmission (see the module
    docstring); ``retransmissions`` may add the ``id()`` of further messages known to be copies
    (from the full capture's correlation) — those whose first transmission is not in
    ``messages`` get a row of their own marked as retransmitted.
    """
    ordered = sorted(messages, key=lambda m: (m.source.time, m.source.frame))
    columns: list[Endpoint] = []
    for message in ordered:
        for endpoint in (message.source.src, message.source.dst):
            if endpoint not in columns:
                columns.append(endpoint)
    namer: Callable[[Endpoint], str] = name_endpoint or str
    original_of = _originals(ordered)
    by_id = {id(m): m for m in ordered}
    rows: list[_RowDraft] = []
    # (first transmission, file, src, dst) → its collapsed row.
    collapsed: dict[tuple[int, str, Endpoint, Endpoint], _RowDraft] = {}
    previous: float | None = None
    for message in ordered:
        source = message.source
        delta = 0.0 if previous is None else source.time - previous
        previous = source.time
        original = by_id.get(original_of.get(id(message), -1))
        if original is not None:
            key = (id(original), source.file, source.src, source.dst)
            draft = collapsed.get(key)
            if draft is not None:
                draft.copies.append(message)
                continue
            draft = _RowDraft(message, delta, original=original)
            draft.copies.append(message)
            collapsed[key] = draft
        else:
            draft = _RowDraft(message, delta, lone_copy=id(message) in retransmissions)
        rows.append(draft)
    shown = rows[:MAX_LADDER_ROWS]
    return Ladder(
        title=title,
        endpoints=tuple(str(namer(e)) for e in columns),
        rows=tuple(d.row(columns) for d in shown),
        omitted=sum(max(len(d.copies), 1) for d in rows[MAX_LADDER_ROWS:]),
    )


class _RowDraft:
    """A row while copies are still being folded into it."""

    __slots__ = ("copies", "delta", "lone_copy", "message", "original")

    def __init__(
        self,
        message: SipMessage,
        delta: float,
        *,
        original: SipMessage | None = None,
        lone_copy: bool = False,
    ) -> None:
        self.message = message
        self.delta = delta
        self.original = original
        self.lone_copy = lone_copy
        self.copies: list[SipMessage] = []

    def row(self, columns: list[Endpoint]) -> LadderRow:
        message = self.message
        source = message.source
        label = (message.method or "?") if message.is_request else message.summary
        if message.is_request and message.credentials:
            label += " +auth"
        copies = tuple(c.source.frame for c in self.copies)
        return LadderRow(
            frame=source.frame,
            time=source.time,
            delta=self.delta,
            src=columns.index(source.src),
            dst=columns.index(source.dst),
            label=label,
            # The first transmission's row already shows it; a copy carries the same headers.
            auth="" if copies else auth_summary(message),
            retransmission=self.lone_copy,
            copies=copies,
            last_copy_after=(
                self.copies[-1].source.time - self.original.source.time
                if self.original is not None and self.copies
                else 0.0
            ),
        )


def _originals(ordered: Sequence[SipMessage]) -> dict[int, int]:
    """``id()`` of each retransmitted copy → ``id()`` of its first transmission.

    Taken from the correlation of the ladder's own messages: request copies are a transaction's
    ``retransmissions`` (RFC 3261 §17.1.1.2, §17.1.2.2); a response is a copy when an earlier
    response of the same transaction has the same status and To tag (§17.2.1, §17.2.2).
    """
    out: dict[int, int] = {}
    for transaction in correlate(ordered).transactions:
        for copy in transaction.retransmissions:
            out[id(copy)] = id(transaction.request)
        first_of: dict[tuple[int | None, str | None], SipMessage] = {}
        for response in transaction.responses:
            key = (response.status, response.to_tag)
            first = first_of.setdefault(key, response)
            if first is not response:
                out[id(response)] = id(first)
    return out


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
        label = row.label + (" (retr.)" if row.retransmission else "")
        under = row.auth
        max_under = _AUTH_LINES
        if row.copies:
            # The longest wording that fits in the arrow; failing all, the frames go below it.
            room = _arrow_room(row, positions, width)
            variants = _copies_labels(row)
            label = next((v for v in variants if len(v) <= room), None) or variants[-1]
            # A single copy needs no list (its frame number is in the frame column) unless the
            # arrow is too short even to say it is a retransmission.
            if label == variants[-1] and (len(row.copies) > 1 or "(retr" not in _fit(label, room)):
                under = f"retransmitted ×{len(row.copies)}: {_copies_detail(row)}"
                max_under = _COPIES_LINES
        lines.append(_arrow_line(row, label, positions, width))
        if under:
            lines.extend(_under_arrow(under, row, positions, width, max_under))
    if ladder.omitted:
        lines.append(f"… {ladder.omitted} more messages not shown")
    return lines


_AUTH_LINES = 4  # lines an auth summary may wrap to under one arrow
_COPIES_LINES = 6  # lines a list of retransmitted frames may wrap to under one arrow
_MIN_UNDER_ROOM = 16  # narrower than this, text under an arrow starts at the first lifeline


def _under_arrow(
    text: str, row: LadderRow, positions: Sequence[int], width: int, max_lines: int
) -> list[str]:
    """``text`` wrapped between the arrow's lifelines when there is room, else to the edge."""
    lo = min(positions[row.src], positions[row.dst])
    hi = max(positions[row.src], positions[row.dst])
    left = lo + 2
    room = hi - 1 - left if hi - lo >= 30 else width - left
    if room < _MIN_UNDER_ROOM:
        # An arrow near the right edge of a crowded ladder: start at the first lifeline rather
        # than drop the text (it may be the only place a retransmitted frame is named).
        left = positions[0] + 2
        room = width - left
    out: list[str] = []
    for chunk in _wrap(text, room, max_lines):
        line = _lifelines(positions, width)
        line[left : left + len(chunk)] = list(chunk)
        out.append("".join(line[:width]).rstrip())
    return out


def frame_list(frames: Sequence[int]) -> str:
    """``7, 9, 11`` — every frame stays typeable; runs of 3+ consecutive frames as ``7–9``."""
    parts: list[str] = []
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{frames[i]}–{frames[j]}")
        else:
            parts.extend(str(f) for f in frames[i : j + 1])
        i = j + 1
    return ", ".join(parts)


def _since(seconds: float) -> str:
    """``+15.5s`` / ``+500.5ms``: when the last copy went out, after the first transmission."""
    if seconds < 1:
        return f"+{max(seconds, 0.0) * 1000:.1f}ms"
    return f"+{seconds:.1f}s"


def _copies_detail(row: LadderRow) -> str:
    return f"frames {frame_list(row.copies)}; last {_since(row.last_copy_after)}"


def _copies_labels(row: LadderRow) -> list[str]:
    """Wordings of a collapsed row's label, longest first; the last needs a line below it."""
    count = f"×{len(row.copies)}"
    frames = frame_list(row.copies)
    last = _since(row.last_copy_after)
    return [
        f"{row.label} (retransmitted {count}: {_copies_detail(row)})",
        f"{row.label} (retr. {count}: {_copies_detail(row)})",
        f"{row.label} (retr. {count}: {frames}; last {last})",
        f"{row.label} (retr. {count}: {frames})",
        f"{row.label} (retr.)",
    ]


def _arrow_room(row: LadderRow, positions: Sequence[int], width: int) -> int:
    """Characters a label may take in the row's arrow (see ``_arrow_line``)."""
    a, b = positions[row.src], positions[row.dst]
    if a == b:
        return width - a - 1 - len("<-' ")
    return abs(b - a) - 1 - 4 - 2


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


def _arrow_line(row: LadderRow, label: str, positions: Sequence[int], width: int) -> str:
    line = _lifelines(positions, width)
    prefix = f"{row.frame:>6} {format_delta(row.delta):>9}"
    line[: len(prefix)] = list(prefix)
    a, b = positions[row.src], positions[row.dst]
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
            _copies_labels(row)[0] if row.copies else _markdown_label(row),
            row.auth,
        ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if ladder.omitted:
        lines.append("")
        lines.append(f"… {ladder.omitted} more messages not shown")
    return lines


def _markdown_label(row: LadderRow) -> str:
    return row.label + (" (retransmission)" if row.retransmission else "")


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "
