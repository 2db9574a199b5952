"""Regression tests for defects a review of correlation, rules and verification found, now fixed.

A finding spanning rotated files mixed their frame numbers; SA304 was quadratic in its window;
the wrong-username sample was blamed on the digest uri; a PBX whose extensions all used a wrong
realm was called a brute-force attacker, hiding the realm mismatch.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import AnalysisOptions, analyze
from sipauth_analyzer.rules import sa304_challenge_storm
from sipauth_analyzer.rules.base import RuleContext, RuleOptions
from sipauth_analyzer.verify import KnownCredential
from sipauth_analyzer.verify.model import Verdict
from tests.rules.sipbuild import UAC, UAS, Wire, correlation, request, response, www

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PCAPS = REPO_ROOT / "sample_pcaps"
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


# -- a minimal classic-pcap writer (Ethernet / IPv4 / UDP), so no scapy is needed -------------


def _frame(src: str, dst: str, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + udp


def _write_pcap(path: Path, packets: list[tuple[float, str, str, bytes]]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for time, src, dst, payload in packets:
        frame = _frame(src, dst, payload)
        seconds = int(time)
        out.append(struct.pack("<IIII", seconds, round((time - seconds) * 1e6), len(frame),
                               len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))


def _sip(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def _register(user: str, branch: str, cseq: int, call_id: str, auth: str | None = None) -> bytes:
    lines = [
        "REGISTER sip:s.example SIP/2.0",
        f"Via: SIP/2.0/UDP {CLIENT}:5060;branch={branch}",
        f"From: <sip:{user}@s.example>;tag=t{user}",
        f"To: <sip:{user}@s.example>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@{CLIENT}:5060>",
        "User-Agent: Yealink SIP-T46S",
    ]
    if auth:
        lines.append(auth)
    return _sip(*lines)


def _answer(user: str, branch: str, cseq: int, call_id: str, status: str, *extra: str) -> bytes:
    return _sip(
        f"SIP/2.0 {status}",
        f"Via: SIP/2.0/UDP {CLIENT}:5060;branch={branch}",
        f"From: <sip:{user}@s.example>;tag=t{user}",
        f"To: <sip:{user}@s.example>;tag=srv",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *extra,
    )


def _realm_mismatch_exchange(
    user: str, start: float, *, realm: str = "other.example"
) -> list[tuple[float, str, str, bytes]]:
    """REGISTER → 401 (realm s.example) → REGISTER with credentials for ``realm`` → 403."""
    call_id = f"reg-{user}"
    challenge = f'WWW-Authenticate: Digest realm="s.example", nonce="n-{user}", algorithm=MD5'
    auth = (
        f'Authorization: Digest username="{user}", realm="{realm}", nonce="n-{user}", '
        'uri="sip:s.example", response="0123456789abcdef0123456789abcdef", algorithm=MD5'
    )
    return [
        (start, CLIENT, SERVER, _register(user, f"z9hG4bKa{user}", 1, call_id)),
        (start + 0.01, SERVER, CLIENT,
         _answer(user, f"z9hG4bKa{user}", 1, call_id, "401 Unauthorized", challenge)),
        (start + 0.02, CLIENT, SERVER, _register(user, f"z9hG4bKb{user}", 2, call_id, auth)),
        (start + 0.03, SERVER, CLIENT,
         _answer(user, f"z9hG4bKb{user}", 2, call_id, "403 Forbidden")),
    ]


# -- 1. rotated captures: frame numbers of different files are merged ----------------------------


def test_finding_across_rotated_files_keeps_frames_per_file(tmp_path: Path) -> None:
    packets = _realm_mismatch_exchange("alice", 1000.0)
    _write_pcap(tmp_path / "a.pcap", packets[:2])  # REGISTER, 401 — frames 1, 2 of a.pcap
    _write_pcap(tmp_path / "b.pcap", packets[2:])  # retry, 403 — frames 1, 2 of b.pcap
    result = analyze([str(tmp_path)])
    (finding,) = [f for f in result.findings if f.code == "SA101"]
    # The challenge (a.pcap frame 2) comes before the retry (b.pcap frame 1) in capture time.
    assert [(Path(e.file).name, e.frame) for e in finding.evidence] == [
        ("a.pcap", 2),
        ("b.pcap", 1),
    ]
    # "frame.number in {1, 2}" selects the wrong packets in both files.
    assert "frame.number in {1, 2}" not in finding.display_filter


# -- 2. SA304 is quadratic in the size of the densest window ---------------------------------


def test_sa304_finds_the_densest_window_of_a_large_storm() -> None:
    # The window is kept as indices into the sorted challenges (it used to be copied each time
    # it grew: quadratic); the densest minute must still be found whole.
    count = 2000
    wires: list[Wire] = []
    for i in range(count):
        req = request("OPTIONS", cseq=1, branch=f"z9hG4bK{i}", call_id=f"c{i}", from_tag=f"t{i}")
        time = 1000.0 + i * (50.0 / count)
        wires.append(Wire(req, UAC, UAS, time))
        wires.append(Wire(response(req, 401, "Unauthorized", headers=[www()]), UAS, UAC,
                          time + 0.0001))
    ctx = RuleContext(correlation(wires), RuleOptions())
    (finding,) = list(sa304_challenge_storm.check(ctx))
    assert f"sent {count} challenges" in finding.message


# -- 3. wrong-username sample: the verdict blames the digest uri ---------------------------------


def test_wrong_username_sample_is_not_blamed_on_the_digest_uri() -> None:
    capture = SAMPLE_PCAPS / "wrong-username.pcap"
    if not capture.is_file():
        pytest.skip(f"{capture} is absent")
    known = (KnownCredential(username=None, password="wonderland-42", label="test"),)
    result = analyze([str(capture)], AnalysisOptions(credentials=known))
    verdicts = {frame: v.verdict for (_file, frame), v in result.verifications.items()}
    assert verdicts[3] is not Verdict.URI_MISMATCH
    # Control: the identical uri form (sip:127.0.0.1:5060 for Request-URI sip:127.0.0.1) is
    # accepted by the same registrar when the username is right.
    ok = analyze([str(SAMPLE_PCAPS / "register-success.pcap")], AnalysisOptions(credentials=known))
    assert {v.verdict for v in ok.verifications.values()} == {Verdict.VERIFIED}


# -- 4. a PBX with five misconfigured extensions is called a brute-force attacker --------------


def test_pbx_with_five_extensions_and_wrong_realm_is_realm_mismatch(tmp_path: Path) -> None:
    packets: list[tuple[float, str, str, bytes]] = []
    for index, user in enumerate(("201", "202", "203", "204", "205")):
        packets.extend(_realm_mismatch_exchange(user, 1000.0 + index * 0.5, realm="asterisk"))
    path = tmp_path / "pbx.pcap"
    _write_pcap(path, packets)
    found = analyze([str(path)]).findings
    assert "SA601" not in [f.code for f in found]
    # One finding for the PBX, naming every extension and counting the registrations.
    (mismatch,) = [f for f in found if f.code == "SA101"]
    assert mismatch.message == (
        'challenge realm "s.example" ≠ credentials realm "asterisk" (username "201", '
        '"202", "203", "204", "205") — in 5 exchanges'
    )
    assert len(mismatch.exchange_ids) == 5


@pytest.mark.parametrize(("code", "status"), [("SA110", 403), ("SA603", 200)])
def test_a_request_without_credentials_never_borrows_a_verdict_from_its_frame(
    code: str, status: int
) -> None:
    """Verdicts are keyed by (file, frame); a TCP segment completing an authenticated REGISTER
    and a plain OPTIONS gives both the same frame. Only the REGISTER may get SA110 / SA603
    (before the fix the OPTIONS got an SA110 of its own and was merged into SA603's)."""
    import dataclasses

    from sipauth_analyzer.correlate import correlate
    from sipauth_analyzer.rules.engine import run_rules
    from sipauth_analyzer.sip.message import SipMessage, parse_message
    from sipauth_analyzer.verify import VERIFICATIONS_CACHE_KEY, WEAK_PASSWORDS_CACHE_KEY
    from sipauth_analyzer.verify.model import Verification, WeakPasswordHit
    from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials

    flow = Flow()
    first = flow.request("REGISTER", call_id="reg", cseq=1, branch="z9hG4bK-r1")
    flow.response(first, 401, challenge=digest_challenge("n1"))
    retry = flow.request(
        "REGISTER", call_id="reg", cseq=2, branch="z9hG4bK-r2", auth=digest_credentials("n1")
    )
    options = flow.request("OPTIONS", call_id="ping", branch="z9hG4bK-o1")
    frame = retry.source.frame
    same_frame = parse_message(dataclasses.replace(options.source, frame=frame, frames=(frame,)))
    assert isinstance(same_frame, SipMessage)
    flow.messages[-1] = same_frame
    flow.response(retry, status)
    flow.response(same_frame, 200)
    correlation = correlate(flow.messages)
    assert len(correlation.exchanges) == 2
    file = retry.source.file
    verification = Verification(
        file=file, frame=frame, method="REGISTER", verdict=Verdict.WRONG_PASSWORD,
        detail="does not match", username="alice", realm="example.com", status=status,
    )
    hit = WeakPasswordHit(
        file=file, frame=frame, method="REGISTER", username="alice", realm="example.com",
        status=status,
    )
    (finding,) = run_rules(
        correlation,
        select=(code,),
        cache={
            VERIFICATIONS_CACHE_KEY: {(file, frame): verification},
            WEAK_PASSWORDS_CACHE_KEY: (hit,),
        },
    )
    assert finding.exchange_ids == (correlation.exchanges[0].id,)
    assert finding.call_ids == ("reg",)
