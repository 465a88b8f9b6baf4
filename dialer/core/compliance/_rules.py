"""Rules are data: a preset (cn, us, uk) is a JSON object of rules keyed by rule id, each with
its kind, its parameters and the legal source it comes from. Campaign overrides are merged on
top. Everything is validated here, once: an unknown key anywhere is an error that names its
path, so a typo can never silently switch a rule off.

A rule's `kind` says how it judges (a time-of-day window, a cap per calendar window, a
cool-down, ...); its parameters say what it counts. The engine (`_engine.py`) implements the
kinds; the rule ids are whatever the preset names them, and are what refusals report.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from ...errors import ConfigError
from ._model import PARTIES, PURPOSES, RESULTS, OptOut

__all__ = ["KINDS", "RuleSpec", "Rules"]

SCOPES = frozenset({"borrower", "borrower_debt", "number", "contact"})
COMMON_KEYS = ("kind", "source", "design_choice", "enabled", "applies_to")
TOP_KEYS = ("preset", "title", "version", "notes", "rules")
OVERRIDE_KEYS = ("notes", "rules")

Validator = Callable[[Any, str], Any]
_REQUIRED = object()


def _path(where: str, key: str) -> str:
    return f'{where}["{key}"]' if "." in key or not key.isidentifier() else f"{where}.{key}"


def _int(lo: int) -> Validator:
    def v(x: Any, where: str) -> int:
        if isinstance(x, bool) or not isinstance(x, int) or x < lo:
            raise ConfigError(f"{where}: expected an integer >= {lo}, got {x!r}")
        return x

    return v


def _num(lo: float, hi: float = math.inf, *, lo_open: bool = False) -> Validator:
    def v(x: Any, where: str) -> float:
        if (
            isinstance(x, bool)
            or not isinstance(x, (int, float))
            or not math.isfinite(x)
            or x < lo
            or x > hi
            or (lo_open and x == lo)
        ):
            bound = f"> {lo}" if lo_open else f">= {lo}"
            raise ConfigError(
                f"{where}: expected a number {bound}"
                + (f" and <= {hi}" if hi != math.inf else "")
                + f", got {x!r}"
            )
        return float(x)

    return v


def _bool(x: Any, where: str) -> bool:
    if not isinstance(x, bool):
        raise ConfigError(f"{where}: expected true or false, got {x!r}")
    return x


def _text(x: Any, where: str) -> str:
    if not isinstance(x, str) or not x.strip():
        raise ConfigError(f"{where}: expected a non-empty string")
    return x


def _clock(x: Any, where: str) -> time:
    if not isinstance(x, str) or not re.fullmatch(r"\d\d:\d\d(:\d\d)?", x):
        raise ConfigError(f"{where}: expected local time as HH:MM or HH:MM:SS, got {x!r}")
    try:
        return time.fromisoformat(x)
    except ValueError:
        raise ConfigError(f"{where}: not a valid time of day: {x!r}") from None


def _choice(options: frozenset[str]) -> Validator:
    def v(x: Any, where: str) -> str:
        if x not in options:
            raise ConfigError(f"{where}: expected one of {sorted(options)}, got {x!r}")
        return str(x)

    return v


def _list_of(options: frozenset[str]) -> Validator:
    def v(x: Any, where: str) -> frozenset[str]:
        if not isinstance(x, list):
            raise ConfigError(f"{where}: expected a list, got {type(x).__name__}")
        for i, item in enumerate(x):
            if item not in options:
                raise ConfigError(f"{where}[{i}]: expected one of {sorted(options)}, got {item!r}")
        return frozenset(x)

    return v


def _object(schema: Mapping[str, Validator], required: tuple[str, ...] = ()) -> Validator:
    def v(x: Any, where: str) -> dict[str, Any]:
        if not isinstance(x, dict):
            raise ConfigError(f"{where}: expected an object, got {type(x).__name__}")
        out: dict[str, Any] = {}
        for k, val in x.items():
            if k not in schema:
                raise ConfigError(f"{_path(where, k)}: unknown key (known: {', '.join(schema)})")
            out[k] = schema[k](val, _path(where, k))
        for k in required:
            if k not in out:
                raise ConfigError(f"{_path(where, k)}: required")
        return out

    return v


_filter = _object({"party": _list_of(PARTIES), "purpose": _list_of(PURPOSES)})
_count = _object(
    {
        "party": _list_of(PARTIES),
        "purpose": _list_of(PURPOSES),
        "results": _list_of(RESULTS - {"unknown"}),
    },
    required=("results",),
)


def _dates(x: Any, where: str) -> frozenset[date]:
    if not isinstance(x, list):
        raise ConfigError(f"{where}: expected a list of YYYY-MM-DD dates")
    out = set()
    for i, item in enumerate(x):
        try:
            if not isinstance(item, str) or len(item) != 10:
                raise ValueError
            out.add(date.fromisoformat(item))
        except ValueError:
            raise ConfigError(f"{where}[{i}]: expected a date YYYY-MM-DD, got {item!r}") from None
    return frozenset(out)


_E164 = re.compile(r"\+\d{3,15}")


def _caller_ids(x: Any, where: str) -> dict[str, frozenset[str]]:
    if not isinstance(x, dict):
        raise ConfigError(f'{where}: expected an object {{"campaign" or "*": [caller IDs]}}')
    out = {}
    for camp, ids in x.items():
        w = _path(where, camp)
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ConfigError(f"{w}: expected a list of caller IDs")
        out[camp] = frozenset(ids)
    return out


def _dnc_entries(x: Any, where: str) -> tuple[OptOut, ...]:
    if not isinstance(x, list):
        raise ConfigError(f"{where}: expected a list of entries")
    schema = _object(
        {"borrower": _text, "phone": _text, "purpose": _choice(PURPOSES), "note": _text}
    )
    out = []
    for i, item in enumerate(x):
        w = f"{where}[{i}]"
        d = schema(item, w)
        if d.get("phone") is not None and not _E164.fullmatch(d["phone"]):
            raise ConfigError(f"{w}.phone: expected an E.164 number")
        if not any(k in d for k in ("borrower", "phone", "purpose")):
            raise ConfigError(f"{w}: set at least one of borrower, phone, purpose")
        out.append(
            OptOut(
                borrower=d.get("borrower"),
                phone=d.get("phone"),
                purpose=d.get("purpose"),
                note=d.get("note", ""),
            )
        )
    return tuple(out)


#: kind -> {param: (validator, default or _REQUIRED)}
KINDS: dict[str, dict[str, tuple[Validator, Any]]] = {
    "local_hours": {"allowed_from": (_clock, _REQUIRED), "allowed_until": (_clock, _REQUIRED)},
    "holidays": {"dates": (_dates, frozenset())},
    "calendar_window_cap": {
        "days": (_int(1), 1),
        "max": (_int(0), _REQUIRED),
        "scope": (_choice(SCOPES), _REQUIRED),
        "count": (_count, _REQUIRED),
    },
    "cooldown_days": {
        "days": (_int(1), _REQUIRED),
        "scope": (_choice(SCOPES), _REQUIRED),
        "count": (_count, _REQUIRED),
    },
    "cooldown_hours": {
        "hours": (_num(0, lo_open=True), _REQUIRED),
        "scope": (_choice(SCOPES), _REQUIRED),
        "count": (_count, _REQUIRED),
        "unless_agent_reserved": (_bool, False),
    },
    "once": {"scope": (_choice(SCOPES), _REQUIRED), "count": (_count, _REQUIRED)},
    "forbid": {},
    "debtor_unreachable": {
        "consecutive_failures": (_int(1), _REQUIRED),
        "days_without_contact": (_num(0, lo_open=True), _REQUIRED),
        "invalid_number": (_bool, True),
    },
    "dnc": {"entries": (_dnc_entries, ())},
    "caller_id": {"allowed": (_caller_ids, {})},
    "borrower_busy": {"max_call_s": (_num(1), 7200.0)},
    "abandonment_rate": {
        "max_rate": (_num(0, 1), _REQUIRED),
        "window_hours": (_num(0, lo_open=True), _REQUIRED),
        "amd_false_positive_rate": (_num(0, 1), 0.0),
        "unless_agent_reserved": (_bool, True),
    },
    "min_ring": {"min_s": (_num(0), _REQUIRED)},
}

_RULE_ID = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One validated rule. `params` hold the kind's parameters with defaults filled in."""

    id: str
    kind: str
    source: str
    params: Mapping[str, Any]
    design_choice: str | None = None
    enabled: bool = True
    applies_to: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def applies(self, party: str, purpose: str) -> bool:
        a = self.applies_to
        return ("party" not in a or party in a["party"]) and (
            "purpose" not in a or purpose in a["purpose"]
        )


def _parse_rule(rule_id: str, raw: Any, where: str) -> RuleSpec:
    if not _RULE_ID.fullmatch(rule_id):
        raise ConfigError(f"{where}: rule ids are dotted lower-case names like 'cn.quiet_hours'")
    if rule_id.startswith("gate."):
        raise ConfigError(f"{where}: 'gate.' rule ids are reserved for the gate itself")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{_path(where, 'kind')}: expected one of {sorted(KINDS)}, got {kind!r}")
    schema = KINDS[kind]
    for k in raw:
        if k not in COMMON_KEYS and k not in schema:
            known = ", ".join((*COMMON_KEYS, *schema))
            raise ConfigError(f"{_path(where, k)}: unknown key for a {kind} rule (known: {known})")
    if "source" not in raw:
        raise ConfigError(
            f"{_path(where, 'source')}: required: cite the law, guideline or "
            "policy this rule comes from"
        )
    source = _text(raw["source"], _path(where, "source"))
    design = raw.get("design_choice")
    if design is not None:
        design = _text(design, _path(where, "design_choice"))
    enabled = _bool(raw.get("enabled", True), _path(where, "enabled"))
    applies = _filter(raw.get("applies_to", {}), _path(where, "applies_to"))
    params: dict[str, Any] = {}
    for k, (validator, default) in schema.items():
        if k in raw:
            params[k] = validator(raw[k], _path(where, k))
        elif default is _REQUIRED:
            raise ConfigError(f"{_path(where, k)}: required for a {kind} rule")
        else:
            params[k] = default
    if kind == "local_hours" and not params["allowed_from"] < params["allowed_until"]:
        raise ConfigError(f"{where}: allowed_from must be before allowed_until (same day)")
    return RuleSpec(
        id=rule_id,
        kind=kind,
        source=source,
        params=params,
        design_choice=design,
        enabled=enabled,
        applies_to=applies,
    )


class Rules:
    """A validated, immutable rule set: a preset with its overrides merged in.

    Build with `Rules.from_dict(preset_dict)` and `rules.with_overrides(campaign_dict)`.
    `fingerprint` identifies the exact rules a decision was taken under (it is written to
    the audit trail next to every decision).
    """

    __slots__ = ("_compiled", "fingerprint", "preset", "raw", "specs", "title")

    def __init__(self, raw: Mapping[str, Any], where: str = "rules") -> None:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        for k in raw:
            if k not in TOP_KEYS:
                raise ConfigError(f"{_path(where, k)}: unknown key (known: {', '.join(TOP_KEYS)})")
        rules = raw.get("rules")
        if not isinstance(rules, dict):
            raise ConfigError(f"{_path(where, 'rules')}: expected an object of rules keyed by id")
        preset = raw.get("preset", "custom")
        if not isinstance(preset, str):
            raise ConfigError(f"{_path(where, 'preset')}: expected a string")
        specs = tuple(
            _parse_rule(rid, spec, _path(_path(where, "rules"), rid)) for rid, spec in rules.items()
        )
        self.raw: dict[str, Any] = copy.deepcopy(dict(raw))
        self.preset: str = preset
        self.title: str = str(raw.get("title", ""))
        self.specs: tuple[RuleSpec, ...] = specs
        blob = json.dumps(self.raw.get("rules"), sort_keys=True, ensure_ascii=False, default=str)
        self.fingerprint: str = f"{preset}:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
        self._compiled: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_compiled", None) is not None:
            raise AttributeError("Rules are immutable; use with_overrides()")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Rules({self.fingerprint}, {len(self.specs)} rules)"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = "rules") -> Rules:
        return cls(raw, where)

    def with_overrides(self, overrides: Mapping[str, Any], where: str = "overrides") -> Rules:
        """Merge a campaign's overrides: per rule, the given parameters replace the preset's
        (lists and objects are replaced whole); a new rule id must be complete (kind, source);
        `{"enabled": false}` switches a rule off, visibly, in the fingerprint."""
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        for k in overrides:
            if k not in OVERRIDE_KEYS:
                raise ConfigError(
                    f"{_path(where, k)}: unknown key (known: {', '.join(OVERRIDE_KEYS)})"
                )
        merged = copy.deepcopy(self.raw)
        new_rules = overrides.get("rules", {})
        if not isinstance(new_rules, dict):
            raise ConfigError(f"{_path(where, 'rules')}: expected an object of rules keyed by id")
        for rid, patch in new_rules.items():
            w = _path(_path(where, "rules"), rid)
            if not isinstance(patch, dict):
                raise ConfigError(f"{w}: expected an object")
            base = merged["rules"].get(rid)
            if base is None:
                merged["rules"][rid] = copy.deepcopy(patch)
            else:
                if "kind" in patch and patch["kind"] != base["kind"]:
                    raise ConfigError(
                        f"{_path(w, 'kind')}: cannot change the kind of a preset rule"
                    )
                base.update(copy.deepcopy(patch))
        if "notes" in overrides:
            merged["notes"] = overrides["notes"]
        # Validate the merged whole, but name the override's path in errors.
        try:
            return Rules(merged, "rules")
        except ConfigError as exc:
            raise ConfigError(f"{exc} (after merging {where})") from None

    def spec(self, rule_id: str) -> RuleSpec:
        for s in self.specs:
            if s.id == rule_id:
                return s
        raise KeyError(rule_id)

    @property
    def active(self) -> tuple[RuleSpec, ...]:
        return tuple(s for s in self.specs if s.enabled)

    @property
    def compiled(self) -> Any:
        if self._compiled is None:
            from ._engine import compile_rules

            object.__setattr__(self, "_compiled", compile_rules(self))
        return self._compiled

    def lookback_s(self) -> float:
        """How far back a ledger must read attempts for these rules to see everything they
        count (windows, cool-downs, the busy expiry), with two days of slack for local days.
        Rules that look at the whole past (kind `once`) are listed by `unbounded_parties`."""
        longest = 2 * 86400.0
        for s in self.active:
            p = s.params
            if s.kind in ("calendar_window_cap", "cooldown_days"):
                longest = max(longest, (p["days"] + 2) * 86400.0)
            elif s.kind == "cooldown_hours":
                longest = max(longest, p["hours"] * 3600.0 + 86400.0)
            elif s.kind == "debtor_unreachable":
                longest = max(longest, (p["days_without_contact"] + 30) * 86400.0)
            elif s.kind == "borrower_busy":
                longest = max(longest, p["max_call_s"] + 86400.0)
        return longest

    def unbounded_parties(self) -> frozenset[str]:
        """Parties whose whole history matters (a `once` rule counts their attempts forever)."""
        out: set[str] = set()
        for s in self.active:
            if s.kind == "once":
                out |= s.params["count"].get("party", PARTIES)
        return frozenset(out)

    def abandonment_windows(self) -> tuple[tuple[str, float], ...]:
        """(rule id, window in seconds) of the campaign-level abandonment rules: the ledger
        computes an AbandonStats for each before deciding."""
        return tuple(
            (s.id, s.params["window_hours"] * 3600.0)
            for s in self.active
            if s.kind == "abandonment_rate"
        )
