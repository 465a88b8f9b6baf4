"""Schedulers that let one PBX model run in real time or in virtual time.

The PBX model never reads a clock or sleeps: it asks a scheduler for `now()` and registers
callbacks with `call_at(when, fn)`. Times are simulated seconds since the Unix epoch, so the
Timestamp and Uniqueid fields the model writes look like Asterisk's.

- `VirtualScheduler` keeps a heap and advances only when told (`run_until`), so a day of calls
  runs in milliseconds and a test can stop at any instant. Callbacks due at the same instant run
  in the order they were scheduled (the heap key is `(when, sequence)`).
- `RealTimeScheduler` maps simulated time onto an asyncio loop, optionally sped up: with
  `speed=10`, ten simulated seconds pass per real second. The dialer under test runs its own
  clock with the same factor.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["DEFAULT_EPOCH", "Handle", "RealTimeScheduler", "Scheduler", "VirtualScheduler"]

# 2027-01-15T08:00:00Z: a fixed, plausible wall-clock start for deterministic virtual runs.
DEFAULT_EPOCH = 1_800_000_000.0


class Handle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What the PBX model needs from a clock."""

    def now(self) -> float: ...

    def call_at(self, when: float, fn: Callable[[], None]) -> Handle: ...


class _VirtualHandle:
    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualScheduler:
    """A heap of callbacks on a virtual clock that moves only in `run_until`/`run`."""

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)
        self._heap: list[tuple[float, int, _VirtualHandle]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, fn: Callable[[], None]) -> _VirtualHandle:
        # A callback in the past runs at the current instant, as asyncio's call_at does.
        handle = _VirtualHandle(max(float(when), self._now), fn)
        heapq.heappush(self._heap, (handle.when, next(self._seq), handle))
        return handle

    def call_later(self, delay: float, fn: Callable[[], None]) -> _VirtualHandle:
        return self.call_at(self._now + max(0.0, delay), fn)

    @property
    def pending(self) -> int:
        return sum(1 for _, _, h in self._heap if not h.cancelled)

    def next_time(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_until(self, t: float) -> int:
        """Run every callback due at or before `t`, then leave the clock at `t`."""
        ran = 0
        while self._heap and self._heap[0][0] <= t:
            when, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self._now = when
            handle.fn()
            ran += 1
        self._now = max(self._now, float(t))
        return ran

    def advance(self, seconds: float) -> int:
        return self.run_until(self._now + seconds)

    def run(self, max_callbacks: int = 10_000_000) -> int:
        """Run until nothing is scheduled (or the safety limit is hit)."""
        ran = 0
        while ran < max_callbacks:
            t = self.next_time()
            if t is None:
                break
            when, _, handle = heapq.heappop(self._heap)
            self._now = when
            handle.fn()
            ran += 1
        return ran


class RealTimeScheduler:
    """Simulated epoch time on an asyncio loop; `speed` simulated seconds per real second."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        speed: float = 1.0,
        epoch: float | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected a positive factor, got {speed!r}")
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.speed = float(speed)
        self._loop_t0 = self.loop.time()
        self._epoch0 = time.time() if epoch is None else float(epoch)

    def now(self) -> float:
        return self._epoch0 + (self.loop.time() - self._loop_t0) * self.speed

    def to_loop_time(self, when: float) -> float:
        return self._loop_t0 + (when - self._epoch0) / self.speed

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed

    def call_at(self, when: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return self.loop.call_at(self.to_loop_time(when), fn)

    def call_later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return self.call_at(self.now() + max(0.0, delay), fn)

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)
