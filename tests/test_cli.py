"""The ``sipauth`` command line end to end: click's CliRunner, main() in process, and the real
installed entry point in a subprocess (exit codes 0 / 1 / 2 included)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipauth_analyzer import cli as cli_module
from sipauth_analyzer import config as config_module
from sipauth_analyzer.cli import cli, main
from sipauth_analyzer.report.rules_doc import rules_markdown
from sipauth_analyzer.rules.registry import ALL_RULES
from tests.conftest import REPO_ROOT, SAMPLE_PCAPS_DIR

WRONG_PASSWORD = str(SAMPLE_PCAPS_DIR / "register-wrong-password.pcap")
SUCCESS = str(SAMPLE_PCAPS_DIR / "register-success.pcap")
STALE = str(SAMPLE_PCAPS_DIR / "stale-nonce.pcap")  # one info finding only
INVITE = str(SAMPLE_PCAPS_DIR / "invite-407-success.pcap")


@pytest.fixture(autouse=True)
def _no_config_from_the_repository(tmp_path, monkeypatch):
    # Run where no pyproject.toml / sipauth.toml of ours can be picked up by accident.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


# -- CliRunner ------------------------------------------------------------------------------------


def test_runner_analyze_text_report():
    result = CliRunner().invoke(cli, ["analyze", WRONG_PASSWORD])
    assert result.exception is None, result.output
    assert result.output.startswith("1 auth exchange on 1 trunk, 1 failed — main cause: "
                                    "credentials rejected (SA303)")
    assert "\x1b[" not in result.output


def test_runner_rules_lists_every_rule():
    result = CliRunner().invoke(cli, ["rules"])
    assert result.exit_code == 0
    for rule in ALL_RULES:
        assert rule.META.code in result.output and rule.META.name in result.output
    as_json = json.loads(CliRunner().invoke(cli, ["rules", "--format", "json"]).output)
    assert [r["code"] for r in as_json] == [r.META.code for r in ALL_RULES]


@pytest.mark.parametrize("name", ["SA101", "sa101", "realm-mismatch"])
def test_runner_explain_prints_the_docs(name):
    result = CliRunner().invoke(cli, ["explain", name])
    assert result.exit_code == 0
    assert result.output.startswith("SA101 realm-mismatch (error)")
    assert "How to fix:" in result.output
    assert "What it checks" in result.output  # the module docstring


def test_runner_flow_ladder_text_and_markdown():
    runner = CliRunner()
    text = runner.invoke(cli, ["flow", WRONG_PASSWORD, "--call-id", "1-20016@127.0.0.1"])
    assert text.exit_code == 0, text.output
    assert "|<---------------------- 403 Forbidden -----------------------|" in text.output
    assert 'Authz Digest user="alice"' in text.output
    assert "response" not in text.output
    markdown = runner.invoke(
        cli, ["flow", WRONG_PASSWORD, "--call-id", "1-20016@127.0.0.1", "--format", "markdown"]
    )
    assert "| 4 | +0.6ms | 127.0.0.1:5060 | 127.0.0.1:5061 | 403 Forbidden |" in markdown.output


def test_docs_rules_md_is_generated_and_fresh():
    committed = (REPO_ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_markdown(), (
        "docs/rules.md is stale: regenerate with `sipauth rules --format markdown > docs/rules.md`"
    )


# -- main() in process: the exit-code mapping -----------------------------------------------------


def test_exit_1_on_error_finding_and_0_when_clean(capsys):
    assert run_main(["analyze", WRONG_PASSWORD], capsys)[0] == 1
    assert run_main(["analyze", SUCCESS], capsys)[0] == 0


def test_fail_on_levels(capsys):
    assert run_main(["analyze", STALE], capsys)[0] == 0  # info only, default error
    assert run_main(["analyze", STALE, "--fail-on", "info"], capsys)[0] == 1
    assert run_main(["analyze", WRONG_PASSWORD, "--fail-on", "never"], capsys)[0] == 0


def test_usage_errors_exit_2(capsys):
    code, _, err = run_main(["analyze", WRONG_PASSWORD, "--format", "pdf"], capsys)
    assert code == 2 and "pdf" in err
    assert run_main(["analyze"], capsys)[0] == 2
    assert run_main(["nonsense"], capsys)[0] == 2
    code, _, err = run_main(["analyze", WRONG_PASSWORD, "--select", "SA999"], capsys)
    assert code == 2 and "no rule matches SA999" in err
    code, _, err = run_main(["analyze", WRONG_PASSWORD, "--peer", "sbc.example"], capsys)
    assert code == 2 and "not an IP address" in err
    code, _, err = run_main(["analyze", WRONG_PASSWORD, "--since", "yesterday"], capsys)
    assert code == 2 and "ISO 8601" in err
    code, _, err = run_main(["explain", "SA999"], capsys)
    assert code == 2
    code, _, err = run_main(["flow", WRONG_PASSWORD, "--call-id", "nope"], capsys)
    assert code == 2 and "1-20016@127.0.0.1" in err
    code, _, err = run_main(["analyze", WRONG_PASSWORD, "--tls-keylog", "k.log"], capsys)
    assert code == 2 and "--engine tshark" in err


def test_help_and_version_exit_0(capsys):
    assert run_main(["--help"], capsys)[0] == 0
    assert run_main(["analyze", "--help"], capsys)[0] == 0
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and "sipauth" in out


def test_input_errors_exit_2(tmp_path, capsys):
    code, _, err = run_main(["analyze", str(tmp_path / "missing.pcap")], capsys)
    assert code == 2 and "no such file" in err and "Traceback" not in err
    corrupt = tmp_path / "corrupt.pcap"
    corrupt.write_bytes(b"this is not a capture at all" * 10)
    code, _, err = run_main(["analyze", str(corrupt)], capsys)
    assert code == 2 and "corrupt.pcap" in err


def test_bad_config_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "sipauth.toml").write_text("max-challenge-cycles = 'x'\n", encoding="utf-8")
    code, _, err = run_main(["analyze", WRONG_PASSWORD], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "max-challenge-cycles" in err


def test_config_peer_names_and_fail_on_are_used(tmp_path, capsys):
    (tmp_path / "sipauth.toml").write_text(
        'fail-on = "never"\n[peers]\n"127.0.0.1:5060" = "Kamailio"\n', encoding="utf-8"
    )
    code, out, _ = run_main(["analyze", WRONG_PASSWORD, "--no-ladders"], capsys)
    assert code == 0
    assert "Kamailio (127.0.0.1:5060)" in out
    code, out, _ = run_main(["analyze", WRONG_PASSWORD, "--format", "json"], capsys)
    assert json.loads(out)["findings"][0]["server_name"] == "Kamailio"
    # The command line wins over the file.
    assert run_main(["analyze", WRONG_PASSWORD, "--fail-on", "error"], capsys)[0] == 1


def test_ignore_removes_the_finding(capsys):
    code, out, _ = run_main(
        ["analyze", WRONG_PASSWORD, "--ignore", "credentials-rejected", "--format", "json"], capsys
    )
    assert code == 0 and json.loads(out)["findings"] == []


def test_output_file_is_written_atomically_and_not_over_an_input(tmp_path, capsys):
    target = tmp_path / "report.sarif"
    target.write_text("old", encoding="utf-8")
    code, out, _ = run_main(
        ["analyze", WRONG_PASSWORD, "--format", "sarif", "--output", str(target)], capsys
    )
    assert code == 1 and out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert [p.name for p in tmp_path.iterdir()] == ["report.sarif"]  # no temp file left
    copy = tmp_path / "capture.pcap"
    shutil.copy(WRONG_PASSWORD, copy)
    code, _, err = run_main(["analyze", str(copy), "--output", str(copy)], capsys)
    assert code == 2 and "refusing" in err
    assert copy.read_bytes() == Path(WRONG_PASSWORD).read_bytes()
    code, _, err = run_main(
        ["analyze", WRONG_PASSWORD, "--output", str(tmp_path / "no" / "dir" / "r.txt")], capsys
    )
    assert code == 2 and "cannot write" in err


def test_baseline_round_trip(tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert run_main(["analyze", WRONG_PASSWORD, "--format", "json", "-o", str(baseline)],
                    capsys)[0] == 1
    code, out, _ = run_main(
        ["analyze", WRONG_PASSWORD, "--baseline", str(baseline), "--format", "json"], capsys
    )
    assert code == 0
    document = json.loads(out)
    assert document["findings"] == []
    assert [f["code"] for f in document["baseline_suppressed"]] == ["SA303"]
    # A regression (a new finding on another trunk/capture) still fails.
    code, _, _ = run_main(
        ["analyze", str(SAMPLE_PCAPS_DIR / "sha256-sipsak.pcap"), "--baseline", str(baseline)],
        capsys,
    )
    assert code == 1
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    assert run_main(["analyze", WRONG_PASSWORD, "--baseline", str(tmp_path / "bad.json")],
                    capsys)[0] == 2


def test_per_file_and_filters(capsys):
    code, out, _ = run_main(
        ["analyze", WRONG_PASSWORD, INVITE, "--per-file", "--format", "json"], capsys
    )
    document = json.loads(out)
    assert code == 1 and document["mode"] == "per-file"
    assert [r["label"] for r in document["runs"]] == [WRONG_PASSWORD, INVITE]
    code, out, _ = run_main(
        ["analyze", WRONG_PASSWORD, INVITE, "--method", "invite", "--format", "json"], capsys
    )
    document = json.loads(out)
    assert {e["method"] for e in document["exchanges"]} == {"INVITE"}
    assert document["findings"] == [] and code == 0


def test_messages_still_works(capsys):
    code, out, _ = run_main(["messages", WRONG_PASSWORD], capsys)
    assert code == 0 and out.strip().endswith("4 SIP messages")


# -- the real entry point in a subprocess -------------------------------------------------------


def _entry_point() -> list[str]:
    installed = Path(sys.executable).parent / "sipauth"
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-c", "from sipauth_analyzer.cli import main; main()"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["analyze", SUCCESS], 0),
        (["analyze", WRONG_PASSWORD], 1),
        (["analyze", WRONG_PASSWORD, "--format", "junit"], 1),
        (["analyze", WRONG_PASSWORD, "--bogus-option"], 2),
        (["analyze", "/nonexistent/capture.pcap"], 2),
        (["analyze", str(REPO_ROOT / "pyproject.toml")], 2),  # not a capture
        (["rules"], 0),
    ],
)
def test_subprocess_exit_codes(args, expected, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [*_entry_point(), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=env, check=False,
    )
    assert completed.returncode == expected, completed.stderr
    assert "Traceback" not in completed.stderr
    if expected == 0 and args[0] == "analyze":
        assert "\x1b[" not in completed.stdout  # piped: no colour


@pytest.mark.parametrize(
    "args",
    [["--format", "json"], ["--format", "sarif"], ["--format", "junit"], ["--format", "text"],
     ["--format", "json", "--output", "report.json"]],
)
def test_a_capture_name_that_is_not_utf8(args, tmp_path):
    """A Latin-1 file name (bytes that are not UTF-8): under a strict UTF-8 stdout (any UTF-8
    locale but C) the report died with a traceback and exit status 1, and --output always did.
    The report is UTF-8 with the undecodable byte written as an escape."""
    name = os.fsdecode(b"captura_a\xf1o.pcap")
    shutil.copyfile(WRONG_PASSWORD, tmp_path / name)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONIOENCODING": "utf-8"}
    completed = subprocess.run(
        [*_entry_point(), "analyze", name, *args], capture_output=True, timeout=120,
        cwd=tmp_path, env=env, check=False,
    )
    assert completed.returncode == 1, completed.stderr  # findings, as for the UTF-8 name
    assert b"Traceback" not in completed.stderr
    written = (tmp_path / "report.json").read_bytes() if "--output" in args else completed.stdout
    text = written.decode("utf-8")  # strict: the report is UTF-8
    # JUnit's XML writer has its own escape for characters XML cannot carry.
    assert ("captura_a\\xdcf1o.pcap" if "junit" in args else "captura_a\\udcf1o.pcap") in text
    if "json" in args:
        assert json.loads(text)["capture"]["files"] == [name]


# -- known credentials and the wordlist audit ------------------------------------------------------


def test_known_password_gives_a_verdict_per_request(capsys, monkeypatch):
    # The README of sample_pcaps: alice's real password; the capture used a wrong one.
    monkeypatch.setenv("SIPAUTH_TEST_PASSWORD", "wonderland-42")
    code, out, _ = run_main(
        ["analyze", WRONG_PASSWORD, "--password-env", "SIPAUTH_TEST_PASSWORD", "--format",
         "json"], capsys,
    )
    document = json.loads(out)
    verdicts = [a["verification"] for e in document["exchanges"] for a in e["attempts"]]
    assert verdicts[0] is None  # the first REGISTER carried no credentials
    assert verdicts[1]["verdict"] == "wrong-password"
    assert "wonderland-42" not in out
    assert code == 1
    code, out, _ = run_main(
        ["analyze", SUCCESS, "--password-env", "SIPAUTH_TEST_PASSWORD", "--no-ladders"], capsys
    )
    assert code == 0 and "1 verified" in out and "wonderland-42" not in out


def test_credentials_file_and_wordlist(tmp_path, capsys):
    creds = tmp_path / "creds.toml"
    creds.write_text('[[credentials]]\nusername = "alice"\npassword = "wonderland-42"\n',
                     encoding="utf-8")
    code, out, _ = run_main(["analyze", SUCCESS, "--credentials", str(creds), "--format", "json"],
                            capsys)
    verdicts = [a["verification"] for e in json.loads(out)["exchanges"] for a in e["attempts"]]
    assert verdicts[-1]["verdict"] == "verified" and code == 0
    words = tmp_path / "words.txt"
    words.write_text("123456\nwonderland-42\n", encoding="utf-8")
    code, out, _ = run_main(["analyze", SUCCESS, "--wordlist", str(words), "--format", "json"],
                            capsys)
    hits = json.loads(out)["weak_passwords"]
    assert [(h["username"], h["frame"], h["password"]) for h in hits] == [("alice", 3, None)]
    assert "wonderland-42" not in out


def test_unknown_rule_selectors_are_one_check_for_cli_and_config(capsys):
    code, _, err = run_main(["analyze", WRONG_PASSWORD, "--ignore", "SA999,SA1"], capsys)
    # The message config files get (config.check_selectors), naming only the unknown pattern.
    assert code == 2 and "--ignore: no rule matches SA999 (see: sipauth rules)" in err
    assert "Traceback" not in err
    assert cli_module.check_selectors is config_module.check_selectors  # one definition


def test_credential_errors_exit_2(tmp_path, capsys):
    code, _, err = run_main(["analyze", SUCCESS, "--password-env", "SIPAUTH_UNSET_VAR_X"], capsys)
    assert code == 2 and "SIPAUTH_UNSET_VAR_X" in err
    bad = tmp_path / "creds.toml"
    bad.write_text("[[credentials]]\nusername = 1\n", encoding="utf-8")
    assert run_main(["analyze", SUCCESS, "--credentials", str(bad)], capsys)[0] == 2
    code, _, err = run_main(["analyze", SUCCESS, "--wordlist", str(tmp_path / "none.txt")],
                            capsys)
    assert code == 2 and "Traceback" not in err
    code, _, err = run_main(["messages", SUCCESS, "--decode-as", "udp.port==5062,sip"], capsys)
    assert code == 2 and "--engine tshark" in err


def test_docs_usage_shows_the_current_real_report(monkeypatch, capsys):
    monkeypatch.chdir(REPO_ROOT)
    _, out, _ = run_main(["analyze", "sample_pcaps/register-wrong-password.pcap"], capsys)
    usage = (REPO_ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    assert out.rstrip("\n") in usage, (
        "docs/usage.md no longer shows the real report: paste the output of "
        "`sipauth analyze sample_pcaps/register-wrong-password.pcap` into it"
    )


def test_messages_json_is_written_as_the_capture_is_read(capsys):
    """`messages --format json` renders SipStream as it goes: the same array read_sip gives,
    notes after it on stderr. No command of the CLI collects every message (read_sip)."""
    from sipauth_analyzer import cli as cli_module
    from sipauth_analyzer.pipeline import read_sip
    from sipauth_analyzer.report import messages as messages_report

    assert not hasattr(cli_module, "read_sip")
    expected = [messages_report.message_record(m) for m in read_sip([WRONG_PASSWORD]).messages]
    code, out, _ = run_main(["messages", WRONG_PASSWORD, "--format", "json"], capsys)
    assert code == 0 and json.loads(out) == expected and len(expected) == 4


def test_messages_text_is_written_as_the_messages_come():
    """Each line is out before the next message is read; the notes are asked for at the end."""
    from io import StringIO

    from sipauth_analyzer.pipeline import read_sip
    from sipauth_analyzer.report import messages as messages_report

    read = read_sip([WRONG_PASSWORD])
    out = StringIO()
    asked: list[int] = []

    def stream():  # type: ignore[no-untyped-def]
        for index, message in enumerate(read.messages):
            assert out.getvalue().count("\n") == index
            yield message

    def notes():  # type: ignore[no-untyped-def]
        asked.append(out.getvalue().count("\n"))
        return read.notes

    messages_report.write_text(stream(), notes, out, several_files=False)
    lines = out.getvalue().splitlines()
    assert asked == [5] and lines[4] == "4 SIP messages"
    # Times are relative to the first message.
    first_time = read.messages[0].source.time
    assert lines[0].split()[1] == "0.000000"
    assert float(lines[3].split()[1]) == round(read.messages[3].source.time - first_time, 6)


def test_messages_text_of_several_files_names_each(capsys):
    other = str(SAMPLE_PCAPS_DIR / "register-success.pcap")
    code, out, _ = run_main(["messages", WRONG_PASSWORD, other], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"== {WRONG_PASSWORD}"
    assert lines[5] == f"== {other}" and lines[-1] == "8 SIP messages"


def test_messages_json_of_a_capture_without_sip_is_an_empty_array(capsys):
    code, out, err = run_main(
        ["messages", str(REPO_ROOT / "tests" / "captures" / "link_user0.pcap"), "--format", "json"],
        capsys,
    )
    assert code == 0 and out == "[]\n" and "unsupported-linktype" in err


def test_flow_keeps_only_the_asked_call_id(capsys, monkeypatch):
    from sipauth_analyzer.report import ladder

    seen: list[list[object]] = []
    real = ladder.build_ladder

    def spy(messages, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(list(messages))
        return real(messages, **kwargs)

    monkeypatch.setattr("sipauth_analyzer.cli.build_ladder", spy)
    call_id = "1-19739@127.0.0.1"
    code, out, _ = run_main(
        ["flow", str(REPO_ROOT / "sample_pcaps" / "register-success.pcap"), "--call-id", call_id],
        capsys,
    )
    assert code == 0 and f"Call-ID {call_id}" in out
    assert [[m.source.frame for m in ms] for ms in seen] == [[1, 2, 3, 4]]  # type: ignore[attr-defined]
