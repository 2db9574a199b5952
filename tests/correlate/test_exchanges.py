"""Transactions and auth exchanges built from SIP text through the real parser."""

from __future__ import annotations

from sipauth_analyzer.correlate import CorrelateOptions, Correlation, Correlator, Outcome, correlate
from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.sip.message import SipMessage
from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials, make_message


def run(flow: Flow, options: CorrelateOptions | None = None) -> Correlation:
    return correlate(flow.messages, options or CorrelateOptions())


def attempt_frames(exchange: AuthExchange) -> list[int]:
    return [a.request.source.frame for a in exchange.attempts]


def test_challenge_then_success_is_one_exchange() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    r2 = flow.request("REGISTER", cseq=2, branch="z9hG4bK-b", auth=digest_credentials("n1"))
    flow.response(r2, 100, to_tag=None)
    flow.response(r2, 200)
    result = run(flow)
    assert len(result.exchanges) == 1
    exchange = result.exchanges[0]
    assert attempt_frames(exchange) == [1, 3]
    assert exchange.outcome is Outcome.SUCCEEDED
    assert exchange.challenge_cycles == 1
    assert exchange.frames == [1, 2, 3, 4, 5]
    assert exchange.final is not None and exchange.final.source.frame == 5
    assert [len(t.responses) for t in result.transactions] == [1, 2]
    assert result.orphan_responses == []
    assert result.notes == []


def test_retransmissions_are_not_attempts() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="z9hG4bK-a")
    flow.again(r1)
    flow.again(r1)
    c1 = flow.response(r1, 401, challenge=digest_challenge("n1"))
    flow.again(c1)  # the 401 retransmitted too
    r2 = flow.request("REGISTER", cseq=2, branch="z9hG4bK-b", auth=digest_credentials("n1"))
    flow.again(r2)
    flow.response(r2, 200)
    result = run(flow)
    assert len(result.transactions) == 2
    (exchange,) = result.exchanges
    assert attempt_frames(exchange) == [1, 6]
    assert [[m.source.frame for m in a.retransmissions] for a in exchange.attempts] == [[2, 3], [7]]
    assert [m.source.frame for m in exchange.first.responses] == [4, 5]
    assert exchange.challenge_cycles == 1
    assert exchange.outcome is Outcome.SUCCEEDED
    assert result.overall.challenges_401 == 1


def test_wrong_password_loop_ends_unanswered() -> None:
    flow = Flow()
    r = flow.request("REGISTER", cseq=1, branch="z9hG4bK-1")
    flow.response(r, 401, challenge=digest_challenge("n1"))
    for cseq in (2, 3):
        r = flow.request(
            "REGISTER", cseq=cseq, branch=f"z9hG4bK-{cseq}", auth=digest_credentials("n1")
        )
        flow.response(r, 401, challenge=digest_challenge("n1"))
    (exchange,) = run(flow).exchanges
    assert attempt_frames(exchange) == [1, 3, 5]
    assert exchange.challenge_cycles == 3
    assert exchange.outcome is Outcome.CHALLENGE_UNANSWERED


def test_forbidden_after_credentials_is_rejected() -> None:
    flow = Flow()
    r1 = flow.request("INVITE", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 407, challenge=digest_challenge("n1"))
    ack1 = flow.request("ACK", cseq=1, branch="z9hG4bK-a", to_tag="tt1")
    r2 = flow.request(
        "INVITE",
        cseq=2,
        branch="z9hG4bK-b",
        auth=digest_credentials("n1"),
        auth_header="Proxy-Authorization",
    )
    flow.response(r2, 403)
    ack2 = flow.request("ACK", cseq=2, branch="z9hG4bK-b", to_tag="tt1")
    result = run(flow)
    (exchange,) = result.exchanges
    assert attempt_frames(exchange) == [1, 4]
    assert exchange.outcome is Outcome.REJECTED
    assert exchange.acks == [ack1, ack2]
    assert len(result.transactions) == 2  # a non-2xx ACK belongs to its INVITE transaction


def test_cancelled_invite() -> None:
    flow = Flow()
    r1 = flow.request("INVITE", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 407, challenge=digest_challenge("n1"))
    flow.request("ACK", cseq=1, branch="z9hG4bK-a", to_tag="tt1")
    r2 = flow.request(
        "INVITE",
        cseq=2,
        branch="z9hG4bK-b",
        auth=digest_credentials("n1"),
        auth_header="Proxy-Authorization",
    )
    flow.response(r2, 100, to_tag=None)
    cancel = flow.request("CANCEL", cseq=2, branch="z9hG4bK-b")
    flow.again(cancel)
    flow.response(cancel, 200)
    flow.response(r2, 487)
    flow.request("ACK", cseq=2, branch="z9hG4bK-b", to_tag="tt1")
    result = run(flow)
    (exchange,) = result.exchanges
    assert attempt_frames(exchange) == [1, 4]
    assert exchange.outcome is Outcome.CANCELLED
    assert [c.request.source.frame for c in exchange.cancels] == [6]
    assert [m.source.frame for m in exchange.cancels[0].retransmissions] == [7]
    assert [m.source.frame for m in exchange.cancels[0].responses] == [8]
    assert [m.source.frame for m in exchange.acks] == [3, 10]
    assert [m.source.frame for m in exchange.last.responses] == [5, 9]


def test_cancel_without_final_is_cancelled_and_cancel_response_does_not_close() -> None:
    flow = Flow()
    r1 = flow.request("INVITE", cseq=1, branch="z9hG4bK-a")
    cancel = flow.request("CANCEL", cseq=1, branch="z9hG4bK-a")
    flow.response(cancel, 200)
    (exchange,) = run(flow).exchanges
    assert exchange.first.request is r1
    assert exchange.outcome is Outcome.CANCELLED


def test_2xx_ack_with_new_branch_is_attached() -> None:
    flow = Flow()
    r1 = flow.request("INVITE", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 407, challenge=digest_challenge("n1"))
    flow.request("ACK", cseq=1, branch="z9hG4bK-a", to_tag="tt1")
    r2 = flow.request(
        "INVITE",
        cseq=2,
        branch="z9hG4bK-b",
        auth=digest_credentials("n1"),
        auth_header="Proxy-Authorization",
    )
    flow.response(r2, 200)
    # RFC 3261 §13.2.2.4: the 2xx ACK is its own transaction, may go straight to the callee.
    flow.request(
        "ACK",
        cseq=2,
        branch="z9hG4bK-c",
        to_tag="tt1",
        dst="10.0.0.9:5060",
        auth=digest_credentials("n1"),
        auth_header="Proxy-Authorization",
    )
    result = run(flow)
    (exchange,) = result.exchanges
    assert exchange.outcome is Outcome.SUCCEEDED
    assert [m.source.frame for m in exchange.acks] == [3, 6]


def test_call_id_change_linked_by_from_tag() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", call_id="cid-1", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    r2 = flow.request(
        "REGISTER", call_id="cid-2", cseq=1, branch="z9hG4bK-b", auth=digest_credentials("n2")
    )
    flow.response(r2, 200)
    (exchange,) = run(flow).exchanges
    assert attempt_frames(exchange) == [1, 3]
    assert exchange.call_ids == ["cid-1", "cid-2"]
    assert exchange.outcome is Outcome.SUCCEEDED


def test_new_from_tag_and_call_id_linked_by_echoed_nonce() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", call_id="cid-1", from_tag="t1", branch="z9hG4bK-a")
    flow.response(r1, 401, challenge=digest_challenge("nonce-xyz"))
    r2 = flow.request(
        "REGISTER",
        call_id="cid-9",
        from_tag="t9",
        from_uri="sip:other@example.com",
        branch="z9hG4bK-b",
        auth=digest_credentials("nonce-xyz"),
    )
    flow.response(r2, 403)
    (exchange,) = run(flow).exchanges
    assert attempt_frames(exchange) == [1, 3]
    assert exchange.call_ids == ["cid-1", "cid-9"]
    assert exchange.outcome is Outcome.REJECTED


def test_new_tag_without_credentials_starts_new_exchange() -> None:
    # The aaa.pcap client: same Call-ID, new From tag for every REGISTER.
    flow = Flow()
    r1 = flow.request("REGISTER", from_tag="t1", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    r2 = flow.request("REGISTER", from_tag="t2", cseq=2, branch="z9hG4bK-b")
    flow.response(r2, 401, challenge=digest_challenge("n2"))
    result = run(flow)
    assert [attempt_frames(e) for e in result.exchanges] == [[1], [3]]
    assert [e.outcome for e in result.exchanges] == [Outcome.CHALLENGE_UNANSWERED] * 2


def test_request_after_success_starts_new_exchange() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="z9hG4bK-a")
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    r2 = flow.request("REGISTER", cseq=2, branch="z9hG4bK-b", auth=digest_credentials("n1"))
    flow.response(r2, 200)
    # A refresh with the cached nonce: credentials that answer no open challenge.
    r3 = flow.request("REGISTER", cseq=3, branch="z9hG4bK-c", auth=digest_credentials("n1"))
    flow.response(r3, 200)
    result = run(flow)
    assert [attempt_frames(e) for e in result.exchanges] == [[1, 3], [5]]
    assert [e.outcome for e in result.exchanges] == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert [e.challenged for e in result.exchanges] == [True, False]


def test_retry_before_challenge_seen_needs_credentials() -> None:
    flow = Flow()
    flow.request("REGISTER", cseq=1, branch="z9hG4bK-a")  # its 401 was not captured
    r2 = flow.request("REGISTER", cseq=2, branch="z9hG4bK-b", auth=digest_credentials("n1"))
    flow.response(r2, 200)
    flow.request("OPTIONS", cseq=3, branch="z9hG4bK-c")
    flow.request("OPTIONS", cseq=4, branch="z9hG4bK-d")  # no credentials: a new request
    result = run(flow)
    assert [attempt_frames(e) for e in result.exchanges] == [[1, 2], [4], [5]]
    assert [e.outcome for e in result.exchanges] == [
        Outcome.SUCCEEDED,
        Outcome.NO_RESPONSE,
        Outcome.NO_RESPONSE,
    ]


def test_cseq_must_grow_for_uncredentialed_retry() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=5, branch="z9hG4bK-a")
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    flow.request("REGISTER", cseq=5, branch="z9hG4bK-b")  # same CSeq, no credentials
    # Same CSeq but with credentials: a sloppy client's retry, still linked.
    flow.request("REGISTER", cseq=5, branch="z9hG4bK-c", auth=digest_credentials("n1"))
    result = run(flow)
    assert [attempt_frames(e) for e in result.exchanges] == [[1, 4], [3]]


def test_idle_exchange_stops_accepting_retries() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="z9hG4bK-a", at=0.0)
    flow.response(r1, 401, challenge=digest_challenge("n1"), at=0.1)
    r2 = flow.request(
        "REGISTER", cseq=2, branch="z9hG4bK-b", auth=digest_credentials("n1"), at=10.1
    )
    flow.response(r2, 200, at=10.2)
    options = CorrelateOptions(exchange_idle_timeout=5.0)
    result = run(flow, options)
    assert [attempt_frames(e) for e in result.exchanges] == [[1], [3]]
    assert [e.outcome for e in result.exchanges] == [
        Outcome.CHALLENGE_UNANSWERED,
        Outcome.SUCCEEDED,
    ]
    assert [attempt_frames(e) for e in run(flow).exchanges] == [[1, 3]]


def test_failed_and_no_response_outcomes() -> None:
    flow = Flow()
    r1 = flow.request("INVITE", call_id="c1", branch="z9hG4bK-a")
    flow.response(r1, 407, challenge=digest_challenge("n1"))
    r2 = flow.request(
        "INVITE",
        call_id="c1",
        cseq=2,
        branch="z9hG4bK-b",
        auth=digest_credentials("n1"),
        auth_header="Proxy-Authorization",
    )
    flow.response(r2, 183, to_tag="tt1")
    flow.response(r2, 480)
    flow.request("OPTIONS", call_id="c2", branch="z9hG4bK-c")
    result = run(flow)
    assert [e.outcome for e in result.exchanges] == [Outcome.FAILED, Outcome.NO_RESPONSE]


def test_late_challenge_for_earlier_attempt_changes_nothing() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="z9hG4bK-a")
    r2 = flow.request("REGISTER", cseq=2, branch="z9hG4bK-b", auth=digest_credentials("n0"))
    flow.response(r2, 200)
    flow.response(r1, 401, challenge=digest_challenge("n1"))  # arrives late
    (exchange,) = run(flow).exchanges
    assert attempt_frames(exchange) == [1, 2]
    assert exchange.first.request is r1
    assert exchange.outcome is Outcome.SUCCEEDED


def test_two_legs_of_a_proxy_are_kept_apart() -> None:
    ua, proxy, registrar = "10.0.0.1:5060", "10.0.0.2:5060", "10.0.0.3:5060"
    flow = Flow()
    ua_via = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ua1"
    a1 = flow.request("REGISTER", src=ua, dst=proxy, cseq=1, branch="z9hG4bK-ua1")
    b1 = flow.request(
        "REGISTER", src=proxy, dst=registrar, cseq=1, branch="z9hG4bK-px1", vias=(ua_via,)
    )
    flow.response(b1, 401, challenge=digest_challenge("n1"))
    flow.response(a1, 401, challenge=digest_challenge("n1"))
    ua_via2 = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ua2"
    a2 = flow.request(
        "REGISTER", src=ua, dst=proxy, cseq=2, branch="z9hG4bK-ua2", auth=digest_credentials("n1")
    )
    b2 = flow.request(
        "REGISTER",
        src=proxy,
        dst=registrar,
        cseq=2,
        branch="z9hG4bK-px2",
        vias=(ua_via2,),
        auth=digest_credentials("n1"),
    )
    flow.response(b2, 200)
    flow.response(a2, 200)
    result = run(flow)
    assert [(str(e.client), str(e.server)) for e in result.exchanges] == [
        (ua, proxy),
        (proxy, registrar),
    ]
    assert [attempt_frames(e) for e in result.exchanges] == [[1, 5], [2, 6]]
    assert [e.frames for e in result.exchanges] == [[1, 4, 5, 8], [2, 3, 6, 7]]
    assert [e.outcome for e in result.exchanges] == [Outcome.SUCCEEDED] * 2
    assert [(k.client, k.server) for k in result.metrics_by_pair] == [
        ("10.0.0.1", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3"),
    ]


def test_same_packet_seen_on_two_hops_is_not_a_retransmission() -> None:
    # Captured before and after a NAT: identical SIP (same branch), different addresses.
    flow = Flow()
    inside = flow.request("REGISTER", src="192.168.1.5:5060", dst="203.0.113.9:5060")
    flow.messages.append(
        make_message(
            inside.source.data.decode(), 2, flow.time, "198.51.100.1:40000", "203.0.113.9:5060"
        )
    )
    flow.response(flow.messages[-1], 401, challenge=digest_challenge("n1"))
    flow.response(inside, 401, challenge=digest_challenge("n1"))
    result = run(flow)
    assert len(result.transactions) == 2
    assert not any(t.retransmissions for t in result.transactions)
    assert [[r.source.frame for r in t.responses] for t in result.transactions] == [[4], [3]]
    assert result.orphan_responses == []


def test_orphan_responses() -> None:
    flow = Flow()
    stray = flow.request("REGISTER", branch="z9hG4bK-gone")
    flow.messages.clear()  # the request was not captured
    flow.response(stray, 401, challenge=digest_challenge("n1"))
    r = flow.request("OPTIONS", branch="z9hG4bK-o")
    flow.response(r, 200, cseq_method="INVITE")  # CSeq method does not match
    result = run(flow)
    assert [m.source.frame for m in result.orphan_responses] == [1, 3]
    assert result.exchanges[0].outcome is Outcome.NO_RESPONSE


def test_response_from_another_port_still_matches() -> None:
    flow = Flow()
    r = flow.request("REGISTER", src="10.0.0.1:40123", dst="10.0.0.2:5060")
    text = (
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.1:40123;branch=z9hG4bK-1\n"
        "From: <sip:alice@example.com>;tag=ft1\nTo: <sip:bob@example.com>;tag=x\n"
        "Call-ID: call-1\nCSeq: 1 REGISTER\nContent-Length: 0"
    )
    flow.messages.append(make_message(text, 2, 1001.0, "10.0.0.2:5070", "10.0.0.1:5060"))
    result = run(flow)
    assert result.orphan_responses == []
    assert result.exchanges[0].first.request is r
    assert result.exchanges[0].outcome is Outcome.SUCCEEDED


def test_rfc2543_transactions_without_magic_cookie() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="oldstyle1")
    flow.again(r1)
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    r2 = flow.request("REGISTER", cseq=2, branch="oldstyle1", auth=digest_credentials("n1"))
    flow.response(r2, 200)
    result = run(flow)
    # CSeq is part of the RFC 2543 key, so the same (non-cookie) branch is not "reuse" here.
    assert result.notes == []
    (exchange,) = result.exchanges
    assert attempt_frames(exchange) == [1, 4]
    assert [len(a.retransmissions) for a in exchange.attempts] == [1, 0]
    assert exchange.outcome is Outcome.SUCCEEDED


def test_branch_reuse_is_a_note_and_a_new_transaction() -> None:
    flow = Flow()
    r1 = flow.request("REGISTER", cseq=1, branch="z9hG4bK-same")
    flow.response(r1, 401, challenge=digest_challenge("n1"))
    r2 = flow.request("REGISTER", cseq=2, branch="z9hG4bK-same", auth=digest_credentials("n1"))
    flow.response(r2, 200)
    result = run(flow)
    (exchange,) = result.exchanges
    assert attempt_frames(exchange) == [1, 3]
    assert exchange.outcome is Outcome.SUCCEEDED
    (note,) = result.notes
    assert note.kind == "correlate-branch-reused"
    assert note.frames == (3,)
    assert note.file == "test.pcap"


def test_open_exchange_limit_evicts_oldest_with_note() -> None:
    flow = Flow()
    first = flow.request("REGISTER", call_id="c1", from_tag="a", branch="z9hG4bK-1")
    flow.response(first, 401, challenge=digest_challenge("n1"))
    for i in (2, 3):
        r = flow.request("REGISTER", call_id=f"c{i}", from_tag=f"t{i}", branch=f"z9hG4bK-{i}")
        flow.response(r, 401, challenge=digest_challenge(f"n{i}"))
    retry = flow.request(
        "REGISTER",
        call_id="c1",
        from_tag="a",
        cseq=2,
        branch="z9hG4bK-4",
        auth=digest_credentials("n1"),
    )
    flow.response(retry, 200)
    result = run(flow, CorrelateOptions(max_open_exchanges=2))
    assert [attempt_frames(e) for e in result.exchanges] == [[1], [3], [5], [7]]
    (note,) = result.notes
    assert note.kind == "correlate-open-exchanges-full"
    assert note.frames == (1, 3)  # the retry's own new exchange pushed out the second one
    assert note.detail.startswith("2 auth exchange(s) were closed early")
    # With room, the retry joins its exchange.
    assert [attempt_frames(e) for e in run(flow).exchanges] == [[1, 7], [3], [5]]


def test_transaction_limit_turns_late_responses_into_orphans() -> None:
    flow = Flow()
    r1 = flow.request("OPTIONS", call_id="c1", branch="z9hG4bK-1")
    r2 = flow.request("OPTIONS", call_id="c2", branch="z9hG4bK-2")
    flow.response(r1, 200)
    flow.response(r2, 200)
    result = run(flow, CorrelateOptions(max_transactions=1))
    assert [m.source.frame for m in result.orphan_responses] == [3]
    assert [n.kind for n in result.notes] == ["correlate-transaction-table-full"]
    assert run(flow).orphan_responses == []


def test_transaction_timeout_forgets_by_capture_time() -> None:
    flow = Flow()
    r1 = flow.request("OPTIONS", at=0.0)
    flow.again(r1, at=300.0)  # after the timeout: a new transaction, not a retransmission
    result = run(flow, CorrelateOptions(transaction_timeout=240.0))
    assert len(result.transactions) == 2
    assert len(run(flow, CorrelateOptions(transaction_timeout=400.0)).transactions) == 1


def test_a_bye_from_the_callee_is_an_exchange_of_its_own() -> None:
    caller, callee = "10.0.0.1:5060", "10.0.0.2:5060"
    flow = Flow()
    inv = flow.request("INVITE", src=caller, dst=callee, call_id="d1", from_tag="A")
    flow.response(inv, 200, to_tag="B")
    flow.request(
        "ACK", src=caller, dst=callee, call_id="d1", from_tag="A", to_tag="B", branch="z9hG4bK-ack"
    )
    bye_text = (
        "BYE sip:alice@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-bye\n"
        "From: <sip:bob@example.com>;tag=B\nTo: <sip:alice@example.com>;tag=A\n"
        "Call-ID: d1\nCSeq: 1 BYE\nContent-Length: 0"
    )
    bye = make_message(bye_text, 4, 1002.0, callee, caller)
    flow.messages.append(bye)
    flow.response(bye, 200, to_tag="A")
    flow.request("REGISTER", call_id="other", from_tag="R")
    result = run(flow)
    # The BYE from the callee is an exchange of its own, in the other direction.
    assert [(e.method, e.client.ip, e.outcome) for e in result.exchanges] == [
        ("INVITE", "10.0.0.1", Outcome.SUCCEEDED),
        ("BYE", "10.0.0.2", Outcome.SUCCEEDED),
        ("REGISTER", "10.0.0.1", Outcome.NO_RESPONSE),
    ]
    assert [m.source.frame for m in result.exchanges[0].acks] == [3]


def test_empty_input() -> None:
    result = correlate([], CorrelateOptions())
    assert result.exchanges == [] and result.transactions == [] and result.notes == []
    assert result.overall.requests == 0 and result.overall.auth_failures_per_hour == 0.0


def test_server_wide_nonce_does_not_merge_concurrent_exchanges() -> None:
    # A stateless server gives every client the same nonce; two clients (same IP, new From
    # tag per request) retry side by side. The Call-ID keeps them apart.
    flow = Flow()
    a1 = flow.request("REGISTER", call_id="A", from_tag="a1", branch="z9hG4bK-a1")
    b1 = flow.request("REGISTER", call_id="B", from_tag="b1", branch="z9hG4bK-b1")
    flow.response(a1, 401, challenge=digest_challenge("shared"))
    flow.response(b1, 401, challenge=digest_challenge("shared"))
    a2 = flow.request(
        "REGISTER",
        call_id="A",
        from_tag="a2",
        cseq=2,
        branch="z9hG4bK-a2",
        auth=digest_credentials("shared"),
    )
    b2 = flow.request(
        "REGISTER",
        call_id="B",
        from_tag="b2",
        cseq=2,
        branch="z9hG4bK-b2",
        auth=digest_credentials("shared"),
    )
    flow.response(b2, 200)
    flow.response(a2, 403)
    result = run(flow)
    assert [(e.call_ids, attempt_frames(e), e.outcome) for e in result.exchanges] == [
        (["A"], [1, 5], Outcome.REJECTED),
        (["B"], [2, 6], Outcome.SUCCEEDED),
    ]


def test_forgetting_a_long_answered_transaction_is_not_reported() -> None:
    """Past 64*T1 after its final response no retransmission can come: nothing is lost, and
    the note says so instead of warning."""
    flow = Flow()
    r1 = flow.request("OPTIONS", call_id="c1", branch="z9hG4bK-1")
    flow.response(r1, 200)
    flow.request("OPTIONS", call_id="c2", branch="z9hG4bK-2", at=flow.time + 33.0)
    result = run(flow, CorrelateOptions(max_transactions=1))
    (note,) = result.notes  # the limit was hit: said, but not as a loss
    assert note.kind == "correlate-transaction-table-recycled"
    assert note.level == "info" and note.frames == (3,)
    assert note.detail.startswith("max_transactions=1 was reached: 1 answered transaction(s)")
    # Answered only 31 s before: a retransmitted request or response could still come.
    flow = Flow()
    r1 = flow.request("OPTIONS", call_id="c1", branch="z9hG4bK-1")
    flow.response(r1, 200)
    flow.request("OPTIONS", call_id="c2", branch="z9hG4bK-2", at=flow.time + 31.0)
    result = run(flow, CorrelateOptions(max_transactions=1))
    assert [n.kind for n in result.notes] == ["correlate-transaction-table-full"]


def _register(flow: Flow, cseq: int, nonce: str | None = None) -> SipMessage:
    """A REGISTER of dialog cid-1/t1, answering ``nonce`` when given."""
    return flow.request(
        "REGISTER",
        call_id="cid-1",
        from_tag="t1",
        cseq=cseq,
        branch=f"z9hG4bK-{cseq}",
        auth=digest_credentials(nonce) if nonce is not None else None,
    )


def _stranger(flow: Flow, nonce: str) -> SipMessage:
    """A REGISTER from another dialog and From URI answering ``nonce``: only the nonce can
    link it to an exchange of ``_register``."""
    return flow.request(
        "REGISTER",
        call_id="cid-9",
        from_tag="t9",
        from_uri="sip:other@example.com",
        cseq=1,
        branch="z9hG4bK-stranger",
        auth=digest_credentials(nonce),
    )


def _three_challenges_then(flow: Flow, echoed_nonce: str) -> None:
    """A loop challenged with n1, n2, n3, then a stranger echoing ``echoed_nonce``."""
    flow.response(_register(flow, 1), 401, challenge=digest_challenge("n1"))
    flow.response(_register(flow, 2, "n1"), 401, challenge=digest_challenge("n2"))
    flow.response(_register(flow, 3, "n2"), 401, challenge=digest_challenge("n3"))
    _stranger(flow, echoed_nonce)


def test_only_the_newest_nonces_of_an_exchange_link_a_retry() -> None:
    options = CorrelateOptions(max_nonces_per_exchange=2)
    recent, forgotten = Flow(), Flow()
    _three_challenges_then(recent, "n3")
    _three_challenges_then(forgotten, "n1")
    assert [attempt_frames(e) for e in run(recent, options).exchanges] == [[1, 3, 5, 7]]
    assert [attempt_frames(e) for e in run(forgotten, options).exchanges] == [[1, 3, 5], [7]]
    # The default remembers eight: n1 still links.
    assert [attempt_frames(e) for e in run(forgotten).exchanges] == [[1, 3, 5, 7]]


def test_a_closed_exchange_is_not_linked_by_the_nonce_it_issued() -> None:
    flow = Flow()
    flow.response(_register(flow, 1), 401, challenge=digest_challenge("n1"))
    flow.response(_register(flow, 2, "n1"), 403)
    _stranger(flow, "n1")
    result = run(flow)
    assert [attempt_frames(e) for e in result.exchanges] == [[1, 3], [5]]
    assert [e.outcome for e in result.exchanges] == [Outcome.REJECTED, Outcome.NO_RESPONSE]


def test_retry_indexes_point_only_at_open_exchanges() -> None:
    # What bounds their memory by the open table's (a closed exchange is never linked anyway:
    # _accepts_retry checks that it is open, so only this can tell a leak).
    flow = Flow()
    flow.response(_register(flow, 1), 401, challenge=digest_challenge("n1"))
    retry = _register(flow, 2, "n1")
    correlator = Correlator(CorrelateOptions())
    for message in flow.messages:
        correlator.add(message)
    indexes = (correlator._by_dialog, correlator._by_from, correlator._by_nonce)
    assert [len(index) for index in indexes] == [1, 1, 2]
    correlator.add(flow.response(retry, 403))
    assert [len(index) for index in indexes] == [0, 0, 0]
