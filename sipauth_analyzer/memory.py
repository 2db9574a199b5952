"""How much memory this process may use, and how much it uses: the memory budget's inputs.

An auth storm holds every message it correlates until the report (docs/performance.md), so an
analysis can outgrow the memory it runs in: inside a CI container with a memory limit the
kernel kills it (exit 137, no message), under ``ulimit -v`` Python raises MemoryError. The
pipeline compares what this module reads with the limit it finds, and stops keeping messages
before that happens (``pipeline.MemoryGuard``).

Standard library only; Linux's /proc and cgroup files. Where they are missing (another OS, a
sandbox) nothing is found and no budget applies.
"""

from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
# A cgroup v1 "no limit" is the largest page-aligned 64-bit value; anything past 2**60 is one.
_UNLIMITED = 1 << 60

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from ``512M``, ``1.5G``, ``300MiB``, ``250mb`` or a plain number of bytes.

    Units are binary (``M`` is MiB), as ``ulimit`` and container runtimes read them. Raises
    ValueError for anything else.
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (examples: 512M, 1.5G, 300MiB)")
    number, unit, _ = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def size_text(size: int) -> str:
    """``size`` bytes as MiB or GiB, for notes."""
    if size >= 10 << 30:
        return f"{size / (1 << 30):.0f} GiB"
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    return f"{size / MIB:.0f} MiB"


@dataclass(frozen=True, slots=True)
class Usage:
    """This process's memory now: resident set and virtual size, in bytes."""

    resident: int
    virtual: int


def current_usage(proc: Path = Path("/proc/self/statm")) -> Usage | None:
    """Resident and virtual size from /proc/self/statm (one small read), None where absent."""
    try:
        fields = proc.read_text().split()
        page = os.sysconf("SC_PAGE_SIZE")
        return Usage(resident=int(fields[1]) * page, virtual=int(fields[0]) * page)
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class MemoryLimit:
    """The tightest limit found on this process's memory.

    ``resident`` bounds the resident set (a cgroup limit, or what the machine had available),
    ``virtual`` the address space (``ulimit -v``); either may be None. ``source`` says where the
    tighter one came from, for the notes.
    """

    resident: int | None
    virtual: int | None
    source: str

    def describe(self) -> str:
        parts = []
        if self.resident is not None:
            parts.append(size_text(self.resident))
        if self.virtual is not None:
            parts.append(f"{size_text(self.virtual)} of address space")
        return f"{' / '.join(parts)}, {self.source}"


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max" or not text.isdigit():
        return None
    value = int(text)
    return value if value < _UNLIMITED else None


def cgroup_limit(proc_cgroup: Path = Path("/proc/self/cgroup"),
                 root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory limit of this process's cgroup and its ancestors (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``), the smallest one set; None when none is.

    Inside a container the cgroup path in /proc may name a directory the container cannot
    see; the mounted root then is the container's own cgroup, and is read too.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates: list[Path] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        relative = path.strip().lstrip("/")
        if controllers == "":  # cgroup v2: one unified hierarchy
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        directory = base / relative if relative else base
        while True:
            candidates.append(directory / name)
            if directory == base:
                break
            directory = directory.parent
    limits = [value for path in candidates if (value := _read_int(path)) is not None]
    return min(limits) if limits else None


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable: what the machine can give without swapping, None where unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def address_space_limit() -> int | None:
    """The soft RLIMIT_AS (``ulimit -v``), None when unlimited."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError, AttributeError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def detect_limit(usage: Usage | None = None) -> MemoryLimit | None:
    """The limit this process runs under: its cgroup's, the memory the machine has available
    now (plus what this process already holds), and ``ulimit -v``, the tightest of each kind.
    None when nothing is found (not Linux)."""
    usage = usage if usage is not None else current_usage()
    resident: list[tuple[int, str]] = []
    if (cgroup := cgroup_limit()) is not None:
        resident.append((cgroup, "the cgroup memory limit (a container's or service's)"))
    if (available := available_memory()) is not None:
        held = usage.resident if usage is not None else 0
        resident.append((available + held, "the memory this machine had available"))
    virtual = address_space_limit()
    if not resident and virtual is None:
        return None
    tightest = min(resident) if resident else None
    source = tightest[1] if tightest is not None else "the address-space limit (ulimit -v)"
    if tightest is not None and virtual is not None and virtual < tightest[0]:
        source = f"{source}; the address-space limit (ulimit -v)"
    return MemoryLimit(tightest[0] if tightest else None, virtual, source)
