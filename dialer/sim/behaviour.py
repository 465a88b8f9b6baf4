"""Sampling what each callee and agent will do. Pure: no clock, no IO, no asyncio.

The PBX model (real-time or virtual-time) asks for one `CalleePlan` per originated call and
for agent delays; it then plays the plan out against its own state (queue, agents, timeouts).
A plan says what the far end *would* do; what actually happens also depends on the PBX (an
Originate Timeout shorter than the ring time turns a person into a no-answer; a person whose
patience outlasts the queue timeout hears the identification message instead).

Determinism: `sample_plan` spends exactly `PLAN_DRAWS` uniforms from the generator per call
whatever the outcome, and `Behaviour` keeps callee draws and agent draws on separate streams
spawned from one seed. So for a seed, call *i* always gets the same plan, however many agent
draws the pacing caused in between: two pacing strategies can be compared on the same callees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scenario import AMD_STATUSES, CALLEE_KINDS, Scenario

__all__ = [
    "ANSWERING_KINDS",
    "PLAN_DRAWS",
    "Behaviour",
    "CalleePlan",
    "amd_cause",
    "kind_from_last_digit",
    "plan_from_uniforms",
    "sample_agent_answer",
    "sample_plan",
    "sample_wrapup",
]

ANSWERING_KINDS = ("person", "machine")
PLAN_DRAWS = 8  # kind, ring, verdict, verdict delay, talk, patience, greeting, record

# AMDCAUSE strings as app_amd.c formats them with the test PBX's amd.conf
# (after_greeting_silence=800, maximum_number_of_words=2, greeting=1500).
_HUMAN_CAUSE = "HUMAN-800-800"
_MACHINE_CAUSE = "MAXWORDS-3-2"  # what a voicemail greeting gives (recording machine_5)
_PERSON_AS_MACHINE_CAUSE = "LONGGREETING-1500-1500"  # a person who talks on and on


def amd_cause(status: str, true_kind: str, total_analysis_s: float = 5.0) -> str:
    if status == "HUMAN":
        return _HUMAN_CAUSE
    if status == "MACHINE":
        return _MACHINE_CAUSE if true_kind == "machine" else _PERSON_AS_MACHINE_CAUSE
    if status == "NOTSURE":
        return f"TOOLONG-{round(total_analysis_s * 1000)}"
    return ""


@dataclass(frozen=True, slots=True)
class CalleePlan:
    """What the far end of one call will do.

    kind          person, machine, busy, no_answer, congestion or invalid
    ring_s        seconds from dialling to answer (person, machine) or to the failure signal
                  (busy, congestion, invalid); ignored for no_answer, which rings until the
                  Originate Timeout
    amd_status    the verdict AMD will reach once answered (HUMAN, MACHINE, NOTSURE)
    amd_cause     the AMDCAUSE string that goes with it
    amd_delay_s   seconds from answer to the verdict
    talk_s        person: length of the conversation once connected to an agent;
                  machine: how long it keeps the line after answering (greeting + recording),
                  wherever the call is by then
    patience_s    person: the longest it waits on hold in the queue before hanging up
    greeting_s    machine: length of its greeting (already included in talk_s)
    """

    kind: str
    ring_s: float = 2.0
    amd_status: str = "HUMAN"
    amd_cause: str = _HUMAN_CAUSE
    amd_delay_s: float = 2.0
    talk_s: float = 60.0
    patience_s: float = math.inf
    greeting_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in CALLEE_KINDS:
            raise ValueError(f"CalleePlan.kind: expected one of {CALLEE_KINDS}, got {self.kind!r}")
        if self.answers and self.amd_status not in AMD_STATUSES:
            raise ValueError(
                f"CalleePlan.amd_status: expected one of {AMD_STATUSES}, got {self.amd_status!r}"
            )
        for name in ("ring_s", "amd_delay_s", "talk_s", "patience_s", "greeting_s"):
            v = getattr(self, name)
            if not v >= 0:
                raise ValueError(f"CalleePlan.{name}: expected seconds >= 0, got {v!r}")

    @property
    def answers(self) -> bool:
        return self.kind in ANSWERING_KINDS

    @classmethod
    def person(
        cls,
        ring_s: float = 2.0,
        *,
        amd_status: str = "HUMAN",
        amd_delay_s: float = 2.0,
        talk_s: float = 60.0,
        patience_s: float = math.inf,
        amd_cause_text: str | None = None,
    ) -> CalleePlan:
        cause = amd_cause(amd_status, "person") if amd_cause_text is None else amd_cause_text
        return cls("person", ring_s, amd_status, cause, amd_delay_s, talk_s, patience_s)

    @classmethod
    def machine(
        cls,
        ring_s: float = 2.0,
        *,
        amd_status: str = "MACHINE",
        amd_delay_s: float = 2.0,
        line_s: float = 16.0,
        greeting_s: float = 6.0,
        amd_cause_text: str | None = None,
    ) -> CalleePlan:
        cause = amd_cause(amd_status, "machine") if amd_cause_text is None else amd_cause_text
        return cls("machine", ring_s, amd_status, cause, amd_delay_s, line_s, math.inf, greeting_s)

    @classmethod
    def failing(cls, kind: str, delay_s: float = 0.0) -> CalleePlan:
        """busy, congestion, invalid (after `delay_s`) or no_answer (rings until the timeout)."""
        if kind in ANSWERING_KINDS:
            raise ValueError(f"CalleePlan.failing: {kind!r} is not a failing kind")
        return cls(kind, delay_s, "", "", 0.0, 0.0, math.inf, 0.0)


def kind_from_last_digit(number: str) -> str | None:
    """The test PBX's dialplan rule; None when the number does not end in a digit."""
    if not number or not number[-1].isdigit():
        return None
    d = int(number[-1])
    if d <= 4:
        return "person"
    if d <= 6:
        return "machine"
    if d == 7:
        return "busy"
    if d == 8:
        return "no_answer"
    return "invalid" if number.endswith("99") else "congestion"


def _pick(u: float, weights: list[float]) -> int:
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if u < acc:
            return i
    # u beyond the float sum (rounding): the last category with a non-zero weight
    return max(i for i, w in enumerate(weights) if w > 0)


def plan_from_uniforms(scenario: Scenario, u: np.ndarray, number: str | None = None) -> CalleePlan:
    """Build a plan from `PLAN_DRAWS` uniforms in [0, 1) (inverse-CDF sampling)."""
    if len(u) < PLAN_DRAWS:
        raise ValueError(f"plan_from_uniforms: need {PLAN_DRAWS} uniforms, got {len(u)}")
    kind: str | None = None
    if scenario.callee_selection == "last_digit" and number is not None:
        kind = kind_from_last_digit(number)
    if kind is None:
        shares = scenario.outcomes.as_dict()
        kind = CALLEE_KINDS[_pick(float(u[0]), [shares[k] for k in CALLEE_KINDS])]
    if kind not in ANSWERING_KINDS:
        if kind == "no_answer":
            return CalleePlan.failing(kind, math.inf)
        return CalleePlan.failing(kind, scenario.failure_delay_s.from_uniform(u[1]))

    row = scenario.amd_confusion.person if kind == "person" else scenario.amd_confusion.machine
    probs = row.as_dict()
    status = AMD_STATUSES[_pick(float(u[2]), [probs[s] for s in AMD_STATUSES])]
    delay = scenario.amd_total_analysis_s if status == "NOTSURE" else scenario.amd_delay_s.from_uniform(u[3])
    cause = amd_cause(status, kind, scenario.amd_total_analysis_s)
    if kind == "person":
        return CalleePlan(
            kind="person",
            ring_s=scenario.person_ring_s.from_uniform(u[1]),
            amd_status=status,
            amd_cause=cause,
            amd_delay_s=delay,
            talk_s=scenario.talk_s.from_uniform(u[4]),
            patience_s=scenario.patience_s.from_uniform(u[5]),
        )
    greeting = scenario.machine_greeting_s.from_uniform(u[6])
    return CalleePlan(
        kind="machine",
        ring_s=scenario.machine_ring_s.from_uniform(u[1]),
        amd_status=status,
        amd_cause=cause,
        amd_delay_s=delay,
        talk_s=greeting + scenario.machine_record_s.from_uniform(u[7]),
        patience_s=math.inf,
        greeting_s=greeting,
    )


def sample_plan(
    scenario: Scenario, rng: np.random.Generator, number: str | None = None
) -> CalleePlan:
    """One callee plan; spends exactly `PLAN_DRAWS` uniforms of `rng`."""
    return plan_from_uniforms(scenario, rng.random(PLAN_DRAWS), number)


def sample_agent_answer(scenario: Scenario, rng: np.random.Generator) -> float:
    """Seconds an agent's phone rings before the agent answers."""
    return scenario.agent_answer_s.sample(rng)


def sample_wrapup(scenario: Scenario, rng: np.random.Generator) -> float:
    """Seconds of wrap-up after a call (the queue's wrapuptime when the scenario fixes it)."""
    return scenario.agent_wrapup_s.sample(rng)


class Behaviour:
    """A scenario with its seeded random streams: one for callees, one for agents, one for the
    bot of bot-first calls (so a bot-first run dials the same callees as any other)."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        callee_ss, agent_ss, bot_ss = np.random.SeedSequence(self.seed).spawn(3)
        self.callee_rng = np.random.default_rng(callee_ss)
        self.agent_rng = np.random.default_rng(agent_ss)
        self.bot_rng = np.random.default_rng(bot_ss)
        self.plans_drawn = 0

    def bot_turn(self) -> tuple[bool, float]:
        """(escalates, seconds after the bot answers): when the bot escalates, or when it
        ends the conversation itself. Always three draws, whatever the outcome."""
        sc = self.scenario
        u = float(self.bot_rng.random())
        escalate_s = sc.bot_escalate_after_s.sample(self.bot_rng)
        talk_s = sc.bot_talk_s.sample(self.bot_rng)
        escalates = u < sc.bot_escalate_share
        return escalates, escalate_s if escalates else talk_s

    def plan(self, number: str | None = None) -> CalleePlan:
        self.plans_drawn += 1
        return sample_plan(self.scenario, self.callee_rng, number)

    def agent_answer_s(self) -> float:
        return sample_agent_answer(self.scenario, self.agent_rng)

    def wrapup_s(self) -> float:
        return sample_wrapup(self.scenario, self.agent_rng)
