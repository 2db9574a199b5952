"""Shared rule facts: the observed nonce lifetime is the metric's definition, not a second one."""

from __future__ import annotations

import pytest

from sipauth_analyzer.correlate import CorrelateOptions, correlate
from sipauth_analyzer.rules.base import RuleContext
from sipauth_analyzer.rules.facts import nonce_lifetimes
from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials


def test_nonce_lifetime_counts_only_2xx_and_matches_the_metric() -> None:
    flow = Flow()
    r = flow.request("REGISTER", at=0.0)
    flow.response(r, 401, challenge=digest_challenge("n1"), at=0.1)
    r = flow.request(
        "REGISTER", cseq=2, branch="z9hG4bK-2", auth=digest_credentials("n1"), at=0.35
    )
    flow.response(r, 200, at=0.4)
    # A minute later the server refuses n1: that 403 proves nothing was still accepted.
    r = flow.request(
        "REGISTER", cseq=3, branch="z9hG4bK-3", auth=digest_credentials("n1"), at=60.0
    )
    flow.response(r, 403, at=60.1)
    correlation = correlate(flow.messages, CorrelateOptions())
    rules_view = nonce_lifetimes(RuleContext(correlation))
    assert rules_view == {"10.0.0.2": pytest.approx(0.25)}  # 401 at 0.1 → accepted use at 0.35
    assert correlation.overall.nonce_lifetime_s == pytest.approx(rules_view["10.0.0.2"])


def test_no_accepted_nonce_means_no_lifetime() -> None:
    flow = Flow()
    r = flow.request("REGISTER", at=0.0)
    flow.response(r, 401, challenge=digest_challenge("n1"), at=0.1)
    r = flow.request("REGISTER", cseq=2, branch="z9hG4bK-2", auth=digest_credentials("n1"))
    flow.response(r, 403)
    correlation = correlate(flow.messages, CorrelateOptions())
    assert nonce_lifetimes(RuleContext(correlation)) == {}
    assert correlation.overall.nonce_lifetime_s is None
