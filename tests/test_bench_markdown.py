"""bench.markdown's machine line says which optional C helpers were measured."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.generate import GeneratedCapture, TrunkParams, generate_trunk
from bench.markdown import render
from bench.run import generated_apart, machine_info
from sipauth_analyzer.capture import reader
from sipauth_analyzer.sip import digest, parser


def _report(machine: dict[str, Any]) -> dict[str, Any]:
    return {
        "generated_at": "2026-12-07T21:01:54Z",
        "machine": machine,
        "captures": {},
        "measurements": [],
        "targets": [],
    }


@pytest.mark.parametrize(
    ("recorded", "said"),
    [
        ({"c_drop_path": True, "c_header_pass": True, "c_digest_path": True,
          "c_json_attempts": False},
         "4.0.17; C drop path built; C header pass built; C digest path built; "
         "C JSON attempt writer not built (Python only); load average"),
        ({"c_drop_path": True, "c_header_pass": True, "c_digest_path": True},  # until 2026-12-08
         "4.0.17; C drop path built; C header pass built; C digest path built; load average"),
        ({"c_drop_path": True, "c_header_pass": True},  # runs before the digest path
         "4.0.17; C drop path built; C header pass built; load average"),
        ({"c_drop_path": False, "c_header_pass": False},
         "4.0.17; C drop path not built (Python only); C header pass not built (Python only); "
         "load average"),
        ({"c_drop_path": True}, "4.0.17; C drop path built; load average"),  # 20:40Z-21:37Z
        ({}, "4.0.17; load average"),  # results.json of runs before either was recorded
    ],
)
def test_the_machine_line_says_which_c_helpers_were_measured(
    recorded: dict[str, bool], said: str
) -> None:
    machine: dict[str, Any] = {
        "nproc": 2, "cpu": "AMD EPYC", "implementation": "CPython", "python": "3.11.7",
        "tshark": "TShark 4.0.17", "load_average_1_5_15": [1.5, 1.0, 0.5], **recorded,
    }
    assert said in render(_report(machine)).splitlines()[0]


def test_machine_info_records_what_this_install_built() -> None:
    info = machine_info()
    assert info["c_drop_path"] is (reader.native_drop_run is not None)
    assert info["c_header_pass"] is (parser.fast_headers is not parser.python_fast_headers)
    assert info["c_digest_path"] is (digest.plain_fields is not digest.python_plain_fields)


def _logged_generate(params: TrunkParams, out: Path) -> GeneratedCapture:
    """generate_trunk, noting which process ran it and whether the capture was cached."""
    existed = any(out.glob("trunk-*.pcap"))
    with (out / "calls.log").open("a") as log:
        log.write(f"{os.getpid()} {existed}\n")
    return generate_trunk(params, out)


def test_captures_are_generated_in_a_child_and_read_back_here(tmp_path: Path) -> None:
    # The bench process's peak RSS is every measured child's floor (Linux keeps it across
    # exec), so generating must not raise it: a child writes the capture, this process only
    # reads its cached description.
    params = TrunkParams(packets=2_000)
    capture = generated_apart(_logged_generate, params, tmp_path)
    calls = [line.split() for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert calls == [[calls[0][0], "False"], [str(os.getpid()), "True"]]
    assert calls[0][0] != str(os.getpid())
    assert capture == generate_trunk(params, tmp_path)
    assert capture.packets == 2_000
