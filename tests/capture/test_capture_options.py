"""The capture stage's tunables live in CaptureOptions: set by name from a configuration file,
honoured by the reader and the pipeline's note cap."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipauth_analyzer.capture.model import CaptureOptions, CaptureStats
from sipauth_analyzer.capture.reader import read_messages
from sipauth_analyzer.cli import cli, main
from sipauth_analyzer.config import load_config, option_fields
from sipauth_analyzer.pipeline import read_sip
from sipauth_analyzer.primitives import NoteSink
from tests.conftest import CAPTURES_DIR
from tests.fuzz.exhaust import build
from tests.fuzz.watchdog import watchdog

CAPTURE = CAPTURES_DIR / "link_ethernet.pcap"


def test_every_capture_option_is_a_configuration_key(tmp_path: Path) -> None:
    owners = option_fields()
    for item in dataclasses.fields(CaptureOptions):
        assert owners[item.name] is CaptureOptions
    config = tmp_path / "sipauth.toml"
    config.write_text("max-tunnel-depth = 3\nmax_sctp_reassemblies = 10\n"
                      "max-notes-per-kind = 50\n", encoding="utf-8")
    capture = load_config(config).capture
    assert (capture.max_tunnel_depth, capture.max_sctp_reassemblies,
            capture.max_notes_per_kind) == (3, 10, 50)


def test_analyze_config_sets_a_capture_limit(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "limits.toml"
    config.write_text("max-record-length = 100\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["analyze", "--config", str(config), "--format", "json", str(CAPTURE)])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.output)["notes"]
    assert [n["kind"] for n in notes] == ["capture-truncated"]
    assert "more than max_record_length=100" in notes[0]["detail"]
    plain = CliRunner().invoke(cli, ["analyze", "--format", "json", str(CAPTURE)])
    assert json.loads(plain.output)["notes"] == []


def test_a_bad_capture_limit_in_the_config_exits_2(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "limits.toml"
    config.write_text('read-chunk-size = "big"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["analyze", "--config", str(config), str(CAPTURE)])
    assert info.value.code == 2
    assert "read-chunk-size: must be an integer" in capsys.readouterr().err


@pytest.mark.parametrize("chunk_size", [0, 1, 100])
def test_any_read_chunk_size_reads_the_same_messages(chunk_size: int) -> None:
    def read(options: CaptureOptions) -> list[bytes]:
        with watchdog(30, f"read_chunk_size={chunk_size}"):
            return [m.data for m in read_messages([str(CAPTURE)], options, NoteSink(),
                                                  CaptureStats())]

    expected = read(CaptureOptions())
    assert expected
    assert read(CaptureOptions(read_chunk_size=chunk_size)) == expected


def test_pipeline_caps_notes_per_kind_from_the_options(tmp_path: Path) -> None:
    capture = tmp_path / "malformed.pcap"
    build("malformed", capture, 7)
    read = read_sip([str(capture)], CaptureOptions(max_notes_per_kind=2))
    assert len(read.messages) == 7
    bad_cseq = [n for n in read.notes if n.kind == "sip-bad-cseq"]
    assert len(bad_cseq) == 3
    assert bad_cseq[-1].detail == (f"{capture}: 5 more sip-bad-cseq notes were left out (only "
                                   "the first 2 are listed one by one)")
    uncapped = read_sip([str(capture)])
    assert [n.kind for n in uncapped.notes].count("sip-bad-cseq") == 7
