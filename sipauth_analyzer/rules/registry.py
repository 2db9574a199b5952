"""ALL_RULES: every rule, in code order, as one explicit tuple (no discovery magic).

Add a rule by writing ``saNNN_<name>.py`` and listing it here; codes are never reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from sipauth_analyzer.rules import (
    sa101_realm_mismatch,
    sa102_algorithm_mismatch,
    sa103_algorithm_downgrade,
    sa104_qop_ignored,
    sa105_qop_incomplete,
    sa110_password_mismatch,
    sa111_password_near_miss,
    sa112_auth_username_mismatch,
    sa113_server_credentials_differ,
    sa201_stale_nonce,
    sa202_stale_nonce_recovered,
    sa203_nonce_count_reused,
    sa301_auth_loop,
    sa302_challenge_ignored,
    sa303_credentials_rejected,
    sa304_challenge_storm,
    sa305_inbound_auth_divergence,
    sa401_udp_oversize,
    sa402_fragmented_auth_request,
    sa403_ghost_retry,
    sa404_incomplete_reassembly,
    sa501_challenge_header_mismatch,
    sa502_credentials_header_mismatch,
    sa503_register_407_unanswered,
    sa504_partial_challenge_answer,
    sa505_ack_or_cancel_challenged,
    sa506_basic_auth,
    sa507_opaque_not_echoed,
    sa508_digest_uri_mismatch,
    sa509_retry_branch_reused,
    sa510_retry_cseq_not_incremented,
    sa511_ack_credentials_missing,
    sa601_brute_force,
    sa602_scanner_user_agent,
    sa603_weak_password,
)
from sipauth_analyzer.rules.base import Finding, RuleContext, RuleMeta


class Rule(Protocol):
    """What a rule module provides."""

    @property
    def META(self) -> RuleMeta: ...

    @property
    def check(self) -> Callable[[RuleContext], Iterator[Finding]]: ...


ALL_RULES: tuple[Rule, ...] = (
    sa101_realm_mismatch,
    sa102_algorithm_mismatch,
    sa103_algorithm_downgrade,
    sa104_qop_ignored,
    sa105_qop_incomplete,
    sa110_password_mismatch,
    sa111_password_near_miss,
    sa112_auth_username_mismatch,
    sa113_server_credentials_differ,
    sa201_stale_nonce,
    sa202_stale_nonce_recovered,
    sa203_nonce_count_reused,
    sa301_auth_loop,
    sa302_challenge_ignored,
    sa303_credentials_rejected,
    sa304_challenge_storm,
    sa305_inbound_auth_divergence,
    sa401_udp_oversize,
    sa402_fragmented_auth_request,
    sa403_ghost_retry,
    sa404_incomplete_reassembly,
    sa501_challenge_header_mismatch,
    sa502_credentials_header_mismatch,
    sa503_register_407_unanswered,
    sa504_partial_challenge_answer,
    sa505_ack_or_cancel_challenged,
    sa506_basic_auth,
    sa507_opaque_not_echoed,
    sa508_digest_uri_mismatch,
    sa509_retry_branch_reused,
    sa510_retry_cseq_not_incremented,
    sa511_ack_credentials_missing,
    sa601_brute_force,
    sa602_scanner_user_agent,
    sa603_weak_password,
)


def rule_by_code(code_or_name: str) -> Rule | None:
    """The rule with this code (case-insensitive) or name, for ``sipauth explain``."""
    wanted = code_or_name.strip()
    for rule in ALL_RULES:
        if rule.META.code.upper() == wanted.upper() or rule.META.name == wanted.lower():
            return rule
    return None
