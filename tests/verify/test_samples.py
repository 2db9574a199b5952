"""Exact verdicts, per frame, on the real recordings in sample_pcaps/ (passwords: README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.pipeline import AnalysisOptions, analyze
from sipauth_analyzer.verify.credentials import KnownCredential
from sipauth_analyzer.verify.model import Verdict
from tests.conftest import SAMPLE_PCAPS_DIR

KNOWN = (
    KnownCredential("alice", "sipauth.test", password="wonderland-42"),
    KnownCredential("bob", "sipauth.test", password="builder-7"),
    KnownCredential("1001", "sipauth.test", password="letmein2024"),
)
V = Verdict
BRUTE = {frame: V.WRONG_PASSWORD for frame in range(3, 79, 4)} | {79: V.VERIFIED}
EXPECTED: dict[str, dict[int, Verdict]] = {
    "register-success.pcap": {3: V.VERIFIED},
    "register-success-qop.pcap": {3: V.VERIFIED},
    "register-success-tcp.pcap": {8: V.VERIFIED},
    "register-success-ipv6.pcap": {3: V.VERIFIED},
    # sipsak hashes the username "bob@" as sent; kamailio looks up "bob" and accepts.
    "register-success-sipsak.pcap": {3: V.VERIFIED},
    "register-407.pcap": {3: V.VERIFIED},
    "register-407-sipsak.pcap": {3: V.VERIFIED},
    "invite-407-success.pcap": {4: V.VERIFIED},
    "fragmented-invite.pcap": {5: V.VERIFIED},
    "register-wrong-password.pcap": {3: V.WRONG_PASSWORD},
    "register-wrong-password-rechallenge.pcap": {3: V.WRONG_PASSWORD, 5: V.WRONG_PASSWORD},
    "trailing-space-password.pcap": {3: V.NEAR_MISS},
    "wrong-username.pcap": {3: V.WRONG_USERNAME},
    "stale-nonce.pcap": {3: V.VERIFIED, 5: V.STALE_NONCE, 7: V.VERIFIED},
    "brute-force-svcrack.pcap": BRUTE,
    "brute-force-svcrack-noqop.pcap": {frame: V.UNVERIFIABLE for frame in range(3, 42, 2)},
    "sha256-to-md5-client.pcap": {},
    "enumerate-svwar.pcap": {},
}


def _sample(name: str) -> Path:
    path = SAMPLE_PCAPS_DIR / name
    if not path.is_file():
        pytest.skip(f"sample capture {path} is absent")
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_verdicts_per_frame(name: str) -> None:
    path = _sample(name)
    result = analyze([str(path)], AnalysisOptions(credentials=KNOWN))
    got = {frame: v.verdict for (_, frame), v in result.verifications.items()}
    assert got == EXPECTED[name]


def test_trailing_space_is_named() -> None:
    result = analyze(
        [str(_sample("trailing-space-password.pcap"))], AnalysisOptions(credentials=KNOWN)
    )
    (verification,) = result.verifications.values()
    assert verification.variant == "a trailing space"
    assert "trailing space" in verification.detail
    assert [f.code for f in result.findings if f.code == "SA111"] == ["SA111"]
    assert "wonderland" not in verification.detail


def test_misspelt_username_names_the_known_user() -> None:
    result = analyze([str(_sample("wrong-username.pcap"))], AnalysisOptions(credentials=KNOWN))
    (verification,) = result.verifications.values()
    assert verification.username == "alcie"
    assert verification.matched_user == "alice"
    sa112 = [f for f in result.findings if f.code == "SA112"]
    assert len(sa112) == 1 and '"alcie"' in sa112[0].message and sa112[0].frames == (3, 4)


def test_wrong_password_finding() -> None:
    result = analyze(
        [str(_sample("register-wrong-password-rechallenge.pcap"))],
        AnalysisOptions(credentials=KNOWN),
    )
    sa110 = [f for f in result.findings if f.code == "SA110"]
    assert len(sa110) == 1
    assert sa110[0].frames == (3, 4, 5, 6)
    assert "wonderland" not in sa110[0].message


def test_without_credentials_nothing_is_verified() -> None:
    result = analyze([str(_sample("register-wrong-password.pcap"))])
    assert result.verifications == {}
    assert not [f for f in result.findings if f.code in ("SA110", "SA111", "SA112", "SA113")]


def test_noqop_svcrack_right_guess_is_recognised() -> None:
    result = analyze(
        [str(_sample("brute-force-svcrack-noqop.pcap"))], AnalysisOptions(credentials=KNOWN)
    )
    details = {frame: v.detail for (_, frame), v in result.verifications.items()}
    assert 'matches the known password for "1001"' in details[41]
    assert all("matches no known password either" in details[f] for f in range(3, 41, 2))


@pytest.mark.parametrize(
    ("capture", "proof"),
    [
        ("register-wrong-password.pcap", "SA110"),
        ("trailing-space-password.pcap", "SA111"),
        ("wrong-username.pcap", "SA112"),
    ],
)
def test_a_proof_replaces_the_inferred_credentials_rejected_finding(
    capture: str, proof: str
) -> None:
    path = str(SAMPLE_PCAPS_DIR / capture)
    inferred = {f.code for f in analyze([path]).findings}
    proven = {f.code for f in analyze([path], AnalysisOptions(credentials=KNOWN)).findings}
    assert "SA303" in inferred and proof not in inferred
    assert proof in proven and "SA303" not in proven


def test_a_password_wrong_on_every_registration_is_one_finding(tmp_path: Path) -> None:
    """SA110 per client, server and user (rules.verdicts through base.PeerGroups): three
    registrations with the same wrong password make one finding naming all three."""
    from dataclasses import replace

    from sipauth_analyzer.verify import KnownCredential
    from tests.rules import rule_scenarios
    from tests.rules.captures.pcap_writer import pcap_bytes

    wires = []
    for number in range(1, 4):
        for wire in rule_scenarios.sa110_fires():
            text = wire.text.replace("call-1@192.0.2.10", f"c{number}-pw@192.0.2.10")
            text = text.replace("z9hG4bK-call-1", f"z9hG4bK-c{number}-pw")
            wires.append(replace(wire, text=text, time=wire.time + number * 100.0))
    data, _ = pcap_bytes(wires)
    path = tmp_path / "three-registrations.pcap"
    path.write_bytes(data)
    known = (KnownCredential(username=rule_scenarios.KNOWN_USER,
                             password=rule_scenarios.KNOWN_PASSWORD, label="test"),)
    found = [f for f in analyze([str(path)], AnalysisOptions(credentials=known)).findings
             if f.code == "SA110"]
    assert [f.message for f in found] == [
        '"edge" (realm "sbc.example"): the response (frames 3, 7, 11) matches no known password '
        "— the client is configured with a different password — in 3 exchanges"
    ]
    assert len(found[0].exchange_ids) == 3 and found[0].frames == (3, 4, 7, 8, 11, 12)
    assert rule_scenarios.KNOWN_PASSWORD not in found[0].message


def test_frames_text_names_eight_frames_then_counts() -> None:
    from sipauth_analyzer.rules.verdicts import frames_text

    def at(frame: int) -> object:
        return type("V", (), {"frame": frame})()

    assert frames_text([at(5)]) == "frame 5"  # type: ignore[list-item]
    assert frames_text([at(f) for f in (9, 3, 9)]) == "frames 3, 9"  # type: ignore[misc]
    assert frames_text([at(f) for f in range(20, 0, -1)]) == (  # type: ignore[misc]
        "frames 1, 2, 3, 4, 5, 6, 7, 8 and 12 more"
    )


def test_the_recorded_repeated_wrong_password_is_one_sa110() -> None:
    """SIPp registering three times with the same wrong password (sample_pcaps/README.md)."""
    result = analyze(
        [str(_sample("register-wrong-password-repeated.pcap"))], AnalysisOptions(credentials=KNOWN)
    )
    (sa110,) = [f for f in result.findings if f.code == "SA110"]
    assert sa110.frames == (3, 4, 7, 8, 11, 12) and len(sa110.exchange_ids) == 3
    assert sa110.message.endswith("— in 3 exchanges") and "frames 3, 7, 11" in sa110.message
    assert not [f for f in result.findings if f.code == "SA303"]
