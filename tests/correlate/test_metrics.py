"""Per-trunk and overall auth metrics, with every number worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.correlate import CorrelateOptions, Outcome, PeerPair, correlate, metrics
from sipauth_analyzer.correlate.metrics import is_auth_failure
from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.pipeline import read_sip
from tests.conftest import CAPTURES_DIR, REAL_PCAPS_DIR, SAMPLE_PCAPS_DIR, capture_files
from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials

A, B, SERVER = "10.0.0.1:5060", "10.0.0.5:5060", "10.0.0.2:5060"


def build() -> Flow:
    flow = Flow()
    # Pair A, exchange 1: 401 → credentials 250 ms later → 200.
    r = flow.request("REGISTER", src=A, dst=SERVER, call_id="r1", branch="z9hG4bK-11", at=0.0)
    flow.response(r, 401, challenge=digest_challenge("n1", extra=', qop="auth"'), at=0.1)
    r = flow.request(
        "REGISTER",
        src=A,
        dst=SERVER,
        call_id="r1",
        cseq=2,
        branch="z9hG4bK-12",
        at=0.35,
        auth=digest_credentials("n1", extra=', algorithm=MD5, qop=auth, nc=00000001, cnonce="c"'),
    )
    flow.response(r, 200, at=0.4)
    # Pair A, exchange 2: a refresh reusing nonce n1 a minute later, accepted.
    r = flow.request(
        "REGISTER",
        src=A,
        dst=SERVER,
        call_id="r1",
        cseq=3,
        branch="z9hG4bK-13",
        at=60.0,
        auth=digest_credentials("n1"),
    )
    flow.response(r, 200, at=60.1)
    # Pair A, exchange 3: 407 (SHA-256) → Proxy-Authorization 500 ms later → 403.
    r = flow.request("INVITE", src=A, dst=SERVER, call_id="i1", branch="z9hG4bK-31", at=100.0)
    flow.response(
        r,
        407,
        at=100.1,
        challenge=digest_challenge("n3", extra=', algorithm=SHA-256, qop="auth,auth-int"'),
    )
    r = flow.request(
        "INVITE",
        src=A,
        dst=SERVER,
        call_id="i1",
        cseq=2,
        branch="z9hG4bK-32",
        at=100.6,
        auth=digest_credentials("n3", extra=", algorithm=SHA-256, qop=auth"),
        auth_header="Proxy-Authorization",
    )
    flow.response(r, 403, at=100.7)
    # Pair A, exchange 4: 404 without any authentication — not an auth failure.
    r = flow.request("OPTIONS", src=A, dst=SERVER, call_id="o1", branch="z9hG4bK-41", at=110.0)
    flow.response(r, 404, at=110.1)
    # Pair B, exchange 5: 401 → credentials 900 ms later → 401 again, given up.
    r = flow.request("REGISTER", src=B, dst=SERVER, call_id="b1", branch="z9hG4bK-51", at=120.0)
    flow.response(r, 401, challenge=digest_challenge("n5"), at=120.1)
    r = flow.request(
        "REGISTER",
        src=B,
        dst=SERVER,
        call_id="b1",
        cseq=2,
        branch="z9hG4bK-52",
        at=121.0,
        auth=digest_credentials("n5"),
    )
    flow.response(r, 401, challenge=digest_challenge("n5"), at=121.1)
    return flow


def test_outcomes_of_the_metrics_flow() -> None:
    result = correlate(build().messages, CorrelateOptions())
    assert [e.outcome for e in result.exchanges] == [
        Outcome.SUCCEEDED,
        Outcome.SUCCEEDED,
        Outcome.REJECTED,
        Outcome.FAILED,
        Outcome.CHALLENGE_UNANSWERED,
    ]


def test_metrics_per_pair() -> None:
    result = correlate(build().messages, CorrelateOptions())
    hours = 121.1 / 3600.0
    a = result.metrics_by_pair[PeerPair("10.0.0.1", "10.0.0.2")]
    assert (a.requests, a.challenged, a.succeeded_after_auth, a.failed) == (4, 2, 2, 1)
    assert (a.challenges_401, a.challenges_407, a.successes_2xx) == (1, 1, 2)
    assert a.auth_failures_per_hour == pytest.approx(1 / hours)
    assert a.attempts_until_success == [2, 1]
    assert a.challenge_to_retry_ms == pytest.approx([250.0, 500.0])
    # n1 issued by the 401 at 0.1, last accepted (200) on the refresh at 60.0.
    assert a.nonce_lifetime_s == pytest.approx(59.9)
    assert a.algorithms_offered == {"MD5": 1, "SHA-256": 1}
    assert a.qop_offered == {"auth": 2, "auth-int": 1}
    assert a.algorithms_used == {"MD5": 2, "SHA-256": 1}
    assert a.qop_used == {"auth": 2, "none": 1}

    b = result.metrics_by_pair[PeerPair("10.0.0.5", "10.0.0.2")]
    assert (b.requests, b.challenged, b.succeeded_after_auth, b.failed) == (1, 1, 0, 1)
    assert (b.challenges_401, b.challenges_407, b.successes_2xx) == (2, 0, 0)
    assert b.attempts_until_success == []
    assert b.challenge_to_retry_ms == pytest.approx([900.0])
    assert b.nonce_lifetime_s is None  # n5 was only ever re-challenged
    assert b.algorithms_offered == {"MD5": 2}
    assert b.qop_offered == {"none": 2}
    assert b.algorithms_used == {"MD5": 1}
    assert b.qop_used == {"none": 1}


def test_overall_metrics() -> None:
    overall = correlate(build().messages, CorrelateOptions()).overall
    assert (overall.requests, overall.challenged, overall.failed) == (5, 3, 2)
    assert (overall.challenges_401, overall.challenges_407, overall.successes_2xx) == (3, 1, 2)
    assert overall.auth_failures_per_hour == pytest.approx(2 / (121.1 / 3600.0))
    assert overall.challenge_to_retry_ms == pytest.approx([250.0, 500.0, 900.0])
    assert overall.nonce_lifetime_s == pytest.approx(59.9)
    assert overall.algorithms_offered == {"MD5": 3, "SHA-256": 1}


def test_short_capture_rate_uses_one_minute_floor() -> None:
    flow = Flow()
    r = flow.request("REGISTER", at=0.0)
    flow.response(r, 401, challenge=digest_challenge("n1"), at=0.1)
    r = flow.request("REGISTER", cseq=2, branch="z9hG4bK-2", auth=digest_credentials("n1"), at=0.2)
    flow.response(r, 403, at=0.3)
    overall = correlate(flow.messages, CorrelateOptions()).overall
    assert overall.failed == 1
    assert overall.auth_failures_per_hour == pytest.approx(60.0)


def _challenged_retry(flow: Flow, final: int | None, *, retry_at: float = 0.2) -> None:
    """REGISTER → 401 → REGISTER with credentials → ``final`` (None: no answer at all)."""
    r = flow.request("REGISTER", at=0.0)
    flow.response(r, 401, challenge=digest_challenge("n1"), at=0.1)
    r = flow.request(
        "REGISTER", cseq=2, branch="z9hG4bK-2", auth=digest_credentials("n1"), at=retry_at
    )
    if final is not None:
        flow.response(r, final, at=retry_at + 0.1)


def test_an_unanswered_authenticated_retry_is_an_auth_failure() -> None:
    # The "ghost call": the retry carrying credentials is lost (dropped UDP fragments).
    flow = Flow()
    _challenged_retry(flow, None)
    flow.request("OPTIONS", call_id="keepalive", branch="z9hG4bK-9", at=5.0)  # capture goes on
    result = correlate(flow.messages, CorrelateOptions())
    ghost, keepalive = result.exchanges
    assert (ghost.outcome, keepalive.outcome) == (Outcome.NO_RESPONSE, Outcome.NO_RESPONSE)
    assert is_auth_failure(ghost)
    # A plain request, never challenged, that got no answer is not an auth failure.
    assert not is_auth_failure(keepalive)
    assert result.overall.failed == 1


def test_a_challenge_never_answered_is_an_auth_failure() -> None:
    flow = Flow()
    r = flow.request("REGISTER", at=0.0)
    flow.response(r, 401, challenge=digest_challenge("n1"), at=0.1)
    result = correlate(flow.messages, CorrelateOptions())
    assert [e.outcome for e in result.exchanges] == [Outcome.CHALLENGE_UNANSWERED]
    assert result.overall.failed == 1


def test_a_rejected_nonce_has_no_lifetime() -> None:
    # Only a 2xx proves the server accepted a nonce: a 403 to the only request using it
    # leaves the lifetime unknown (shown "-" / null), not 0.0 s.
    flow = Flow()
    _challenged_retry(flow, 403, retry_at=30.0)
    overall = correlate(flow.messages, CorrelateOptions()).overall
    assert overall.failed == 1
    assert overall.nonce_lifetime_s is None


def test_nonce_lifetimes_remember_a_bounded_number_of_nonces() -> None:
    """A storm's nonces are never accepted: past the capacity the older half of them goes, an
    accepted nonce never does, and one forgotten then used again is timed from that use."""
    from sipauth_analyzer.correlate.metrics import NonceLifetimes

    flow = Flow()
    accepted = flow.request("REGISTER", call_id="ok", branch="z9hG4bK-ok", at=0.0,
                            auth=digest_credentials("kept"))
    flow.response(accepted, 200, at=0.1)
    lifetimes = NonceLifetimes(capacity=4)
    lifetimes.add(correlate(flow.messages).transactions[0])
    for index in range(10):
        guess = Flow()
        request = guess.request("REGISTER", call_id=f"g{index}", branch=f"z9hG4bK-g{index}",
                                at=1.0 + index)
        guess.response(request, 401, challenge=digest_challenge(f"n{index}"), at=1.0 + index)
        lifetimes.add(correlate(guess.messages).transactions[0])
        assert len(lifetimes._first_seen) <= 4
    assert ("10.0.0.2", "kept") in lifetimes._first_seen
    assert ("10.0.0.2", "n9") in lifetimes._first_seen
    assert ("10.0.0.2", "n0") not in lifetimes._first_seen
    # n0, forgotten, accepted at t=100: its lifetime counts from that use (a lower bound).
    late = Flow()
    reuse = late.request("REGISTER", call_id="late", branch="z9hG4bK-late", at=100.0,
                         auth=digest_credentials("n0"))
    late.response(reuse, 200, at=100.1)
    lifetimes.add(correlate(late.messages).transactions[0])
    assert lifetimes.longest_by_server() == {"10.0.0.2": 0.0}


def _corpus() -> list[Path]:
    real = capture_files(REAL_PCAPS_DIR, recursive=True)
    return [*capture_files(CAPTURES_DIR), *capture_files(SAMPLE_PCAPS_DIR), *real]


def test_the_fast_path_for_exchanges_outside_digest_counts_what_the_general_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MetricsBuilder.add counts a one-attempt exchange with no credentials and no 401/407 as
    add_unlisted does (docs/performance.md): every capture we have, metrics and returned
    counts compared with the general path forced."""
    taken = 0
    compared = 0
    for path in _corpus():
        exchanges = correlate(read_sip([str(path)]).messages).exchanges
        if not exchanges:
            continue
        fast_builder = metrics.MetricsBuilder()
        fast = [fast_builder.add(e) for e in exchanges]
        taken += sum(
            1 for e in exchanges
            if len(e.attempts) == 1 and not metrics._enters_digest(e.attempts[0])
        )
        with monkeypatch.context() as forced:
            forced.setattr(metrics, "_enters_digest", lambda _transaction: True)
            general_builder = metrics.MetricsBuilder()
            general = [general_builder.add(e) for e in exchanges]
        assert fast == general, path.name
        assert fast_builder.result(0.0, 60.0) == general_builder.result(0.0, 60.0), path.name
        compared += len(exchanges)
    # Both paths were exercised: 13 fast ones in our own captures, hundreds with the real ones.
    assert taken > 10 and compared > taken


def _reference_add_exchange(
    counted: metrics.Metrics, nonces: metrics.NonceLifetimes, exchange: AuthExchange
) -> None:
    """What ``metrics._add_exchange`` counts, written from the definitions it folds into one
    pass: NonceLifetimes.add per attempt, the counts, AuthExchange.challenged, is_auth_failure."""
    counted.requests += 1
    previous_challenge_time = None
    for attempt in exchange.attempts:
        nonces.add(attempt)
        request = attempt.request
        if previous_challenge_time is not None:
            counted.challenge_to_retry_ms.append(
                (request.source.time - previous_challenge_time) * 1000.0
            )
        previous_challenge_time = None
        final = attempt.final
        status = final.status if final is not None else None
        if metrics._carries_credentials(attempt):
            for credentials in request.credentials:
                if credentials.scheme.lower() == "digest":
                    metrics._bump(counted.algorithms_used, credentials.algorithm or "MD5")
                    metrics._bump(counted.qop_used, credentials.qop or "none")
        if final is not None and status in (401, 407):
            previous_challenge_time = final.source.time
            if status == 401:
                counted.challenges_401 += 1
            else:
                counted.challenges_407 += 1
            for challenge in final.challenges:
                if challenge.scheme.lower() == "digest":
                    metrics._bump(counted.algorithms_offered, challenge.algorithm or "MD5")
                    for qop in challenge.qop_options or ("none",):
                        metrics._bump(counted.qop_offered, qop)
    if exchange.challenged:
        counted.challenged += 1
    if exchange.outcome is Outcome.SUCCEEDED:
        counted.successes_2xx += 1
        counted.attempts_until_success.append(len(exchange.attempts))
        if metrics._carries_credentials(exchange.last):
            counted.succeeded_after_auth += 1
    elif is_auth_failure(exchange):
        counted.failed += 1


def _ordered(builder: metrics.MetricsBuilder) -> list[object]:
    """Everything a builder holds, dict keys in their order (reports list them that way)."""
    by_pair, overall = builder.result(0.0, 60.0)
    out: list[object] = []
    for counted in (*by_pair.values(), overall):
        out.append(counted)
        out.extend(list(getattr(counted, name).items()) for name in (
            "algorithms_offered", "algorithms_used", "qop_offered", "qop_used"))
    for nonces in builder._nonces.values():
        out.extend((list(nonces._first_seen.items()), list(nonces._last_accepted.items())))
    return out


def _edge_cases() -> Flow:
    """What no capture we have shows: a 401 without a challenge header (not "challenged"), and
    credentials on the first attempt only, with the retry that succeeds sending none."""
    flow = Flow()
    bare = flow.request("REGISTER", call_id="bare", branch="z9hG4bK-b1", from_tag="b", at=0.0)
    flow.response(bare, 401, at=0.1)
    first = flow.request("REGISTER", call_id="drop", branch="z9hG4bK-d1", from_tag="d",
                         at=1.0, auth=digest_credentials("stale-one"))
    flow.response(first, 401, challenge=digest_challenge("n5"), at=1.1)
    retry = flow.request("REGISTER", call_id="drop", cseq=2, branch="z9hG4bK-d2", from_tag="d",
                         at=1.3)
    flow.response(retry, 200, at=1.4)
    return flow


@pytest.mark.parametrize("capacity", [metrics.MAX_TRACKED_NONCES, 3])
def test_one_pass_over_the_attempts_counts_what_the_definitions_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capacity: int
) -> None:
    """Every capture we have and a small auth storm: the same metrics, tallies in the same key
    order and the same nonces remembered (with a capacity of 3, the same ones forgotten) as
    the reference."""
    from bench.generate import StormParams, generate_storm

    storm = generate_storm(StormParams(messages=4_000), tmp_path).path
    runs = [(path.name, read_sip([str(path)]).messages) for path in [*_corpus(), storm]]
    runs.append(("edge cases", _edge_cases().messages))
    counted = 0
    for name, messages in runs:
        exchanges = correlate(messages).exchanges
        one_pass = metrics.MetricsBuilder(capacity)
        for exchange in exchanges:
            one_pass.add(exchange)
        with monkeypatch.context() as reference:
            reference.setattr(metrics, "_add_exchange", _reference_add_exchange)
            defined = metrics.MetricsBuilder(capacity)
            for exchange in exchanges:
                defined.add(exchange)
        assert _ordered(one_pass) == _ordered(defined), name
        counted += sum(
            len(e.attempts) for e in exchanges
            if len(e.attempts) > 1 or metrics._enters_digest(e.attempts[0])
        )
    # Attempts in digest auth (the general path): 1,937 from our own captures alone.
    assert counted > 1_500
