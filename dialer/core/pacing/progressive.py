"""Progressive pacing: exactly one call per ready agent, never more.

No call is placed unless an agent is idle and not already reserved by a call on its way,
so a person can only be abandoned if the agent leaves (pauses, logs out) in between. It
is the safe baseline and the fallback of every smarter pacer.

Agents that the calls now with a bot are expected to need (escalations) are not ready for a
new answer. A bot-first campaign paces its bot channels and the escalations instead
(`bot_first_calls`).
"""

from __future__ import annotations

from .base import PacingView, agents_for_new_answers, bot_first_calls


class ProgressivePacer:
    name = "progressive"

    def calls_to_place(self, view: PacingView) -> int:
        if view.bot_capacity is not None:
            return bot_first_calls(view)
        committed = view.calls_dialing + view.calls_answered + view.calls_waiting
        return max(0, min(agents_for_new_answers(view) - committed, view.lines_free))

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        return None
