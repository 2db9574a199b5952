"""Rules stage: auth exchanges → findings, one small module per rule (ruff-style).

Public interface::

    run_rules(correlation, options, select=None, ignore=None) -> list[Finding]   (engine.py)
    ALL_RULES, rule_by_code(code)                                               (registry.py)
    Severity, RuleMeta, Finding, Evidence, RuleOptions, RuleContext              (base.py)

Codes are grouped by hundreds and never reused: 1xx challenge/credential consistency, 2xx
nonce lifecycle, 3xx flow, loops and outcomes, 4xx transport, 5xx header semantics and
protocol, 6xx security. Each rule module's docstring is its long documentation
(``sipauth explain CODE``).
"""
