"""The pacer interface: given a read-only view of a campaign now, how many calls to launch.

A pacer is pure and cheap: the engine asks it on every tick. It never sees phone numbers
or borrowers, only counts and timings, so the same pacer runs against Asterisk in real
time and inside the virtual-time simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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


class Pacer(Protocol):
    name: str

    def calls_to_place(self, view: PacingView) -> int:
        """How many new calls to originate now (>= 0)."""
        ...

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        """Feedback after each call ends; pacers without feedback ignore it."""
        ...
