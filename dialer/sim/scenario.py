"""What the simulated callees and agents do, as a validated, immutable `Scenario`.

A scenario is data (a JSON file or a dict), not code, so a pacing experiment can be described,
versioned and replayed. Loading is strict because a typo in a scenario silently changes every
number an experiment produces: unknown keys are rejected, and every bad value is reported with
the field path and what was expected (all problems at once, in one `ScenarioError`).

Durations are distributions in seconds. In JSON a duration is either a number (fixed) or an
object: `{"dist": "uniform", "low": 2, "high": 12}`, `{"dist": "lognormal", "mean": 120,
"sigma": 0.5}` (mean of the distribution itself, sigma of its log), `{"dist": "exponential",
"mean": 8}` or `{"dist": "fixed", "value": 10}`.

Every `Dist` samples by inverse CDF from exactly one uniform draw. `behaviour` relies on this to
spend a fixed number of draws per call, so call *i* of a seeded run gets the same callee whatever
the pacing did before it (common random numbers across pacing strategies).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from dialer.errors import InputError

__all__ = [
    "AMD_STATUSES",
    "CALLEE_KINDS",
    "AmdConfusion",
    "AmdRow",
    "Dist",
    "OutcomeShares",
    "Scenario",
    "ScenarioError",
    "bundled_scenarios",
]

CALLEE_KINDS = ("person", "machine", "busy", "no_answer", "congestion", "invalid")
AMD_STATUSES = ("HUMAN", "MACHINE", "NOTSURE")
SELECTIONS = ("random", "last_digit")
SHARE_TOLERANCE = 1e-6
SCENARIO_DIR = Path(__file__).with_name("scenarios")

_NORMAL = statistics.NormalDist()
_U_MIN = 1e-12  # keeps inverse CDFs finite at the edges of [0, 1)


class ScenarioError(InputError):
    """A scenario value is missing or malformed; `errors` lists every problem found."""

    def __init__(self, errors: list[str] | str, source: str = "scenario") -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.source = source
        super().__init__(f"{source}: " + "; ".join(self.errors))


# --------------------------------------------------------------------------- distributions

_DIST_PARAMS = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "lognormal": ("mean", "sigma"),
    "exponential": ("mean",),
}


@dataclass(frozen=True, slots=True)
class Dist:
    """A non-negative duration distribution (seconds). `a`/`b` mean, per kind:
    fixed: value/-, uniform: low/high, lognormal: mean/sigma, exponential: mean/-."""

    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def fixed(cls, value: float) -> Dist:
        return cls("fixed", float(value))

    @classmethod
    def uniform(cls, low: float, high: float) -> Dist:
        return cls("uniform", float(low), float(high))

    @classmethod
    def lognormal(cls, mean: float, sigma: float) -> Dist:
        return cls("lognormal", float(mean), float(sigma))

    @classmethod
    def exponential(cls, mean: float) -> Dist:
        return cls("exponential", float(mean))

    def __post_init__(self) -> None:
        errors = self.problems("dist")
        if errors:
            raise ScenarioError(errors)

    def problems(self, path: str) -> list[str]:
        if self.kind not in _DIST_PARAMS:
            return [f"{path}.dist: expected one of {', '.join(_DIST_PARAMS)}, got {self.kind!r}"]
        out: list[str] = []
        a, b = self.a, self.b
        if not (math.isfinite(a) and math.isfinite(b)):
            return [f"{path}: expected finite numbers of seconds, got {a!r}, {b!r}"]
        if self.kind == "fixed" and a < 0:
            out.append(f"{path}.value: expected a non-negative number of seconds, got {a:g}")
        elif self.kind == "uniform":
            if a < 0:
                out.append(f"{path}.low: expected a non-negative number of seconds, got {a:g}")
            if b < a:
                out.append(f"{path}.high: expected a number >= low ({a:g}), got {b:g}")
        elif self.kind == "lognormal":
            if a <= 0:
                out.append(f"{path}.mean: expected a positive number of seconds, got {a:g}")
            if b < 0:
                out.append(f"{path}.sigma: expected a non-negative number, got {b:g}")
        elif self.kind == "exponential" and a <= 0:
            out.append(f"{path}.mean: expected a positive number of seconds, got {a:g}")
        return out

    def from_uniform(self, u: float) -> float:
        """Inverse CDF: the value at quantile `u` in [0, 1)."""
        u = min(max(float(u), _U_MIN), 1.0 - _U_MIN)
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return self.a + u * (self.b - self.a)
        if self.kind == "lognormal":
            mu = math.log(self.a) - 0.5 * self.b * self.b
            return math.exp(mu + self.b * _NORMAL.inv_cdf(u))
        return -self.a * math.log1p(-u)  # exponential

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_uniform(float(rng.random()))

    def mean(self) -> float:
        if self.kind == "uniform":
            return 0.5 * (self.a + self.b)
        return self.a  # fixed value, lognormal mean, exponential mean

    def to_json(self) -> float | dict[str, Any]:
        if self.kind == "fixed":
            return self.a
        names = _DIST_PARAMS[self.kind]
        return {"dist": self.kind, **{n: v for n, v in zip(names, (self.a, self.b), strict=False)}}


# --------------------------------------------------------------------------- shares


@dataclass(frozen=True, slots=True)
class OutcomeShares:
    """The share of dialled numbers whose far end is each kind (sums to 1)."""

    person: float = 0.25
    machine: float = 0.20
    busy: float = 0.10
    no_answer: float = 0.35
    congestion: float = 0.05
    invalid: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in CALLEE_KINDS}

    @property
    def total(self) -> float:
        return math.fsum(self.as_dict().values())

    def problems(self, path: str) -> list[str]:
        out = [
            f"{path}.{k}: expected a share between 0 and 1, got {v:g}"
            for k, v in self.as_dict().items()
            if not (math.isfinite(v) and 0.0 <= v <= 1.0)
        ]
        if not out and abs(self.total - 1.0) > SHARE_TOLERANCE:
            parts = ", ".join(f"{k}={v:g}" for k, v in self.as_dict().items())
            out.append(f"{path}: expected shares summing to 1, got {self.total:.6g} ({parts})")
        return out


@dataclass(frozen=True, slots=True)
class AmdRow:
    """P(AMD verdict | true callee kind): HUMAN, MACHINE, NOTSURE (sums to 1)."""

    human: float
    machine: float
    notsure: float

    def as_dict(self) -> dict[str, float]:
        return {"HUMAN": self.human, "MACHINE": self.machine, "NOTSURE": self.notsure}

    def problems(self, path: str) -> list[str]:
        d = self.as_dict()
        out = [
            f"{path}.{k}: expected a probability between 0 and 1, got {v:g}"
            for k, v in d.items()
            if not (math.isfinite(v) and 0.0 <= v <= 1.0)
        ]
        total = math.fsum(d.values())
        if not out and abs(total - 1.0) > SHARE_TOLERANCE:
            out.append(f"{path}: expected HUMAN+MACHINE+NOTSURE to sum to 1, got {total:.6g}")
        return out


@dataclass(frozen=True, slots=True)
class AmdConfusion:
    """How AMD classifies each true kind of answering party."""

    person: AmdRow = AmdRow(0.93, 0.04, 0.03)
    machine: AmdRow = AmdRow(0.08, 0.88, 0.04)

    @classmethod
    def perfect(cls) -> AmdConfusion:
        return cls(AmdRow(1.0, 0.0, 0.0), AmdRow(0.0, 1.0, 0.0))

    def problems(self, path: str) -> list[str]:
        return self.person.problems(f"{path}.person") + self.machine.problems(f"{path}.machine")


# --------------------------------------------------------------------------- scenario

# Defaults (immutable values, shared by every Scenario that does not override them).
_DEFAULT_SHARES = OutcomeShares()
_DEFAULT_CONFUSION = AmdConfusion()
_D_PERSON_RING = Dist.uniform(2.0, 12.0)
_D_MACHINE_RING = Dist.uniform(2.0, 4.0)
_D_FAILURE_DELAY = Dist.uniform(0.2, 2.0)
_D_TALK = Dist.lognormal(120.0, 0.5)
_D_GREETING = Dist.uniform(4.0, 12.0)
_D_RECORD = Dist.fixed(10.0)
_D_AMD_DELAY = Dist.uniform(1.6, 2.4)
_D_PATIENCE = Dist.lognormal(8.0, 0.5)
_D_AGENT_ANSWER = Dist.uniform(0.2, 0.6)
_D_WRAPUP = Dist.fixed(10.0)
_D_BOT_ESCALATE = Dist.lognormal(45.0, 0.5)
_D_BOT_TALK = Dist.lognormal(90.0, 0.5)


@dataclass(frozen=True, slots=True)
class Scenario:
    """Callee and agent behaviour for one simulated calling day.

    outcomes              share of numbers per far-end kind (person, machine, busy, no_answer,
                          congestion, invalid)
    callee_selection      "random" (draw the kind from `outcomes`) or "last_digit" (the test
                          PBX's rule: 0-4 person, 5-6 machine, 7 busy, 8 no answer,
                          9 congestion, ...99 invalid)
    person_ring_s         ringing before a person answers
    machine_ring_s        ringing before a machine answers
    failure_delay_s       time until a busy/congestion/invalid number fails
                          (no-answer numbers ring until the Originate Timeout)
    talk_s                conversation once a person is connected to an agent
    machine_greeting_s    length of a machine's greeting
    machine_record_s      how long a machine keeps the line after its beep
    amd_delay_s           time from answer to a HUMAN/MACHINE verdict
    amd_total_analysis_s  time from answer to a NOTSURE verdict (AMD's total_analysis_time)
    amd_confusion         P(verdict | true kind)
    patience_s            how long a person waits on hold in the queue before hanging up
    agent_answer_s        time an agent's phone rings before the agent answers
    agent_wrapup_s        wrap-up after each call (the queue's wrapuptime)
    bot_channels          bot-first calls (DIALER_BOT_ENDPOINT set): people the bot can talk
                          to at once; one more gets Dial() status CHANUNAVAIL
    bot_escalate_share    share of the bot's conversations it escalates (UserEvent
                          DialerEscalate from the bot's AMI session)
    bot_escalate_after_s  time from the bot answering to its escalation
    bot_talk_s            length of a conversation the bot finishes itself (then it hangs up)
    seed                  default seed of a run (a runner's explicit seed wins)
    """

    name: str = "default"
    description: str = ""
    outcomes: OutcomeShares = _DEFAULT_SHARES
    callee_selection: str = "random"
    person_ring_s: Dist = _D_PERSON_RING
    machine_ring_s: Dist = _D_MACHINE_RING
    failure_delay_s: Dist = _D_FAILURE_DELAY
    talk_s: Dist = _D_TALK
    machine_greeting_s: Dist = _D_GREETING
    machine_record_s: Dist = _D_RECORD
    amd_delay_s: Dist = _D_AMD_DELAY
    amd_total_analysis_s: float = 5.0
    amd_confusion: AmdConfusion = _DEFAULT_CONFUSION
    patience_s: Dist = _D_PATIENCE
    agent_answer_s: Dist = _D_AGENT_ANSWER
    agent_wrapup_s: Dist = _D_WRAPUP
    bot_channels: int = 30
    bot_escalate_share: float = 0.3
    bot_escalate_after_s: Dist = _D_BOT_ESCALATE
    bot_talk_s: Dist = _D_BOT_TALK
    seed: int | None = None

    def __post_init__(self) -> None:
        errors = self.problems()
        if errors:
            raise ScenarioError(errors, source=f"scenario {self.name!r}")

    def problems(self) -> list[str]:
        out: list[str] = []
        out += self.outcomes.problems("outcomes")
        out += self.amd_confusion.problems("amd_confusion")
        if self.callee_selection not in SELECTIONS:
            out.append(
                f"callee_selection: expected one of {', '.join(SELECTIONS)}, "
                f"got {self.callee_selection!r}"
            )
        if not (math.isfinite(self.amd_total_analysis_s) and self.amd_total_analysis_s >= 0):
            out.append(
                "amd_total_analysis_s: expected a non-negative number of seconds, "
                f"got {self.amd_total_analysis_s!r}"
            )
        if self.seed is not None and (isinstance(self.seed, bool) or self.seed < 0):
            out.append(f"seed: expected a non-negative integer or null, got {self.seed!r}")
        if isinstance(self.bot_channels, bool) or not isinstance(self.bot_channels, int) or self.bot_channels < 0:
            out.append(f"bot_channels: expected a non-negative integer, got {self.bot_channels!r}")
        if not (isinstance(self.bot_escalate_share, (int, float)) and 0.0 <= self.bot_escalate_share <= 1.0):
            out.append(f"bot_escalate_share: expected a share between 0 and 1, got {self.bot_escalate_share!r}")
        return out

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "scenario") -> Scenario:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"expected a JSON object, got {type(data).__name__}", source)
        errors: list[str] = []
        kwargs: dict[str, Any] = {}
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        for key in data:
            if key not in known:
                errors.append(
                    f"unknown field {key!r} (expected one of: {', '.join(sorted(known))})"
                )
        for key, value in data.items():
            if key not in known:
                continue
            parser = _FIELD_PARSERS[key]
            parsed = parser(key, value, errors)
            if parsed is not _BAD:
                kwargs[key] = parsed
        if errors:
            raise ScenarioError(errors, source)
        try:
            return cls(**kwargs)
        except ScenarioError as exc:
            raise ScenarioError(exc.errors, source) from None

    @classmethod
    def from_json(cls, path: str | Path) -> Scenario:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", str(p)
            ) from None
        except OSError as exc:
            raise ScenarioError(f"cannot read the file: {exc.strerror}", str(p)) from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def load(
        cls, name_or_path: str | Path | Mapping[str, Any] | Scenario | None = None
    ) -> Scenario:
        """A bundled scenario by name, a JSON file, a dict, or the default (None)."""
        if name_or_path is None:
            return cls.load("collections_day")
        if isinstance(name_or_path, Scenario):
            return name_or_path
        if isinstance(name_or_path, Mapping):
            return cls.from_dict(name_or_path)
        text = str(name_or_path)
        bundled = SCENARIO_DIR / f"{text}.json"
        if "/" not in text and not text.endswith(".json") and bundled.is_file():
            return cls.from_json(bundled)
        p = Path(name_or_path)
        if not p.is_file():
            raise ScenarioError(
                f"no such scenario file, and not one of the bundled scenarios "
                f"({', '.join(bundled_scenarios())})",
                text,
            )
        return cls.from_json(p)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            v = getattr(self, f.name)
            if isinstance(v, Dist):
                out[f.name] = v.to_json()
            elif isinstance(v, OutcomeShares):
                out[f.name] = v.as_dict()
            elif isinstance(v, AmdConfusion):
                out[f.name] = {"person": v.person.as_dict(), "machine": v.machine.as_dict()}
            else:
                out[f.name] = v
        return out

    def with_changes(self, **changes: Any) -> Scenario:
        """A copy with some fields replaced, validated like a loaded scenario.

        Values may be given as objects (`Dist`, `OutcomeShares`, ...) or in JSON form."""
        data = self.to_dict()
        data.update(Scenario._json_values(changes))
        return Scenario.from_dict(data, source=f"scenario {self.name!r}")

    @staticmethod
    def _json_values(values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in values.items():
            if isinstance(v, Dist):
                v = v.to_json()
            elif isinstance(v, OutcomeShares):
                v = v.as_dict()
            elif isinstance(v, AmdConfusion):
                v = {"person": v.person.as_dict(), "machine": v.machine.as_dict()}
            out[k] = v
        return out


def bundled_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))


# --------------------------------------------------------------------------- field parsers

_BAD = object()


def _number(path: str, value: Any, errors: list[str], *, what: str) -> float | object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{path}: expected {what}, got {value!r}")
        return _BAD
    v = float(value)
    if not math.isfinite(v):
        errors.append(f"{path}: expected {what}, got {value!r}")
        return _BAD
    return v


def _parse_str(path: str, value: Any, errors: list[str]) -> str | object:
    if not isinstance(value, str):
        errors.append(f"{path}: expected a string, got {value!r}")
        return _BAD
    return value


def _parse_selection(path: str, value: Any, errors: list[str]) -> str | object:
    if value not in SELECTIONS:
        errors.append(f"{path}: expected one of {', '.join(SELECTIONS)}, got {value!r}")
        return _BAD
    return value


def _parse_seconds(path: str, value: Any, errors: list[str]) -> float | object:
    v = _number(path, value, errors, what="a non-negative number of seconds")
    if v is not _BAD and v < 0:  # type: ignore[operator]
        errors.append(f"{path}: expected a non-negative number of seconds, got {value!r}")
        return _BAD
    return v


def _parse_seed(path: str, value: Any, errors: list[str]) -> int | object | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.append(f"{path}: expected a non-negative integer or null, got {value!r}")
        return _BAD
    return value


def _parse_count(path: str, value: Any, errors: list[str]) -> int | object:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.append(f"{path}: expected a non-negative integer, got {value!r}")
        return _BAD
    return value


def _parse_share(path: str, value: Any, errors: list[str]) -> float | object:
    v = _number(path, value, errors, what="a share between 0 and 1")
    if v is not _BAD and not 0.0 <= v <= 1.0:  # type: ignore[operator]
        errors.append(f"{path}: expected a share between 0 and 1, got {value!r}")
        return _BAD
    return v


def _parse_dist(path: str, value: Any, errors: list[str]) -> Dist | object:
    if isinstance(value, bool):
        errors.append(
            f"{path}: expected seconds (a number or a distribution object), got {value!r}"
        )
        return _BAD
    if isinstance(value, int | float):
        v = _parse_seconds(path, value, errors)
        return _BAD if v is _BAD else Dist.fixed(v)  # type: ignore[arg-type]
    if not isinstance(value, Mapping):
        errors.append(
            f"{path}: expected seconds as a number or an object like "
            f'{{"dist": "uniform", "low": 2, "high": 12}}, got {value!r}'
        )
        return _BAD
    kind = value.get("dist")
    if kind not in _DIST_PARAMS:
        errors.append(f"{path}.dist: expected one of {', '.join(_DIST_PARAMS)}, got {kind!r}")
        return _BAD
    names = _DIST_PARAMS[kind]
    ok = True
    for key in value:
        if key != "dist" and key not in names:
            errors.append(
                f"{path}: unknown key {key!r} for a {kind} distribution "
                f"(expected: {', '.join(names)})"
            )
            ok = False
    params: list[float] = []
    for n in names:
        if n not in value:
            errors.append(f"{path}.{n}: missing (a {kind} distribution needs {', '.join(names)})")
            ok = False
            continue
        v = _number(f"{path}.{n}", value[n], errors, what="a number")
        if v is _BAD:
            ok = False
        else:
            params.append(v)  # type: ignore[arg-type]
    if not ok:
        return _BAD
    d = Dist.__new__(Dist)
    object.__setattr__(d, "kind", kind)
    object.__setattr__(d, "a", params[0])
    object.__setattr__(d, "b", params[1] if len(params) > 1 else 0.0)
    problems = d.problems(path)
    if problems:
        errors.extend(problems)
        return _BAD
    return d


def _parse_shares(path: str, value: Any, errors: list[str]) -> OutcomeShares | object:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: expected an object of shares ({', '.join(CALLEE_KINDS)})")
        return _BAD
    ok = True
    vals: dict[str, float] = {}
    for key in value:
        if key not in CALLEE_KINDS:
            errors.append(f"{path}: unknown kind {key!r} (expected: {', '.join(CALLEE_KINDS)})")
            ok = False
    for k in CALLEE_KINDS:
        if k not in value:
            errors.append(f"{path}.{k}: missing (give every share, they must sum to 1)")
            ok = False
            continue
        v = _number(f"{path}.{k}", value[k], errors, what="a share between 0 and 1")
        if v is _BAD:
            ok = False
        else:
            vals[k] = v  # type: ignore[assignment]
    if not ok:
        return _BAD
    shares = OutcomeShares.__new__(OutcomeShares)
    for k, v in vals.items():
        object.__setattr__(shares, k, v)
    problems = shares.problems(path)
    if problems:
        errors.extend(problems)
        return _BAD
    return shares


def _parse_row(path: str, value: Any, errors: list[str]) -> AmdRow | object:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: expected an object with HUMAN, MACHINE and NOTSURE")
        return _BAD
    ok = True
    for key in value:
        if key not in AMD_STATUSES:
            errors.append(f"{path}: unknown verdict {key!r} (expected: HUMAN, MACHINE, NOTSURE)")
            ok = False
    vals: list[float] = []
    for k in AMD_STATUSES:
        if k not in value:
            errors.append(f"{path}.{k}: missing")
            ok = False
            continue
        v = _number(f"{path}.{k}", value[k], errors, what="a probability between 0 and 1")
        if v is _BAD:
            ok = False
        else:
            vals.append(v)  # type: ignore[arg-type]
    if not ok:
        return _BAD
    row = AmdRow.__new__(AmdRow)
    for name, v in zip(("human", "machine", "notsure"), vals, strict=True):
        object.__setattr__(row, name, v)
    problems = row.problems(path)
    if problems:
        errors.extend(problems)
        return _BAD
    return row


def _parse_confusion(path: str, value: Any, errors: list[str]) -> AmdConfusion | object:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: expected an object with rows 'person' and 'machine'")
        return _BAD
    ok = True
    for key in value:
        if key not in ("person", "machine"):
            errors.append(f"{path}: unknown row {key!r} (expected: person, machine)")
            ok = False
    rows: dict[str, AmdRow] = {}
    for k in ("person", "machine"):
        if k not in value:
            errors.append(f"{path}.{k}: missing")
            ok = False
            continue
        r = _parse_row(f"{path}.{k}", value[k], errors)
        if r is _BAD:
            ok = False
        else:
            rows[k] = r  # type: ignore[assignment]
    if not ok:
        return _BAD
    return AmdConfusion(rows["person"], rows["machine"])


_FIELD_PARSERS = {
    "name": _parse_str,
    "description": _parse_str,
    "outcomes": _parse_shares,
    "callee_selection": _parse_selection,
    "person_ring_s": _parse_dist,
    "machine_ring_s": _parse_dist,
    "failure_delay_s": _parse_dist,
    "talk_s": _parse_dist,
    "machine_greeting_s": _parse_dist,
    "machine_record_s": _parse_dist,
    "amd_delay_s": _parse_dist,
    "amd_total_analysis_s": _parse_seconds,
    "amd_confusion": _parse_confusion,
    "patience_s": _parse_dist,
    "agent_answer_s": _parse_dist,
    "agent_wrapup_s": _parse_dist,
    "bot_channels": _parse_count,
    "bot_escalate_share": _parse_share,
    "bot_escalate_after_s": _parse_dist,
    "bot_talk_s": _parse_dist,
    "seed": _parse_seed,
}
