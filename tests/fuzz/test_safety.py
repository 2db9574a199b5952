"""Input safety: the tool never writes next to its input or modifies it, opens no network
connection, never executes or unpickles input, and its regular expressions on untrusted text
cannot backtrack catastrophically (each tried on 100k-character pathological inputs under a
watchdog)."""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sipauth_analyzer import cli
from sipauth_analyzer.pipeline import analyze
from tests.fuzz.harness import CAPTURES_DIR, REPO_ROOT
from tests.fuzz.watchdog import watchdog

PACKAGE = REPO_ROOT / "sipauth_analyzer"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _sipauth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-c", "from sipauth_analyzer.cli import main; main()",
                           *args], capture_output=True, text=True, timeout=120, check=False,
                          env=env, cwd=cwd)


@pytest.mark.parametrize("command", ["messages", "analyze"])
def test_input_never_modified_and_nothing_written_beside_it(command: str, tmp_path: Path) -> None:
    if command not in cli.cli.commands:
        pytest.skip(f"`sipauth {command}` is not implemented yet")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    capture = inbox / "trunk.pcap"
    shutil.copyfile(CAPTURES_DIR / "frag4_two.pcap", capture)
    before = capture.read_bytes()
    mtime = capture.stat().st_mtime_ns
    inbox.chmod(stat.S_IRUSR | stat.S_IXUSR)
    capture.chmod(stat.S_IRUSR)
    try:
        result = _sipauth(command, str(capture), cwd=inbox)
        listing = sorted(p.name for p in inbox.iterdir())
    finally:
        inbox.chmod(stat.S_IRWXU)
        capture.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.returncode in (0, 1), result.stderr
    assert listing == ["trunk.pcap"]
    assert capture.read_bytes() == before
    assert capture.stat().st_mtime_ns == mtime


def test_no_network_access_during_a_full_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The native engine never opens a socket (the tshark engine, a subprocess, is exempt)."""
    opened: list[str] = []

    def refuse(*args: object, **kwargs: object) -> object:
        opened.append(repr(args))
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    monkeypatch.setattr(socket, "gethostbyaddr", refuse)
    captures = [str(p) for p in sorted(CAPTURES_DIR.glob("*.pcap"))[:12]]
    result = analyze(captures)
    assert result.stats.packets > 0
    assert opened == []


FORBIDDEN = re.compile(r"\bpickle\b|\bmarshal\b|(?<![\w.])eval\(|(?<![\w.])exec\(|shell\s*=\s*True"
                       r"|os\.system|os\.popen|\bshelve\b|yaml\.load\(")


# The one allowed use: the reader process (--jobs 2) hands its results to the analysing process
# as marshalled plain data over a pipe between the two. Both ends are this package (the child
# is a fork of the parent), so the stream is never input: bytes of a capture only ever appear
# in it as length-prefixed bytes/str values, which cannot become opcodes.
ALLOWED = {
    ("sipauth_analyzer/capture/worker.py", "What crosses the pipe is plain data encoded with "
     "``marshal`` (bytes, str, int, float, tuple,"),  # its docstring, saying why
    ("sipauth_analyzer/capture/worker.py", "import marshal"),
    ("sipauth_analyzer/capture/worker.py",
     "self.connection.send_bytes(marshal.dumps(self.items))"),
    ("sipauth_analyzer/capture/worker.py", "for item in marshal.loads(blob):"),
}


def test_nothing_from_the_input_is_executed_or_unpickled() -> None:
    assert SOURCES
    hits = [(str(path.relative_to(REPO_ROOT)), line.strip())
            for path in SOURCES
            for line in path.read_text().splitlines()
            if FORBIDDEN.search(line)]
    assert [hit for hit in hits if hit not in ALLOWED] == []


# --- regular expressions on untrusted text -------------------------------------------------

_RE_FUNCTIONS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall",
                 "finditer"}
_FLAG_NAMES = {"I": re.I, "IGNORECASE": re.I, "M": re.M, "MULTILINE": re.M, "S": re.S,
               "DOTALL": re.S, "X": re.X, "VERBOSE": re.X, "A": re.A, "ASCII": re.A}


def _flags(node: ast.expr | None) -> int:
    if node is None:
        return 0
    if isinstance(node, ast.Attribute) and node.attr in _FLAG_NAMES:
        return int(_FLAG_NAMES[node.attr])
    if isinstance(node, ast.BinOp):
        return _flags(node.left) | _flags(node.right)
    return 0


def package_regexes() -> list[tuple[str, re.Pattern[str] | re.Pattern[bytes]]]:
    """Every ``re.<function>(<literal pattern>, ...)`` call in the package, compiled."""
    found: list[tuple[str, re.Pattern[str] | re.Pattern[bytes]]] = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.func.attr in _RE_FUNCTIONS and node.args):
                continue
            pattern = node.args[0]
            if not isinstance(pattern, ast.Constant) or not isinstance(pattern.value,
                                                                       str | bytes):
                continue
            flag_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
            if flag_node is None and node.func.attr == "compile" and len(node.args) > 1:
                flag_node = node.args[1]
            where = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
            found.append((where, re.compile(pattern.value, _flags(flag_node))))
    # Patterns assembled at import time (f-strings) are not literals: take them from the modules.
    known = {(p.pattern, p.flags) for _, p in found}
    for path in SOURCES:
        name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        try:
            module = importlib.import_module(name.removesuffix(".__init__"))
        except ImportError:
            continue
        for attribute, value in vars(module).items():
            if isinstance(value, re.Pattern) and (value.pattern, value.flags) not in known:
                known.add((value.pattern, value.flags))
                found.append((f"{path.relative_to(REPO_ROOT)}:{attribute}", value))
    return found


def _pathological(pattern: re.Pattern[str] | re.Pattern[bytes]) -> list[str]:
    """100k repetitions of each character the pattern mentions (and of pairs of them), plus
    unterminated quotes and escapes: what makes a backtracking engine go quadratic."""
    source = pattern.pattern if isinstance(pattern.pattern, str) else pattern.pattern.decode(
        "latin-1")
    chars = sorted({c for c in source if c.isprintable()} | set(' \t\r\n"\\,;=:<>a0'))
    size = 100_000
    inputs = [c * size for c in chars]
    inputs += [(a + b) * (size // 2) for a in chars[:24] for b in chars[:24] if a < b]
    inputs += ['"' + "a" * size, '"' + "\\" * size, "a=" + '"' * size,
               "Digest " + "a=b," * (size // 4), "\r\n " * (size // 3), "x:" + " " * size + "y"]
    return inputs


REGEXES = package_regexes()


def test_the_package_regexes_are_all_found() -> None:
    """The AST walk plus module attributes find every regex a plain grep finds."""
    grep = sum(len(re.findall(r"\bre\.(?:compile|match|search|fullmatch|sub|subn|split|findall"
                              r"|finditer)\(", path.read_text())) for path in SOURCES)
    assert len(REGEXES) >= grep > 0, "a regex built at run time needs a look by hand"


def _methods_used(where: str) -> set[str]:
    """How the package calls the pattern at ``where`` (by the name it is bound to)."""
    file, _, label = where.partition(":")
    tree = ast.parse((REPO_ROOT / file).read_text())
    name = label
    if label.isdigit():
        name = next((t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                     and node.lineno == int(label) for t in node.targets
                     if isinstance(t, ast.Name)), "")
    used = {node.func.attr for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == name}
    return used or {"search", "match", "fullmatch"}


#: Patterns only ever applied to text another pattern has already accepted whole, so the
#: pathological inputs cannot reach them; the functions using them are tested below instead.
GUARDED = {
    "sipauth_analyzer/sip/digest.py:_FAST_PAIR_RE": "findall runs only after _FAST_PARAMS_RE "
    "or _FAST_CHALLENGE_RE matched the whole value (digest._escaped_fields, digest._fields)",
    "sipauth_analyzer/sip/digest.py:_PLAIN_PAIR_RE": "findall runs only after _PLAIN_PARAMS_RE "
    "or _PLAIN_CHALLENGE_RE matched the whole value (digest.python_plain_fields, digest._fields)",
}


@pytest.mark.parametrize(("where", "pattern"), REGEXES, ids=[w for w, _ in REGEXES])
def test_regex_is_linear_on_pathological_input(
        where: str, pattern: re.Pattern[str] | re.Pattern[bytes]) -> None:
    if where in GUARDED:
        pytest.skip(f"guarded: {GUARDED[where]}")
    methods = _methods_used(where)
    scans = bool(methods & {"search", "findall", "finditer", "sub", "subn", "split"})
    for text in _pathological(pattern):
        subject: str | bytes = text
        if isinstance(pattern.pattern, bytes):
            subject = text.encode("latin-1", "replace")
        # 100k characters take milliseconds for a linear regex; a quadratic one takes minutes.
        with watchdog(10, f"{where} /{pattern.pattern!r}/ on {subject[:12]!r}… x{len(subject)}"):
            if scans:
                pattern.search(subject)  # type: ignore[arg-type]
            pattern.match(subject)  # type: ignore[arg-type]
            pattern.fullmatch(subject)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "Digest " + "a=b, " * 25_000, "Digest " + "a" * 100_000, "Digest a=" + '"' * 100_000,
    'Digest realm="' + "\\" * 50_000, "Digest " + "\t" * 100_000 + "x", "a" * 100_000,
    "Digest realm=" + "x" * 100_000 + ", nonce", ", " * 50_000, "Digest " + "a=" * 50_000,
    # No backslash: digest.python_plain_fields' patterns.
    'Digest a="' + "x" * 100_000, "Digest " + 'a="b" ' * 25_000, "Digest " + "a=b," * 25_000,
])
def test_digest_grammar_is_linear_on_pathological_values(text: str) -> None:
    from sipauth_analyzer.sip.digest import (
        parse_authentication_info,
        parse_challenges,
        parse_credentials,
    )
    from sipauth_analyzer.sip.grammar import header_param, name_addr_uri, split_commas
    from sipauth_analyzer.sip.model import AuthHeader, ParseProblem

    problems: list[ParseProblem] = []
    with watchdog(20, f"digest grammar on {text[:16]!r}… x{len(text)}"):
        parse_challenges(AuthHeader.WWW_AUTHENTICATE, text, problems)
        parse_credentials(AuthHeader.AUTHORIZATION, text, problems)
        parse_authentication_info(text, problems)
        split_commas(text)
        header_param(text, "tag")
        name_addr_uri(text)
