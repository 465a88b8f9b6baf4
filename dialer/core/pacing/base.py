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

import math
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
    # Ring time (Originate to answer) of each call that needs an agent and has not ended: the
    # people waiting or talking. None: the engine does not report them.
    need_ring_s: tuple[float, ...] | None = None
    # The agents' wrap-up after each call (mean over the campaign's agents; None: unknown).
    wrapup_s: float | None = None
    # The legal threshold: a person answered and no agent within this many seconds.
    abandon_after_s: float = 2.0
    # How long a call may ring before it counts as no answer (the Originate timeout).
    ring_timeout_s: float | None = None
    # Bot-first campaigns: people talking to the bot now (escalated ones count in
    # calls_waiting), the bot's channel capacity (None: not a bot-first campaign), and the
    # campaign's estimated share of bot calls that escalate to an agent.
    calls_with_bot: int = 0
    bot_capacity: int | None = None
    escalation_rate: float = 0.0


def expected_escalations(view: PacingView) -> int:
    """Agents the calls now with the bot are expected to need (rounded up: a reserved agent
    who is not needed costs a little idle time, a missing one an escalated person's wait)."""
    return math.ceil(view.escalation_rate * view.calls_with_bot - 1e-9)


def agents_for_new_answers(view: PacingView) -> int:
    """Ready agents left for new answers once the expected escalations are served."""
    return view.agents_ready - expected_escalations(view)


def bot_first_calls(view: PacingView) -> int:
    """How many calls a bot-first campaign may launch now: the smaller of two limits.

    The bot: one free bot channel per call in flight (dialing or in AMD), as progressive
    does with agents; a person the bot cannot take hears only the identification message.
    The agents: the escalations expected from everything in the pipeline (people with the
    bot, calls in flight, the new calls; each at the campaign's escalation rate) stay within
    the logged-in agents not already taken by an escalated person waiting. Escalations come
    minutes into a bot conversation, so the whole team counts, not only who is ready now.
    """
    if view.bot_capacity is None:
        raise ValueError("bot_first_calls needs a bot-first view (bot_capacity set)")
    committed = view.calls_dialing + view.calls_answered
    n = min(view.bot_capacity - view.calls_with_bot - committed, view.lines_free)
    rate = view.escalation_rate
    if rate > 0.0:
        room = view.agents_logged_in - view.calls_waiting
        n = min(n, math.floor(room / rate - view.calls_with_bot - committed + 1e-9))
    return max(0, n)


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
