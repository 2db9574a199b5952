"""The rule engine: run the selected rules over one Correlation and order their findings.

Selection is ruff-like: ``select`` / ``ignore`` take codes ("SA101"), code prefixes ("SA1",
"SA") or names ("realm-mismatch"). A rule that fails on input it did not foresee is a bug,
but must not lose the other rules' findings: its exception becomes a Note (kind
``rule-failed``) and the run goes on. A rule is stopped once it has given
``max_findings_per_rule`` findings and has another (a ``rule-findings-limited`` note says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sipauth_analyzer.correlate.model import Correlation
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta, RuleOptions
from sipauth_analyzer.rules.registry import ALL_RULES, Rule


def _matches(meta: RuleMeta, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        text = pattern.strip()
        if not text:
            continue
        if text.lower() == meta.name or meta.code.upper().startswith(text.upper()):
            return True
    return False


def selected_rules(
    select: Sequence[str] | None = None, ignore: Sequence[str] | None = None
) -> list[Rule]:
    """The rules ``select`` keeps (all when None) minus those ``ignore`` names."""
    rules = [r for r in ALL_RULES if select is None or _matches(r.META, select)]
    if ignore:
        rules = [r for r in rules if not _matches(r.META, ignore)]
    return rules


def sort_key(finding: Finding) -> tuple[int, int, str, str]:
    """Errors first, then by first frame, then code — a stable, readable order."""
    return (-finding.severity.rank, finding.first_frame, finding.code, finding.fingerprint)


def run_rules(
    correlation: Correlation,
    options: RuleOptions | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    *,
    redact: bool = True,
    notes: NoteSink | None = None,
    cache: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Run every selected rule once over ``correlation``; findings sorted by :func:`sort_key`.

    ``cache`` seeds ``RuleContext.cache`` with what earlier stages computed for the rules (the
    verify stage's verdicts), so every rule runs exactly once.
    """
    ctx = RuleContext(correlation, options or RuleOptions(), redact)
    if cache:
        ctx.cache.update(cache)
    limit = ctx.options.max_findings_per_rule
    findings: list[Finding] = []
    for rule in selected_rules(select, ignore):
        emitted = 0
        limited = False
        try:
            for finding in rule.check(ctx):
                if emitted >= limit:
                    # Stop pulling: counting what the cap drops would mean building every
                    # dropped finding. Rules give one finding per client, server and
                    # fingerprint keys (base.PeerGroups), so only traffic with ever-new keys
                    # (a realm or username per request) reaches the cap; before that grouping,
                    # a challenge flood made SA302 build ~80,000 findings to keep 1,000
                    # (0.48 s per 20,000 against 0.06 s stopping here). The volume is in the
                    # metrics (challenged / failed), so the note says only that there are more.
                    limited = True
                    break
                findings.append(finding)
                emitted += 1
        except Exception as error:  # a rule bug must not hide the other rules' findings
            if notes is not None:
                notes.add(
                    Note(
                        kind="rule-failed",
                        detail=f"{rule.META.code} {rule.META.name} stopped: "
                        f"{type(error).__name__}: {error}",
                        level=NoteLevel.ERROR,
                    )
                )
        if limited and notes is not None:
            notes.add(
                Note(
                    kind="rule-findings-limited",
                    detail=f"{rule.META.code} {rule.META.name}: stopped after {limit} findings "
                    f"(max_findings_per_rule={limit}); more were not shown or counted — the "
                    "metrics give the volume",
                    level=NoteLevel.WARNING,
                )
            )
    findings.sort(key=sort_key)
    return findings
