"""Grouping messages into dialogs (RFC 3261 §12) for the reports' call flows.

Deliberately light: a dialog is found by Call-ID plus either end's tag, so a BYE sent by the
callee (whose From tag is the dialog's remote tag) joins the caller's dialog, and every hop of a
proxied call (same Call-ID and tags, §16.6) lands in the same flow. Nothing here affects
transaction or exchange matching.
"""

from __future__ import annotations

from sipauth_analyzer.correlate.model import Dialog
from sipauth_analyzer.correlate.options import CorrelateOptions
from sipauth_analyzer.correlate.transactions import BoundedTable, TagMemo
from sipauth_analyzer.sip.message import SipMessage


class DialogGrouper:
    """Assigns each message to a Dialog; the lookup table is bounded by ``max_dialogs``."""

    __slots__ = ("_index", "_tags", "dialogs")

    def __init__(self, max_dialogs: int, tags: TagMemo | None = None) -> None:
        self._tags = tags or TagMemo(CorrelateOptions().max_memoized_tag_lines)
        # Dialogs can last for hours (a long call), so they expire by count only, never by time.
        self._index: BoundedTable[tuple[str, str | None], Dialog] = BoundedTable(max_dialogs, None)
        self.dialogs: list[Dialog] = []

    @property
    def evicted(self) -> int:
        return self._index.evicted_by_capacity

    def add(
        self, message: SipMessage, call_id: str | None, from_tag: str | None, now: float
    ) -> None:
        if call_id is None:
            return
        to_line = message.first_line("to")
        to_tag = self._tags.tag(to_line) if to_line else None
        index = self._index
        dialog = index.get((call_id, from_tag), now)
        if dialog is None and to_tag is not None:
            dialog = index.get((call_id, to_tag), now)
            if dialog is not None and from_tag is not None:
                # A request from the far end seen before any response carrying its tag.
                dialog.remote_tags.append(from_tag)
                index.put((call_id, from_tag), dialog, now)
        if dialog is None:
            dialog = Dialog(call_id=call_id, local_tag=from_tag)
            self.dialogs.append(dialog)
            index.put((call_id, from_tag), dialog, now)
        if (
            to_tag is not None
            and to_tag != dialog.local_tag
            and index.peek((call_id, to_tag)) is None
        ):
            dialog.remote_tags.append(to_tag)
            index.put((call_id, to_tag), dialog, now)
        dialog.messages.append(message)
