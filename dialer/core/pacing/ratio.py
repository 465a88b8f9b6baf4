"""Ratio pacing: a fixed number of lines per agent, the oldest predictive-dialer rule.

`ratio` is the dial level: how many calls may be on their way to an agent per counted agent.
Which agents count is the `tally`:

- "ready" (the default, VICIdial's "available only tally" = Y): only idle agents. The dialer
  keeps `floor(ratio x ready agents)` calls not yet with an agent (dialling, ringing, AMD, on
  hold) and launches the difference. At ratio 1.0 this is exactly progressive.
- "active" (VICIdial's default tally): ready, ringing and talking agents, and the calls already
  talking to an agent use up lines too: the target is `floor(ratio x active agents)` lines in
  use, so the dialer anticipates agents who will finish soon. Agents in wrap-up (VICIdial:
  disposition screen) are not counted.

Nothing adapts: the ratio that is right for one list, hour and team is wrong for the next, which
is why the benchmark tunes it in hindsight (the best fixed ratio that stayed within the cap) and
still expects model-based pacing to beat it.
"""

from __future__ import annotations

import math

from .base import PacingView

__all__ = ["TALLIES", "RatioPacer", "lines_to_launch"]

TALLIES = ("ready", "active")


def lines_to_launch(view: PacingView, level: float, tally: str) -> int:
    """Calls to launch now to reach `level` lines per counted agent (shared with `adaptive`)."""
    unconnected = view.calls_dialing + view.calls_answered + view.calls_waiting
    if tally == "ready":
        target = math.floor(level * view.agents_ready + 1e-9)
        n = target - unconnected
    else:
        active = view.agents_ready + view.agents_ringing + view.agents_on_call
        target = math.floor(level * active + 1e-9)
        n = target - unconnected - view.agents_on_call
    return max(0, min(n, view.lines_free))


class RatioPacer:
    name = "ratio"

    def __init__(self, ratio: float = 2.0, tally: str = "ready") -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio) \
                or not 1.0 <= ratio <= 100.0:
            raise ValueError(f"ratio: expected a number of lines per agent in [1, 100], got {ratio!r}")
        if tally not in TALLIES:
            raise ValueError(f"tally: expected one of {', '.join(TALLIES)}, got {tally!r}")
        self.ratio = float(ratio)
        self.tally = tally

    def calls_to_place(self, view: PacingView) -> int:
        return lines_to_launch(view, self.ratio, self.tally)

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        return None
