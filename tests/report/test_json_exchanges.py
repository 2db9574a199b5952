"""``json_report.exchange_json`` writes each exchange as JSON text directly (docs/performance.md):
it must be byte for byte what the report's encoder writes for the same record built as data,
the way the report was written before. The reference below is that code, kept here."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bench.generate import StormParams, generate_storm
from sipauth_analyzer import __version__
from sipauth_analyzer.capture.model import CaptureStats
from sipauth_analyzer.correlate import correlate
from sipauth_analyzer.correlate.model import AuthExchange, Transaction
from sipauth_analyzer.pipeline import AnalysisOptions, AnalysisResult, analyze
from sipauth_analyzer.primitives import REDACTED
from sipauth_analyzer.report.json_report import _compact, exchange_json
from sipauth_analyzer.report.view import PeerNames, RunReport, build_report
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.verify import KnownCredential
from tests.conftest import CAPTURES_DIR, REAL_PCAPS_DIR, SAMPLE_PCAPS_DIR, capture_files
from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials


def _time(epoch: float | None) -> float | None:
    return round(epoch, 6) if epoch is not None else None


def _secret(value: str | None, show: bool) -> str | None:
    if value is None:
        return None
    return value if show else REDACTED


def _challenges(message: SipMessage | None) -> list[dict[str, Any]]:
    if message is None:
        return []
    return [
        {
            "header": c.header.value,
            "scheme": c.scheme,
            "realm": c.realm,
            "nonce": c.nonce,
            "algorithm": c.algorithm,
            "qop": list(c.qop_options),
            "opaque": c.opaque is not None,
            "stale": c.stale,
        }
        for c in message.challenges
    ]


def _credentials(message: SipMessage, show_secrets: bool) -> list[dict[str, Any]]:
    return [
        {
            "header": c.header.value,
            "scheme": c.scheme,
            "username": c.username,
            "realm": c.realm,
            "nonce": c.nonce,
            "uri": c.uri,
            "algorithm": c.algorithm,
            "qop": c.qop,
            "nc": c.nc,
            "response": _secret(c.response, show_secrets),
            "cnonce": _secret(c.cnonce, show_secrets),
        }
        for c in message.credentials
    ]


def _attempt(attempt: Transaction, run: RunReport, show_secrets: bool) -> dict[str, Any]:
    request = attempt.request
    source = request.source
    final = attempt.final
    verifications = run.result.verifications
    verification = verifications.get((source.file, source.frame)) if verifications else None
    return {
        "frame": source.frame,
        "file": source.file,
        "time": _time(source.time),
        "cseq": request.cseq_number,
        "transport": source.transport.value,
        "size": source.wire_size,
        "retransmission_frames": [m.source.frame for m in attempt.retransmissions],
        "responses": [
            {"frame": r.source.frame, "time": _time(r.source.time), "status": r.status}
            for r in attempt.responses
        ],
        "final_status": final.status if final is not None else None,
        "challenges": _challenges(
            final if final is not None and final.status in (401, 407) else None
        ),
        "credentials": _credentials(request, show_secrets),
        "verification": verification.as_json() if verification is not None else None,
    }


def reference_record(
    exchange: AuthExchange, run: RunReport, peers: PeerNames, show_secrets: bool
) -> dict[str, Any]:
    final = exchange.final
    return {
        "id": exchange.id,
        "run": run.label,
        "method": exchange.method,
        "client": str(exchange.client),
        "server": str(exchange.server),
        "client_name": peers.name_of(exchange.client.ip, exchange.client.port),
        "server_name": peers.name_of(exchange.server.ip, exchange.server.port),
        "call_ids": list(exchange.call_ids),
        "outcome": exchange.outcome.value,
        "final_status": final.status if final is not None else None,
        "challenged": exchange.challenged,
        "challenge_cycles": exchange.challenge_cycles,
        "frames": exchange.frames,
        "attempts": [_attempt(a, run, show_secrets) for a in exchange.attempts],
    }


PEERS = PeerNames.from_mapping({"127.0.0.1:5060": 'Kamailio "edge" \\ π', "10.0.0.2": "PBX"})


def _compare(results: list[tuple[str | None, AnalysisResult]]) -> int:
    """Every exchange of ``results``, each way of showing secrets; how many were compared."""
    compared = 0
    for show_secrets in (False, True):
        report = build_report(results, peers=PEERS, version=__version__, show_secrets=show_secrets)
        for run in report.runs:
            for exchange in run.exchanges:
                text = exchange_json(exchange, run, report.peers, show_secrets)
                expected = _compact(reference_record(exchange, run, report.peers, show_secrets))
                assert text == expected, (run.label, exchange.id)
                compared += 1
    return compared


def test_every_capture_we_have(tmp_path: Path) -> None:
    """Captures with every transport, fuzzed and hostile input, verifications (a password
    given), several runs with labels."""
    words = tmp_path / "words.txt"
    words.write_text("wonderland-42\npassword\n1234\n")
    options = AnalysisOptions(
        credentials=(KnownCredential(None, None, password="wonderland-42"),),
        wordlist=str(words),
    )
    real = capture_files(REAL_PCAPS_DIR, recursive=True)
    paths = [*capture_files(CAPTURES_DIR), *capture_files(SAMPLE_PCAPS_DIR), *real]
    storm = generate_storm(StormParams(messages=2_000), tmp_path).path
    compared = 0
    verified = 0
    for path in [*paths, storm]:
        result = analyze([str(path)], options)
        verified += len(result.verifications)
        compared += _compare([(None, result)])
    assert compared > 500 and verified > 10  # 618 without the real captures, 1,216 with them
    labelled = [(f"run {i} \"{p.stem}\"", analyze([str(p)])) for i, p in enumerate(paths[:3])]
    assert _compare(labelled) > 0


@pytest.mark.parametrize(
    "text",
    ['quote " and backslash \\', "tab\t, nul \x00, \x1f and \x7f", "π ünïcödé 中文 🙂", ""],
)
def test_strings_that_need_escaping(text: str) -> None:
    """Call-ID, nonce and file name as a hostile capture may carry them (a file name may even
    hold line breaks): escaped exactly as the encoder escapes them."""
    flow = Flow()
    request = flow.request("REGISTER", call_id=f"c-{text}", branch="z9hG4bK-e1", at=0.5)
    flow.response(request, 401, challenge=digest_challenge(f"n-{text}",
                                                           extra=', qop="auth,auth-int"'))
    retry = flow.request(
        "REGISTER", call_id=f"c-{text}", cseq=2, branch="z9hG4bK-e2", at=1.25,
        auth=digest_credentials(f"n-{text}", extra=', qop=auth, nc=00000001, cnonce="x"'),
    )
    flow.response(retry, 200)
    messages = [
        dataclasses.replace(m, source=dataclasses.replace(m.source, file=f"f-{text}\r\n.pcap"))
        for m in flow.messages
    ]
    correlation = correlate(messages)
    assert any(text in call_id for e in correlation.exchanges for call_id in e.call_ids)
    result = AnalysisResult(["f.pcap"], CaptureStats(), correlation, [], [], AnalysisOptions())
    assert _compare([(None, result)]) == 2
