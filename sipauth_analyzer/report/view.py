"""What every report format renders: one or more analysis results, filtered, baselined, named.

The CLI builds a :class:`ReportInput` once (``build_report``) and hands the same object to
whichever format was asked for, so the formats never disagree and never re-run anything.

Filters (``--call-id``, ``--peer``, ``--since``/``--until``, ``--method``) apply *after*
correlation, to exchanges and findings: filtering messages first would change what correlation
and the rules see (a retry without its challenge looks like a different problem). Metrics are
recomputed over the kept exchanges when a filter is active.

A finding "counts" (decides the exit code, appears as a result) unless its fingerprint is in the
``--baseline`` report; baselined findings are kept aside as ``known``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sipauth_analyzer.correlate import combine_metrics
from sipauth_analyzer.correlate.metrics import MetricsBuilder
from sipauth_analyzer.correlate.model import (
    AuthExchange,
    Metrics,
    PeerPair,
    UnlistedExchange,
    UnlistedExchanges,
    call_id_digest,
    exchange_messages,
)
from sipauth_analyzer.pipeline import AnalysisResult
from sipauth_analyzer.primitives import Endpoint, Note
from sipauth_analyzer.rules.base import Finding, Severity
from sipauth_analyzer.rules.registry import ALL_RULES, Rule


class ReportInputError(ValueError):
    """A filter, peer name or baseline the user gave cannot be used (the CLI exits 2)."""


# -- peers -------------------------------------------------------------------------------------


def _split_host_port(text: str) -> tuple[str, int | None]:
    """``10.0.0.5``, ``10.0.0.5:5060``, ``::1``, ``[::1]:5060`` → (normalised ip, port)."""
    text = text.strip()
    port: int | None = None
    host = text
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ReportInputError(f"bad address {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ReportInputError(f"bad address {text!r}: expected [IPv6]:PORT")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ReportInputError(f"bad address {text!r}: port must be a number")
        port = int(port_text)
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        raise ReportInputError(f"bad address {text!r}: not an IP address") from None
    if port is not None and not 0 < port < 65536:
        raise ReportInputError(f"bad address {text!r}: port out of range")
    return ip, port


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """An IP address with an optional port, as given to ``--peer`` or a peer-name key."""

    ip: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> PeerSpec:
        ip, port = _split_host_port(text)
        return cls(ip, port)

    def matches(self, endpoint: Endpoint | None) -> bool:
        if endpoint is None:
            return False
        return endpoint.ip == self.ip and (self.port is None or endpoint.port == self.port)


@dataclass(frozen=True, slots=True)
class PeerNames:
    """Names for peers from ``[tool.sipauth.peers]``: ``"10.0.0.5" = "Genesys Edge"``.

    A key with a port names only that endpoint; a bare IP names every port of it.
    """

    names: Mapping[PeerSpec, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> PeerNames:
        return cls({PeerSpec.parse(key): value for key, value in mapping.items()})

    def name_of(self, ip: str, port: int | None = None) -> str | None:
        if not self.names:
            return None  # the usual case, asked twice per exchange of the report
        if port is not None:
            exact = self.names.get(PeerSpec(ip, port))
            if exact is not None:
                return exact
        return self.names.get(PeerSpec(ip))

    def endpoint(self, endpoint: Endpoint | None) -> str:
        """``Genesys Edge (10.0.0.5:5060)``, or ``10.0.0.5:5060`` when unnamed."""
        if endpoint is None:
            return "-"
        name = self.name_of(endpoint.ip, endpoint.port)
        return f"{name} ({endpoint})" if name else str(endpoint)

    def ip(self, ip: str) -> str:
        """``Genesys Edge (10.0.0.5)``, or ``10.0.0.5`` when unnamed."""
        name = self.name_of(ip)
        return f"{name} ({ip})" if name else ip

    def pair(self, pair: PeerPair) -> str:
        return f"{self.ip(pair.client)} → {self.ip(pair.server)}"


# -- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeBound:
    """``--since`` / ``--until``: an absolute time, or seconds after the capture's first packet."""

    seconds: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> TimeBound:
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            pass
        else:
            if math.isfinite(value) and value >= 0:
                return cls(value, relative=True)
            raise ReportInputError(f"bad time {text!r}: seconds must be a number >= 0")
        try:
            parsed = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            raise ReportInputError(
                f"bad time {text!r}: use ISO 8601 (2025-01-31T14:05:00Z) or seconds from the "
                "capture's start (90.5)"
            ) from None
        if parsed.tzinfo is None:
            # A capture's timestamps are UTC; a bare local time would silently shift by hours.
            parsed = parsed.replace(tzinfo=dt.UTC)
        return cls(parsed.timestamp(), relative=False)

    def resolve(self, capture_start: float | None) -> float:
        if self.relative:
            return (capture_start or 0.0) + self.seconds
        return self.seconds


@dataclass(frozen=True, slots=True)
class Filters:
    """Which exchanges and findings to show; empty means everything."""

    call_ids: tuple[str, ...] = ()
    peers: tuple[PeerSpec, ...] = ()
    since: TimeBound | None = None
    until: TimeBound | None = None
    methods: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.call_ids or self.peers or self.since or self.until or self.methods)

    def describe(self) -> dict[str, object]:
        return {
            "call_ids": list(self.call_ids),
            "peers": [f"{p.ip}:{p.port}" if p.port is not None else p.ip for p in self.peers],
            "since": _bound_json(self.since),
            "until": _bound_json(self.until),
            "methods": list(self.methods),
        }


def _bound_json(bound: TimeBound | None) -> dict[str, object] | None:
    if bound is None:
        return None
    return {"seconds": bound.seconds, "relative": bound.relative}


@dataclass(frozen=True, slots=True)
class _Window:
    call_ids: frozenset[str]
    peers: tuple[PeerSpec, ...]
    start: float | None
    end: float | None
    methods: frozenset[str]


def _window(filters: Filters, capture_start: float | None) -> _Window:
    return _Window(
        call_ids=frozenset(filters.call_ids),
        peers=filters.peers,
        start=filters.since.resolve(capture_start) if filters.since else None,
        end=filters.until.resolve(capture_start) if filters.until else None,
        methods=frozenset(m.upper() for m in filters.methods),
    )


def _span(exchange: AuthExchange) -> tuple[float, float]:
    times = [m.source.time for m in exchange_messages(exchange)]
    return min(times), max(times)


def _in_window(start: float, end: float, window: _Window) -> bool:
    if window.start is not None and end < window.start:
        return False
    return not (window.end is not None and start > window.end)


def _kept(
    window: _Window,
    *,
    call_id_kept: bool,
    client: Endpoint,
    server: Endpoint,
    method: str,
    span: Callable[[], tuple[float, float]],
) -> bool:
    """Whether the filters keep an exchange with these properties (``span`` is computed only
    when a time bound asks for it)."""
    if not call_id_kept:
        return False
    if window.peers and not any(p.matches(client) or p.matches(server) for p in window.peers):
        return False
    if window.methods and method.upper() not in window.methods:
        return False
    if window.start is not None or window.end is not None:
        start, end = span()
        return _in_window(start, end, window)
    return True


def _exchange_kept(exchange: AuthExchange, window: _Window) -> bool:
    call_id_kept = not window.call_ids or not window.call_ids.isdisjoint(exchange.call_ids)
    return _kept(window, call_id_kept=call_id_kept, client=exchange.client,
                 server=exchange.server, method=exchange.method, span=lambda: _span(exchange))


def _unlisted_kept(row: UnlistedExchange, window: _Window, call_ids: frozenset[int]) -> bool:
    """``_exchange_kept`` for a let-go exchange (``call_ids``: the filter's digests)."""
    call_id_kept = not call_ids or not call_ids.isdisjoint(row.call_id_digests)
    return _kept(window, call_id_kept=call_id_kept, client=row.client, server=row.server,
                 method=row.method, span=lambda: (row.start, row.end))


def _filtered_metrics(
    exchanges: Sequence[AuthExchange],
    unlisted: UnlistedExchanges,
    window: _Window,
    first_time: float | None,
    last_time: float | None,
) -> tuple[dict[PeerPair, Metrics], Metrics, int, int]:
    """Metrics of the listed exchanges a view keeps and of the let-go ones it would keep, pairs
    in order of first appearance as if all had been listed; how many let-go ones it keeps, and
    how many of those were let go undiagnosed. The rows are read twice (pair order, then
    counts) rather than collected."""
    call_ids = frozenset(call_id_digest(c) for c in window.call_ids)
    first_id: dict[PeerPair, int] = {}

    def seen(pair: PeerPair, exchange_id: int) -> None:
        if exchange_id < first_id.get(pair, exchange_id + 1):
            first_id[pair] = exchange_id

    for exchange in exchanges:
        seen(PeerPair(exchange.client.ip, exchange.server.ip), exchange.id)
    for row in unlisted:
        if _unlisted_kept(row, window, call_ids):
            seen(PeerPair(row.client.ip, row.server.ip), row.id)
    builder = MetricsBuilder()
    for pair in sorted(first_id, key=first_id.__getitem__):
        builder.register(pair)
    for exchange in exchanges:
        builder.add(exchange)
    kept = undiagnosed = 0
    for row in unlisted:
        if _unlisted_kept(row, window, call_ids):
            builder.add_unlisted(
                PeerPair(row.client.ip, row.server.ip), row.succeeded, row.plain, row.counts
            )
            kept += 1
            undiagnosed += not row.plain
    by_pair, overall = builder.result(first_time, last_time)
    return by_pair, overall, kept, undiagnosed


def _finding_kept(finding: Finding, window: _Window, kept_exchanges: set[int]) -> bool:
    if finding.exchange_ids:
        return any(i in kept_exchanges for i in finding.exchange_ids)
    # A finding about no particular exchange (a storm, a scanner): judge it by its own fields.
    if window.call_ids and not window.call_ids.intersection(finding.call_ids):
        return False
    if window.peers and not any(
        p.matches(finding.client) or p.matches(finding.server) for p in window.peers
    ):
        return False
    if window.methods and not any(
        e.summary.split(" ", 1)[0].upper() in window.methods for e in finding.evidence
    ):
        return False
    if (window.start is not None or window.end is not None) and finding.evidence:
        times = [e.time for e in finding.evidence]
        return _in_window(min(times), max(times), window)
    return True


# -- baseline ----------------------------------------------------------------------------------


def load_baseline(path: Path) -> frozenset[str]:
    """Fingerprints in an earlier ``--format json`` report (its findings and its known ones)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportInputError(f"baseline {path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"baseline {path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ReportInputError(
            f"baseline {path}: not a sipauth JSON report (no 'findings' list); "
            "make one with: sipauth analyze --format json --output baseline.json CAPTURE"
        )
    fingerprints: set[str] = set()
    for key in ("findings", "baseline_suppressed"):
        for item in data.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("fingerprint"), str):
                fingerprints.add(item["fingerprint"])
    return frozenset(fingerprints)


# -- the report input --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunReport:
    """One analysis as shown: all files as one timeline, or one file with ``--per-file``."""

    label: str | None  # the file, with --per-file; None for the combined timeline
    result: AnalysisResult
    exchanges: tuple[AuthExchange, ...]
    findings: tuple[Finding, ...]  # count towards the exit code
    known: tuple[Finding, ...]  # in the baseline: shown as "known", never counted
    metrics_by_pair: Mapping[PeerPair, Metrics]
    overall: Metrics
    # Exchanges counted in the metrics but not listed (Correlation.unlisted_exchanges: plain
    # ones, and any past the message budget), in a filtered view those the filters keep
    # (their rows in Correlation.unlisted).
    unlisted_exchanges: int = 0
    # Of those, the ones let go for the message budget (the rules never saw them).
    undiagnosed_exchanges: int = 0

    @property
    def notes(self) -> list[Note]:
        return self.result.notes


@dataclass(frozen=True, slots=True)
class ReportInput:
    """Everything a format needs; built once by :func:`build_report`."""

    runs: tuple[RunReport, ...]
    peers: PeerNames = field(default_factory=PeerNames)
    fail_on: Severity | None = Severity.ERROR  # None: never fail
    show_secrets: bool = False
    ladders: bool = True
    max_ladders_per_finding: int = 1
    filters: Filters = field(default_factory=Filters)
    baseline: str | None = None
    per_file: bool = False
    version: str = ""

    @property
    def findings(self) -> list[Finding]:
        return [f for run in self.runs for f in run.findings]

    @property
    def known(self) -> list[Finding]:
        return [f for run in self.runs for f in run.known]

    @property
    def exchanges(self) -> list[AuthExchange]:
        return [e for run in self.runs for e in run.exchanges]

    @property
    def notes(self) -> list[Note]:
        return [n for run in self.runs for n in run.notes]

    @property
    def unlisted_exchanges(self) -> int:
        return sum(run.unlisted_exchanges for run in self.runs)

    @property
    def undiagnosed_exchanges(self) -> int:
        return sum(run.undiagnosed_exchanges for run in self.runs)

    @property
    def sources(self) -> list[str]:
        out: list[str] = []
        for run in self.runs:
            out.extend(s for s in run.result.stats.files or run.result.sources if s not in out)
        return out

    def failing(self) -> list[Finding]:
        """Counted findings at or above ``fail_on`` (what makes the exit code 1)."""
        if self.fail_on is None:
            return []
        threshold = self.fail_on
        return [f for f in self.findings if f.severity >= threshold]

    def severity_counts(self) -> dict[Severity, int]:
        counts = Counter(f.severity for f in self.findings)
        return {s: counts.get(s, 0) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}

    def overall(self) -> Metrics:
        """Metrics over every run (the single run's own when there is one)."""
        if len(self.runs) == 1:
            return self.runs[0].overall
        starts = [r.result.stats.first_time for r in self.runs if r.result.stats.first_time]
        ends = [r.result.stats.last_time for r in self.runs if r.result.stats.last_time]
        # Each run's own overall (not the exchanges again): runs may hold unlisted exchanges.
        return combine_metrics(
            (run.overall for run in self.runs), min(starts, default=None), max(ends, default=None)
        )

    def pairs(self) -> list[tuple[RunReport, PeerPair, Metrics]]:
        return [(run, p, m) for run in self.runs for p, m in run.metrics_by_pair.items()]


def build_run(
    result: AnalysisResult,
    *,
    label: str | None = None,
    filters: Filters | None = None,
    baseline: frozenset[str] = frozenset(),
) -> RunReport:
    """Apply filters and the baseline to one analysis result."""
    filters = filters or Filters()
    correlation = result.correlation
    unlisted = undiagnosed = 0
    if filters.active:
        window = _window(filters, result.stats.first_time)
        exchanges = [e for e in correlation.exchanges if _exchange_kept(e, window)]
        kept_ids = {e.id for e in exchanges}
        findings = [f for f in result.findings if _finding_kept(f, window, kept_ids)]
        by_pair, overall, unlisted, undiagnosed = _filtered_metrics(
            exchanges, correlation.unlisted, window, result.stats.first_time,
            result.stats.last_time,
        )
    else:
        exchanges = list(correlation.exchanges)
        findings = list(result.findings)
        by_pair, overall = correlation.metrics_by_pair, correlation.overall
        unlisted = correlation.unlisted_exchanges
        undiagnosed = correlation.undiagnosed_exchanges
    counted = tuple(f for f in findings if f.fingerprint not in baseline)
    known = tuple(f for f in findings if f.fingerprint in baseline)
    return RunReport(
        label=label,
        result=result,
        exchanges=tuple(exchanges),
        findings=counted,
        known=known,
        metrics_by_pair=by_pair,
        overall=overall,
        unlisted_exchanges=unlisted,
        undiagnosed_exchanges=undiagnosed,
    )


def build_report(
    results: Sequence[tuple[str | None, AnalysisResult]],
    *,
    filters: Filters | None = None,
    baseline: frozenset[str] = frozenset(),
    baseline_name: str | None = None,
    peers: PeerNames | None = None,
    fail_on: Severity | None = Severity.ERROR,
    show_secrets: bool = False,
    ladders: bool = True,
    max_ladders_per_finding: int = 1,
    version: str = "",
) -> ReportInput:
    runs = tuple(
        build_run(result, label=label, filters=filters, baseline=baseline)
        for label, result in results
    )
    return ReportInput(
        runs=runs,
        peers=peers or PeerNames(),
        fail_on=fail_on,
        show_secrets=show_secrets,
        ladders=ladders,
        max_ladders_per_finding=max_ladders_per_finding,
        filters=filters or Filters(),
        baseline=baseline_name,
        per_file=any(label is not None for label, _ in results),
        version=version,
    )


# -- shared helpers for the formats ------------------------------------------------------------


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` 0.5 = median, 0.95 = p95); None when empty.

    Nearest rank keeps the value one that was actually observed, which is what a person
    checking a latency against the frames expects.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def challenge_ratio(metrics: Metrics) -> float | None:
    """401/407 challenges per 2xx: about 1.0 on a healthy trunk that challenges everything."""
    if not metrics.successes_2xx:
        return None
    return (metrics.challenges_401 + metrics.challenges_407) / metrics.successes_2xx


def rules_by_code() -> dict[str, Rule]:
    return {rule.META.code: rule for rule in ALL_RULES}


def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def exchanges_covered(findings: Iterable[Finding]) -> int:
    """How many exchanges ``findings`` explain: the distinct exchanges they name, plus one for
    each finding that names none (an oversized request, a capture-wide pattern)."""
    named: set[int] = set()
    unnamed = 0
    for finding in findings:
        if finding.exchange_ids:
            named.update(finding.exchange_ids)
        else:
            unnamed += 1
    return len(named) + unnamed


def group_findings(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings grouped by rule code; groups ordered by severity, then by how many exchanges
    they explain, then by how many findings they hold, then by code.

    Exchanges, not findings, measure a cause: a finding is one problem between one client and
    one server, so one brute-force finding covers the thousands of exchanges of its source and
    one SA301 finding every looping call of a trunk, while a realm typo on one phone is one
    finding about one exchange.
    """
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.code, []).append(finding)
    return sorted(
        groups.items(),
        key=lambda item: (
            -item[1][0].severity.rank,
            -exchanges_covered(item[1]),
            -len(item[1]),
            item[0],
        ),
    )


def verdict(report: ReportInput) -> str:
    """One line a person reads first: volume, failures, and the main cause with its trunk."""
    exchanges = report.exchanges
    # Every pair of an exchange is in its run's metrics, the unlisted ones' too.
    pairs = {pair for run in report.runs for pair in run.metrics_by_pair}
    # Failures as the ``failed`` metric counts them (correlate.metrics.is_auth_failure), let-go
    # exchanges included.
    failed = sum(run.overall.failed for run in report.runs)
    total = len(exchanges) + report.unlisted_exchanges
    head = (
        f"{total} auth exchange{'s' if total != 1 else ''} on "
        f"{len(pairs)} trunk{'s' if len(pairs) != 1 else ''}, {failed} failed"
    )
    groups = group_findings(report.findings)
    if not groups:
        known = len(report.known)
        tail = f" ({known} known from the baseline)" if known else ""
        return f"{head} — no authentication problem found{tail}"
    code, findings = groups[0]
    peers = Counter(
        (f.client.ip if f.client else None, f.server.ip if f.server else None) for f in findings
    )
    (client, server), _ = peers.most_common(1)[0]
    where = ""
    if client and server:
        where = f", {report.peers.ip(client)} → {report.peers.ip(server)}"
    cause = "main cause" if findings[0].severity is Severity.ERROR else "top finding"
    name = findings[0].name.replace("-", " ")
    return f"{head} — {cause}: {name} ({code}){where}"


def undiagnosed_line(report: ReportInput) -> str | None:
    """What a reader must know before the findings when the message budget was reached: they
    cover the capture only up to it (None when every exchange was diagnosed)."""
    count = report.undiagnosed_exchanges
    if not count:
        return None
    reasons = sorted({
        run.result.correlation.budget_reason
        for run in report.runs
        if run.result.correlation.budget_reason is not None
    })
    if reasons:
        budget = "; ".join(reasons)
    else:
        budgets = sorted({run.result.options.correlate.max_kept_messages for run in report.runs})
        budget = f"the message budget (max-kept-messages={'/'.join(str(b) for b in budgets)})"
    return (
        f"Findings cover the capture only up to {budget}: {count} exchange"
        f"{'s' if count != 1 else ''} after it were counted in the metrics but not checked by "
        "the rules (see the notes)"
    )


def counts_line(report: ReportInput) -> str:
    counts = report.severity_counts()
    parts = [f"{n} {s.value}{'s' if n != 1 and s is not Severity.INFO else ''}" for s, n in
             counts.items()]
    line = "Findings: " + ", ".join(parts)
    if report.known:
        line += f"; {len(report.known)} known from the baseline"
    return line


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in (9, 10)}


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN``.

    A capture is attacker-controlled: an ESC sequence in a Call-ID must not reach the user's
    terminal (or a ticket) as a command.
    """
    return text.translate(_CONTROL)


def endpoint_text(endpoint: Endpoint | None) -> str | None:
    return str(endpoint) if endpoint is not None else None
