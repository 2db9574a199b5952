"""``--format json``: the versioned machine-readable report (schema in docs/json-schema.md).

``SCHEMA_VERSION`` changes only when a field is removed or changes meaning; adding a field does
not change it. The output is always one valid JSON object, with ``"findings": []`` when clean.
The digest ``response`` and ``cnonce`` are replaced by ``"…redacted…"`` unless ``--show-secrets``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
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
from sipauth_analyzer.verify.model import Verifications, WeakPasswordHit

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


# -- exchanges, written as JSON text directly -------------------------------------------------
# The exchanges are nearly all of an auth storm's report (72 MB for the 200,000-message bench
# storm), written after the analysis, on one core. Each record used to be built as dicts and
# lists and then encoded, and about half of that time was the encoder walking what had just
# been built. Writing the text directly, the whole report of that storm renders in 1.42-1.75 s
# against 2.03-3.11 s (best of six renders, two processes each, taking turns). The text is
# exactly what _ENCODER writes for the same record (key order, separators, string escapes,
# number spellings): tests/report/test_json_exchanges.py compares the two on every capture we
# have. ``build_document`` reads the text back.

_quote = json.encoder.encode_basestring  # _ENCODER's string encoder (ensure_ascii=False)
_REDACTED_JSON = _quote(REDACTED)


def _json_str(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _json_int(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


def _json_time(epoch: float | None) -> str:
    """``_time(epoch)`` as the encoder writes it."""
    value = _time(epoch)
    if value is None:
        return "null"
    if not math.isfinite(value):  # the encoder's spellings
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json_secret(value: str | None, show: bool, redacted_json: str = _REDACTED_JSON) -> str:
    if value is None:
        return "null"
    return _quote(value) if show else redacted_json


def _challenges_json(message: SipMessage | None) -> str:
    if message is None:
        return "[]"
    # str(member) rather than .value (an enum property, several times slower) for the
    # StrEnums below: once per attempt of every exchange, ~90,000 times on an auth storm.
    return "[" + ", ".join([
        f'{{"header": {_quote(str(c.header))}, "scheme": {_quote(c.scheme)}, '
        f'"realm": {_json_str(c.realm)}, "nonce": {_json_str(c.nonce)}, '
        f'"algorithm": {_json_str(c.algorithm)}, '
        f'"qop": [{", ".join([_quote(q) for q in c.qop_options])}], '
        f'"opaque": {"false" if c.opaque is None else "true"}, '
        f'"stale": {"true" if c.stale else "false"}}}'
        for c in message.challenges
    ]) + "]"


def _credentials_json(message: SipMessage, show_secrets: bool,
                      redacted_json: str = _REDACTED_JSON) -> str:
    return "[" + ", ".join([
        f'{{"header": {_quote(str(c.header))}, "scheme": {_quote(c.scheme)}, '
        f'"username": {_json_str(c.username)}, "realm": {_json_str(c.realm)}, '
        f'"nonce": {_json_str(c.nonce)}, "uri": {_json_str(c.uri)}, '
        f'"algorithm": {_json_str(c.algorithm)}, "qop": {_json_str(c.qop)}, '
        f'"nc": {_json_str(c.nc)}, '
        f'"response": {_json_secret(c.response, show_secrets, redacted_json)}, '
        f'"cnonce": {_json_secret(c.cnonce, show_secrets, redacted_json)}}}'
        for c in message.credentials
    ]) + "]"


def _attempt_json(attempt: Transaction, verifications: Verifications, show_secrets: bool,
                  redacted_json: str = _REDACTED_JSON) -> str:
    request = attempt.request
    source = request.source
    final = attempt.final
    verification = verifications.get((source.file, source.frame)) if verifications else None
    retransmissions = ", ".join([int.__repr__(m.source.frame) for m in attempt.retransmissions])
    responses = ", ".join([
        f'{{"frame": {int.__repr__(r.source.frame)}, "time": {_json_time(r.source.time)}, '
        f'"status": {_json_int(r.status)}}}'
        for r in attempt.responses
    ])
    challenge = final if final is not None and final.status in (401, 407) else None
    return (
        f'{{"frame": {int.__repr__(source.frame)}, "file": {_quote(source.file)}, '
        f'"time": {_json_time(source.time)}, "cseq": {_json_int(request.cseq_number)}, '
        f'"transport": {_quote(str(source.transport))}, '
        f'"size": {int.__repr__(source.wire_size)}, '
        f'"retransmission_frames": [{retransmissions}], "responses": [{responses}], '
        f'"final_status": {_json_int(final.status if final is not None else None)}, '
        f'"challenges": {_challenges_json(challenge)}, '
        f'"credentials": {_credentials_json(request, show_secrets, redacted_json)}, '
        # With --credentials: the verdict on this request's digest response.
        f'"verification": '
        f'{"null" if verification is None else _compact(verification.as_json())}}}'
    )


AttemptsJson = Callable[[Sequence[Transaction], bool, str], str]


def python_attempts_json(attempts: Sequence[Transaction], show_secrets: bool,
                         redacted_json: str) -> str:
    """An exchange's attempt records, without verifications: the reference for the C version
    (report/_jsontext.c), which writes the same text: the 87,502 records of the 200 k bench
    storm in 0.25-0.26 s against 0.77-0.79 s here (three interleaved rounds). What is left there
    is mostly reading the attributes of objects spread over 300 MB."""
    return ", ".join([_attempt_json(a, {}, show_secrets, redacted_json) for a in attempts])


attempts_json: AttemptsJson
try:
    from sipauth_analyzer.report._jsontext import attempts_json
except ImportError:  # pragma: no cover - built without a C compiler (setup.py)
    attempts_json = python_attempts_json


def exchange_json(
    exchange: AuthExchange, run: RunReport, peers: PeerNames, show_secrets: bool
) -> str:
    """One exchange of the ``"exchanges"`` list, as JSON text (see above)."""
    final = exchange.final
    client, server = exchange.client, exchange.server
    # Both AuthExchange properties walk the attempts and their responses: one walk gives both.
    cycles = exchange.challenge_cycles
    verifications = run.result.verifications
    if verifications:  # with --credentials: a record may carry a verification (Python only)
        attempts = ", ".join(
            [_attempt_json(a, verifications, show_secrets) for a in exchange.attempts]
        )
    else:
        attempts = attempts_json(exchange.attempts, show_secrets, _REDACTED_JSON)
    return (
        f'{{"id": {int.__repr__(exchange.id)}, "run": {_json_str(run.label)}, '
        f'"method": {_quote(exchange.method)}, '
        f'"client": {_quote(str(client))}, "server": {_quote(str(server))}, '
        f'"client_name": {_json_str(peers.name_of(client.ip, client.port))}, '
        f'"server_name": {_json_str(peers.name_of(server.ip, server.port))}, '
        f'"call_ids": [{", ".join([_quote(c) for c in exchange.call_ids])}], '
        f'"outcome": {_quote(str(exchange.outcome))}, '
        f'"final_status": {_json_int(final.status if final is not None else None)}, '
        f'"challenged": {"true" if cycles else "false"}, '
        f'"challenge_cycles": {int.__repr__(cycles)}, '
        f'"frames": [{", ".join([int.__repr__(f) for f in exchange.frames])}], '
        f'"attempts": [{attempts}]}}'
    )


class _Encoded(str):
    """A value already written as JSON text: ``render`` writes it as it is."""

    __slots__ = ()


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
    document["exchanges"] = [json.loads(text) for text in document["exchanges"]]
    return document


def _document(report: ReportInput) -> dict[str, Any]:
    """The document with ``"exchanges"`` left as a generator of each exchange's JSON text,
    made as it is read.

    The exchanges are the bulk of an auth storm's report (~3.5 KB of JSON each). ``render``
    writes each text and drops it, so the report never holds them all: building every record
    first held ~200 MB more on a 200,000-message storm, and every young-generation GC pass
    while building (the collector runs during rendering) re-walked the growing list, which
    made rendering superlinear.
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
            _Encoded(exchange_json(e, run, report.peers, report.show_secrets))
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
        out.write(item if isinstance(item, _Encoded) else _compact(item))
        empty = False
    out.write("[]" if empty else "\n  ]")


# check_circular off: every item is a tree freshly built by this module, and the check's
# bookkeeping per container was ~10 % of encoding an auth storm's 70 MB of exchanges.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False)


def _compact(value: Any) -> str:
    return _ENCODER.encode(value)
