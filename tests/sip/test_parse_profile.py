"""The analysis parse profile (SipParseOptions.keep_headers / body / keep_payload) keeps less
per message and changes nothing the parser reports or the analysis finds.

Unit tests pin what each part of the profile keeps and that every problem is still recorded;
the end-to-end tests run the whole analysis over every capture we have, once with the full
parse and once with the profile, and compare every report format byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipauth_analyzer import pipeline
from sipauth_analyzer.capture.files import CaptureError
from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze, read_sip
from sipauth_analyzer.primitives import Transport
from sipauth_analyzer.report.formats import ReportFormat
from sipauth_analyzer.report.view import build_report
from sipauth_analyzer.sip.message import HeaderNotKept, SipMessage
from sipauth_analyzer.sip.parser import (
    ANALYSIS_HEADERS,
    ANALYSIS_PARSE_OPTIONS,
    BodyPolicy,
    SipParseOptions,
    parse,
)
from sipauth_analyzer.verify import KnownCredential, Verdict
from tests.conftest import CAPTURES_DIR, REAL_PCAPS_DIR, SAMPLE_PCAPS_DIR, capture_files
from tests.report.conftest import render
from tests.rules.captures.pcap_writer import pcap_bytes
from tests.sip.helpers import captured, crlf
from tests.verify.digestcase import REALM, Case, authorization, body_of, digest

FULL = SipParseOptions()
# The analysis profile without payload bytes (ANALYSIS_KEEPS_PAYLOAD False), whatever the
# constant says today: both must give the same analysis.
LEAN = dataclasses.replace(ANALYSIS_PARSE_OPTIONS, keep_payload=False)
RULES_CAPTURES_DIR = CAPTURES_DIR.parent / "rules" / "captures"

REGISTER = crlf(
    "REGISTER sip:pbx.example.net SIP/2.0",
    "Via: SIP/2.0/UDP 203.0.113.66:5071;branch=z9hG4bK-51dc;rport",
    "Max-Forwards: 70",
    'From: "1941" <sip:1941@pbx.example.net>;tag=c83eec47',
    "To: <sip:1941@pbx.example.net>",
    "Call-ID: 8a1c0e2f@203.0.113.66",
    "CSeq: 2 REGISTER",
    "Contact: <sip:1941@203.0.113.66:5071>",
    "Expires: 3600",
    "User-Agent: friendly-scanner",
    'Authorization: Digest username="1941", realm="pbx", nonce="abc", uri="sip:pbx",'
    ' response="0123456789abcdef0123456789abcdef"',
    "Allow: INVITE, ACK, BYE",
    "Content-Type: application/sdp",
    "Content-Length: 10",
    body="v=0\r\nx=1\r\n",
)
BODY = b"v=0\r\nx=1\r\n"


def _parse(text: str | bytes, options: SipParseOptions, **fields: object) -> SipMessage:
    result = parse(captured(text, **fields), options)  # type: ignore[arg-type]
    assert isinstance(result, SipMessage), result
    return result


def test_the_profile_keeps_only_the_analysis_headers() -> None:
    full = _parse(REGISTER, FULL)
    lean = _parse(REGISTER, ANALYSIS_PARSE_OPTIONS)
    assert {"max-forwards", "contact", "expires", "allow", "content-type"} <= full.headers.keys()
    assert lean.headers == {k: v for k, v in full.headers.items() if k in ANALYSIS_HEADERS}
    assert lean.headers.keys() == {
        "via", "from", "to", "call-id", "cseq", "user-agent", "authorization", "content-length"
    }  # fmt: skip
    # Everything the analysis reads from a message is the same.
    for name in ("call_id", "cseq", "from_tag", "to_tag", "from_uri", "top_via_branch",
                 "user_agent", "summary", "request_uri", "method", "status"):  # fmt: skip
        assert getattr(lean, name) == getattr(full, name), name
    assert lean.credentials == full.credentials
    assert lean.problems == full.problems


def test_asking_for_a_header_the_profile_dropped_raises() -> None:
    lean = _parse(REGISTER, ANALYSIS_PARSE_OPTIONS)
    with pytest.raises(HeaderNotKept, match="contact"):
        lean.header("m")  # compact form of Contact (RFC 3261 §7.3.3)
    with pytest.raises(HeaderNotKept):
        lean.first("Expires")
    # A kept header that the message lacks is simply absent, as with the full parse.
    assert lean.header("Proxy-Authorization") == []
    assert lean.first("server") is None
    assert _parse(REGISTER, FULL).header("Warning") == []


def test_the_parser_always_keeps_what_it_reads_itself() -> None:
    options = SipParseOptions(keep_headers=frozenset({"user-agent"}))
    assert options.keep_headers == frozenset(
        {"user-agent", "call-id", "cseq", "from", "to", "via", "content-length"}
    )
    message = _parse(REGISTER.replace("CSeq: 2 REGISTER", "CSeq: 2 INVITE"), options)
    assert [p.kind for p in message.problems] == ["cseq-method-mismatch"]
    assert message.body == BODY


MALFORMED_HEADERS = [
    # A bad line among skipped headers, one among kept headers.
    "Contact <sip:x@192.0.2.1>",
    "Bad Name: 1",
    # A skipped header folded over two lines: its continuation is no orphan (RFC 3261 §7.3.1).
    "Subject: first\r\n  continued",
    # A kept header folded: joined exactly as in the full parse.
    "User-Agent: scanner\r\n\tv2",
    # A continuation with nothing before it.
    "\r\n  orphan",
]


@pytest.mark.parametrize("bad", MALFORMED_HEADERS)
def test_every_problem_is_recorded_whatever_is_kept(bad: str) -> None:
    text = REGISTER.replace("Expires: 3600\r\n", bad + "\r\n")
    full = _parse(text, FULL)
    lean = _parse(text, ANALYSIS_PARSE_OPTIONS)
    assert lean.problems == full.problems
    assert lean.headers == {k: v for k, v in full.headers.items() if k in ANALYSIS_HEADERS}


def test_folded_skipped_header_leaves_the_next_kept_header_intact() -> None:
    text = REGISTER.replace("Expires: 3600", "Expires: 36\r\n 00\r\nServer: s1\r\n x")
    lean = _parse(text, ANALYSIS_PARSE_OPTIONS)
    assert lean.header("server") == ["s1 x"]
    assert lean.problems == []


def test_skipped_lines_count_towards_the_line_limit() -> None:
    extra = "".join(f"X-Filler-{n}: {n}\r\n" for n in range(20))
    text = REGISTER.replace("Expires: 3600\r\n", extra)
    limited = dataclasses.replace(ANALYSIS_PARSE_OPTIONS, max_header_lines=10)
    full = _parse(text, dataclasses.replace(FULL, max_header_lines=10))
    lean = _parse(text, limited)
    assert [p.kind for p in lean.problems] == ["too-many-headers"]
    assert lean.problems == full.problems
    assert lean.headers == {k: v for k, v in full.headers.items() if k in ANALYSIS_HEADERS}


@pytest.mark.parametrize(
    ("qop", "kept"),
    [
        ("qop=auth", False),
        ("qop=auth-int", True),
        ("QOP=Auth-Int", True),
        ('qop="auth\\-int"', True),  # a quoted-pair (RFC 3261 §25.1) still spells auth-int
        ("", False),
    ],
)
def test_bodies_are_kept_only_where_a_digest_response_may_hash_them(qop: str, kept: bool) -> None:
    text = REGISTER.replace('response="0123456789abcdef0123456789abcdef"',
                            f'response="0123456789abcdef0123456789abcdef", {qop}')  # fmt: skip
    lean = _parse(text, ANALYSIS_PARSE_OPTIONS)
    assert lean.body == (BODY if kept else b"")
    assert _parse(text, FULL).body == BODY
    no_credentials = text.replace("Authorization:", "X-Authorization:")
    assert _parse(no_credentials, ANALYSIS_PARSE_OPTIONS).body == b""
    assert _parse(no_credentials, FULL).body == BODY


def test_body_problems_do_not_depend_on_the_body_policy() -> None:
    short = REGISTER.replace("Content-Length: 10", "Content-Length: 80")
    excess = REGISTER.replace("Content-Length: 10", "Content-Length: 2")
    missing = REGISTER.replace("Content-Length: 10\r\n", "")
    for text, transport in ((short, Transport.UDP), (excess, Transport.TCP),
                            (missing, Transport.TCP)):  # fmt: skip
        full = _parse(text, FULL, transport=transport)
        lean = _parse(text, ANALYSIS_PARSE_OPTIONS, transport=transport)
        assert full.problems, text
        assert lean.problems == full.problems


def test_the_profile_can_drop_the_payload_but_not_its_provenance() -> None:
    message = captured(REGISTER)
    lean = _parse(REGISTER, LEAN)
    assert lean.source.data == b""
    assert dataclasses.replace(lean.source, data=message.data) == message
    assert _parse(REGISTER, FULL).source.data == message.data
    kept = _parse(REGISTER, dataclasses.replace(LEAN, keep_payload=True))
    assert kept.source == message


def test_without_data_copies_every_other_field() -> None:
    original = CapturedMessage(
        data=b"x", file="f.pcap", frame=7, frames=(5, 7), time=1.5,
        src=captured("").src, dst=captured("").dst, transport=Transport.TCP, wire_size=99,
        ip_fragments=2, flags=frozenset({"ip-reassembled"}),
    )  # fmt: skip
    assert original.without_data() == dataclasses.replace(original, data=b"")


def test_keep_policy_is_the_default_and_messages_reads_in_full() -> None:
    assert FULL.keep_headers is None and FULL.body is BodyPolicy.KEEP and FULL.keep_payload
    path = SAMPLE_PCAPS_DIR / "invite-407-success.pcap"
    if not path.is_file():
        pytest.skip(f"sample capture {path} is absent")
    read = read_sip([str(path)])
    assert all(m.source.data and m.kept_headers is None for m in read.messages)
    assert any("contact" in m.headers for m in read.messages)
    assert any(m.body for m in read.messages)  # the INVITEs' SDP


# -- the whole analysis, full parse against the profile ----------------------------------------

WORDS = ("wonderland-42", "builder-7", "letmein2024", "password", "1234")
CREDENTIALS = tuple(KnownCredential(None, None, password=word) for word in WORDS[:3])


def _all_captures() -> Iterator[Path]:
    for directory in (SAMPLE_PCAPS_DIR, CAPTURES_DIR, RULES_CAPTURES_DIR):
        yield from capture_files(directory, recursive=True)


def _analyze(
    paths: list[str],
    options: AnalysisOptions,
    profile: SipParseOptions | None,
    monkeypatch: pytest.MonkeyPatch,
) -> AnalysisResult | None:
    if profile is not None:
        monkeypatch.setattr(pipeline, "ANALYSIS_PARSE_OPTIONS", profile)
    try:
        return analyze(paths, options)
    except CaptureError:
        return None  # unreadable as a whole (the CLI's exit 2): nothing to compare
    finally:
        monkeypatch.undo()


def _reports(result: AnalysisResult) -> dict[ReportFormat, str]:
    report = build_report([(None, result)])
    return {output_format: render(report, output_format) for output_format in ReportFormat}


def _assert_same_analysis(
    paths: list[str], options: AnalysisOptions, monkeypatch: pytest.MonkeyPatch
) -> bool:
    """The full parse, the analysis profile and the profile without payloads give the same
    findings, notes, verdicts and every report byte for byte; False when the capture cannot
    be read at all."""
    full = _analyze(paths, options, FULL, monkeypatch)
    used = _analyze(paths, options, None, monkeypatch)  # what analyze() uses
    lean = _analyze(paths, options, LEAN, monkeypatch)
    if full is None or used is None or lean is None:
        assert full is None and used is None and lean is None, paths
        return False
    # Each profile really was in force (the comparison below could not fail otherwise).
    assert all(m.kept_headers is None and m.source.data for m in full.correlation.messages)
    assert all(m.kept_headers == ANALYSIS_HEADERS for m in used.correlation.messages), paths
    assert all(not m.source.data for m in lean.correlation.messages), paths
    full_reports = _reports(full)
    for result in (used, lean):
        assert result.findings == full.findings, paths
        assert result.notes == full.notes, paths
        assert result.verifications == full.verifications, paths
        assert result.weak_passwords == full.weak_passwords, paths
        reports = _reports(result)
        for output_format in ReportFormat:
            assert reports[output_format] == full_reports[output_format], (paths, output_format)
    return True


def test_every_capture_gives_the_same_analysis_with_the_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wordlist = tmp_path / "words.txt"
    wordlist.write_text("\n".join(WORDS) + "\n")
    plain = AnalysisOptions()
    verifying = AnalysisOptions(credentials=CREDENTIALS, wordlist=str(wordlist))
    compared = 0
    for path in _all_captures():
        for options in (plain, verifying):
            compared += _assert_same_analysis([str(path)], options, monkeypatch)
    assert compared >= 2 * 100, compared


@pytest.mark.realsip
def test_every_real_capture_gives_the_same_analysis_with_the_profile(
    monkeypatch: pytest.MonkeyPatch, real_pcaps_dir: Path
) -> None:
    compared = 0
    for path in capture_files(real_pcaps_dir, recursive=True):
        compared += _assert_same_analysis([str(path)], AnalysisOptions(), monkeypatch)
    assert compared >= 10, f"expected the real captures under {REAL_PCAPS_DIR}"


def _auth_int_capture(tmp_path: Path, name: str, case: Case) -> str:
    data, _ = pcap_bytes(case.wires())
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(data)
    return str(path)


def test_auth_int_responses_verify_from_the_bodies_the_profile_keeps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    size = 60
    good = digest(qop="auth-int", body=body_of(size))
    cases = {
        "verified": (Case(authorization(response_hash=good, qop="auth-int"), body_size=size),
                     Verdict.VERIFIED),
        # The same, qop written with a quoted-pair: the body must still be kept and hashed.
        "escaped": (Case(authorization(response_hash=good, qop="auth-int").replace(
                        "qop=auth-int", 'qop="auth\\-int"'), body_size=size),
                    Verdict.VERIFIED),
        "empty-body-hash": (Case(authorization(response_hash=digest(qop="auth-int"),
                                               qop="auth-int"), final=403, body_size=size),
                            Verdict.WRONG_PASSWORD),
        "truncated": (Case(authorization(response_hash=good, qop="auth-int"), body_size=size,
                           content_length_extra=40),
                      Verdict.UNVERIFIABLE),
    }  # fmt: skip
    options = AnalysisOptions(credentials=(KnownCredential("alice", REALM, password="s3cret"),))
    for name, (case, expected) in cases.items():
        path = _auth_int_capture(tmp_path, name, case)
        assert _assert_same_analysis([path], options, monkeypatch)
        result = analyze([path], options)
        verdicts = [v.verdict for v in result.verifications.values()]
        assert verdicts == [expected], (name, result.verifications)
