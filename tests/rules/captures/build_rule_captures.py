"""Rebuild the rule captures in this directory: one pcap per rule scenario, plus README.md.

Run from the repository root::

    .venv/bin/python -m tests.rules.captures.build_rule_captures [OUT_DIR]

The scenarios are the rule tests' own (tests/rules/rule_scenarios.py, listed with their
expected findings in scenarios.py); pcap_writer.py turns each into Ethernet/IPv4/UDP-or-TCP
packets. Nothing is random and no clock is read, so
rerunning reproduces the committed files byte for byte (tests/rules/test_rule_captures.py
checks that). README.md and the SA603 wordlist are written too, from the same scenarios.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``tests`` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.rules.captures.pcap_writer import pcap_bytes
from tests.rules.captures.scenarios import WORDLIST, WORDLIST_NAME, RuleCapture, rule_captures

HERE = Path(__file__).resolve().parent
README_NAME = "README.md"

_README_HEAD = """\
# Rule captures: where each rule fires and where it must not

Built by `build_rule_captures.py` — run
`.venv/bin/python -m tests.rules.captures.build_rule_captures` from the repository root;
never edit these files by hand. Each rule in
`sipauth_analyzer/rules/registry.py` has `CODE-name.fires.pcap` and `CODE-name.quiet.pcap`;
`tests/rules/test_rule_captures.py` runs the whole pipeline over every file and asserts exactly
these findings. Scenarios are the rule tests' own (`../rule_scenarios.py`); packets are
Ethernet/IPv4/UDP (IP-fragmented where a message exceeds the MTU or the scenario says so) or
TCP with a three-way handshake. Addresses: 192.0.2.10:5060 (client), 198.51.100.20:5060
(server), 203.0.113.66:5070 (attacker).

Frame numbers equal the rule tests' except where a message takes several packets: the
SA401 fires INVITE (1755 bytes) is two IP fragments, frames 1-2; the SA402/SA403/SA404
credentialed retries are two fragments, frames 3-4 (the SA404 fires capture lacks the second);
the SA401 quiet capture opens with a TCP handshake (frames 1-3). A message is named by its
last packet, as in Wireshark.

Expected findings are `CODE@frames` (Wireshark frame numbers). Options: `credentials` means
`--credentials` with the known account, `wordlist` means `--wordlist {wordlist}`.

| capture | scenario | expected findings | options |
|---|---|---|---|
"""


def _options_text(capture: RuleCapture) -> str:
    parts = [f"{name}={value}" for name, value in capture.rule_options]
    parts += [f"credentials {user} / {password}" for user, password in capture.passwords]
    if capture.wordlist:
        parts.append("wordlist")
    parts += [f"note {kind}" for kind in capture.note_kinds]
    return "; ".join(parts)


def readme_text(captures: list[RuleCapture]) -> str:
    lines = [_README_HEAD.format(wordlist=WORDLIST_NAME)]
    for capture in captures:
        found = ", ".join(
            f"{code}@{','.join(str(f) for f in frames)}" for code, frames in capture.expected
        )
        lines.append(
            f"| `{capture.filename}` | {capture.about} | {found or 'none'} | "
            f"{_options_text(capture)} |\n"
        )
    return "".join(lines)


def build(out_dir: Path) -> list[Path]:
    """Write every capture, the wordlist and README.md into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    captures = rule_captures()
    written: list[Path] = []
    for capture in captures:
        data, _ = pcap_bytes(list(capture.wires))
        path = out_dir / capture.filename
        path.write_bytes(data)
        written.append(path)
    wordlist = out_dir / WORDLIST_NAME
    wordlist.write_text("".join(f"{word}\n" for word in WORDLIST), encoding="utf-8")
    readme = out_dir / README_NAME
    readme.write_text(readme_text(captures), encoding="utf-8")
    return [*written, wordlist, readme]


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else HERE
    for path in build(out_dir):
        print(f"{path.stat().st_size:6d}  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
