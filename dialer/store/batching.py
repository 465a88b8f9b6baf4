"""Coalesce concurrent `reserve` calls into `reserve_many` transactions.

The service spawns one task per ReserveAttempt; at 1,000 originates/s one transaction per
reservation costs a commit (an fsync) each. `ReserveBatcher.reserve` has the ledger's
signature, but the calls that arrive while a transaction is in flight wait and go together in
the next one (at most `max_batch`, grouped by rules and `now`, in arrival order). A lone call
still commits at once: batching adds no latency when the load is light.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.compliance import Candidate, Decision, Rules, to_ts
from ._base import AttemptLedger

__all__ = ["ReserveBatcher"]


class ReserveBatcher:
    def __init__(self, ledger: AttemptLedger, *, max_batch: int = 256) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self._pending: list[tuple[Candidate, str, float, Rules, asyncio.Future[Decision]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0

    async def reserve(
        self, candidate: Candidate, attempt_id: str, now: float | Any, rules: Rules
    ) -> Decision:
        fut: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending.append((candidate, attempt_id, to_ts(now, "now"), rules, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the calls of this loop iteration join
        while self._pending:
            first = self._pending[0]
            key = (id(first[3]), first[2])
            batch = [p for p in self._pending if (id(p[3]), p[2]) == key][: self.max_batch]
            taken = {id(p) for p in batch}
            self._pending = [p for p in self._pending if id(p) not in taken]
            try:
                decisions = await self.ledger.reserve_many(
                    [(c, a) for c, a, *_ in batch], first[2], first[3]
                )
            except (
                BaseException
            ) as exc:  # reserve_many fails closed itself; this is a bug or cancel
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                raise
            self.batches += 1
            for (*_, fut), d in zip(batch, decisions, strict=True):
                if not fut.done():
                    fut.set_result(d)

    async def close(self) -> None:
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
