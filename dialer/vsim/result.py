"""What a simulated day produced: the engine's summary, the simulator's ground truth, and
per-hour series for plots."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .config import SimConfig

__all__ = ["GroundTruth", "HourlySeries", "Series", "SimResult"]


@dataclass(slots=True)
class GroundTruth:
    """Counted by the simulator from its own calls and agents, never from the engine.

    abandoned counts what the engine must call abandoned: every live-answered call that left the
    queue without an agent (queue timeout, or the person hanging up on hold, even within the
    threshold). `hung_up_within_threshold` says how many of those a regulator would not count
    (the person left before the 2 s were over); `machines_routed` how many live answers were
    really machines (AMD off, or AMD said HUMAN/NOTSURE to a machine).
    """

    placed: int = 0
    answered: int = 0  # the far end picked up (person or machine)
    answered_human: int = 0  # live answers as the law counts them: routed to the agent queue
    abandoned: int = 0
    hung_up_within_threshold: int = 0
    machines_routed: int = 0
    connected_in_time: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    engine_outcomes: int = 0  # EmitOutcome commands seen
    occupancy: float = 0.0  # agents' busy time (ringing, talking, wrap-up) / logged-in time, over the day
    idle_gaps: int = 0
    idle_mean_s: float = 0.0
    agent_conflicts: int = 0
    agent_overlaps: int = 0  # the simulator offered a call to an agent that was not free

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered_human if self.answered_human else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "placed": self.placed, "answered": self.answered, "answered_human": self.answered_human,
            "abandoned": self.abandoned, "abandon_rate": round(self.abandon_rate, 6),
            "hung_up_within_threshold": self.hung_up_within_threshold,
            "machines_routed": self.machines_routed, "connected_in_time": self.connected_in_time,
            "dispositions": dict(sorted(self.dispositions.items())),
            "occupancy": round(self.occupancy, 6), "idle_gaps": self.idle_gaps,
            "idle_mean_s": round(self.idle_mean_s, 4), "agent_overlaps": self.agent_overlaps,
        }


@dataclass(slots=True)
class Series:
    """Per bucket of the day (`bucket_s` long; the last may be partial): `hourly` has one-hour
    buckets, `timeline` five-minute ones. Abandonments are counted in the bucket in which the
    person answered; `samples` are ticks, at which the calls in flight are sampled."""

    bucket_s: float
    day_s: float
    placed: list[int]
    answered_human: list[int]
    abandoned: list[int]
    busy_s: list[float]
    samples: list[int]
    lines_sum: list[float]  # channels up (every call placed and not ended)
    in_flight_sum: list[float]  # calls not (yet) with an agent: dialling, ringing, AMD, on hold
    lines_max: list[int]

    @classmethod
    def empty(cls, bucket_s: float, day_s: float) -> Series:
        n = max(1, math.ceil(day_s / bucket_s - 1e-9))
        return cls(bucket_s, day_s, [0] * n, [0] * n, [0] * n, [0.0] * n, [0] * n, [0.0] * n, [0.0] * n, [0] * n)

    def __len__(self) -> int:
        return len(self.placed)

    def index(self, t: float) -> int:
        i = int(t // self.bucket_s)
        n = len(self.placed)
        return i if i < n else n - 1

    def add_busy(self, start: float, end: float) -> None:
        """Agent busy time [start, end), already clipped to the day."""
        busy, size, n = self.busy_s, self.bucket_s, len(self.busy_s)
        i = int(start // size)
        while start < end and i < n:
            edge = min(end, (i + 1) * size)
            busy[i] += edge - start
            start = edge
            i += 1

    def abandon_rate(self) -> list[float | None]:
        return [a / n if n else None for a, n in zip(self.abandoned, self.answered_human, strict=True)]

    def abandon_rate_cumulative(self) -> list[float | None]:
        out: list[float | None] = []
        a = n = 0
        for ab, ans in zip(self.abandoned, self.answered_human, strict=True):
            a += ab
            n += ans
            out.append(a / n if n else None)
        return out

    def worst_abandon_rate(self) -> float:
        rates = [r for r in self.abandon_rate() if r is not None]
        return max(rates) if rates else 0.0

    def occupancy(self, agents: int) -> list[float]:
        out = []
        for i, b in enumerate(self.busy_s):
            length = min(self.bucket_s, self.day_s - i * self.bucket_s)
            out.append(b / (agents * length) if length > 0 else 0.0)
        return out

    def calls_in_flight_mean(self) -> list[float]:
        return [s / n if n else 0.0 for s, n in zip(self.in_flight_sum, self.samples, strict=True)]

    def lines_mean(self) -> list[float]:
        return [s / n if n else 0.0 for s, n in zip(self.lines_sum, self.samples, strict=True)]

    def to_json(self, agents: int) -> dict[str, list[Any]]:
        def r(xs: list[float | None] | list[float], nd: int = 6) -> list[float | None]:
            return [None if x is None else round(x, nd) for x in xs]

        return {
            "start_s": [round(i * self.bucket_s, 3) for i in range(len(self.placed))],
            "placed": list(self.placed),
            "answered_human": list(self.answered_human),
            "abandoned": list(self.abandoned),
            "abandon_rate": r(self.abandon_rate()),
            "abandon_rate_cumulative": r(self.abandon_rate_cumulative()),
            "occupancy": r(self.occupancy(agents)),
            "calls_in_flight_mean": r(self.calls_in_flight_mean(), 3),
            "lines_in_use_mean": r(self.lines_mean(), 3),
            "lines_in_use_max": list(self.lines_max),
        }


HourlySeries = Series  # the name the first version exported


@dataclass(slots=True)
class SimResult:
    """One simulated day.

    summary       the keys of `dialer run --json`, plus calls_per_agent_hour (connected calls
                  per agent-hour of the day), agent_idle_mean_s (mean time an agent waited
                  between becoming free and being offered the next call) and
                  abandon_rate_worst_hour. Counts cover every call placed (the calls in flight
                  at the end of the day run to their end); agent_occupancy and duration_s cover
                  the day itself.
    hourly        per-hour series (abandon rate through the day, occupancy, calls in flight)
    timeline      the same per five minutes (for plots)
    truth         the simulator's own count of what happened (see `check`)
    engine_day    the engine's snapshot at the end of the day; engine_final after the drain
    """

    config: SimConfig
    summary: dict[str, Any]
    hourly: Series
    timeline: Series
    truth: GroundTruth
    engine_day: Any
    engine_final: Any
    finished_at: float
    wall_s: float
    ticks: int
    events: int
    outcomes: list[Any]

    @property
    def series(self) -> dict[str, list[Any]]:
        """Per hour: `hour`, placed, answered_human, abandoned, abandon_rate (and cumulative),
        occupancy, calls_in_flight_mean, lines_in_use_mean/max."""
        out = self.hourly.to_json(self.config.agents)
        out["hour"] = list(range(len(self.hourly)))
        return out

    @property
    def calls_in_flight_mean(self) -> float:
        h = self.hourly
        n = sum(h.samples)
        return sum(h.in_flight_sum) / n if n else 0.0

    @property
    def lines_in_use_mean(self) -> float:
        h = self.hourly
        n = sum(h.samples)
        return sum(h.lines_sum) / n if n else 0.0

    def metrics(self) -> dict[str, Any]:
        """The summary plus the figures a pacing benchmark reports."""
        out = dict(self.summary)
        out["calls_in_flight_mean"] = round(self.calls_in_flight_mean, 3)
        out["lines_in_use_mean"] = round(self.lines_in_use_mean, 3)
        out["abandoned_legal"] = self.truth.abandoned - self.truth.hung_up_within_threshold
        out["machines_routed"] = self.truth.machines_routed
        out["wall_s"] = round(self.wall_s, 3)
        return out

    def check(self) -> list[str]:
        """Every way the engine's figures differ from the simulator's ground truth (empty: none)."""
        problems: list[str] = []
        final = self.engine_final.campaigns[0]
        s = final.stats
        t = self.truth

        def same(what: str, engine: Any, truth: Any) -> None:
            if engine != truth:
                problems.append(f"{what}: engine {engine!r} != ground truth {truth!r}")

        same("placed", s.placed, t.placed)
        same("outcomes", s.outcomes, t.placed)
        same("EmitOutcome commands", t.engine_outcomes, t.placed)
        same("dispositions", dict(sorted(s.dispositions.items())), dict(sorted(t.dispositions.items())))
        same("answered_human", s.answered_human, t.answered_human)
        same("abandoned", s.abandoned, t.abandoned)
        occ = self.engine_day.campaigns[0].occupancy
        if not math.isclose(occ, t.occupancy, rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"occupancy: engine {occ!r} != ground truth {t.occupancy!r}")
        same("agent conflicts (engine)", self.engine_final.agent_conflicts, 0)
        same("agent overlaps (simulator)", t.agent_overlaps, 0)
        same("unknown events", self.engine_final.unknown_events, 0)
        same("late events", self.engine_final.late_events, 0)
        same("calls left in the engine", self.engine_final.calls_in_flight, 0)
        return problems
