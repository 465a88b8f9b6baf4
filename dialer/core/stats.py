"""Running campaign figures, kept by the engine as calls end (no second bookkeeping)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from .model import Disposition, Outcome

#: Upper bounds (seconds, inclusive) of the escalation-wait histogram. An escalated person is
#: already in a conversation and the shipped dialplan lets them wait 60 s for an agent
#: (DIALER_ESCALATE_WAIT_S), so the bounds are dense below a minute and reach five.
ESCALATION_WAIT_BUCKETS_S = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)


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
    # bot-first campaigns
    handled_by_bot: int = 0  # the bot talked to the person and no agent did
    escalations: int = 0  # the bot asked for an agent (counted when it asks)
    bot_settled: int = 0  # bot calls whose escalation is decided: escalated, or ended with the bot
    escalations_connected: int = 0
    escalation_abandoned: int = 0  # escalated, and no agent ever came (not a legal abandonment)
    escalation_wait_s_total: float = 0.0  # escalation -> agent, over escalations_connected
    escalation_wait_s_max: float = 0.0
    # escalations_connected by wait, one count per ESCALATION_WAIT_BUCKETS_S bound plus the
    # overflow (not cumulative): the Prometheus histogram is built from it at scrape time
    escalation_wait_counts: list[int] = field(default_factory=lambda: [0] * (len(ESCALATION_WAIT_BUCKETS_S) + 1))

    def record(self, o: Outcome) -> None:
        self.outcomes += 1
        self.dispositions[o.disposition.value] += 1
        if o.amd_status:
            self.amd[o.amd_status] += 1
        if is_live_answer(o):
            self.answered_human += 1
        if o.abandoned:
            self.abandoned += 1
        if o.handled_by == "bot":
            self.handled_by_bot += 1
            if not o.escalated:
                self.bot_settled += 1
        wait = o.escalation_wait_s
        if wait is not None:
            self.escalations_connected += 1
            self.escalation_wait_s_total += wait
            self.escalation_wait_s_max = max(self.escalation_wait_s_max, wait)
            self.escalation_wait_counts[bisect_left(ESCALATION_WAIT_BUCKETS_S, wait)] += 1
        elif o.escalation_abandoned:
            self.escalation_abandoned += 1

    def escalated(self) -> None:
        self.escalations += 1
        self.bot_settled += 1

    def escalation_rate(self, prior: float, prior_calls: float) -> float:
        """Share of bot calls that escalate: this campaign's count, shrunk toward `prior`
        (worth `prior_calls` calls) while it has few."""
        return (self.escalations + prior * prior_calls) / (self.bot_settled + prior_calls) \
            if self.bot_settled + prior_calls > 0 else prior

    @property
    def escalation_wait_mean_s(self) -> float:
        n = self.escalations_connected
        return self.escalation_wait_s_total / n if n else 0.0

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
