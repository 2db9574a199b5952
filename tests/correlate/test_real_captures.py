"""Correlation of real captures from other projects (see ../shared/real_pcaps/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.correlate import CorrelateOptions, Correlation, Outcome, PeerPair, correlate

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "real_pcaps"

pytestmark = [
    pytest.mark.realsip,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real captures not present at {REAL}"),
]


def correlate_file(name: str) -> Correlation:
    from sipauth_analyzer.pipeline import read_sip

    path = REAL / name
    if not path.is_file():
        pytest.skip(f"{name} not present")
    return correlate(read_sip([str(path)]).messages, CorrelateOptions())


def summary(result: Correlation) -> list[tuple[str, list[int], Outcome, int]]:
    return [
        (e.method, [a.request.source.frame for a in e.attempts], e.outcome, e.challenge_cycles)
        for e in result.exchanges
    ]


def test_aaa_capture_exchanges() -> None:
    result = correlate_file("OISF_suricata-verify/sip-method__sip.pcap")
    R, I = "REGISTER", "INVITE"  # noqa: E741
    assert summary(result) == [
        (R, [19, 30], Outcome.REJECTED, 1),  # 401 → auth → 403
        (R, [107, 121], Outcome.CHALLENGE_UNANSWERED, 2),  # credentials rejected: 401 again
        (R, [143, 154], Outcome.CHALLENGE_UNANSWERED, 2),
        (R, [169, 180], Outcome.SUCCEEDED, 1),
        (I, [223], Outcome.CANCELLED, 0),  # INVITE, CANCELs, 408
        (I, [321, 346], Outcome.REJECTED, 1),  # 407 → Proxy-Authorization → 403
        (R, [421, 430], Outcome.CHALLENGE_UNANSWERED, 2),
        (R, [441, 453], Outcome.CHALLENGE_UNANSWERED, 2),
        (R, [515, 524], Outcome.SUCCEEDED, 1),
        (R, [537, 558], Outcome.CHALLENGE_UNANSWERED, 2),
        (I, [548, 578], Outcome.REJECTED, 1),
        (I, [602, 617], Outcome.FAILED, 1),  # 407 → auth → 480
        (R, [639, 648], Outcome.SUCCEEDED, 1),
    ]
    assert result.orphan_responses == []
    cancelled = result.exchanges[4]
    assert [len(a.retransmissions) for a in cancelled.attempts] == [2]  # frames 225, 227
    assert [c.request.source.frame for c in cancelled.cancels] == [247]
    assert len(cancelled.cancels[0].retransmissions) == 10  # 11 CANCELs in all
    assert [m.source.frame for m in cancelled.acks] == [253]
    assert [m.source.frame for m in result.exchanges[5].acks] == [327, 349]
    # The client changes its From tag on every REGISTER: 30 joins 19 by the echoed nonce.
    metrics = result.metrics_by_pair[PeerPair("192.168.1.2", "212.242.33.35")]
    assert (metrics.requests, metrics.challenged, metrics.succeeded_after_auth) == (12, 12, 3)
    assert (metrics.failed, metrics.challenges_401, metrics.challenges_407) == (9, 14, 3)
    assert metrics.successes_2xx == 3
    assert metrics.attempts_until_success == [2, 2, 2]
    assert metrics.algorithms_offered == {"MD5": 17}
    assert metrics.qop_offered == {"none": 17}
    assert metrics.algorithms_used == {"MD5": 12}
    assert metrics.challenge_to_retry_ms[0] == pytest.approx((49.420564 - 32.141694) * 1000)
    assert result.overall.requests == 13


def test_heplify_wrong_password_loop_and_orphan_403() -> None:
    result = correlate_file("sipcapture_heplify/ipip0.pcap")
    assert summary(result) == [
        ("INVITE", [1], Outcome.NO_RESPONSE, 0),
        ("REGISTER", [3, 5, 7], Outcome.CHALLENGE_UNANSWERED, 3),
    ]
    assert [m.source.frame for m in result.orphan_responses] == [2]  # 403 with another Call-ID


def test_cesnet_brute_force_loops_stay_apart() -> None:
    # Two Call-IDs retry side by side with the same (server-wide) nonce and a new From tag
    # on every request; the Call-ID keeps them apart.
    result = correlate_file("CESNET_ipfixprobe/sip.pcap")
    loops = [e for e in result.exchanges if len(e.attempts) > 1]
    assert [(s[1], s[2]) for s in summary(result) if len(s[1]) > 1] == [
        ([28, 30, 35, 39, 43, 47], Outcome.CHALLENGE_UNANSWERED),
        ([31, 34, 37, 41, 45], Outcome.SUCCEEDED),
    ]
    assert [e.call_ids for e in loops] == [["1744316116"], ["1080421403"]]


def test_ndpi_two_clean_cycles() -> None:
    result = correlate_file("ntop_nDPI/sip_hello.pcapng")
    assert summary(result) == [
        ("REGISTER", [9, 11], Outcome.SUCCEEDED, 1),
        ("REGISTER", [25, 27], Outcome.SUCCEEDED, 1),
    ]
    assert result.overall.attempts_until_success == [2, 2]


def test_proxy_over_tcp_and_udp_has_one_exchange_per_hop() -> None:
    result = correlate_file("sipcapture_heplify/sip_ipv4_tcp_retrans.pcap")
    assert [(e.client.ip, e.server.ip, e.outcome) for e in result.exchanges] == [
        ("172.168.0.252", "172.168.0.228", Outcome.SUCCEEDED),
        ("172.168.0.228", "172.168.0.227", Outcome.SUCCEEDED),
    ]


def test_responses_without_requests_are_orphans() -> None:
    result = correlate_file("seladb_PcapPlusPlus/sip_resp.pcap")
    assert result.exchanges == []
    assert len(result.orphan_responses) == len(result.messages) == 7


@pytest.mark.parametrize(
    "name",
    sorted(str(p.relative_to(REAL)) for p in (REAL.glob("*/*.pcap*") if REAL.is_dir() else [])),
)
def test_every_message_is_accounted_for(name: str) -> None:
    """Each response sits in exactly one transaction or is an orphan; each request is a
    transaction's request, a retransmission, or an ACK (attached or not)."""
    result = correlate_file(name)
    placed_responses = [id(r) for t in result.transactions for r in t.responses]
    placed_responses += [id(r) for r in result.orphan_responses]
    responses = [id(m) for m in result.messages if not m.is_request]
    assert sorted(placed_responses) == sorted(responses)
    placed_requests = [id(t.request) for t in result.transactions]
    placed_requests += [id(r) for t in result.transactions for r in t.retransmissions]
    requests = [id(m) for m in result.messages if m.is_request and m.method != "ACK"]
    assert sorted(placed_requests) == sorted(requests)
    attempts = [id(a) for e in result.exchanges for a in e.attempts]
    assert len(attempts) == len(set(attempts))
