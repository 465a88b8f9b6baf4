"""Running campaign figures, kept by the engine as calls end (no second bookkeeping)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .model import Disposition, Outcome


@dataclass(slots=True)
class CampaignStats:
    placed: int = 0  # Originate commands issued
    reserved: int = 0  # ReserveAttempt commands issued
    refused: int = 0  # the gate said no (nothing dialled)
    refused_by_rule: Counter[str] = field(default_factory=Counter)
    outcomes: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    amd: Counter[str] = field(default_factory=Counter)
    answered_human: int = 0
    abandoned: int = 0
    pacing_decisions: int = 0
    last_decision: int = 0

    def record(self, o: Outcome) -> None:
        self.outcomes += 1
        self.dispositions[o.disposition.value] += 1
        if o.amd_status:
            self.amd[o.amd_status] += 1
        if is_live_answer(o):
            self.answered_human += 1
        if o.abandoned:
            self.abandoned += 1

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered_human if self.answered_human else 0.0


def is_live_answer(o: Outcome) -> bool:
    """A person answered: AMD said HUMAN/NOTSURE, an agent talked, or we abandoned them.

    This is the denominator of the abandonment rate. Calls a person hung up during AMD
    analysis count too (it was a live answer); MACHINE verdicts do not.
    """
    if o.disposition in (Disposition.CONNECTED, Disposition.ABANDONED, Disposition.HUMAN_HANGUP):
        return True
    return o.amd_status in ("HUMAN", "NOTSURE")
