"""``--format junit``: JUnit XML for CI test dashboards (Jenkins, GitLab, GitHub test reporters).

One ``<testsuite>`` per capture (per run: the whole timeline, or each file with ``--per-file``)
and one ``<testcase>`` per selected rule in it. A test case fails when the rule produced a
finding at or above ``--fail-on``; findings below it are listed in ``<system-out>``. Each suite
also has a ``capture read`` case (carrying the capture notes), so even a run with no rule
selected has one passing case — some CI tools reject a report with no test cases at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import TextIO

from sipauth_analyzer.report.formats import Style
from sipauth_analyzer.report.view import ReportInput, RunReport
from sipauth_analyzer.rules.base import Finding
from sipauth_analyzer.rules.engine import selected_rules


def _finding_text(finding: Finding, report: ReportInput) -> str:
    lines = [
        f"{finding.code} {finding.name} ({finding.severity.value}): {finding.message}",
        f"  {report.peers.endpoint(finding.client)} -> {report.peers.endpoint(finding.server)}",
        f"  frames: {', '.join(str(f) for f in finding.frames)}",
        f"  Call-IDs: {', '.join(finding.call_ids)}",
        f"  Wireshark display filter: {finding.display_filter}",
        f"  fingerprint: {finding.fingerprint}",
    ]
    for item in finding.evidence:
        lines.append(f"  frame {item.frame}: {item.summary}")
        if item.excerpt:
            lines.append(f"    {item.excerpt}")
    return "\n".join(lines)


def _suite_name(run: RunReport) -> str:
    if run.label is not None:
        return run.label
    files = run.result.stats.files or run.result.sources
    return " + ".join(files) if files else "sipauth"


def _xml_safe(text: str) -> str:
    # XML 1.0 forbids most control characters even as references; captures can contain them.
    return "".join(
        ch if ch in "\t\n\r" or (" " <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\ufffd")
        or ch >= "\U00010000" else f"\\x{ord(ch):02x}"
        for ch in text
    )


def _by_code(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.code, []).append(finding)
    return grouped


def build_tree(report: ReportInput) -> ET.Element:
    options = report.runs[0].result.options if report.runs else None
    rules = selected_rules(options.select if options else None, options.ignore if options else ())
    root = ET.Element("testsuites", name="sipauth")
    total_tests = total_failures = 0
    for run in report.runs:
        suite_name = _suite_name(run)
        suite = ET.SubElement(root, "testsuite", name=_xml_safe(suite_name))
        tests = failures = 0
        findings_by_code = _by_code(run.findings)
        known_by_code = _by_code(run.known)
        read_case = ET.SubElement(suite, "testcase", classname=_xml_safe(suite_name),
                                  name="capture read")
        tests += 1
        if run.notes:
            out = ET.SubElement(read_case, "system-out")
            out.text = _xml_safe("\n".join(
                f"{n.level.value}: {n.kind}: {n.detail}" for n in run.notes
            ))
        for rule in rules:
            meta = rule.META
            case = ET.SubElement(suite, "testcase", classname=_xml_safe(suite_name),
                                 name=f"{meta.code} {meta.name}")
            tests += 1
            # One pass partitions by each finding's own severity (today always its rule's), where
            # `f not in failing` compared dataclasses pairwise: quadratic on a storm.
            failing: list[Finding] = []
            passing: list[Finding] = []
            for finding in findings_by_code.get(meta.code, ()):
                at_threshold = report.fail_on is not None and finding.severity >= report.fail_on
                (failing if at_threshold else passing).append(finding)
            if failing:
                failures += 1
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=_xml_safe(
                        f"{len(failing)} finding{'s' if len(failing) != 1 else ''}: "
                        f"{failing[0].message}"
                    ),
                    type=f"{meta.code} {meta.severity.value}",
                )
                failure.text = _xml_safe("\n\n".join(_finding_text(f, report) for f in failing))
            known = known_by_code.get(meta.code, [])
            if passing or known:
                out = ET.SubElement(case, "system-out")
                texts = [_finding_text(f, report) for f in passing]
                texts += [f"known (baseline): {_finding_text(f, report)}" for f in known]
                out.text = _xml_safe("\n\n".join(texts))
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total_tests += tests
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    return root


def render(report: ReportInput, out: TextIO, style: Style) -> None:
    tree = build_tree(report)
    ET.indent(tree, space="  ")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(tree, encoding="unicode"))
    out.write("\n")
