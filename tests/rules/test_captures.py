"""Rules over real captures: the repository's recordings and the shared real-world collection.

Each expectation below was checked by a person against the capture in Wireshark (what the
traffic shows, and that the finding names the right frames). Entries are (code, first frame).
A capture missing from disk skips its case with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.correlate import correlate
from sipauth_analyzer.pipeline import read_sip
from sipauth_analyzer.primitives import NoteSink
from sipauth_analyzer.rules.engine import run_rules

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "sample_pcaps"
REAL_PCAPS = REPO_ROOT / ".." / "shared" / "real_pcaps"

# Recorded on loopback with Kamailio and real clients (scripts/record_samples.sh).
SAMPLE_EXPECTATIONS: dict[str, list[tuple[str, int]]] = {
    # svcrack guessing 1001's password: 20 failures in 1 s; the --reusenonce run proves the
    # guesses by answering one nonce with different responses within a single Call-ID.
    "brute-force-svcrack-noqop.pcap": [("SA601", 3), ("SA602", 1)],
    "brute-force-svcrack.pcap": [("SA601", 3), ("SA602", 1)],
    # svwar enumerating extensions: 6 usernames refused within 3.5 s.
    "enumerate-svwar.pcap": [("SA601", 1), ("SA602", 1)],
    # The 1363-byte INVITE is already over 1300 bytes; the retry with Proxy-Authorization
    # (1554 bytes) fragments; in the ghost run the fragments are dropped and it is sent 6 times.
    "fragmented-invite-ghost.pcap": [("SA401", 1), ("SA402", 1), ("SA403", 1)],
    "fragmented-invite.pcap": [("SA401", 1), ("SA402", 1)],
    "invite-407-success.pcap": [],
    "register-407-sipsak.pcap": [],  # sipsak answers a 407 on REGISTER: nothing to report
    "register-407.pcap": [],
    "register-success-ipv6.pcap": [],
    "register-success-qop.pcap": [],
    "register-success-sipsak.pcap": [],
    "register-success-tcp.pcap": [],
    "register-success.pcap": [],
    "register-wrong-password-rechallenge.pcap": [("SA301", 1), ("SA303", 3)],
    "register-wrong-password.pcap": [("SA303", 3)],
    "sha256-sipsak.pcap": [("SA102", 1)],
    "sha256-to-md5-client.pcap": [("SA102", 1)],
    # The refresh reuses the first nonce 5 s later, gets stale=true and recovers.
    "stale-nonce.pcap": [("SA202", 5)],
    "trailing-space-password.pcap": [("SA303", 3)],
    "wrong-username.pcap": [("SA303", 3)],
    # One finding for the three refused registrations (frames 3-4, 7-8, 11-12).
    "register-wrong-password-repeated.pcap": [("SA303", 3)],
}

REAL_EXPECTATIONS: dict[str, list[tuple[str, int]]] = {
    # friendly-scanner probing 3 hosts; its ignored challenges get no configuration advice.
    "CESNET_ipfixprobe/sip.pcap": [("SA602", 1)],
    "OISF_suricata-verify/sip-body-large__sip-body-large.pcap": [],
    # A softphone at 192.168.1.2 against sip.cybercity.dk: refused credentials for voi18063 /
    # voi18062, and two retries sent 18.7 s / 34.1 s after their challenge, re-challenged,
    # while this server was seen accepting nonces up to 17.3 s old. SA303 is one finding per
    # username, each over two registrations (frames 30 and 121; 154 and 430), and SA201 one
    # over both late retries (frames 442 and 539).
    "OISF_suricata-verify/sip-method__sip.pcap": [
        ("SA201", 442),
        ("SA303", 30),
        ("SA303", 154),
    ],
    # Two-packet captures: REGISTER → 401 and the capture stops (the message says so).
    "OISF_suricata-verify/sip-pattern-matching__sip.pcap": [("SA302", 1)],
    "OISF_suricata-verify/sip-tcp-pattern-matching__sip.pcap": [("SA302", 4)],
    "aboutsip_pkts/fragmented_tcp_sip.pcap": [],
    # A 5155-byte INVITE over UDP of which only the first IP fragment is in the capture.
    "aboutsip_pkts/fragmented_udp_sip.pcap": [("SA401", 1), ("SA404", 1)],
    "aboutsip_pkts/sipp_sll.pcap": [],
    "arkime_arkime/gtp-iphone.pcap": [],
    "irontec_sngrep/ipip.pcap": [],
    "irontec_sngrep/ipv6frag.pcap": [("SA401", 2), ("SA401", 5)],
    "irontec_sngrep/tlssaved.pcap": [],
    "ntop_nDPI/fuzz-2006-06-26-2594.pcap": [],
    "ntop_nDPI/gre_sip.pcapng": [("SA602", 1)],
    "ntop_nDPI/sip_hello.pcapng": [],
    "seladb_PcapPlusPlus/sip_reqs.pcap": [],
    "seladb_PcapPlusPlus/sip_resp.pcap": [],
    # 192.168.1.222 sends its INVITEs to 192.168.1.191 with Proxy-Authorization, but .191's
    # NOTIFY to .222 (frame 90) is challenged (92) and never answered; 2xx ACKs omit the
    # INVITEs' Proxy-Authorization (info): both calls, seen on both sides of the NAT (one
    # finding per client and server).
    "sipcapture_heplify/erspan_sip_ipv4_udp.pcapng": [
        ("SA305", 90),
        ("SA511", 61),
        ("SA511", 63),
    ],
    # Phone 1154: the registrar re-issues one nonce, the phone re-sends one response (wrong
    # password), three cycles; plus a 1464-byte UDP INVITE.
    "sipcapture_heplify/ipip0.pcap": [("SA301", 3), ("SA303", 5), ("SA401", 1)],
    "sipcapture_heplify/sip_ipv4_tcp_fragmented.pcap": [],
    "sipcapture_heplify/sip_ipv4_tcp_retrans.pcap": [],
    "sipcapture_heplify/sip_ipv6_udp.pcap": [],
    "sipcapture_heplify/sip_sctp.pcap": [],
    "sipcapture_heplify/sip_tcp_websocket.pcap": [("SA401", 20), ("SA401", 28), ("SA511", 18)],
    "zeek_zeek/sip-junk-before-request.pcap": [],
}


def _analyse(path: Path) -> list[tuple[str, int]]:
    read = read_sip([str(path)])
    notes = NoteSink()
    found = run_rules(correlate(read.messages), notes=notes)
    assert not [n for n in notes.notes if n.kind == "rule-failed"], notes.notes
    for finding in found:
        assert finding.frames and finding.message and finding.fingerprint
    # A finding is one problem between one client and one server: a rule that saw it in
    # several exchanges says so in one finding (rules.base.PeerGroups), never in several
    # findings with one fingerprint.
    fingerprints = [(f.code, f.fingerprint) for f in found]
    assert len(set(fingerprints)) == len(fingerprints), fingerprints
    return sorted((f.code, f.first_frame) for f in found)


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTATIONS))
def test_sample_capture(name: str) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not recorded yet")
    assert _analyse(path) == sorted(SAMPLE_EXPECTATIONS[name])


@pytest.mark.realsip
@pytest.mark.parametrize("name", sorted(REAL_EXPECTATIONS))
def test_real_capture(name: str) -> None:
    if not REAL_PCAPS.is_dir():
        pytest.skip(f"the real captures collection {REAL_PCAPS} is absent")
    path = REAL_PCAPS / name
    if not path.exists():
        pytest.skip(f"{path} is not in the collection")
    assert _analyse(path) == sorted(REAL_EXPECTATIONS[name])


@pytest.mark.realsip
def test_every_real_capture_has_an_expectation() -> None:
    if not REAL_PCAPS.is_dir():
        pytest.skip(f"the real captures collection {REAL_PCAPS} is absent")
    present = {
        str(p.relative_to(REAL_PCAPS))
        for p in REAL_PCAPS.rglob("*")
        if p.suffix in (".pcap", ".pcapng", ".cap")
    }
    assert present <= set(REAL_EXPECTATIONS)
