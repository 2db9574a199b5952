"""Pin what sample_pcaps/README.md says about each recorded capture, read back with tshark.

The captures in sample_pcaps/ were recorded from real software by scripts/record_samples.sh.
For each one the README gives the message flow (Wireshark frame numbers) and the facts a
correct analysis must find. These tests read the files with tshark — never with our own parser,
so they check the recordings, not the analyzer — and recompute every digest response with the
documented throwaway passwords (RFC 2617 §3.2.2.1, RFC 8760 §3), so README, script and files
cannot drift apart: re-recording changes nonces and responses but must keep every fact here.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

import pytest

from tests.conftest import REPO_ROOT, SAMPLE_PCAPS_DIR

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        shutil.which("tshark") is None,
        reason="tshark is not on PATH (make tshark installs it; CI has it)",
    ),
]

README = SAMPLE_PCAPS_DIR / "README.md"
RECORD_SCRIPT = REPO_ROOT / "scripts" / "record_samples.sh"
REALM = "sipauth.test"
PASSWORDS = {"alice": "wonderland-42", "bob": "builder-7", "1001": "letmein2024"}
MAX_CAPTURE_BYTES = 100 * 1024
MAX_FOLDER_BYTES = 1536 * 1024

# Wireshark frame number → method or status code of the SIP message tshark shows there.
FLOWS: dict[str, str] = {
    "register-success": "1 REGISTER, 2 401, 3 REGISTER, 4 200",
    "register-success-sipsak": "1 REGISTER, 2 401, 3 REGISTER, 4 200",
    "register-success-qop": "1 REGISTER, 2 401, 3 REGISTER, 4 200",
    "register-success-tcp": "4 REGISTER, 6 401, 8 REGISTER, 9 200",
    "register-success-ipv6": "1 REGISTER, 2 401, 3 REGISTER, 4 200",
    "invite-407-success": (
        "1 INVITE, 2 407, 3 ACK, 4 INVITE, 5 100, 6 INVITE, 7 180, 8 180, 9 200, 10 200,"
        " 11 ACK, 12 ACK, 13 BYE, 14 BYE, 15 200, 16 200"
    ),
    "register-wrong-password": "1 REGISTER, 2 401, 3 REGISTER, 4 403",
    "register-wrong-password-rechallenge": (
        "1 REGISTER, 2 401, 3 REGISTER, 4 401, 5 REGISTER, 6 401"
    ),
    # Three registrations one second apart, each refused.
    "register-wrong-password-repeated": ", ".join(
        f"{4 * i + 1} REGISTER, {4 * i + 2} 401, {4 * i + 3} REGISTER, {4 * i + 4} 403"
        for i in range(3)
    ),
    "fragmented-invite": (
        "1 INVITE, 2 407, 3 ACK, 5 INVITE, 6 100, 8 INVITE, 9 180, 10 180, 11 200, 12 200,"
        " 13 ACK, 14 ACK, 15 BYE, 16 BYE, 17 200, 18 200"
    ),
    "fragmented-invite-ghost": (
        "1 INVITE, 2 407, 3 ACK, 5 INVITE, 7 INVITE, 9 INVITE, 11 INVITE, 13 INVITE, 15 INVITE"
    ),
    "stale-nonce": ("1 REGISTER, 2 401, 3 REGISTER, 4 200, 5 REGISTER, 6 401, 7 REGISTER, 8 200"),
    "register-407": "1 REGISTER, 2 407, 3 REGISTER, 4 200",
    "register-407-sipsak": "1 REGISTER, 2 407, 3 REGISTER, 4 200",
    "sha256-to-md5-client": "1 REGISTER, 2 401",
    "sha256-sipsak": "1 REGISTER, 2 401",
    "trailing-space-password": "1 REGISTER, 2 401, 3 REGISTER, 4 403",
    "wrong-username": "1 REGISTER, 2 401, 3 REGISTER, 4 403",
    # 20 guesses, each: REGISTER → 401, REGISTER+Authorization → 403 (the last one 200).
    "brute-force-svcrack": ", ".join(
        f"{4 * i + 1} REGISTER, {4 * i + 2} 401, {4 * i + 3} REGISTER, {4 * i + 4} "
        + ("200" if i == 19 else "403")
        for i in range(20)
    ),
    # 1 probe, then 20 guesses each answered by a fresh 401 (credentials malformed).
    "brute-force-svcrack-noqop": ", ".join(
        f"{2 * i + 1} REGISTER, {2 * i + 2} 401" for i in range(21)
    ),
    "enumerate-svwar": ", ".join(
        f"{2 * i + 1} REGISTER, {2 * i + 2} {code}"
        for i, code in enumerate([404, 404, 401, 404, 404, 404, 401, 401, 404])
    ),
}

FIELDS = (
    "frame.number",
    "frame.time_relative",
    "frame.len",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "ip.flags.mf",
    "ip.frag_offset",
    "ip.len",
    "udp.length",
    "udp.srcport",
    "tcp.len",
    "sip.Method",
    "sip.Status-Code",
    "sip.CSeq.seq",
    "sip.CSeq.method",
    "sip.r-uri",
    "sip.Call-ID",
    "sip.to.user",
    "sip.User-Agent",
    "sip.WWW-Authenticate",
    "sip.Proxy-Authenticate",
    "sip.Authorization",
    "sip.Proxy-Authorization",
    "sip.auth.username",
    "sip.auth.realm",
    "sip.auth.nonce",
    "sip.auth.uri",
    "sip.auth.digest.response",
    "sip.auth.algorithm",
    "sip.auth.qop",
    "sip.auth.nc",
    "sip.auth.cnonce",
    "sip.auth.stale",
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as tshark dissects it: field name → first occurrence, quotes removed."""

    number: int
    fields: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def label(self) -> str:
        return self["sip.Method"] or self["sip.Status-Code"]

    @property
    def credentials(self) -> str:
        return self["sip.Authorization"] or self["sip.Proxy-Authorization"]

    @property
    def challenge(self) -> str:
        return self["sip.WWW-Authenticate"] or self["sip.Proxy-Authenticate"]


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


@cache
def frames(name: str) -> dict[int, Frame]:
    """Every frame of sample_pcaps/<name>.pcap, keyed by Wireshark frame number."""
    path = SAMPLE_PCAPS_DIR / f"{name}.pcap"
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for field in FIELDS:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    result: dict[int, Frame] = {}
    for line in out.splitlines():
        values = line.split("\t")
        row = {f: _unquote(v) for f, v in zip(FIELDS, values, strict=False) if v}
        number = int(row["frame.number"])
        result[number] = Frame(number, row)
    return result


def sip_frames(name: str) -> list[Frame]:
    return [f for f in frames(name).values() if f.label]


def flow(name: str) -> str:
    return ", ".join(f"{f.number} {f.label}" for f in sip_frames(name))


def frame(name: str, number: int) -> Frame:
    return frames(name)[number]


def expected_response(
    creds: Frame, password: str, *, username: str | None = None, method: str | None = None
) -> str:
    """The digest response for ``creds`` computed with ``password`` (RFC 2617 §3.2.2.1).

    Uses the username, realm, nonce, uri, qop, nc and cnonce exactly as sent, so a match proves
    the client hashed that password; ``username`` overrides the sent one (wrong-username).
    """
    algorithm = creds["sip.auth.algorithm"] or "MD5"
    hash_name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]

    def h(text: str) -> str:
        return hashlib.new(hash_name, text.encode()).hexdigest()

    user = creds["sip.auth.username"] if username is None else username
    ha1 = h(f"{user}:{creds['sip.auth.realm']}:{password}")
    ha2 = h(f"{method or creds['sip.CSeq.method']}:{creds['sip.auth.uri']}")
    qop = creds["sip.auth.qop"]
    if qop:
        nc, cnonce = creds["sip.auth.nc"], creds["sip.auth.cnonce"]
        return h(f"{ha1}:{creds['sip.auth.nonce']}:{nc}:{cnonce}:{qop}:{ha2}")
    return h(f"{ha1}:{creds['sip.auth.nonce']}:{ha2}")


def answers_with(creds: Frame, password: str, *, username: str | None = None) -> bool:
    return creds["sip.auth.digest.response"] == expected_response(
        creds, password, username=username
    )


# ---- the folder ---------------------------------------------------------------------------


def test_every_capture_is_documented_and_pinned() -> None:
    on_disk = {p.stem for p in SAMPLE_PCAPS_DIR.glob("*.pcap")}
    assert on_disk == set(FLOWS), "sample_pcaps/ and FLOWS disagree"
    readme = README.read_text(encoding="utf-8")
    for name in FLOWS:
        assert f"`{name}.pcap`" in readme, f"{name}.pcap is not described in README.md"


def test_every_capture_is_recorded_by_the_script() -> None:
    script = RECORD_SCRIPT.read_text(encoding="utf-8")
    for name in FLOWS:
        assert f"sc_{name.replace('-', '_')}()" in script, f"no scenario records {name}"


def test_captures_are_small() -> None:
    sizes = {p.name: p.stat().st_size for p in SAMPLE_PCAPS_DIR.glob("*.pcap")}
    assert all(size < MAX_CAPTURE_BYTES for size in sizes.values()), sizes
    assert sum(sizes.values()) < MAX_FOLDER_BYTES


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_matches_readme(name: str) -> None:
    assert flow(name) == FLOWS[name]


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_only_loopback_traffic(name: str) -> None:
    addresses = {
        f[key]
        for f in frames(name).values()
        for key in ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst")
        if f[key]
    }
    assert addresses <= {"127.0.0.1", "::1"}, addresses


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_challenge_names_the_test_realm(name: str) -> None:
    for f in sip_frames(name):
        if f.challenge or f.credentials:
            assert f["sip.auth.realm"] == REALM, f.number


# ---- successes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "challenge", "retry", "user"),
    [
        ("register-success", 2, 3, "alice"),
        ("register-success-qop", 2, 3, "alice"),
        ("register-success-tcp", 6, 8, "alice"),
        ("register-success-ipv6", 2, 3, "bob"),
        ("register-407", 2, 3, "alice"),
    ],
)
def test_sipp_register_success(name: str, challenge: int, retry: int, user: str) -> None:
    creds = frame(name, retry)
    assert frame(name, challenge)["sip.auth.nonce"] == creds["sip.auth.nonce"]
    assert creds["sip.auth.username"] == user
    assert answers_with(creds, PASSWORDS[user])
    assert creds["sip.CSeq.seq"] == "2"
    assert creds["sip.Call-ID"] == frame(name, challenge)["sip.Call-ID"]


def test_register_success_challenge_is_plain_md5_401() -> None:
    challenge = frame("register-success", 2)
    assert challenge["sip.WWW-Authenticate"].startswith("Digest ")
    assert not challenge["sip.auth.qop"] and not challenge["sip.auth.algorithm"]
    creds = frame("register-success", 3)
    assert creds["sip.Authorization"] and creds["sip.auth.algorithm"] == "MD5"
    # SIPp puts the transport address, not the Request-URI, in the digest uri (RFC 3261
    # §22.4 wants them equal); kamailio does not check it, so this still succeeds.
    assert creds["sip.r-uri"] == "sip:127.0.0.1"
    assert creds["sip.auth.uri"] == "sip:127.0.0.1:5060"


def test_sipsak_sends_username_with_trailing_at_and_succeeds() -> None:
    for name in ("register-success-sipsak", "register-407-sipsak"):
        creds = frame(name, 3)
        assert creds["sip.auth.username"] == "bob@"
        assert creds["sip.User-Agent"].startswith("sipsak 0.9.8")
        assert answers_with(creds, "builder-7")
        assert not answers_with(creds, "builder-7", username="bob")
        assert frame(name, 4).label == "200"


def test_qop_auth_success_carries_nc_and_cnonce() -> None:
    assert frame("register-success-qop", 2)["sip.auth.qop"] == "auth"
    creds = frame("register-success-qop", 3)
    assert creds["sip.auth.qop"] == "auth"
    assert creds["sip.auth.nc"] == "00000001"
    assert creds["sip.auth.cnonce"]


def test_register_over_tcp() -> None:
    assert all(frame("register-success-tcp", n)["tcp.len"] for n in (4, 6, 8, 9))
    assert not any(f["udp.length"] for f in frames("register-success-tcp").values())


def test_register_over_ipv6_has_unbracketed_digest_uri() -> None:
    creds = frame("register-success-ipv6", 3)
    assert creds["ipv6.src"] == "::1"
    # SIPp writes the IPv6 host without brackets (invalid per RFC 3261 §25.1 / RFC 5118 §4.1).
    assert creds["sip.auth.uri"] == "sip:::1:5060"
    assert creds["sip.r-uri"] == "sip:[::1]"


def test_register_407_uses_proxy_headers() -> None:
    for name in ("register-407", "register-407-sipsak"):
        assert frame(name, 2)["sip.Proxy-Authenticate"]
        assert not frame(name, 2)["sip.WWW-Authenticate"]
        assert frame(name, 3)["sip.Proxy-Authorization"]
        assert not frame(name, 3)["sip.Authorization"]


def test_invite_407_success() -> None:
    name = "invite-407-success"
    invite, challenge, ack, retry = (frame(name, n) for n in (1, 2, 3, 4))
    assert challenge["sip.Proxy-Authenticate"] and challenge["sip.CSeq.method"] == "INVITE"
    # RFC 3261 §17.1.1.3: the ACK of the 407 has the INVITE's CSeq number.
    assert ack["sip.CSeq.seq"] == invite["sip.CSeq.seq"] == "1"
    assert retry["sip.CSeq.seq"] == "2"
    assert retry["sip.Call-ID"] == invite["sip.Call-ID"]
    assert retry["sip.auth.username"] == "alice"
    assert retry["sip.auth.nonce"] == challenge["sip.auth.nonce"]
    assert answers_with(retry, "wonderland-42")
    assert retry["sip.r-uri"] == "sip:service@sipauth.test"
    # The proxy removed the credentials it consumed before relaying (frame 6 → the callee).
    assert not frame(name, 6).credentials
    assert frame(name, 10)["sip.CSeq.method"] == "INVITE"


# ---- failures -----------------------------------------------------------------------------


def test_wrong_password_gets_403() -> None:
    creds = frame("register-wrong-password", 3)
    assert not answers_with(creds, "wonderland-42")
    assert answers_with(creds, "wonderland-24")
    assert frame("register-wrong-password", 4)["sip.CSeq.seq"] == "2"


def test_the_same_wrong_password_on_three_registrations() -> None:
    name = "register-wrong-password-repeated"
    call_ids = {frame(name, n)["sip.Call-ID"] for n in (1, 5, 9)}
    assert len(call_ids) == 3
    nonces = [frame(name, n)["sip.auth.nonce"] for n in (2, 6, 10)]
    assert len(set(nonces)) == 3
    for retry in (3, 7, 11):
        creds = frame(name, retry)
        assert creds["sip.Call-ID"] == frame(name, retry - 2)["sip.Call-ID"]
        assert creds["sip.auth.nonce"] == frame(name, retry - 1)["sip.auth.nonce"]
        assert not answers_with(creds, "wonderland-42")
        assert answers_with(creds, "wonderland-24")
    assert {frame(name, n)["udp.srcport"] for n in (1, 5, 9)} == {"5061"}


def test_wrong_password_rechallenged_with_fresh_nonces() -> None:
    name = "register-wrong-password-rechallenge"
    nonces = [frame(name, n)["sip.auth.nonce"] for n in (2, 4, 6)]
    assert len(set(nonces)) == 3
    for retry, challenge in ((3, 2), (5, 4)):
        creds = frame(name, retry)
        assert creds["sip.auth.nonce"] == frame(name, challenge)["sip.auth.nonce"]
        assert answers_with(creds, "wonderland-24")
        assert not answers_with(creds, "wonderland-42")
    assert not frame(name, 4)["sip.auth.stale"]


def test_trailing_space_password() -> None:
    creds = frame("trailing-space-password", 3)
    assert answers_with(creds, "wonderland-42 ")
    assert not answers_with(creds, "wonderland-42")


def test_wrong_username() -> None:
    creds = frame("wrong-username", 3)
    assert creds["sip.auth.username"] == "alcie"
    assert creds["sip.to.user"] == "alice"
    assert answers_with(creds, "wonderland-42")  # right password, misspelt user


def test_stale_nonce() -> None:
    name = "stale-nonce"
    first_nonce = frame(name, 2)["sip.auth.nonce"]
    reused = frame(name, 5)
    assert reused["sip.auth.nonce"] == first_nonce
    assert answers_with(reused, "wonderland-42")  # right password, expired nonce
    waited = float(reused["frame.time_relative"]) - float(frame(name, 4)["frame.time_relative"])
    assert waited > 3.0  # kamailio ran with nonce_expire = 3 s
    stale = frame(name, 6)
    assert stale["sip.auth.stale"].lower() == "true"
    assert stale["sip.auth.nonce"] != first_nonce
    assert frame(name, 7)["sip.auth.nonce"] == stale["sip.auth.nonce"]
    assert answers_with(frame(name, 7), "wonderland-42")
    cseqs = [frame(name, n)["sip.CSeq.seq"] for n in (3, 4, 5, 6, 7, 8)]
    assert cseqs == ["2", "2", "3", "3", "4", "4"]


@pytest.mark.parametrize("name", ["sha256-to-md5-client", "sha256-sipsak"])
def test_sha256_challenge_is_never_answered(name: str) -> None:
    challenge = frame(name, 2)
    assert challenge["sip.auth.algorithm"] == "SHA-256"
    assert not any(f.credentials for f in frames(name).values())


# ---- fragmentation ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fragmented-invite", "fragmented-invite-ghost"])
def test_only_the_authenticated_invite_is_fragmented(name: str) -> None:
    first = frame(name, 1)
    assert first["ip.flags.mf"] in ("", "0", "False") and int(first["ip.len"]) <= 1500
    head, tail = frame(name, 4), frame(name, 5)
    assert head["ip.flags.mf"] in ("1", "True") and head["ip.frag_offset"] == "0"
    assert int(head["ip.len"]) == 1500
    assert int(tail["ip.frag_offset"]) > 0
    assert int(tail["udp.length"]) > 1500 - 28  # the whole datagram did not fit
    assert tail["sip.Proxy-Authorization"] and tail["sip.CSeq.seq"] == "2"
    assert answers_with(tail, "wonderland-42")


def test_fragmented_invite_is_relayed_and_answered() -> None:
    assert frame("fragmented-invite", 6).label == "100"
    assert frame("fragmented-invite", 12).label == "200"


def test_ghost_call_retransmits_until_timer_b() -> None:
    name = "fragmented-invite-ghost"
    retries = [frame(name, n) for n in (5, 7, 9, 11, 13, 15)]
    assert len({f["sip.auth.digest.response"] for f in retries}) == 1
    assert all(f["sip.CSeq.seq"] == "2" for f in retries)
    # RFC 3261 §17.1.1.2: retransmissions double from T1 = 0.5 s; nothing answers them.
    times = [float(f["frame.time_relative"]) for f in retries]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, expected in zip(gaps, [0.5, 1, 2, 4, 8], strict=True):
        assert abs(gap - expected) < 0.25, gaps
    assert not any(f["sip.Status-Code"] for f in sip_frames(name)[2:])


# ---- attack tools -------------------------------------------------------------------------


def _script_wordlist() -> list[str]:
    """The dictionary svcrack used, read from record_samples.sh so the two cannot drift."""
    script = RECORD_SCRIPT.read_text(encoding="utf-8")
    match = re.search(r"WORDLIST=\(([^)]*)\)", script)
    assert match, "WORDLIST not found in record_samples.sh"
    return match.group(1).split()


def test_svcrack_brute_force_finds_the_last_word() -> None:
    words = _script_wordlist()
    assert len(words) == 20 and words[-1] == PASSWORDS["1001"]
    attempts = [f for f in sip_frames("brute-force-svcrack") if f.credentials]
    assert len(attempts) == len(words)
    for attempt, word in zip(attempts, words, strict=True):
        assert attempt["sip.User-Agent"] == "friendly-scanner"
        assert attempt["sip.auth.username"] == "1001"
        assert attempt["sip.auth.qop"] == "auth" and attempt["sip.auth.cnonce"]
        assert answers_with(attempt, word)
    assert [int(a["sip.auth.nc"]) for a in attempts] == list(range(1, 21))


def test_svcrack_without_offered_qop_sends_malformed_credentials() -> None:
    name = "brute-force-svcrack-noqop"
    attempts = [f for f in sip_frames(name) if f.credentials]
    assert len(attempts) == 20
    for attempt in attempts:
        # qop=auth without nc/cnonce: RFC 2617 §3.2.2 makes both mandatory with qop.
        assert attempt["sip.auth.qop"] == "auth"
        assert not attempt["sip.auth.nc"] and not attempt["sip.auth.cnonce"]
    assert not any(f["sip.auth.qop"] for f in sip_frames(name) if f.challenge)
    # The last guess is the right password, hashed RFC 2069-style, yet it is still refused.
    assert attempts[-1]["sip.auth.digest.response"] == expected_response(
        Frame(0, {**attempts[-1].fields, "sip.auth.qop": ""}), PASSWORDS["1001"]
    )
    assert frame(name, 42).label == "401"


def test_svwar_enumeration_separates_known_users() -> None:
    answers = {}
    for f in sip_frames("enumerate-svwar"):
        if f["sip.Method"] == "REGISTER":
            user = f["sip.to.user"]
        else:
            answers[user] = f.label
    assert answers["1001"] == answers["alice"] == answers["bob"] == "401"
    assert answers["1000"] == answers["1002"] == answers["1003"] == answers["carol"] == "404"
