"""Render ``bench/out/results.json`` as the Markdown tables of docs/performance.md.

``python -m bench.markdown [results.json]`` prints them; paste the output under "Latest figures".
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.generate import OUT_DIR


def _rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.1f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _c_helpers(machine: dict[str, Any]) -> str:
    """Which optional C helpers the run measured, as far as it recorded them (runs before
    2026-12-07 recorded neither, the first runs of that day only the drop path, and runs before
    its tenth session not the digest path; the JSON attempt writer from 2026-12-08)."""
    parts = []
    for key, name in (
        ("c_drop_path", "C drop path"),
        ("c_header_pass", "C header pass"),
        ("c_digest_path", "C digest path"),
        ("c_json_attempts", "C JSON attempt writer"),
    ):
        built = machine.get(key)
        if built is not None:
            parts.append(f"{name} {'built' if built else 'not built (Python only)'}; ")
    return "".join(parts)


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    load = machine.get("load_average_1_5_15") or [None]
    lines = [
        f"Run {report['generated_at']} on {machine['nproc']} × {machine['cpu']}, "
        f"{machine['implementation']} {machine['python']}, "
        f"{(machine.get('tshark') or 'no tshark').rstrip('.')}; "
        f"{_c_helpers(machine)}"
        f"load average at the end {_num(load[0], 2)}.",
        "",
        "| workload | capture | packets | MB | SIP messages | fragmented | Call-IDs |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, capture in report["captures"].items():
        lines.append(
            f"| {name} | `{capture['path']}` | {capture['packets']:,} | "
            f"{capture['size_bytes'] / 1e6:.1f} | {capture['sip_messages']:,} | "
            f"{capture['fragmented_messages']} | {capture['call_ids']:,} |"
        )
    lines += [
        "",
        "| workload | measurement | seconds | rate/s | MB/s | tshark× | read× | RSS MiB | CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["measurements"]:
        name = row["name"].replace("|", "\\|")
        if "seconds" not in row:
            reason = str(row.get("unavailable")).replace("|", "/")
            lines.append(f"| {row['workload']} | {name} | n/a ({reason}) |||||||")
            continue
        detail = row.get("detail") or {}
        cpu = detail.get("cpu_seconds", detail.get("child_cpu_seconds"))
        lines.append(
            f"| {row['workload']} | {name} | {row['seconds']:.3f} | {_rate(row['rate_per_s'])} | "
            f"{row['mb_per_s']:.1f} | {_num(row['times_faster_than_tshark'])} | "
            f"{_num(row['times_the_plain_read'])} | {_num(row['peak_rss_mib'])} | {_num(cpu, 2)} |"
        )
    lines += ["", "| target | measured | by CPU time | verdict |", "|---|---:|---:|---|"]
    for target in report["targets"]:
        value = target["value"]
        if value is None or "RSS" in target["target"] or value < 1000:
            shown = _num(value)
        else:
            shown = _rate(value)
        lines.append(
            f"| {target['target']} | {shown} | {_rate(target.get('value_by_cpu_time'))} | "
            f"**{target['status']}** |"
        )
    counts = report.get("sip_counts", {})
    if counts:
        lines += ["", "SIP messages seen:", ""]
        for workload, seen in counts.items():
            shown = ", ".join(
                f"{tool.replace('|', '/')} {value:,}" if value is not None else f"{tool} n/a"
                for tool, value in seen.items()
            )
            lines.append(f"* {workload}: {shown}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import json

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else OUT_DIR / "results.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        print(f"cannot read {path}: {error} (run `make bench` first)", file=sys.stderr)
        return 2
    sys.stdout.write(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
