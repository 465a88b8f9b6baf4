"""What one simulated day is: `SimConfig`, and the callee scenario it builds.

The four traffic knobs of a pacing experiment (live-answer rate, machine rate, mean talk time,
wrap-up) override the base scenario, so a grid can sweep them without writing a JSON file per
cell; everything else (ring times, AMD delays and confusion, patience, agent answer time) comes
from the scenario (`collections_day` unless `scenario` names another one or a file).

Validation is strict and names the field, because a typo in an experiment silently changes
every number it produces (same rule as `dialer.sim.scenario`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..sim.scenario import Dist, Scenario

__all__ = ["FAILURE_KINDS", "SimConfig", "build_scenario"]

# The non-answering kinds and their weights relative to each other: the collections_day
# proportions (10% busy, 35% no answer, 5% congestion, 5% invalid).
FAILURE_KINDS: dict[str, float] = {"busy": 0.10, "no_answer": 0.35, "congestion": 0.05, "invalid": 0.05}
DEFAULT_TALK_SIGMA = 0.5


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One simulated calling day for one campaign.

    pacer            a name in `dialer.core.pacing.PACERS`
    pacer_options    keyword arguments for that pacer's constructor (e.g. {"ratio": 2.5})
    agents           agents logged in (and never paused) for the whole day
    hours            simulated dialling time; afterwards nothing new is dialled and the calls
                     in flight run to their end (their outcomes count, the day's clock does not)
    seed             seeds the callee stream and the agent stream (separately: call i gets the
                     same callee whatever the pacer did, see dialer.sim.behaviour)
    answer_rate      share of dialled numbers a person answers (None: the scenario's)
    machine_rate     share answered by a machine (None: the scenario's); the rest is split
                     busy/no-answer/congestion/invalid in the collections_day proportions
    talk_mean_s      mean conversation length, lognormal with the scenario's sigma (None: the
                     scenario's talk distribution)
    wrap_s           fixed wrap-up after each call (None: the scenario's)
    amd              answering-machine detection on; off: no AMD delay, and machines are
                     routed to agents like people
    abandon_target   the campaign's abandonment target handed to the pacer (0.03 = 3%)
    scenario         base scenario: a bundled name, a JSON path, a dict, a Scenario, or None
                     (collections_day)
    tick_s           the engine is ticked every tick_s simulated seconds
    abandon_after_s  the legal threshold and queue timeout (2 s: TCPA/TSR and Ofcom)
    originate_timeout_s  how long a number rings before it counts as no answer
    max_lines        channel cap of the campaign (None: max(1000, 20 x agents), i.e. never binding)
    id_message_s     after a queue timeout the person hears an identification message this long
    """

    pacer: str = "progressive"
    agents: int = 10
    hours: float = 8.0
    seed: int = 1
    answer_rate: float | None = None
    machine_rate: float | None = None
    talk_mean_s: float | None = None
    wrap_s: float | None = None
    amd: bool = True
    abandon_target: float = 0.03
    scenario: str | Path | Mapping[str, Any] | Scenario | None = None
    pacer_options: Mapping[str, Any] = field(default_factory=dict)
    tick_s: float = 0.1
    abandon_after_s: float = 2.0
    originate_timeout_s: float = 30.0
    max_lines: int | None = None
    id_message_s: float = 3.0

    def __post_init__(self) -> None:
        errors = self.problems()
        if errors:
            raise ConfigError("simulation: " + "; ".join(errors))

    def problems(self) -> list[str]:
        out: list[str] = []

        def number(name: str, lo: float, hi: float = math.inf, *, lo_open: bool = False,
                   optional: bool = False) -> None:
            v = getattr(self, name)
            if v is None and optional:
                return
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                out.append(f"{name}: expected a finite number, got {v!r}")
                return
            if (v <= lo if lo_open else v < lo) or v > hi:
                left = "(" if lo_open else "["
                out.append(f"{name}: expected a value in {left}{lo:g}, {hi:g}], got {v!r}")

        if not isinstance(self.pacer, str) or not self.pacer:
            out.append(f"pacer: expected a pacer name, got {self.pacer!r}")
        if isinstance(self.agents, bool) or not isinstance(self.agents, int) or self.agents < 1:
            out.append(f"agents: expected an integer >= 1, got {self.agents!r}")
        number("hours", 0.0, 24.0 * 7, lo_open=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            out.append(f"seed: expected a non-negative integer, got {self.seed!r}")
        number("answer_rate", 0.0, 1.0, optional=True)
        number("machine_rate", 0.0, 1.0, optional=True)
        if (
            isinstance(self.answer_rate, int | float) and isinstance(self.machine_rate, int | float)
            and self.answer_rate + self.machine_rate > 1.0 + 1e-9
        ):
            out.append(
                f"answer_rate + machine_rate: expected at most 1, got "
                f"{self.answer_rate:g} + {self.machine_rate:g}"
            )
        number("talk_mean_s", 0.0, lo_open=True, optional=True)
        number("wrap_s", 0.0, optional=True)
        if not isinstance(self.amd, bool):
            out.append(f"amd: expected true or false, got {self.amd!r}")
        number("abandon_target", 0.0, 1.0, lo_open=True)
        number("tick_s", 0.0, 60.0, lo_open=True)
        number("abandon_after_s", 0.0, 60.0, lo_open=True)
        number("originate_timeout_s", 0.0, 600.0, lo_open=True)
        number("id_message_s", 0.0, 60.0)
        if self.max_lines is not None and (
            isinstance(self.max_lines, bool) or not isinstance(self.max_lines, int) or self.max_lines < 1
        ):
            out.append(f"max_lines: expected an integer >= 1 or None, got {self.max_lines!r}")
        if not isinstance(self.pacer_options, Mapping):
            out.append(f"pacer_options: expected a mapping, got {self.pacer_options!r}")
        return out

    @property
    def duration_s(self) -> float:
        return self.hours * 3600.0

    @property
    def lines(self) -> int:
        return self.max_lines if self.max_lines is not None else max(1000, 20 * self.agents)

    def to_json(self) -> dict[str, Any]:
        scenario = self.scenario
        if isinstance(scenario, Scenario):
            scenario = scenario.name
        elif isinstance(scenario, Path):
            scenario = str(scenario)
        elif isinstance(scenario, Mapping):
            scenario = dict(scenario).get("name", "<dict>")
        return {
            "pacer": self.pacer, "pacer_options": dict(self.pacer_options), "agents": self.agents,
            "hours": self.hours, "seed": self.seed, "answer_rate": self.answer_rate,
            "machine_rate": self.machine_rate, "talk_mean_s": self.talk_mean_s, "wrap_s": self.wrap_s,
            "amd": self.amd, "abandon_target": self.abandon_target, "scenario": scenario,
            "tick_s": self.tick_s, "abandon_after_s": self.abandon_after_s,
            "originate_timeout_s": self.originate_timeout_s, "max_lines": self.lines,
            "id_message_s": self.id_message_s,
        }


def build_scenario(cfg: SimConfig) -> Scenario:
    """The base scenario with the config's traffic knobs applied (validated again)."""
    base = Scenario.load(cfg.scenario)
    changes: dict[str, Any] = {}
    shares = base.outcomes.as_dict()
    if cfg.answer_rate is not None or cfg.machine_rate is not None:
        person = shares["person"] if cfg.answer_rate is None else float(cfg.answer_rate)
        machine = shares["machine"] if cfg.machine_rate is None else float(cfg.machine_rate)
        rest = 1.0 - person - machine
        if rest < -1e-9:
            raise ConfigError(
                f"simulation: answer_rate + machine_rate: expected at most 1, got {person:g} + {machine:g}"
            )
        rest = max(0.0, rest)
        total = sum(FAILURE_KINDS.values())
        new = {"person": person, "machine": machine}
        new.update({k: rest * w / total for k, w in FAILURE_KINDS.items()})
        # Absorb rounding so the shares sum to exactly 1 within the scenario's tolerance.
        new["no_answer"] = max(0.0, 1.0 - sum(v for k, v in new.items() if k != "no_answer"))
        changes["outcomes"] = new
    if cfg.talk_mean_s is not None:
        sigma = base.talk_s.b if base.talk_s.kind == "lognormal" else DEFAULT_TALK_SIGMA
        changes["talk_s"] = Dist.lognormal(float(cfg.talk_mean_s), sigma)
    if cfg.wrap_s is not None:
        changes["agent_wrapup_s"] = Dist.fixed(float(cfg.wrap_s))
    return base.with_changes(**changes) if changes else base
