"""``--format json``: the versioned machine-readable report (schema in docs/json-schema.md).

``SCHEMA_VERSION`` changes only when a field is removed or changes meaning; adding a field does
not change it. The output is always one valid JSON object, with ``"findings": []`` when clean.
The digest ``response`` and ``cnonce`` are replaced by ``"…redacted…"`` unless ``--show-secrets``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import GeneratorType
from typing import Any, TextIO

from sipauth_analyzer.capture.model import CaptureStats
from sipauth_analyzer.correlate.model import AuthExchange, Metrics, PeerPair, Transaction
from sipauth_analyzer.primitives import REDACTED, Endpoint, Note
from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.view import (
    PeerNames,
    ReportInput,
    RunReport,
    challenge_ratio,
    counts_line,
    endpoint_text,
    iso_time,
    median,
    percentile,
    rules_by_code,
    verdict,
)
from sipauth_analyzer.rules.base import Finding
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.verify.model import WeakPasswordHit

SCHEMA_VERSION = 1


def _time(epoch: float | None) -> float | None:
    return _round(epoch, 6)


def capture_summary(stats: CaptureStats, sources: Iterable[str]) -> dict[str, Any]:
    return {
        "files": list(stats.files) or list(sources),
        "packets": stats.packets,
        "bytes": stats.bytes,
        "sip_messages": stats.sip_messages,
        "tls_flows": stats.tls_flows,
        "linktypes": dict(sorted(stats.linktypes.items())),
        "first_time": _time(stats.first_time),
        "last_time": _time(stats.last_time),
        "first_time_iso": iso_time(stats.first_time),
        "last_time_iso": iso_time(stats.last_time),
    }


def _merged_summary(report: ReportInput) -> dict[str, Any]:
    if len(report.runs) == 1:
        run = report.runs[0]
        return capture_summary(run.result.stats, run.result.sources)
    merged = CaptureStats()
    for run in report.runs:
        stats = run.result.stats
        merged.files.extend(stats.files or run.result.sources)
        merged.packets += stats.packets
        merged.bytes += stats.bytes
        merged.sip_messages += stats.sip_messages
        merged.tls_flows += stats.tls_flows
        for name, count in stats.linktypes.items():
            merged.linktypes[name] = merged.linktypes.get(name, 0) + count
        if stats.first_time is not None:
            merged.first_time = min(merged.first_time or stats.first_time, stats.first_time)
        if stats.last_time is not None:
            merged.last_time = max(merged.last_time or stats.last_time, stats.last_time)
    return capture_summary(merged, [])


def _secret(value: str | None, show: bool) -> str | None:
    if value is None:
        return None
    return value if show else REDACTED


def _challenges(message: SipMessage | None) -> list[dict[str, Any]]:
    if message is None:
        return []
    # str(member) rather than .value (an enum property, several times slower) for the
    # StrEnums below: once per attempt of every exchange, ~90,000 times on an auth storm.
    return [
        {
            "header": str(c.header),
            "scheme": c.scheme,
            "realm": c.realm,
            "nonce": c.nonce,
            "algorithm": c.algorithm,
            "qop": list(c.qop_options),
            "opaque": c.opaque is not None,
            "stale": c.stale,
        }
        for c in message.challenges
    ]


def _credentials(message: SipMessage, show_secrets: bool) -> list[dict[str, Any]]:
    return [
        {
            "header": str(c.header),
            "scheme": c.scheme,
            "username": c.username,
            "realm": c.realm,
            "nonce": c.nonce,
            "uri": c.uri,
            "algorithm": c.algorithm,
            "qop": c.qop,
            "nc": c.nc,
            "response": _secret(c.response, show_secrets),
            "cnonce": _secret(c.cnonce, show_secrets),
        }
        for c in message.credentials
    ]


def _attempt(attempt: Transaction, run: RunReport, show_secrets: bool) -> dict[str, Any]:
    request = attempt.request
    source = request.source
    final = attempt.final
    verifications = run.result.verifications
    verification = verifications.get((source.file, source.frame)) if verifications else None
    return {
        "frame": source.frame,
        "file": source.file,
        "time": _time(source.time),
        "cseq": request.cseq_number,
        "transport": str(source.transport),
        "size": source.wire_size,
        "retransmission_frames": [m.source.frame for m in attempt.retransmissions],
        "responses": [
            {"frame": r.source.frame, "time": _time(r.source.time), "status": r.status}
            for r in attempt.responses
        ],
        "final_status": final.status if final is not None else None,
        "challenges": _challenges(final if final is not None and final.status in (401, 407)
                                  else None),
        "credentials": _credentials(request, show_secrets),
        # With --credentials: the verdict on this request's digest response.
        "verification": verification.as_json() if verification is not None else None,
    }


def exchange_record(
    exchange: AuthExchange, run: RunReport, peers: PeerNames, show_secrets: bool
) -> dict[str, Any]:
    final = exchange.final
    return {
        "id": exchange.id,
        "run": run.label,
        "method": exchange.method,
        "client": str(exchange.client),
        "server": str(exchange.server),
        "client_name": peers.name_of(exchange.client.ip, exchange.client.port),
        "server_name": peers.name_of(exchange.server.ip, exchange.server.port),
        "call_ids": list(exchange.call_ids),
        "outcome": exchange.outcome.value,
        "final_status": final.status if final is not None else None,
        "challenged": exchange.challenged,
        "challenge_cycles": exchange.challenge_cycles,
        "frames": exchange.frames,
        "attempts": [_attempt(a, run, show_secrets) for a in exchange.attempts],
    }


def _name(peers: PeerNames, endpoint: Endpoint | None) -> str | None:
    return peers.name_of(endpoint.ip, endpoint.port) if endpoint is not None else None


def finding_record(finding: Finding, run: RunReport, peers: PeerNames) -> dict[str, Any]:
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "run": run.label,
        "frames": list(finding.frames),
        "call_ids": list(finding.call_ids),
        "client": endpoint_text(finding.client),
        "server": endpoint_text(finding.server),
        "client_name": _name(peers, finding.client),
        "server_name": _name(peers, finding.server),
        "exchange_ids": list(finding.exchange_ids),
        "evidence": [
            {
                "frame": e.frame,
                "file": e.file,
                "time": _time(e.time),
                "call_id": e.call_id,
                "summary": e.summary,
                "excerpt": e.excerpt,
            }
            for e in finding.evidence
        ],
        "display_filter": finding.display_filter,
        "fingerprint": finding.fingerprint,
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None else None


def metrics_record(metrics: Metrics) -> dict[str, Any]:
    latencies = metrics.challenge_to_retry_ms
    attempts = [float(a) for a in metrics.attempts_until_success]
    return {
        "requests": metrics.requests,
        "challenged": metrics.challenged,
        "succeeded_after_auth": metrics.succeeded_after_auth,
        "failed": metrics.failed,
        "challenges_401": metrics.challenges_401,
        "challenges_407": metrics.challenges_407,
        "successes_2xx": metrics.successes_2xx,
        "challenge_ratio": _round(challenge_ratio(metrics)),
        "auth_failures_per_hour": _round(metrics.auth_failures_per_hour),
        "attempts_until_success": {
            "median": median(attempts),
            "max": max(metrics.attempts_until_success, default=None),
        },
        "challenge_to_retry_ms": {
            "count": len(latencies),
            "median": _round(median(latencies)),
            "p95": _round(percentile(latencies, 0.95)),
        },
        "nonce_lifetime_s": _round(metrics.nonce_lifetime_s),
        "algorithms_offered": dict(sorted(metrics.algorithms_offered.items())),
        "algorithms_used": dict(sorted(metrics.algorithms_used.items())),
        "qop_offered": dict(sorted(metrics.qop_offered.items())),
        "qop_used": dict(sorted(metrics.qop_used.items())),
    }


def _pair_record(run: RunReport, pair: PeerPair, metrics: Metrics,
                 peers: PeerNames) -> dict[str, Any]:
    return {
        "run": run.label,
        "client": pair.client,
        "server": pair.server,
        "client_name": peers.name_of(pair.client),
        "server_name": peers.name_of(pair.server),
        **metrics_record(metrics),
    }


def weak_password_record(hit: WeakPasswordHit, run: RunReport,
                         show_secrets: bool) -> dict[str, Any]:
    return {
        "run": run.label,
        "file": hit.file,
        "frame": hit.frame,
        "method": hit.method,
        "username": hit.username,
        "realm": hit.realm,
        "status": hit.status,
        "accepted": hit.accepted,
        "exchange_id": hit.exchange_id,
        # The pipeline fills the password in only with --show-secrets; check again here.
        "password": hit.password if show_secrets else None,
    }


def note_record(note: Note) -> dict[str, Any]:
    return {
        "level": note.level.value,
        "kind": note.kind,
        "detail": note.detail,
        "frames": list(note.frames),
        "file": note.file,
    }


def build_document(report: ReportInput) -> dict[str, Any]:
    """The whole report as plain JSON-serialisable data."""
    document = _document(report)
    document["exchanges"] = list(document["exchanges"])
    return document


def _document(report: ReportInput) -> dict[str, Any]:
    """The document with ``"exchanges"`` left as a generator of records, built as it is read.

    The exchanges are the bulk of an auth storm's report (one record per exchange, ~2 KB each
    as Python objects). ``render`` encodes each record and drops it, so the report never holds
    them all: building them all first held ~200 MB more on a 200,000-message storm, and every
    young-generation GC pass while building (the collector runs during rendering) re-walked
    the growing list, which made rendering superlinear.
    """
    codes = rules_by_code()
    seen_codes = sorted({f.code for f in [*report.findings, *report.known]})
    rules: dict[str, Any] = {}
    for code in seen_codes:
        rule = codes.get(code)
        if rule is None:
            continue
        meta = rule.META
        rules[code] = {
            "name": meta.name,
            "severity": meta.severity.value,
            "summary": meta.summary,
            "remediation": meta.remediation,
            "references": list(meta.references),
        }
    failing = report.failing()
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "sipauth", "version": report.version},
        "verdict": verdict(report),
        "summary": {
            "exchanges": len(report.exchanges),
            "exchanges_unlisted": report.unlisted_exchanges,
            "exchanges_undiagnosed": report.undiagnosed_exchanges,
            "findings": {s.value: n for s, n in report.severity_counts().items()},
            "baseline_suppressed": len(report.known),
            "fail_on": report.fail_on.value if report.fail_on is not None else "never",
            "failing": len(failing),
            "exit_code": 1 if failing else 0,
            "text": counts_line(report),
        },
        "mode": "per-file" if report.per_file else "timeline",
        "filters": report.filters.describe(),
        "baseline": report.baseline,
        "capture": _merged_summary(report),
        "runs": [
            {"label": run.label, "capture": capture_summary(run.result.stats, run.result.sources)}
            for run in report.runs
        ],
        "exchanges": (
            exchange_record(e, run, report.peers, report.show_secrets)
            for run in report.runs
            for e in run.exchanges
        ),
        "findings": [finding_record(f, run, report.peers) for run in report.runs
                     for f in run.findings],
        "baseline_suppressed": [
            finding_record(f, run, report.peers) for run in report.runs for f in run.known
        ],
        "rules": rules,
        "metrics": {
            "pairs": [_pair_record(run, p, m, report.peers) for run, p, m in report.pairs()],
            "overall": metrics_record(report.overall()),
        },
        "weak_passwords": [
            weak_password_record(hit, run, report.show_secrets)
            for run in report.runs
            for hit in run.result.weak_passwords
        ],
        "notes": [note_record(n) for n in report.notes],
    }


def render(report: ReportInput, out: TextIO, style: Style) -> None:
    """The document, one top-level key per line and one list item (exchange, finding, note…)
    per line.

    ``json.dump(indent=...)`` runs Python's pure-Python encoder: on an auth storm it took
    longer than the analysis itself. Encoding each item with the C encoder (no indent) is 4-5×
    faster, and an item per line still diffs and greps well.
    """
    document = _document(report)
    out.write("{\n")
    last = len(document) - 1
    for index, (key, value) in enumerate(document.items()):
        out.write(f"  {_compact(key)}: ")
        if isinstance(value, (list, GeneratorType)):
            _write_items(value, out)
        else:
            out.write(_compact(value))
        out.write(",\n" if index < last else "\n")
    out.write("}\n")


def _write_items(items: Iterable[Any], out: TextIO) -> None:
    """A list, one item per line (``[]`` when empty), encoding each item as it comes."""
    empty = True
    for item in items:
        out.write("[\n    " if empty else ",\n    ")
        out.write(_compact(item))
        empty = False
    out.write("[]" if empty else "\n  ]")


# check_circular off: every item is a tree freshly built by this module, and the check's
# bookkeeping per container was ~10 % of encoding an auth storm's 70 MB of exchanges.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False)


def _compact(value: Any) -> str:
    return _ENCODER.encode(value)
