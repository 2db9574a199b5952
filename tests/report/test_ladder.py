"""Call-flow ladders: retransmitted copies collapse into one row that still names every frame."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from sipauth_analyzer import __version__
from sipauth_analyzer.cli import cli
from sipauth_analyzer.pipeline import analyze, read_sip
from sipauth_analyzer.report.formats import ReportFormat
from sipauth_analyzer.report.ladder import (
    MAX_LADDER_ROWS,
    build_ladder,
    frame_list,
    render_markdown,
    render_text,
)
from sipauth_analyzer.report.view import build_report
from tests.conftest import REPO_ROOT, SAMPLE_PCAPS_DIR
from tests.correlate.sipfactory import (
    Flow,
    digest_challenge,
    digest_credentials,
    make_message,
)
from tests.report.conftest import render

GHOST = SAMPLE_PCAPS_DIR / "fragmented-invite-ghost.pcap"
GHOST_CALL_ID = "1-20230@127.0.0.1"
GHOST_COLLAPSED = (
    "     7  +500.5ms |-- INVITE +auth (retr. ×5: 7, 9, 11, 13, 15; last +15.5s) -->|"
)
GHOST_INVITE_FRAMES = (5, 7, 9, 11, 13, 15)  # the authenticated INVITE and its 5 copies


def _needs_ghost() -> None:
    if not GHOST.is_file():
        pytest.skip(f"bundled sample capture missing: {GHOST}")


def _frames_in(lines: list[str]) -> set[int]:
    return {int(n) for line in lines for n in re.findall(r"\b\d+\b", line)}


# -- the ghost sample: an authenticated INVITE sent 6 times -----------------------------------


def test_ghost_flow_collapses_the_invite_copies_into_one_line():
    _needs_ghost()
    messages = [m for m in read_sip([str(GHOST)]).messages if m.call_id == GHOST_CALL_ID]
    lines = render_text(build_ladder(messages), 80)
    assert GHOST_COLLAPSED in lines
    assert max(len(line) for line in lines) <= 80
    # The auth summary is shown once, under the first transmission (frame 5) only.
    assert sum('Proxy-Authz Digest user="alice"' in line for line in lines) == 1
    arrows = [line for line in lines if re.match(r"^\s+\d+ ", line)]
    assert [int(line.split()[0]) for line in arrows] == [1, 2, 3, 5, 7]
    assert set(GHOST_INVITE_FRAMES) <= _frames_in(arrows)


def test_ghost_analyze_report_shows_the_collapsed_line():
    _needs_ghost()
    report = build_report([(None, analyze([str(GHOST)]))], version=__version__)
    for output_format in (ReportFormat.TEXT, ReportFormat.MARKDOWN):
        text = render(report, output_format, width=80)
        # The Markdown report indents its fenced ladders by 3 more columns.
        assert GHOST_COLLAPSED.strip() in text, output_format
        assert "(retr.)" not in text
        assert sum('Proxy-Authz Digest user="alice"' in line for line in text.splitlines()) == 1


def test_ghost_flow_command_text_and_markdown():
    _needs_ghost()
    runner = CliRunner()
    text = runner.invoke(cli, ["flow", str(GHOST), "--call-id", GHOST_CALL_ID, "--width", "80"])
    assert text.exit_code == 0, text.output
    assert GHOST_COLLAPSED in text.output.splitlines()
    assert max(len(line) for line in text.output.splitlines()) <= 80
    markdown = runner.invoke(
        cli, ["flow", str(GHOST), "--call-id", GHOST_CALL_ID, "--format", "markdown"]
    )
    assert markdown.exit_code == 0, markdown.output
    assert (
        "| 7 | +500.5ms | 127.0.0.1:5061 | 127.0.0.1:5060 | INVITE +auth (retransmitted ×5: "
        "frames 7, 9, 11, 13, 15; last +15.5s) |   |"
    ) in markdown.output
    rows = [line for line in markdown.output.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert [int(line.split("|")[1]) for line in rows] == [1, 2, 3, 5, 7]


# -- synthetic flows -----------------------------------------------------------------------------


def _register_with_resent_401() -> Flow:
    """REGISTER sent 3 times; the server answers each copy with the same 401 (same To tag)."""
    flow = Flow()
    register = flow.request("REGISTER")
    challenge = digest_challenge("n1")
    flow.response(register, 401, "Unauthorized", challenge=challenge, to_tag="srv", at=1000.2)
    flow.again(register, at=1000.6)
    flow.response(register, 401, "Unauthorized", challenge=challenge, to_tag="srv", at=1000.7)
    flow.again(register, at=1001.6)
    flow.response(register, 401, "Unauthorized", challenge=challenge, to_tag="srv", at=1001.7)
    retry = flow.request("REGISTER", cseq=2, branch="z9hG4bK-2", auth=digest_credentials("n1"))
    flow.response(retry, 200, "OK", to_tag="srv")
    return flow


def test_resent_response_collapses_like_a_resent_request():
    ladder = build_ladder(_register_with_resent_401().messages)
    summary = [(r.frame, r.label, r.copies) for r in ladder.rows]
    assert summary == [
        (1, "REGISTER", ()),
        (2, "401 Unauthorized", ()),
        (3, "REGISTER", (3, 5)),
        (4, "401 Unauthorized", (4, 6)),
        (7, "REGISTER +auth", ()),
        (8, "200 OK", ()),
    ]
    copies_of_401 = ladder.rows[3]
    assert copies_of_401.auth == ""  # the challenge is shown once, under frame 2
    assert copies_of_401.last_copy_after == pytest.approx(1.5)
    lines = render_text(ladder, 80)
    assert sum("WWW-Auth Digest" in line for line in lines) == 1
    assert any("401 Unauthorized (retr. ×2: frames 4, 6; last +1.5s)" in line for line in lines)
    # +time counts from the previous message, hidden copies included: frame 7 came 0.1 s
    # after frame 6, not 1.0 s after the collapsed row's frame 4.
    assert ladder.rows[4].delta == pytest.approx(0.1)


def test_a_response_with_another_status_or_to_tag_is_not_a_copy():
    flow = Flow()
    invite = flow.request("INVITE")
    flow.response(invite, 100, "Trying")
    flow.response(invite, 180, "Ringing", to_tag="leg-a")
    flow.response(invite, 180, "Ringing", to_tag="leg-b")  # forked: another dialog, §12.1
    flow.response(invite, 180, "Ringing", to_tag="leg-a")  # a real copy
    ladder = build_ladder(flow.messages)
    assert [(r.frame, r.copies) for r in ladder.rows] == [
        (1, ()), (2, ()), (3, ()), (4, ()), (5, (5,)),
    ]


def test_a_new_transaction_with_the_same_text_is_not_a_copy():
    # Same method, same headers but a new branch: a new transaction (RFC 3261 §17.1.3), so
    # it keeps its own row even though a text comparison would call it a duplicate.
    flow = Flow()
    flow.request("OPTIONS", branch="z9hG4bK-a")
    flow.request("OPTIONS", branch="z9hG4bK-b")
    ladder = build_ladder(flow.messages)
    assert [r.copies for r in ladder.rows] == [(), ()]


def _invite_resent(copies: int) -> Flow:
    flow = Flow()
    invite = flow.request("INVITE", auth=digest_credentials("n1"))
    for _ in range(copies):
        flow.again(invite)
    return flow


def test_narrow_arrow_lists_the_frames_below_it():
    # Four columns: each arrow is too short for the frame list, which goes on lines below.
    flow = Flow()
    flow.request("OPTIONS", src="10.0.0.3:5060", dst="10.0.0.4:5060", branch="z9hG4bK-x")
    flow.request("OPTIONS", src="10.0.0.5:5060", dst="10.0.0.6:5060", branch="z9hG4bK-y")
    invite = flow.request("INVITE", auth=digest_credentials("n1"))
    for _ in range(9):
        flow.again(invite)
    ladder = build_ladder(flow.messages)
    assert ladder.rows[-1].copies == tuple(range(4, 13))
    for width in (40, 60, 80):
        lines = render_text(ladder, width)
        assert max(len(line) for line in lines) <= width
        text = "\n".join(lines)
        assert "retransmitted ×9: frames 4–12; last +900.0ms" in " ".join(
            line.strip(" |") for line in text.splitlines()
        ), text


def test_a_single_copy_gets_a_line_below_only_when_its_arrow_cannot_say_so():
    flow = Flow()
    flow.request("OPTIONS", src="10.0.0.3:5060", dst="10.0.0.4:5060", branch="z9hG4bK-x")
    invite = flow.request("INVITE")
    flow.again(invite)
    ladder = build_ladder(flow.messages)
    # Wide enough: "INVITE (retr." fits in the arrow and the frame column names the copy.
    lines = render_text(ladder, 80)
    assert lines[-1].split()[0] == "3" and "INVITE (retr" in lines[-1]
    # Four columns in 40 characters: the arrow holds no text, so a line below says it.
    lines = render_text(ladder, 40)
    row = next(i for i, line in enumerate(lines) if line.split()[0] == "3")
    assert "retr" not in lines[row]
    below = " ".join(line.strip(" |") for line in lines[row + 1 :])
    assert below.startswith("retransmitted ×1: frames 3; last +100.0ms")
    assert max(len(line) for line in lines) <= 40


def test_copies_between_other_endpoints_keep_their_own_row():
    # The same transaction seen from another port (a new TCP connection, a NAT rebinding):
    # transaction keys ignore ports, but the copy gets its own collapsed row so no column
    # loses its arrow.
    flow = _invite_resent(1)
    original = flow.messages[0]
    source = original.source
    moved = make_message(
        source.data.decode(), 3, source.time + 1.0, "10.0.0.1:5070", str(source.dst)
    )
    ladder = build_ladder([*flow.messages, moved])
    assert [(r.frame, r.copies) for r in ladder.rows] == [(1, ()), (2, (2,)), (3, (3,))]
    assert len(ladder.endpoints) == 3


def test_a_lone_copy_passed_in_keeps_its_row_and_mark():
    flow = _invite_resent(2)
    copies = flow.messages[1:]
    # The first transmission is not in the ladder: the copies correlate as a request and its
    # retransmission; the caller's set marks the first of them as a copy too.
    ladder = build_ladder(copies, retransmissions=frozenset({id(copies[0])}))
    assert [(r.frame, r.retransmission, r.copies) for r in ladder.rows] == [
        (2, True, ()),
        (3, False, (3,)),
    ]
    assert "INVITE +auth (retr.)" in "\n".join(render_text(ladder, 80))
    assert "(retransmission)" in "\n".join(render_markdown(ladder))


def test_row_limit_counts_collapsed_rows_and_reports_hidden_messages():
    flow = Flow(step=0.001)
    for n in range(MAX_LADDER_ROWS):
        request = flow.request("OPTIONS", branch=f"z9hG4bK-{n}", cseq=n + 1)
        for _ in range(3):
            flow.again(request)  # 4 messages, 2 rows: the request and its collapsed copies
    ladder = build_ladder(flow.messages)
    assert len(ladder.rows) == MAX_LADDER_ROWS
    # The first MAX_LADDER_ROWS // 2 requests fill the rows; the rest are counted by message.
    assert ladder.omitted == len(flow.messages) - 4 * (MAX_LADDER_ROWS // 2)
    assert render_text(ladder, 80)[-1] == f"… {ladder.omitted} more messages not shown"


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ((7, 9, 11, 13, 15), "7, 9, 11, 13, 15"),
        ((4, 5), "4, 5"),
        ((4, 5, 6, 7), "4–7"),
        ((3, 4, 5, 9, 10, 20), "3–5, 9, 10, 20"),
        ((), ""),
    ],
)
def test_frame_list_names_every_frame(frames, expected):
    assert frame_list(frames) == expected


def test_docs_usage_shows_the_current_collapsed_line():
    usage = (REPO_ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    assert GHOST_COLLAPSED in usage.splitlines(), (
        "docs/usage.md shows an outdated retransmission row: paste the frame 5–7 rows of "
        f"`sipauth flow sample_pcaps/fragmented-invite-ghost.pcap --call-id {GHOST_CALL_ID}`"
    )
