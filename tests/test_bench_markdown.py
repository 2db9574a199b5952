"""bench.markdown's machine line says whether the reader's C drop path was measured."""

from __future__ import annotations

from typing import Any

import pytest

from bench.markdown import render
from bench.run import machine_info
from sipauth_analyzer.capture import reader


def _report(machine: dict[str, Any]) -> dict[str, Any]:
    return {
        "generated_at": "2026-12-07T21:01:54Z",
        "machine": machine,
        "captures": {},
        "measurements": [],
        "targets": [],
    }


@pytest.mark.parametrize(
    ("built", "said"),
    [
        (True, "4.0.17; C drop path built; load average"),
        (False, "4.0.17; C drop path not built (Python loop only); load average"),
        (None, "4.0.17; load average"),  # results.json of runs before it was recorded
    ],
)
def test_the_machine_line_says_which_drop_path_was_measured(built: bool | None, said: str) -> None:
    machine = {
        "nproc": 2, "cpu": "AMD EPYC", "implementation": "CPython", "python": "3.11.7",
        "tshark": "TShark 4.0.17", "load_average_1_5_15": [1.5, 1.0, 0.5],
    }
    if built is not None:
        machine["c_drop_path"] = built
    assert said in render(_report(machine)).splitlines()[0]


def test_machine_info_records_whether_this_install_built_it() -> None:
    assert machine_info()["c_drop_path"] is (reader.native_drop_run is not None)
