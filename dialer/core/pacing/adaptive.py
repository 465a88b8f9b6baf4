"""Adaptive pacing: VICIdial's ADAPT dial methods, rebuilt from their published description.

The description (issue 3): every 15 s the "dial level" adapts from (ready agents - waiting
calls) averaged over 15 one-second samples, scaled by an intensity setting, capped at a maximum
level (default 3.0); once the day's drop percentage passes the limit it falls back to 1:1 for
the rest of the day (HARD_LIMIT, the default), halves (AVERAGE) or tapers by hours left
(TAPERED); a drop is counted only after 5 s by default. This module is built from that text,
not from VICIdial's code. Where the text leaves a choice, this is our reading:

Dial level. Lines per active agent, as VICIdial's RATIO method with its default tally: the
target is `floor(level x (ready + ringing + talking agents))` lines in use, counting the calls
already talking to an agent (see `ratio.lines_to_launch`, tally "active"). Level 1.0 is one line
per agent: progressive. The level starts at `start_level` (1.0) each day and stays within
[1.0, max_level].

Samples. About once a second (on the first decision at or after each whole `sample_s` since the
last sample) the pacer records `ready agents - calls waiting for an agent`. Positive: agents sit
idle, the dialer is too slow; negative: people wait, it is too fast.

Adaptation. Every `adapt_every_s` (15 s) the mean of the samples taken since the last
adaptation (15 of them when decisions come at least once a second), divided by the active
agents, is the share of the team idle net of waiting calls, `d` (clamped to [-1, 1]). The level
moves by `step x gain x d` lines per agent, `gain = 2 ** (intensity / 20)`: intensity is
VICIdial's adaptive intensity modifier, -40..+40; at 0 a team 10% idle raises the level by 0.05
per 15 s and a wholly idle one by 0.5 (`step`); +20 doubles the reaction, -20 halves it. (An
additive step: a multiplicative one doubles the level every 15 s while a team waits for its
first answers, then drops a third of them: a reading that would make the baseline a straw man.)
The limit rule of the mode is checked first and, when it acts, replaces the adaptation.

Drop percentage and the limit. Per calendar day (UTC day of `at`): drops / live answers.
"Passes the limit" means strictly above `drop_limit` (3%).

- HARD_LIMIT: from the adaptation at which the day's drop percentage is first above the limit,
  the level is 1.0 for the rest of the day, even if the percentage falls back below the limit
  later (`latch=False` instead follows VICIdial's manual, "until the percentage goes down":
  normal adaptation resumes, from 1.0, once it is back at or under the limit).
- AVERAGE: at every adaptation while the day's percentage is above the limit, the level is
  halved (never below 1.0) instead of adapted; adaptation resumes once it is back under.
- TAPERED: the limit is relaxed early in the shift and tightens to the configured one at its
  end: effective limit = drop_limit x (1 + hours left / shift hours), the shift starting at the
  first decision of the day and lasting `shift_hours`. Above the effective limit the level is
  scaled down by effective limit / drop percentage (never below 1.0); otherwise it adapts.

Counting a drop only after 5 s. VICIdial holds an unanswered caller for `drop_call_seconds`
(5 s) before dropping them, so a person who hangs up sooner, or who reaches an agent after 3 s
(an abandonment in law after 2 s), is not a drop to it. Here: an abandoned live answer counts
as a drop when the person was left without an agent for at least `drop_s` seconds, from the
AMD verdict (the answer, with AMD off) to the agent's connect or, with none, to the end of the
person's line (a queue timeout at 2 s plus the 3 s identification message is 5 s: a drop).
That needs the call's timings, which only the outcome hook `observe(outcome)` gives; through
`observe_outcome(at, answered_human, abandoned)` alone every abandonment counts as a drop
(the engine's legal count is the cautious side). The pacer's own count is used only for its
limit rule: the engine still counts every abandonment by the legal definition.
"""

from __future__ import annotations

import math
from typing import Any

from ..stats import is_live_answer
from .base import PacingView
from .ratio import TALLIES, lines_to_launch

__all__ = ["MODES", "AdaptivePacer", "is_drop"]

MODES = ("hard_limit", "average", "tapered")
DAY_S = 86400.0


def is_drop(outcome: Any, drop_s: float) -> bool:
    """VICIdial's drop: an abandoned live answer left without an agent for `drop_s` or more."""
    if not outcome.abandoned:
        return False
    start = outcome.amd_at if outcome.amd_at is not None else outcome.answer_at
    if start is None:
        return True
    if outcome.connect_at is not None:
        end = outcome.connect_at
    else:
        end = outcome.hangup_at if outcome.hangup_at is not None else outcome.ended_at
    return bool(end - start >= drop_s - 1e-6)


class AdaptivePacer:
    name = "adaptive"

    def __init__(
        self,
        *,
        mode: str = "hard_limit",
        max_level: float = 3.0,
        drop_limit: float = 0.03,
        intensity: float = 0.0,
        drop_s: float = 5.0,
        start_level: float = 1.0,
        tally: str = "active",
        sample_s: float = 1.0,
        adapt_every_s: float = 15.0,
        shift_hours: float = 8.0,
        latch: bool = True,
        step: float = 0.5,
    ) -> None:
        mode = mode.lower().removeprefix("adapt_")
        problems = []
        if mode not in MODES:
            problems.append(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")

        def check(name: str, v: float, lo: float, hi: float) -> None:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
                problems.append(f"{name}: expected a number in [{lo:g}, {hi:g}], got {v!r}")

        check("max_level", max_level, 1.0, 100.0)
        check("drop_limit", drop_limit, 0.0, 1.0)
        check("intensity", intensity, -40.0, 40.0)
        check("drop_s", drop_s, 0.0, 3600.0)
        check("start_level", start_level, 1.0, 100.0)
        check("sample_s", sample_s, 0.01, 3600.0)
        check("adapt_every_s", adapt_every_s, 0.01, 86400.0)
        check("shift_hours", shift_hours, 0.01, 24.0)
        check("step", step, 0.0, 10.0)
        if tally not in TALLIES:
            problems.append(f"tally: expected one of {', '.join(TALLIES)}, got {tally!r}")
        if problems:
            raise ValueError("; ".join(problems))
        self.mode = mode
        self.max_level = float(max_level)
        self.drop_limit = float(drop_limit)
        self.intensity = float(intensity)
        self.gain = 2.0 ** (self.intensity / 20.0)
        self.drop_s = float(drop_s)
        self.start_level = min(float(start_level), self.max_level)
        self.tally = tally
        self.sample_s = float(sample_s)
        self.adapt_every_s = float(adapt_every_s)
        self.shift_s = float(shift_hours) * 3600.0
        self.latch = latch
        self.step = float(step)
        self.level = self.start_level
        self.latched = False
        self.samples: list[float] = []
        self._day: int | None = None
        self._shift_start = 0.0
        self._next_sample = 0.0
        self._next_adapt = 0.0
        # Per-day counts. The outcome hook (with timings) wins over the bare feedback once seen.
        self._answers = self._drops = 0
        self._rich_answers = self._rich_drops = 0
        self._rich = False
        self.adaptations = 0

    # --- feedback ------------------------------------------------------------------------

    def _roll_day(self, at: float) -> None:
        day = int(at // DAY_S)
        if day == self._day:
            return
        self._day = day
        self._answers = self._drops = self._rich_answers = self._rich_drops = 0
        self.level = self.start_level
        self.latched = False
        self.samples.clear()
        self._shift_start = at
        self._next_sample = at
        self._next_adapt = at + self.adapt_every_s

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        self._roll_day(at)
        if answered_human:
            self._answers += 1
        if abandoned:
            self._drops += 1

    def observe(self, outcome: Any) -> None:
        """Outcome hook with timings: applies the `drop_s` rule (see the module docstring)."""
        self._roll_day(outcome.ended_at)
        self._rich = True
        if is_live_answer(outcome):
            self._rich_answers += 1
        if is_drop(outcome, self.drop_s):
            self._rich_drops += 1

    @property
    def drop_rate(self) -> float:
        """The day's drop percentage as this pacer counts it (a fraction)."""
        answers, drops = (self._rich_answers, self._rich_drops) if self._rich else (self._answers, self._drops)
        return drops / answers if answers else 0.0

    # --- decisions -----------------------------------------------------------------------

    def calls_to_place(self, view: PacingView) -> int:
        at = view.at
        self._roll_day(at)
        if at >= self._next_sample:
            self.samples.append(view.agents_ready - view.calls_waiting)
            self._next_sample += self.sample_s
            if self._next_sample <= at:
                self._next_sample = at + self.sample_s
        if at >= self._next_adapt:
            self._adapt(view)
            self._next_adapt += self.adapt_every_s
            if self._next_adapt <= at:
                self._next_adapt = at + self.adapt_every_s
        return lines_to_launch(view, self.level, self.tally)

    def _adapt(self, view: PacingView) -> None:
        self.adaptations += 1
        samples, self.samples = self.samples, []
        drop = self.drop_rate
        over = drop > self.drop_limit
        if self.mode == "hard_limit":
            if over:
                self.latched = True
            if self.latched:
                self.level = 1.0
                if self.latch or over:
                    return
                self.latched = False  # back under the limit: adapt again, from 1:1
        elif self.mode == "average":
            if over:
                self.level = max(1.0, self.level / 2.0)
                return
        else:  # tapered
            hours_left = max(0.0, self._shift_start + self.shift_s - view.at)
            limit = self.drop_limit * (1.0 + hours_left / self.shift_s)
            if drop > limit:
                self.level = max(1.0, self.level * limit / drop)
                return
        if not samples:
            return
        active = max(1, view.agents_ready + view.agents_ringing + view.agents_on_call)
        idle_share = max(-1.0, min(1.0, (sum(samples) / len(samples)) / active))
        self.level = min(self.max_level, max(1.0, self.level + self.step * self.gain * idle_share))
