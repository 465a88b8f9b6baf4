"""The clairvoyant pacer's side channel into the simulator (benchmarks only).

`SimOracle` implements `dialer.core.pacing.clairvoyant.Oracle` by reading the simulator's own
state: the callee plans it will hand to the next originates (drawn ahead from the same stream,
in the same order, so nothing about the traffic changes), the calls in flight that will need an
agent, and when each agent will be free. `VirtualDay` attaches it to any pacer that has an
`attach_oracle` method, before the first tick. No production adapter has one to give.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..core.pacing.clairvoyant import Arrival, Foresight

if TYPE_CHECKING:
    from .sim import VirtualDay

__all__ = ["SimOracle"]


class SimOracle:
    def __init__(self, day: VirtualDay) -> None:
        self._day = day

    def upcoming(self, n: int) -> Iterable[Foresight]:
        return self._day.peek(n)

    def agents_free_at(self) -> list[float]:
        from .sim import _FREE

        return [a.free_since if a.state == _FREE else a.free_at for a in self._day.agents]

    def arrivals(self) -> Iterable[Arrival]:
        arrivals = self._day.arrivals
        return arrivals.values() if arrivals is not None else ()
