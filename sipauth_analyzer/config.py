"""Configuration: ``[tool.sipauth]`` in pyproject.toml, or a ``sipauth.toml``, → options.

Where it is looked for: ``--config FILE`` if given; otherwise from the current directory
upwards, the first ``sipauth.toml`` (top-level keys) or ``pyproject.toml`` that has a
``[tool.sipauth]`` table (a pyproject.toml without one is skipped, as ruff does).

Keys (hyphens or underscores, ``fail-on`` = ``fail_on``):

* ``select`` / ``ignore``: lists of rule codes, code prefixes or names (as ``--select``);
* ``fail-on``: ``error`` | ``warning`` | ``info`` | ``never``;
* any field of ``RuleOptions``, ``CorrelateOptions``, ``CaptureOptions`` or ``VerifyOptions``
  (thresholds and limits, e.g. ``max-challenge-cycles = 3``, ``udp-size-warning = 1200``),
  flat;
* ``[tool.sipauth.peers]``: ``"10.0.0.5" = "Genesys Edge"`` (or ``"10.0.0.5:5060"``), names
  used in every output.

An unknown key or a value of the wrong type is a :class:`ConfigError` naming the file and the
key; the CLI prints it on one line and exits 2. Command-line options override the file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipauth_analyzer.capture.model import CaptureOptions
from sipauth_analyzer.correlate.options import CorrelateOptions
from sipauth_analyzer.memory import MIB, parse_size
from sipauth_analyzer.rules.base import RuleOptions
from sipauth_analyzer.rules.registry import ALL_RULES
from sipauth_analyzer.verify.model import VerifyOptions

CONFIG_FILE = "sipauth.toml"
PYPROJECT = "pyproject.toml"
FAIL_ON_CHOICES = ("error", "warning", "info", "never")
MIN_MEMORY_LIMIT = 64 * MIB
MAX_SEARCH_DEPTH = 64  # directories walked upwards at most (a loop guard, not a real limit)

_OPTION_CLASSES: tuple[type[Any], ...] = (
    RuleOptions,
    CorrelateOptions,
    CaptureOptions,
    VerifyOptions,
)


class ConfigError(Exception):
    """The configuration file cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True, slots=True)
class Config:
    """The configuration as options objects; defaults when no file was found."""

    path: Path | None = None
    rules: RuleOptions = field(default_factory=RuleOptions)
    correlate: CorrelateOptions = field(default_factory=CorrelateOptions)
    capture: CaptureOptions = field(default_factory=CaptureOptions)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None  # None: not set in the file
    peers: Mapping[str, str] = field(default_factory=dict)
    # max-memory: None (not set, or "auto": detect the limit), 0 ("off"), or bytes.
    max_memory: int | None = None


def parse_memory_option(value: object) -> int | None:
    """``max-memory`` / ``--max-memory``: "auto" (None: detect the limit), "off" (0), or a
    size such as "512M" or "2G" (bytes; at least 64 MiB, below which no analysis fits)."""
    if not isinstance(value, str):
        raise ConfigError('must be "auto", "off" or a size such as "512M" or "2G"')
    text = value.strip().lower()
    if text == "auto":
        return None
    if text in ("off", "0"):
        return 0
    try:
        size = parse_size(text)
    except ValueError:
        raise ConfigError(
            f'{value!r} is not "auto", "off" or a size such as "512M" or "2G"'
        ) from None
    if size < MIN_MEMORY_LIMIT:
        raise ConfigError(f"{value!r} is less than the 64M an analysis needs to start")
    return size


def option_fields() -> dict[str, type[Any]]:
    """Every tunable field name → the options class that owns it."""
    owners: dict[str, type[Any]] = {}
    for cls in _OPTION_CLASSES:
        for item in dataclasses.fields(cls):
            if item.name in owners:  # pragma: no cover - guarded by a test
                raise AssertionError(f"option {item.name} defined twice")
            owners[item.name] = cls
    return owners


def find_config(start: Path) -> Path | None:
    """The nearest ``sipauth.toml`` or ``pyproject.toml`` with ``[tool.sipauth]``, upwards."""
    directory = start.resolve()
    for _ in range(MAX_SEARCH_DEPTH):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / PYPROJECT
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
        if directory.parent == directory:
            return None
        directory = directory.parent
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        # A broken pyproject.toml that is not ours to judge: keep looking upwards.
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "sipauth" in tool


def load_config(path: Path | None = None, *, start: Path | None = None) -> Config:
    """Read ``path`` (or the file :func:`find_config` finds from ``start``/cwd)."""
    explicit = path is not None
    if path is None:
        path = find_config(start or Path.cwd())
        if path is None:
            return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == PYPROJECT:
        tool = data.get("tool", {})
        table = tool.get("sipauth") if isinstance(tool, dict) else None
        if table is None:
            if explicit:
                raise ConfigError(f"{path}: no [tool.sipauth] table")
            return Config(path=path)
        where = "[tool.sipauth]"
    else:
        table = data
        where = "sipauth.toml"
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    return _parse(path, where, table)


def _key(name: str) -> str:
    return name.replace("-", "_")


def _parse(path: Path, where: str, table: dict[str, Any]) -> Config:
    owners = option_fields()
    overrides: dict[type[Any], dict[str, Any]] = {cls: {} for cls in _OPTION_CLASSES}
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None
    peers: dict[str, str] = {}
    max_memory: int | None = None
    for raw_key, value in table.items():
        key = _key(raw_key)
        label = f"{path}: {where} {raw_key}"
        if key in ("select", "ignore"):
            patterns = _string_list(label, value)
            check_selectors(label, patterns)
            if key == "select":
                select = patterns
            else:
                ignore = patterns
        elif key == "fail_on":
            if not isinstance(value, str) or value not in FAIL_ON_CHOICES:
                raise ConfigError(f"{label}: must be one of {', '.join(FAIL_ON_CHOICES)}")
            fail_on = value
        elif key == "peers":
            peers = _peers(label, value)
        elif key == "max_memory":
            try:
                max_memory = parse_memory_option(value)
            except ConfigError as exc:
                raise ConfigError(f"{label}: {exc}") from None
        elif key in owners:
            cls = owners[key]
            overrides[cls][key] = _typed(label, value, _default(cls, key))
        else:
            raise ConfigError(
                f"{label}: unknown key (see docs/usage.md for the keys; thresholds are the "
                "field names of RuleOptions, CorrelateOptions, CaptureOptions and VerifyOptions)"
            )
    try:
        rules = RuleOptions(**overrides[RuleOptions])
        correlate = CorrelateOptions(**overrides[CorrelateOptions])
        capture = CaptureOptions(**overrides[CaptureOptions])
        verify = VerifyOptions(**overrides[VerifyOptions])
    except (TypeError, ValueError) as exc:  # pragma: no cover - values are type-checked above
        raise ConfigError(f"{path}: {exc}") from None
    return Config(
        path=path,
        rules=rules,
        correlate=correlate,
        capture=capture,
        verify=verify,
        select=select,
        ignore=ignore,
        fail_on=fail_on,
        peers=peers,
        max_memory=max_memory,
    )


def _default(cls: type[Any], name: str) -> Any:
    return getattr(cls(), name)


def _typed(label: str, value: Any, default: Any) -> Any:
    """``value`` checked against the type of the field's default (TOML has the same types)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{label}: must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{label}: must be an integer")
        if value < 0:
            raise ConfigError(f"{label}: must be >= 0")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{label}: must be a number")
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{label}: must be a number >= 0")
        return float(value)
    if isinstance(default, tuple):
        item_type = type(default[0]) if default else str
        if not isinstance(value, list) or not all(
            isinstance(v, item_type) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{label}: must be a list of {item_type.__name__}")
        return tuple(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{label}: must be a string")
        return value
    raise ConfigError(f"{label}: cannot be set from a configuration file")


def _string_list(label: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{label}: must be a list of rule codes or names")
    return tuple(v.strip() for v in value if v.strip())


def check_selectors(label: str, patterns: tuple[str, ...]) -> None:
    """Raise ConfigError naming every ``--select``/``--ignore`` pattern that matches no rule.

    The one check for configuration files and the command line (which reports it as exit 2).
    """
    unknown = [p for p in patterns if not selector_matches_any(p)]
    if unknown:
        raise ConfigError(f"{label}: no rule matches {', '.join(unknown)} (see: sipauth rules)")


def selector_matches_any(pattern: str) -> bool:
    """Whether a ``--select``/``--ignore`` pattern names at least one rule (code, prefix, name)."""
    text = pattern.strip()
    return any(
        text.lower() == rule.META.name or rule.META.code.upper().startswith(text.upper())
        for rule in ALL_RULES
    )


def _peers(label: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f'{label}: must be a table of "IP[:PORT]" = "name"')
    peers: dict[str, str] = {}
    for address, name in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{label}.{address}: the name must be a non-empty string")
        if not _valid_address(address):
            raise ConfigError(f"{label}: {address!r} is not an IP address or IP:PORT")
        peers[address] = name.strip()
    return peers


def _valid_address(text: str) -> bool:
    host = text
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
