"""Shared rule facts: the observed nonce lifetime is the metric's definition, not a second one."""

from __future__ import annotations

import pytest

from sipauth_analyzer.correlate import CorrelateOptions, correlate
from sipauth_analyzer.correlate.metrics import NonceLifetimes
from sipauth_analyzer.pipeline import analyze
from sipauth_analyzer.rules.base import RuleContext
from sipauth_analyzer.rules.facts import nonce_lifetimes
from tests.conftest import (
    every_capture,
)
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


def test_nonce_lifetimes_skip_only_captures_where_no_credentials_were_accepted() -> None:
    """The shortcut for captures without an accepted credential (an auth storm) changes no
    answer: every capture we have, and a flow accepted with 202, against NonceLifetimes over
    every transaction."""
    flow = Flow()
    r = flow.request("SUBSCRIBE", at=0.0)
    flow.response(r, 407, challenge=digest_challenge("n9"), at=0.1)
    r = flow.request("SUBSCRIBE", cseq=2, branch="z9hG4bK-2", auth=digest_credentials("n9"),
                     at=0.6)
    flow.response(r, 202, at=0.7)
    correlations = [correlate(flow.messages, CorrelateOptions())]
    correlations += [analyze([str(path)]).correlation for path in every_capture()]
    shortcut_taken = 0
    for correlation in correlations:
        reference = NonceLifetimes()
        for transaction in correlation.transactions:
            reference.add(transaction)
        expected = reference.longest_by_server()
        assert nonce_lifetimes(RuleContext(correlation)) == expected
        shortcut_taken += not any(
            t.final is not None and t.final.status is not None and 200 <= t.final.status < 300
            and t.request.credentials for t in correlation.transactions
        )
    assert nonce_lifetimes(RuleContext(correlations[0])) == {"10.0.0.2": pytest.approx(0.5)}
    assert 0 < shortcut_taken < len(correlations)
