"""SIP messages as plain data, to cross from the reader process to the analysis one.

The capture and SIP stages together are the part of an analysis that needs nothing from the
rest, so ``--jobs 2`` runs both in a child (capture/worker.py) and hands over each message,
parsed there or still raw (see :class:`ParseSplit`: whichever process has time to spare parses
it). Lazily parsed parts (digest challenges and credentials) are not sent: they are still
parsed on first use, here.

Equal header values stay one string without any work here: the reader's parser shares them
(a response repeats its request's Via, From, To, Call-ID and CSeq), and the pipe's encoding
(capture/worker.py) writes an object referenced twice in a batch once and loads it as one
object. Only a value repeated in different batches (1,024 messages each) arrives as one string
per batch. Measured on 100 k messages of the bench auth storm: 208,986 distinct header strings
decoded as they come, 204,984 when the decoder also looked every value up in a table of its
own, as it used to; that lookup cost the analysing process ≈ 3 µs per message (0.59-0.78 s
against 0.37-0.50 s per 100 k, ten interleaved rounds), and on a storm that process is the
busier of the two.
"""

from __future__ import annotations

from typing import Any

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.capture.worker import CapturedDecoder, encode_captured
from sipauth_analyzer.sip.message import SipMessage, header_layout
from sipauth_analyzer.sip.model import ParseProblem
from sipauth_analyzer.sip.parser import DEFAULT_OPTIONS, SipParseOptions

# kept_headers on the wire: None, the profile's own set, or the set itself.
_ALL_KEPT, _PROFILE_KEPT = 0, 1
# The first element of every encoded item: a parsed message, or a captured one to parse here.
_PARSED, _RAW = 0, 1
# Per-message wire overhead beyond body and payload, for batching only.
_HEADER_BYTES_GUESS = 400


#: Where a reader process parses: while SIP messages come at least this often (one in so many
#: frames, on average), the reader parses them; sparser, it hands them over raw.
#:
#: On an auth storm (every frame SIP) both processes are equally busy, the reader reading and
#: parsing, the analysis correlating, so moving the parsing would only swap which one waits.
#: On a trunk capture (~50 frames per SIP message, the rest RTP) parsing in the reader costs it
#: more than it saves the analysis. Measured with bench.phases on the 1 M-packet bench trunk
#: (2026-12-07, four interleaved rounds): parsing and encoding there added ≈ 41 µs per message
#: to the reader's CPU (1.24 → 2.04 s) and took ≈ 32 µs off the analysis's (2.06 → 1.43 s), so
#: the reader became the bottleneck (2.72 s end to end, against 2.30 s); a threshold of 64,
#: above the trunk's gap, gave 2.59 s. 16 sits well below a trunk's gap and well above a flood's.
PARSE_IN_READER_MAX_GAP = 16.0
# Frames between messages are averaged over about this many messages.
_GAP_WINDOW = 32


class ParseSplit:
    """Decides, in the reader process, which messages it parses itself (see
    PARSE_IN_READER_MAX_GAP). The decision changes where the parse runs, never its result."""

    __slots__ = ("file", "frame", "gap", "max_gap")

    def __init__(self, max_gap: float | None = None) -> None:
        self.max_gap = PARSE_IN_READER_MAX_GAP if max_gap is None else max_gap
        self.file: str | None = None
        self.frame = 0
        self.gap = 1.0  # a capture is taken as all SIP until its frames say otherwise

    def in_reader(self, captured: CapturedMessage) -> bool:
        frame = captured.frame
        gap = frame - self.frame if captured.file == self.file else frame
        self.file, self.frame = captured.file, frame
        self.gap += (max(gap, 0) - self.gap) / _GAP_WINDOW
        return self.gap < self.max_gap


def encode_item(item: SipMessage | CapturedMessage, profile_kept: frozenset[str] | None
                ) -> tuple[tuple[Any, ...], int]:
    """A parsed message, or a captured one for the analysing process to parse."""
    if isinstance(item, CapturedMessage):
        fields, size = encode_captured(item)
        return (_RAW, fields), size
    return encode_sip(item, profile_kept)


def encode_sip(message: SipMessage, profile_kept: frozenset[str] | None
               ) -> tuple[tuple[Any, ...], int]:
    source, source_size = encode_captured(message.source)
    kept = message.kept_headers
    kept_code: int | frozenset[str] = (
        _ALL_KEPT if kept is None else _PROFILE_KEPT if kept is profile_kept else kept
    )
    problems = tuple((p.kind, p.detail) for p in message.problems)
    return (
        (_PARSED, source, message.is_request, message.method, message.request_uri,
         message.status, message.reason, message.layout.names, message.values, message.body,
         problems, kept_code, message._cseq, message._cseq_parsed),
        source_size + len(message.body) + _HEADER_BYTES_GUESS,
    )


class SipDecoder:
    """The inverse of :func:`encode_item` for one analysis (one parse profile): a parsed
    message, or a captured one still to parse."""

    __slots__ = ("captured", "layout_limit", "profile_kept")

    def __init__(self, options: SipParseOptions | None, endpoint_limit: int) -> None:
        opts = options or DEFAULT_OPTIONS
        self.captured = CapturedDecoder(endpoint_limit)
        self.profile_kept = opts.keep_headers
        self.layout_limit = opts.shared_layouts

    def __call__(self, item: tuple[Any, ...]) -> SipMessage | CapturedMessage:
        if item[0] == _RAW:
            return self.captured(item[1])
        (_, source, is_request, method, request_uri, status, reason, names, values, body,
         problems, kept_code, cseq, cseq_parsed) = item
        kept: frozenset[str] | None
        if kept_code == _ALL_KEPT:
            kept = None
        elif kept_code == _PROFILE_KEPT:
            kept = self.profile_kept
        else:
            kept = kept_code
        return SipMessage(
            self.captured(source),
            is_request,
            method,
            request_uri,
            status,
            reason,
            header_layout(names, self.layout_limit),
            values,
            body,
            [ParseProblem(kind, detail) for kind, detail in problems] or None,
            kept,
            None,
            None,
            cseq,
            cseq_parsed,
        )
