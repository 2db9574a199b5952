"""Every registered rule is complete, uniquely identified and documented."""

from __future__ import annotations

import re

from sipauth_analyzer.rules.base import Severity
from sipauth_analyzer.rules.registry import ALL_RULES, rule_by_code


def test_codes_and_names_are_unique() -> None:
    codes = [r.META.code for r in ALL_RULES]
    names = [r.META.name for r in ALL_RULES]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    assert codes == sorted(codes)


def test_every_rule_is_documented() -> None:
    for rule in ALL_RULES:
        meta = rule.META
        assert re.fullmatch(r"SA[1-6]\d\d", meta.code), meta.code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", meta.name), meta.name
        assert isinstance(meta.severity, Severity)
        assert meta.summary.strip() and "\n" not in meta.summary
        assert meta.explanation.strip()
        assert meta.remediation.strip()
        assert meta.references and all(ref.startswith("RFC ") for ref in meta.references)
        doc = rule.__doc__ or ""
        assert doc.startswith(f"{meta.code} {meta.name} — "), meta.code
        assert "What it checks" in doc and "How to fix" in doc, meta.code


def test_module_file_names_follow_the_code_and_name() -> None:
    for rule in ALL_RULES:
        module = getattr(rule, "__name__", "")
        expected = f"{rule.META.code.lower()}_{rule.META.name.replace('-', '_')}"
        assert module.rsplit(".", 1)[-1] == expected


def test_rule_by_code_accepts_codes_and_names() -> None:
    assert rule_by_code("sa101") is rule_by_code("realm-mismatch") is ALL_RULES[0]
    assert rule_by_code("SA999") is None
