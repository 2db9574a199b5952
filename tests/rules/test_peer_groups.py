"""rules.base.PeerGroups: one finding per client, server and fingerprint keys."""

from __future__ import annotations

from sipauth_analyzer.correlate.model import AuthExchange
from sipauth_analyzer.primitives import Endpoint
from sipauth_analyzer.rules.base import (
    PeerGroups,
    named_users,
    peer_group_message,
    tally,
    value_range,
)
from tests.rules.sipbuild import UAC, UNAUTHORIZED, Wire, correlation, exchange, www

OTHER_CLIENT = Endpoint("192.0.2.77", 5060)


def _exchanges() -> list[AuthExchange]:
    """Three ignored challenges of UAC, one of another client."""
    wires: list[Wire] = []
    for number, src in enumerate((UAC, UAC, UAC, OTHER_CLIENT), 1):
        wires += exchange(
            t0=number * 100.0, call_id=f"c{number}-grp@x", from_tag=f"t{number}", src=src,
            responses=[(401, UNAUTHORIZED, [www(nonce=f"n{number}")])],
        )
    return correlation(wires).exchanges


def test_groups_by_client_ip_server_ip_and_keys_in_order_of_first_exchange() -> None:
    first, second, third, other = _exchanges()
    groups: PeerGroups[str] = PeerGroups()
    groups.add(first, ("a",), "one", [first.first.request])
    groups.add(other, ("a",), "other", [other.first.request])
    groups.add(second, ("b",), "two", [second.first.request])
    groups.add(third, ("a",), "three", [third.first.request])
    found = [(g.client.ip, g.keys, g.details, [e.id for e in g.exchanges]) for g in groups]
    assert found == [
        ("192.0.2.10", ("a",), ["one", "three"], [first.id, third.id]),
        ("192.0.2.77", ("a",), ["other"], [other.id]),
        ("192.0.2.10", ("b",), ["two"], [second.id]),
    ]
    (group,) = [g for g in groups if g.details == ["one", "three"]]
    assert group.messages == [first.first.request, third.first.request]


def test_the_message_counts_exchanges_and_says_when_details_differ() -> None:
    first, second, third, _ = _exchanges()

    def message(*items: tuple[AuthExchange, str]) -> str:
        groups: PeerGroups[str] = PeerGroups()
        for one, text in items:
            groups.add(one, ("k",), text, [])
        (group,) = groups
        return peer_group_message(group)

    assert message((first, "late retry")) == "late retry"
    assert message((first, "x"), (second, "x"), (third, "x")) == "x — in 3 exchanges"
    assert message((first, "frame 4"), (second, "frame 9")) == (
        "frame 4 — first of 2 exchanges with this finding"
    )
    # One exchange noted twice (SA403: two unanswered retries) is one exchange.
    assert message((first, "retry 1"), (first, "retry 2")) == "retry 1; retry 2"
    assert message((first, "a"), (first, "a"), (second, "a")) == "a — in 2 exchanges"


def test_wording_helpers() -> None:
    assert value_range([4, 4]) == "4"
    assert value_range([5, 3, 4]) == "3 to 5"
    assert tally(["rejected", "rejected"]) == "rejected"
    assert tally(["b", "a", "b", "c", "a", "b"]) == "b (3), a (2), c (1)"
    assert named_users(["202", "201", "202"]) == '"201", "202"'
    assert named_users(f"u{n:02d}" for n in range(12)) == (
        '"u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09" and 2 more'
    )
