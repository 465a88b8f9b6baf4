"""The pacer interface: given a read-only view of a campaign now, how many calls to launch.

A pacer is pure and cheap: the engine asks it on every tick. It never sees phone numbers
or borrowers, only counts and timings, so the same pacer runs against Asterisk in real
time and inside the virtual-time simulator.

Feedback after each call: every pacer has `observe_outcome(at, answered_human, abandoned)`;
a pacer that learns from the whole outcome (ring, AMD and talk times: `predictive`) also has
`observe(outcome)` (the `OutcomeObserver` protocol), and then the engine calls that one
instead. `feed_outcome` is that rule, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..model import Outcome
from ..stats import is_live_answer


@dataclass(frozen=True, slots=True)
class PacingView:
    at: float
    campaign: str
    agents_logged_in: int  # logged in and not paused
    agents_ready: int  # idle, can take a call now
    agents_ringing: int
    agents_on_call: int
    agents_wrap_up: int
    calls_dialing: int  # reserved, originating, dialing or ringing: not answered yet
    calls_answered: int  # answered, AMD running
    calls_waiting: int  # a person waits for an agent
    lines_free: int  # channel capacity left for this campaign
    abandon_target: float  # e.g. 0.03
    # Busy agents' elapsed talk seconds (for pacers that forecast releases).
    talk_elapsed_s: tuple[float, ...] = ()
    # Seconds since each dialing call was originated (for answer forecasts).
    dialing_elapsed_s: tuple[float, ...] = ()
    # Seconds of wrap-up left for each agent wrapping up (it is ready again after that).
    wrap_remaining_s: tuple[float, ...] = ()
    # Seconds since the answer of each call whose AMD verdict is still pending.
    answered_elapsed_s: tuple[float, ...] = ()
    # The agents' wrap-up after each call (mean over the campaign's agents; None: unknown).
    wrapup_s: float | None = None
    # The legal threshold: a person answered and no agent within this many seconds.
    abandon_after_s: float = 2.0


class Pacer(Protocol):
    name: str

    def calls_to_place(self, view: PacingView) -> int:
        """How many new calls to originate now (>= 0)."""
        ...

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        """Feedback after each call ends; pacers without feedback ignore it."""
        ...


@runtime_checkable
class OutcomeObserver(Protocol):
    def observe(self, outcome: Outcome) -> None:
        """Feedback after each call ends, with everything the core knows about it."""
        ...


def feed_outcome(pacer: Pacer, outcome: Outcome) -> None:
    """Give a pacer its feedback on one ended call: the whole outcome to a pacer that wants
    it (`observe`), the three thin facts to any other (`observe_outcome`)."""
    observe = getattr(pacer, "observe", None)
    if observe is not None:
        observe(outcome)
    else:
        pacer.observe_outcome(outcome.ended_at, is_live_answer(outcome), outcome.abandoned)
