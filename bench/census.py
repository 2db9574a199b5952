"""Where an analysis's memory is when the rules start: ``python -m bench.census CAPTURE...``.

Runs ``pipeline.analyze`` in this process and, just before the rules run (every kept message is
alive then, and the correlator has finished), adds up ``sys.getsizeof`` of what the analysis
holds, by the part each object belongs to. Each object is counted once, in the first part that
reaches it: a header value shared by a hundred messages costs its bytes once. Strings, ints and
floats are reached through the messages that hold them; the collector lists the containers.
The rest of what the collector tracks (modules, functions, caches) is one last line.

What it prints is the table of docs/performance.md, "Where a storm message's memory goes now",
and the resident set size when the rules start (Linux), read before the census: its own
bookkeeping, an id per object, costs more than a hundred MiB on an auth storm. It is a
development tool: it reads private attributes of the correlator's records, and
tests/test_bench_census.py keeps it counting what it says.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.tooling import analysis_parser
from sipauth_analyzer import pipeline
from sipauth_analyzer.correlate.model import Correlation
from sipauth_analyzer.correlate.transactions import BoundedTable
from sipauth_analyzer.pipeline import AnalysisOptions
from sipauth_analyzer.sip.message import SipMessage

# Parts in the order they claim objects: what a message owns first, so that a string shared
# between a header line and a digest field counts as the header line's.
PARTS = (
    "SipMessage objects",
    "CapturedMessage objects",
    "header value tuples",
    "header value strings",
    "start line strings (request URI, reason)",
    "frames tuples, frame and size ints, time floats",
    "Challenge and Credentials objects",
    "their field strings and tuples",
    "their lists on the messages",
    "Transaction objects and their lists",
    "AuthExchange objects and their lists",
    "correlator tables and their entries",
    "everything else the collector tracks",
)
# The correlator's own per-exchange and per-transaction records, which finish() lets go.
_ENTRY_TYPES = frozenset({"_ExchangeState", "_TxEntry"})


@dataclass
class Census:
    """Bytes and object counts per part; ``seen`` holds the ids already counted."""

    # Open exchanges and transactions the correlator still holds: none once it finished.
    correlator_entries: int = 0
    size: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    count: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    seen: set[int] = field(default_factory=set)

    def add(self, part: str, obj: object) -> None:
        if obj is None or id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        self.size[part] += sys.getsizeof(obj)
        self.count[part] += 1

    def add_all(self, part: str, objects: Iterable[object]) -> None:
        for obj in objects:
            self.add(part, obj)


def _auth_fields(census: Census, value: object) -> None:
    for name in type(value).__slots__:  # type: ignore[attr-defined]
        field_value = getattr(value, name, None)
        if isinstance(field_value, (str, tuple)):
            census.add("their field strings and tuples", field_value)


def _message(census: Census, message: SipMessage) -> None:
    census.add("SipMessage objects", message)
    source = message.source
    census.add("CapturedMessage objects", source)
    census.add("header value tuples", message.values)
    census.add_all("header value strings", message.values)
    census.add("start line strings (request URI, reason)", message.request_uri)
    census.add("start line strings (request URI, reason)", message.reason)
    numbers = "frames tuples, frame and size ints, time floats"
    census.add_all(numbers, (source.frames, source.frame, source.wire_size, source.time))
    # The private caches: the public properties would parse what was never parsed.
    for parsed in (message._challenges, message._credentials):
        if parsed is None:
            continue
        census.add("their lists on the messages", parsed)
        for value in parsed:
            census.add("Challenge and Credentials objects", value)
            _auth_fields(census, value)


def take_census(correlation: Correlation) -> Census:
    """What ``correlation`` and the rest of the process hold, by part (see PARTS)."""
    census = Census()
    census.seen.add(id(census.seen))
    for message in correlation.messages:
        _message(census, message)
    for message in correlation.orphan_responses:
        _message(census, message)
    for transaction in correlation.transactions:
        part = "Transaction objects and their lists"
        census.add_all(part, (transaction, transaction.responses, transaction.retransmissions))
    for exchange in correlation.exchanges:
        part = "AuthExchange objects and their lists"
        census.add_all(
            part, (exchange, exchange.attempts, exchange.call_ids, exchange.acks, exchange.cancels)
        )
    tables = "correlator tables and their entries"
    tracked = gc.get_objects()
    census.seen.add(id(tracked))
    for obj in tracked:
        if isinstance(obj, BoundedTable):
            census.add_all(tables, (obj, obj._items))
        elif type(obj).__name__ in _ENTRY_TYPES:
            census.correlator_entries += 1
            census.add(tables, obj)
    for obj in tracked:
        census.add("everything else the collector tracks", obj)
    return census


def resident_mib() -> tuple[float | None, float | None]:
    """(VmRSS, VmHWM) of this process in MiB, or Nones where /proc is not there."""
    values: dict[str, float] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values.get("VmRSS"), values.get("VmHWM")


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def render(census: Census, messages: int, at_rules: tuple[float | None, float | None]) -> str:
    lines = [f"{'part':<60}{'objects':>11}{'MiB':>10}{'bytes/message':>15}"]
    total = 0
    for part in PARTS:
        size = census.size[part]
        total += size
        per_message = f"{size / messages:,.0f}" if messages else "n/a"
        lines.append(f"{part:<60}{census.count[part]:>11,}{size / 2**20:>10.2f}{per_message:>15}")
    lines.append(f"{'total':<60}{'':>11}{total / 2**20:>10.2f}")
    lines.append(
        f"open exchanges and transactions the correlator still holds: {census.correlator_entries:,}"
    )
    # Read before the census, whose own bookkeeping (an id per object) would show in it.
    lines.append(
        f"resident set size when the rules start: {_mib(at_rules[0])} (peak so far "
        f"{_mib(at_rules[1])})"
    )
    return "\n".join(lines)


def analyze_with_census(sources: Sequence[str], options: AnalysisOptions) -> str:
    """Run the analysis, taking the census when the rules start; the printed report."""
    taken: dict[str, Any] = {}
    # pipeline.analyze calls the run_rules it imported: wrap that name, for this run only.
    names = vars(pipeline)
    real_run_rules = names["run_rules"]

    def census_then_rules(correlation: Correlation, *args: Any, **kwargs: Any) -> Any:
        taken["at_rules"] = resident_mib()
        taken["census"] = take_census(correlation)
        taken["messages"] = len(correlation.messages)
        return real_run_rules(correlation, *args, **kwargs)

    names["run_rules"] = census_then_rules
    try:
        result = pipeline.analyze(list(sources), options)
    finally:
        names["run_rules"] = real_run_rules
    header = (
        f"{', '.join(sources)}: {taken['messages']:,} messages kept for the rules, "
        f"{len(result.correlation.exchanges):,} exchanges"
    )
    return header + "\n" + render(taken["census"], taken["messages"], taken["at_rules"])


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = analysis_parser("python -m bench.census", __doc__)
    args = parser.parse_args(argv)
    out(analyze_with_census(args.captures, AnalysisOptions(jobs=args.jobs)))


if __name__ == "__main__":
    main()
