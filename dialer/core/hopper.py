"""The lead hopper: which borrower a campaign dials next, and when a lead comes back.

A lead is due at `next_at`; among due leads the higher priority goes first, then the
one waiting longest (first come, first served). One borrower is never in flight twice
within a campaign. Retries follow the campaign's RetryPolicy (per-disposition delays and
a maximum number of attempts); a compliance refusal is not an attempt and brings the
lead back exactly at the gate's `next_allowed_at`, so nothing polls the gate.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from .model import Disposition, Lead, RetryPolicy


@dataclass(slots=True)
class _Entry:
    lead: Lead
    attempts: int = 0
    in_flight: bool = False
    done: bool = False
    version: int = 0  # bumps on every reschedule; stale heap items are skipped


class Hopper:
    def __init__(self, retry: RetryPolicy) -> None:
        self._retry = retry
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, int, str, int]] = []
        self._seq = itertools.count()
        self.exhausted = 0

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if not e.done)

    def add(self, lead: Lead, at: float) -> bool:
        """Add a lead; a borrower already in the hopper is not added twice."""
        if lead.borrower_id in self._entries:
            return False
        entry = _Entry(lead)
        self._entries[lead.borrower_id] = entry
        self._push(entry, at)
        return True

    def _push(self, entry: _Entry, at: float) -> None:
        entry.version += 1
        heapq.heappush(
            self._heap, (at, -entry.lead.priority, next(self._seq), entry.lead.borrower_id, entry.version)
        )

    def has_due(self, now: float) -> bool:
        self._drop_stale()
        return bool(self._heap) and self._heap[0][0] <= now

    def _drop_stale(self) -> None:
        while self._heap:
            _, _, _, bid, version = self._heap[0]
            e = self._entries.get(bid)
            if e is not None and e.version == version and not e.done and not e.in_flight:
                return
            heapq.heappop(self._heap)

    def pop(self, now: float) -> tuple[Lead, int] | None:
        """The next due lead and its attempt number, marked in flight."""
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, _, bid, _ = heapq.heappop(self._heap)
        e = self._entries[bid]
        e.in_flight = True
        e.attempts += 1
        return e.lead, e.attempts

    def refused(self, borrower_id: str, next_allowed_at: float | None) -> bool:
        """The gate refused: not an attempt. Returns False if the lead is now finished."""
        e = self._entries[borrower_id]
        e.in_flight = False
        e.attempts -= 1
        if next_allowed_at is None:
            e.done = True
            self.exhausted += 1
            return False
        self._push(e, next_allowed_at)
        return True

    def finished(self, borrower_id: str, disposition: Disposition, at: float) -> bool:
        """An attempt ended. Returns False if the lead will not be dialled again."""
        e = self._entries[borrower_id]
        e.in_flight = False
        delay = self._retry.delay_for(disposition)
        if disposition in (Disposition.CONNECTED, Disposition.INVALID_NUMBER) or delay is None \
                or e.attempts >= self._retry.max_attempts:
            e.done = True
            self.exhausted += 1
            return False
        self._push(e, at + delay)
        return True

    def pending(self) -> int:
        """Leads not finished and not in flight (due now or later)."""
        return sum(1 for e in self._entries.values() if not e.done and not e.in_flight)

    def next_due_at(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None
