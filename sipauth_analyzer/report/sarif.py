"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

``tool.driver.rules`` is the whole registry (id = code, name, short/full description, help with
the remediation). Each finding is a result whose level comes from its severity, located in the
capture file it came from (``region.startLine`` 1, because GitHub requires a line and a capture
has none; the Wireshark frame numbers and display filter are in ``properties`` and in the
message). ``partialFingerprints`` carries the finding fingerprint, which holds no frame numbers
or times, so the same problem on the same trunk is the same alert from one capture to the next.
With ``--baseline``, results carry ``baselineState`` ``new`` or ``unchanged``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from typing import Any, TextIO

from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.view import ReportInput, RunReport
from sipauth_analyzer.rules.base import Finding, Severity
from sipauth_analyzer.rules.registry import ALL_RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_uri(path: str) -> str:
    """A relative, forward-slash URI when the capture is under the current directory.

    Code scanning matches alerts across runs by path, so an absolute path from a CI runner's
    temporary checkout would make every run's alerts new.
    """
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(Path.cwd())
        except ValueError:
            return candidate.as_uri()
    return PurePath(os.path.normpath(candidate)).as_posix()


def driver_rules() -> list[dict[str, Any]]:
    rules = []
    for rule in ALL_RULES:
        meta = rule.META
        references = "".join(f"\n- {ref}" for ref in meta.references)
        help_text = f"{meta.remediation}\n\nReferences:{references}" if references \
            else meta.remediation
        rules.append(
            {
                "id": meta.code,
                "name": meta.name,
                "shortDescription": {"text": meta.summary},
                "fullDescription": {"text": meta.explanation},
                "help": {
                    "text": help_text,
                    "markdown": f"**How to fix:** {meta.remediation}"
                    + (f"\n\n**References:** {', '.join(meta.references)}"
                       if meta.references else ""),
                },
                "defaultConfiguration": {"level": _LEVEL[meta.severity]},
                "properties": {"tags": ["sip", "digest-auth", meta.code[:3] + "xx"]},
            }
        )
    return rules


def _result(finding: Finding, run: RunReport, report: ReportInput, rule_index: dict[str, int],
            baseline_state: str | None) -> dict[str, Any]:
    files = sorted({e.file for e in finding.evidence}) or list(
        run.result.stats.files or run.result.sources
    )
    where = f"{report.peers.endpoint(finding.client)} → {report.peers.endpoint(finding.server)}"
    frames = ", ".join(str(f) for f in finding.frames[:20])
    text = (
        f"{finding.message} ({where}; frames {frames}"
        f"{' …' if len(finding.frames) > 20 else ''}). "
        f"Wireshark display filter: {finding.display_filter}"
    )
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": _LEVEL[finding.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(path)},
                    "region": {"startLine": 1},
                },
                "logicalLocations": [
                    {
                        "name": finding.call_ids[0] if finding.call_ids else where,
                        "fullyQualifiedName": where,
                        "kind": "sip-call" if finding.call_ids else "sip-peer-pair",
                    }
                ],
            }
            for path in files[:1]
        ],
        "partialFingerprints": {"sipauthFingerprint/v1": finding.fingerprint},
        "properties": {
            "frames": list(finding.frames),
            "call_ids": list(finding.call_ids),
            "client": str(finding.client) if finding.client else None,
            "server": str(finding.server) if finding.server else None,
            "display_filter": finding.display_filter,
            "evidence": [
                {"frame": e.frame, "summary": e.summary, "excerpt": e.excerpt}
                for e in finding.evidence
            ],
        },
    }
    if finding.code in rule_index:
        result["ruleIndex"] = rule_index[finding.code]
    if baseline_state is not None:
        result["baselineState"] = baseline_state
    return result


def build_log(report: ReportInput) -> dict[str, Any]:
    rules = driver_rules()
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    with_baseline = report.baseline is not None
    results = []
    for run in report.runs:
        for finding in run.findings:
            results.append(_result(finding, run, report, rule_index,
                                   "new" if with_baseline else None))
        for finding in run.known:
            results.append(_result(finding, run, report, rule_index, "unchanged"))
    artifacts = [{"location": {"uri": artifact_uri(path)}} for path in report.sources]
    notifications = [
        {
            "level": "error" if note.level.value == "error" else "warning"
            if note.level.value == "warning" else "note",
            "message": {"text": f"{note.kind}: {note.detail}"},
        }
        for note in report.notes
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sipauth",
                        "version": report.version,
                        "rules": rules,
                    }
                },
                "artifacts": artifacts,
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
            }
        ],
    }


def render(report: ReportInput, out: TextIO, style: Style) -> None:
    json.dump(build_log(report), out, indent=2, ensure_ascii=False)
    out.write("\n")
