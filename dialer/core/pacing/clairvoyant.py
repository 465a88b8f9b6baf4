"""Clairvoyant pacing: a benchmark upper bound that knows the future. Never for production.

It answers "how well could any pacer do on this very traffic?" by reading, through an
`Oracle`, what no real dialer can know: which of the next numbers will reach a person (or a
machine that will be routed to an agent), when each such call will need an agent, how long it
will hold that agent, and when every busy agent will be free again. Only the virtual-time
simulator (`dialer.vsim`) can provide an oracle: it attaches one with `attach_oracle` before the
first tick. The side channel is deliberately narrow and one-way (the pacer reads; it never
changes what happens), and the callee stream is the same as every other pacer's (common random
numbers), so the bound is measured on the same calls.

Decision on each tick (greedy, exact for first-come-first-served queues):

1. Agent availability: the time each agent is next free if nothing new is dialled (now for an
   idle agent), as a min-heap.
2. Calls already dialled that will need an agent (ringing persons, AMD running, waiting on hold)
   are assigned in the order they will join the queue, each to the agent free earliest; a call
   whose agent would come too late keeps nobody (it will be abandoned whatever we do now).
3. The next numbers, in dialling order: a call that will never need an agent (busy, no answer,
   machine detected by AMD, ...) is dialled at once: it costs a line, never an abandonment. A
   call that will need an agent is dialled only if the earliest-free agent is free no later than
   the call's arrival plus its waiting allowance (the abandonment threshold, or the person's
   patience if shorter, minus the agent's longest ring); otherwise dialling stops for this tick,
   because the order of numbers is fixed: skipping one would give the next call its callee.

This keeps abandonment at about zero and agents' idle gaps as short as the traffic allows.
It is a practical bound, not a proven optimum: the agent answer time is taken at its upper end,
and dialling stops at the first call that cannot be served yet.

Without an oracle `calls_to_place` raises: `dialer run --pacer clairvoyant` cannot work.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .base import PacingView

__all__ = ["ClairvoyantPacer", "Foresight", "Oracle", "OracleMissing"]


class OracleMissing(RuntimeError):
    """The clairvoyant pacer was asked for a decision outside the simulator."""


@dataclass(frozen=True, slots=True)
class Foresight:
    """The fate of one future call, as the simulator will play it.

    needs_agent_after_s  seconds from dialling until the call joins the agent queue
                         (None: it never will: failure, no answer, machine hung up by AMD)
    hold_s               seconds it will keep the agent it gets: agent ring + talk + wrap-up
    wait_limit_s         longest it can wait in the queue and still be connected in time
    """

    needs_agent_after_s: float | None
    hold_s: float = 0.0
    wait_limit_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Arrival:
    """A call already dialled that will need an agent and has none yet (absolute times)."""

    needs_agent_at: float
    hold_s: float
    latest_start_at: float  # connect later than this and it is abandoned


class Oracle(Protocol):
    """What the simulator reveals to the clairvoyant pacer (read-only)."""

    def upcoming(self, n: int) -> Iterable[Foresight]:
        """The fates of the next calls the engine will originate, in order, at most `n`
        (lazily: the pacer stops reading at the first call it will not dial)."""
        ...

    def agents_free_at(self) -> Sequence[float]:
        """For every logged-in agent: when it is next free if nothing new reaches it."""
        ...

    def arrivals(self) -> Iterable[Arrival]:
        """Calls in flight that will need an agent and have none yet."""
        ...


class ClairvoyantPacer:
    name = "clairvoyant"

    def __init__(self, max_lookahead: int = 5000) -> None:
        if max_lookahead < 1:
            raise ValueError(f"max_lookahead: expected an integer >= 1, got {max_lookahead!r}")
        self.max_lookahead = max_lookahead
        self.oracle: Oracle | None = None

    def attach_oracle(self, oracle: Oracle) -> None:
        self.oracle = oracle

    def calls_to_place(self, view: PacingView) -> int:
        if self.oracle is None:
            raise OracleMissing(
                "the clairvoyant pacer is a benchmark bound: it needs the virtual-time "
                "simulator's oracle (dialer simulate), it cannot dial for real"
            )
        now = view.at
        free = [max(now, t) for t in self.oracle.agents_free_at()]
        if not free:
            return 0
        heapq.heapify(free)
        for a in sorted(self.oracle.arrivals(), key=lambda x: x.needs_agent_at):
            f = free[0]
            start = max(f, a.needs_agent_at)
            if start <= a.latest_start_at:
                heapq.heapreplace(free, start + a.hold_s)
        limit = min(view.lines_free, self.max_lookahead)
        n = 0
        for fs in self.oracle.upcoming(limit):
            if fs.needs_agent_after_s is None:
                n += 1
                continue
            need = now + fs.needs_agent_after_s
            f = free[0]
            if f > need + fs.wait_limit_s:
                break
            heapq.heapreplace(free, max(f, need) + fs.hold_s)
            n += 1
        return n

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        return None
