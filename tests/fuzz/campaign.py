"""The long fuzz campaign behind ``make fuzz``: ``python -m tests.fuzz.campaign [options]``.

Three targets, each fed seeded mutations of real inputs (deterministic: the same seed runs the
same cases):

* ``reader``          mutated capture files (every seed capture in tests/captures and the real
                      collection beside the repository, up to 64 KiB) through ``read_sip``; every
                      tenth case through the whole pipeline (``analyze``: correlation and rules).
* ``sip-parser``      mutated SIP messages (every message the reader finds in the seeds, plus
                      hand-written ones) through ``parse_message``, touching every lazy property.
* ``digest-grammar``  mutated WWW-/Proxy-Authenticate, (Proxy-)Authorization and
                      Authentication-Info values through the digest grammar and the list-header
                      helpers.

A case fails when an exception escapes (the reader may raise ``CaptureError`` only) or a
property breaks (see ``harness``), or when it runs past the watchdog. Each failing input is saved
to tests/fuzz/crashes/ (named by target and content hash) — move it to tests/fuzz/regressions/
once fixed; ``test_regressions`` replays both directories. Prints what it ran and exits 1 when
anything failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.primitives import Endpoint, Transport
from sipauth_analyzer.sip.digest import (
    parse_authentication_info,
    parse_challenges,
    parse_credentials,
)
from sipauth_analyzer.sip.grammar import header_param, name_addr_uri, parse_cseq, split_commas
from sipauth_analyzer.sip.message import SipMessage, parse_message
from sipauth_analyzer.sip.model import AuthHeader, ParseProblem
from tests.fuzz.harness import (
    CRASHES_DIR,
    PropertyViolation,
    analyze_case,
    read_case,
    seed_captures,
    write_case,
)
from tests.fuzz.mutate import locate_fields, stacked
from tests.fuzz.watchdog import Hang, watchdog

CASE_BOUND = 20.0
DEFAULT_CASES = {"reader": 100_000, "sip-parser": 100_000, "digest-grammar": 100_000}
SPECIAL_TEXT = ('"', "\\", ",", ";", "<", ">", "=", ":", "\r\n", "\n", "\r\n ", "\x00", "\xff",
                "Digest ", 'realm="', "nonce=", "qop=auth,auth-int", "algorithm=", "\t",
                '"' * 50, "\\" * 50, "," * 50, "a" * 5000, " " * 5000)
HAND_WRITTEN_AUTH = (
    'Digest realm="sip.example.com", nonce="abc", algorithm=MD5, qop="auth,auth-int"',
    'Digest username="alice", realm="r", nonce="n", uri="sip:r", response="0123", qop=auth, '
    'nc=00000001, cnonce="c", algorithm=SHA-256, opaque="o", userhash=false',
    'Basic realm="b", Newauth realm="n", title="a \\"b\\"", Digest realm="x", nonce="y"',
    'nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="6629fae4", cnonce="0a4f", '
    "nc=00000001",
)


def _header_text(message: SipMessage) -> list[str]:
    values: list[str] = []
    for key in ("www-authenticate", "proxy-authenticate", "authorization",
                "proxy-authorization", "authentication-info", "from", "to", "via", "cseq",
                "contact"):
        values.extend(message.header_values(key))
    return values


def _touch(result: SipMessage | ParseProblem) -> None:
    """Every lazy property of a parsed message; none may raise."""
    if isinstance(result, ParseProblem):
        if not result.kind or "\n" in result.detail:
            raise PropertyViolation(f"malformed ParseProblem {result!r}")
        return
    _ = (result.call_id, result.cseq, result.cseq_number, result.cseq_method, result.from_tag,
         result.to_tag, result.from_uri, result.to_uri, result.top_via_branch,
         result.user_agent, result.summary, result.challenges, result.credentials,
         result.header_values("via"), result.header_values("contact"))
    for values in result.headers.values():
        if not all(isinstance(value, str) for value in values):
            raise PropertyViolation("a header value is not text")
    if any(not problem.kind for problem in result.problems):
        raise PropertyViolation("a problem without a kind")


def _digest_case(value: str) -> None:
    problems: list[ParseProblem] = []
    for kind in AuthHeader:
        if kind.name.endswith("AUTHENTICATE"):
            for challenge in parse_challenges(kind, value, problems):
                if challenge.raw not in value:
                    raise PropertyViolation("a challenge's raw text is not in the input")
        elif kind.name.endswith("AUTHORIZATION"):
            for credentials in parse_credentials(kind, value, problems):
                if credentials.raw not in value:
                    raise PropertyViolation("credentials' raw text is not in the input")
    parse_authentication_info(value, problems)
    if any(not problem.kind.startswith("auth-") for problem in problems):
        raise PropertyViolation("a digest problem kind does not start with auth-")
    split_commas(value)
    header_param(value, "tag")
    header_param(value, "branch")
    name_addr_uri(value)
    parse_cseq(value)


def _mutate_text(text: str, rng: random.Random) -> str:
    out = text
    for _ in range(rng.choice((1, 1, 2, 3))):
        at = rng.randrange(len(out) + 1)
        operation = rng.randrange(5)
        if operation == 0:
            out = out[:at] + rng.choice(SPECIAL_TEXT) + out[at:]
        elif operation == 1:
            out = out[:at] + out[at + rng.randint(1, 20) :]
        elif operation == 2:
            out = out[:at]
        elif operation == 3:
            start = rng.randrange(len(out) + 1)
            out = out[:at] + out[start : start + rng.randint(1, 80)] * rng.randint(1, 30) + out[at:]
        else:
            out = out[:at] + chr(rng.randrange(0x20, 0x250)) + out[at + 1 :]
    return out


class Campaign:
    """Runs cases, keeps counts, saves failing inputs."""

    def __init__(self, crashes_dir: Path) -> None:
        self.crashes_dir = crashes_dir
        self.cases: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.signatures: dict[str, set[str]] = {}
        self.saved: list[Path] = []
        self.seconds: dict[str, float] = {}

    def run(self, target: str, label: str, data: bytes, suffix: str,
            case: Callable[[], object]) -> None:
        self.cases[target] += 1
        try:
            with watchdog(CASE_BOUND, f"{target} {label}"):
                case()
        except (Exception, Hang) as error:
            self.failures[target] += 1
            frame = traceback.extract_tb(error.__traceback__)[-1]
            signature = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            first = signature not in self.signatures.setdefault(target, set())
            self.signatures[target].add(signature)
            digest = hashlib.sha1(data).hexdigest()[:12]
            self.crashes_dir.mkdir(parents=True, exist_ok=True)
            path = self.crashes_dir / f"{target}-{digest}{suffix}"
            path.write_bytes(data)
            self.saved.append(path)
            if first:
                print(f"  ! {target}: {signature}: {error!s:.200} (input {path.name}, {label})",
                      flush=True)


def _sip_seeds(captures: list[Path]) -> list[CapturedMessage]:
    from sipauth_analyzer.capture.files import CaptureError
    from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
    from sipauth_analyzer.capture.reader import read_messages
    from sipauth_analyzer.primitives import NoteSink

    seeds: list[CapturedMessage] = []
    for capture in captures:
        try:
            seeds.extend(read_messages([str(capture)], CaptureOptions(), NoteSink(),
                                       CaptureStats()))
        except CaptureError:
            continue
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.campaign", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every target's case count (default counts: "
                        + ", ".join(f"{k} {v}" for k, v in DEFAULT_CASES.items()) + ")")
    parser.add_argument("--targets", default=",".join(DEFAULT_CASES))
    parser.add_argument("--crashes", type=Path, default=CRASHES_DIR)
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    campaign = Campaign(args.crashes)
    started = time.monotonic()
    captures = seed_captures()
    print(f"fuzz campaign: seed {args.seed}, {len(captures)} seed captures", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sipauth-fuzz-"))
    try:
        if "reader" in targets:
            _reader(campaign, captures, work, int(DEFAULT_CASES["reader"] * args.scale),
                    random.Random(args.seed))
        sip_seeds = _sip_seeds(captures) if {"sip-parser", "digest-grammar"} & set(targets) else []
        if "sip-parser" in targets:
            _sip_parser(campaign, sip_seeds, int(DEFAULT_CASES["sip-parser"] * args.scale),
                        random.Random(args.seed + 1))
        if "digest-grammar" in targets:
            _digest(campaign, sip_seeds, int(DEFAULT_CASES["digest-grammar"] * args.scale),
                    random.Random(args.seed + 2))
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    elapsed = time.monotonic() - started
    print()
    print(f"{'target':<16}{'cases':>10}{'failures':>10}{'distinct':>10}{'seconds':>10}")
    for target in targets:
        print(f"{target:<16}{campaign.cases[target]:>10}{campaign.failures[target]:>10}"
              f"{len(campaign.signatures.get(target, ())):>10}"
              f"{campaign.seconds.get(target, 0.0):>10.1f}")
    total = sum(campaign.cases.values())
    failed = sum(campaign.failures.values())
    print(f"{'total':<16}{total:>10}{failed:>10}{'':>10}{elapsed:>10.1f}")
    for target, signatures in campaign.signatures.items():
        for signature in sorted(signatures):
            print(f"  {target}: {signature}")
    if campaign.saved:
        print(f"failing inputs saved to {args.crashes} ({len(set(campaign.saved))} files)")
    return 1 if failed else 0


def _reader(campaign: Campaign, captures: list[Path], work: Path, count: int,
            rng: random.Random) -> None:
    started = time.monotonic()
    seeds = [(path, path.read_bytes()) for path in captures]
    layouts = [locate_fields(data) for _path, data in seeds]
    case_path = work / "case.pcap"
    for index in range(count):
        which = index % len(seeds)
        path, data = seeds[which]
        name, mutated = stacked(data, rng, layouts[which])
        write_case(case_path, mutated)
        full = index % 10 == 0

        def run(full: bool = full) -> None:
            read_case(case_path)
            if full:
                analyze_case(case_path)

        campaign.run("reader", f"{path.name} {name} case {index}", mutated, path.suffix, run)
        if index and index % 10_000 == 0:
            print(f"  reader: {index} cases, {campaign.failures['reader']} failures", flush=True)
    campaign.seconds["reader"] = time.monotonic() - started


_FUZZ_ENDPOINTS = (Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060))


def _sip_parser(campaign: Campaign, seeds: list[CapturedMessage], count: int,
                rng: random.Random) -> None:
    started = time.monotonic()
    if not seeds:
        seeds = [CapturedMessage(HAND_WRITTEN_AUTH[0].encode(), "fuzz", 1, (1,), 0.0,
                                 *_FUZZ_ENDPOINTS, Transport.UDP, 0)]
    for index in range(count):
        seed = seeds[index % len(seeds)]
        if rng.random() < 0.5:
            data = _mutate_text(seed.data.decode("latin-1"), rng).encode("latin-1", "replace")
        else:
            data = bytes(seed.data)
            for _ in range(rng.randint(1, 6)):
                mutated = bytearray(data)
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                data = bytes(mutated)
        captured = dataclasses.replace(seed, data=data, wire_size=len(data))

        def run(captured: CapturedMessage = captured) -> None:
            _touch(parse_message(captured))

        campaign.run("sip-parser", f"case {index}", data, ".sip", run)
    campaign.seconds["sip-parser"] = time.monotonic() - started


def _digest(campaign: Campaign, seeds: list[CapturedMessage], count: int,
            rng: random.Random) -> None:
    started = time.monotonic()
    values = list(HAND_WRITTEN_AUTH)
    for seed in seeds:
        parsed = parse_message(seed)
        if isinstance(parsed, SipMessage):
            values.extend(_header_text(parsed))
    values = sorted(set(values))
    for index in range(count):
        value = _mutate_text(values[index % len(values)], rng)

        def run(value: str = value) -> None:
            _digest_case(value)

        campaign.run("digest-grammar", f"case {index}", value.encode("utf-8", "surrogatepass"),
                     ".txt", run)
    campaign.seconds["digest-grammar"] = time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
