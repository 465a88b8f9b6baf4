"""Compliance presets (cn, us, uk) as data files, their loader, and the auditors' CLI.

The rules themselves are judged by `dialer.core.compliance`; this package only reads files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.compliance import Rules
from ..errors import ConfigError

__all__ = ["PRESETS", "load_preset", "load_rules", "preset_dict"]

PRESETS = ("cn", "us", "uk")


def preset_dict(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"preset: expected one of {', '.join(PRESETS)}, got {name!r}")
    text = resources.files(__package__).joinpath("presets", f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_preset(name: str) -> Rules:
    return Rules.from_dict(preset_dict(name), where=f"preset {name}")


def _read_json(path: str | Path, what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} {path}: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def load_rules(preset: str, overrides: str | Path | Mapping[str, Any] | None = None) -> Rules:
    """A preset with a campaign's overrides (a file path or an already-parsed object) on top."""
    rules = load_preset(preset)
    if overrides is None:
        return rules
    if isinstance(overrides, Mapping):
        return rules.with_overrides(dict(overrides))
    return rules.with_overrides(
        _read_json(overrides, "rules file"), where=f"rules file {overrides}"
    )
