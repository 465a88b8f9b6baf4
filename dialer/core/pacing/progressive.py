"""Progressive pacing: exactly one call per ready agent, never more.

No call is placed unless an agent is idle and not already reserved by a call on its way,
so a person can only be abandoned if the agent leaves (pauses, logs out) in between. It
is the safe baseline and the fallback of every smarter pacer.
"""

from __future__ import annotations

from .base import PacingView


class ProgressivePacer:
    name = "progressive"

    def calls_to_place(self, view: PacingView) -> int:
        committed = view.calls_dialing + view.calls_answered + view.calls_waiting
        return max(0, min(view.agents_ready - committed, view.lines_free))

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        return None
