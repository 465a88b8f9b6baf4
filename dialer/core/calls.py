"""The call state machine.

States (CallState) and what moves a call between them:

    queued ──AttemptApproved──▶ originating ──OriginateQueued──▶ dialing
    dialing/originating ──CallRinging──▶ ringing
    originating/dialing/ringing ──CallAnswered──▶ answered (AMD running; or human if AMD off)
    answered ──AmdVerdict HUMAN──▶ human     ──AmdVerdict NOTSURE──▶ unknown
    answered ──AmdVerdict MACHINE──▶ machine
    human/unknown ──CallConnected──▶ connected
    human/unknown ──QueueGaveUp──▶ abandoned
  bot-first campaigns: a person (HUMAN, NOTSURE, or any answer with AMD off) goes to the bot:
    answered ──AmdVerdict HUMAN/NOTSURE──▶ bot ──BotEscalated──▶ escalated (Redirect sent)
    escalated ──CallConnected──▶ connected      escalated ──QueueGaveUp──▶ abandoned (state)
    bot ──BotResult not ANSWER──▶ abandoned (the bot did not take the call)
    any live state ──CallFailed / CallHungUp(leg 1) / CallVanished──▶ ending
    queued ──AttemptRefused──▶ ended (no outcome: nothing was dialled)
    originating ──OriginateRejected──▶ ending
    ending ──all legs gone, or grace elapsed──▶ ended (exactly one outcome)

Events arrive from a PBX over a network: duplicated, late, or out of order. Rules:
- an event that would move a call backwards (CallRinging after CallAnswered) is ignored;
- a repeated event is ignored (the first occurrence wins);
- events for a call that has ended are ignored (counted as `late_events`);
- the disposition is decided once, at the end, from everything seen, so a cause that
  arrives on the Local peer's Hangup after the OriginateResponse is still used.
"""

from __future__ import annotations

from enum import StrEnum

from . import events as ev
from .model import CallRecord, Disposition


class CallState(StrEnum):
    QUEUED = "queued"
    ORIGINATING = "originating"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    HUMAN = "human"
    UNKNOWN = "unknown"
    MACHINE = "machine"
    BOT = "bot"  # bot-first: the person talks to the bot
    ESCALATED = "escalated"  # the bot escalated: the person waits for an agent
    CONNECTED = "connected"
    ABANDONED = "abandoned"
    ENDING = "ending"
    ENDED = "ended"


# Rank orders progress, so late or repeated events never move a call backwards.
_RANK = {
    CallState.QUEUED: 0, CallState.ORIGINATING: 1, CallState.DIALING: 2, CallState.RINGING: 3,
    CallState.ANSWERED: 4, CallState.HUMAN: 5, CallState.UNKNOWN: 5, CallState.MACHINE: 5,
    CallState.BOT: 5, CallState.ESCALATED: 6,
    CallState.CONNECTED: 7, CallState.ABANDONED: 7, CallState.ENDING: 8, CallState.ENDED: 9,
}

PRE_ANSWER = frozenset({CallState.QUEUED, CallState.ORIGINATING, CallState.DIALING, CallState.RINGING})
WAITING_FOR_AGENT = frozenset({CallState.HUMAN, CallState.UNKNOWN, CallState.ESCALATED})
IN_FLIGHT = frozenset({CallState.ORIGINATING, CallState.DIALING, CallState.RINGING, CallState.ANSWERED})

# Originate "Reason" codes (Asterisk's enum ast_control_frame_type subset used by AMI).
_FAILURE_REASON = {
    5: Disposition.BUSY,
    3: Disposition.NO_ANSWER,
    1: Disposition.NO_ANSWER,  # the far end hung up before answering (rejected/ring-out)
    8: Disposition.CONGESTION,
}
# Q.850 causes that say the number itself is bad.
_INVALID_CAUSES = frozenset({1, 3, 22, 28})
_BUSY_CAUSES = frozenset({17, 21})
_CONGESTION_CAUSES = frozenset({34, 38, 41, 42, 44})
_NO_ANSWER_CAUSES = frozenset({18, 19})

# How long to wait, after a call is over on the PBX side, for the remaining legs' Hangup
# events (they carry the real cause) before closing the call anyway.
END_GRACE_S = 1.0


def failure_disposition(reason: int, cause: int | None) -> Disposition:
    """Disposition of an originate that never answered, from Reason and the best cause."""
    if cause in _INVALID_CAUSES:
        return Disposition.INVALID_NUMBER
    if reason in _FAILURE_REASON:
        return _FAILURE_REASON[reason]
    if cause in _BUSY_CAUSES:
        return Disposition.BUSY
    if cause in _CONGESTION_CAUSES:
        return Disposition.CONGESTION
    if cause in _NO_ANSWER_CAUSES:
        return Disposition.NO_ANSWER
    return Disposition.FAILED


class Call:
    """One attempt's live state. Mutated only through `apply`, by the engine."""

    __slots__ = (
        "abandon_after_s", "agents_offered", "amd", "bot_first", "end_signal_at", "failed_reason", "leg_causes", "legs",
        "legs_down", "record", "rejected", "state", "vanished",
    )

    def __init__(self, record: CallRecord, *, amd: bool, abandon_after_s: float,
                 bot_first: bool = False) -> None:
        self.record = record
        self.state = CallState.QUEUED
        self.amd = amd
        self.bot_first = bot_first
        self.abandon_after_s = abandon_after_s
        self.legs: set[int] = set()
        self.legs_down: set[int] = set()
        self.leg_causes: dict[int, tuple[int | None, str]] = {}
        self.failed_reason: int | None = None
        self.rejected = False
        self.vanished = False
        # Agents the queue rang for this call: released when the call ends, since Asterisk
        # reports nothing to the agent side when the caller leaves while it rings.
        self.agents_offered: set[str] = set()
        self.end_signal_at: float | None = None

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @property
    def is_live(self) -> bool:
        return self.state not in (CallState.ENDING, CallState.ENDED)

    def _advance(self, new: CallState) -> bool:
        if _RANK[new] <= _RANK[self.state] and new != self.state:
            return False
        if new == self.state:
            return False
        self.state = new
        return True

    def _end_signal(self, at: float) -> None:
        if self.end_signal_at is None:
            self.end_signal_at = at
        if self.state is not CallState.ENDED:
            self.state = CallState.ENDING

    # --- transitions -----------------------------------------------------------------

    def apply(self, e: ev.CallEvent) -> bool:
        """Apply one event; returns False when the event was stale or repeated."""
        r = self.record
        if self.state is CallState.ENDED:
            return False
        match e:
            case ev.AttemptApproved():
                if self.state is not CallState.QUEUED:
                    return False
                r.originate_at = e.at
                return self._advance(CallState.ORIGINATING)
            case ev.AttemptRefused():
                if self.state is not CallState.QUEUED:
                    return False
                self.state = CallState.ENDED
                r.ended_at = e.at
                return True
            case ev.OriginateQueued():
                return self._advance(CallState.DIALING)
            case ev.OriginateRejected():
                if self.state not in (CallState.ORIGINATING, CallState.DIALING):
                    return False
                self.rejected = True
                self._end_signal(e.at)
                return True
            case ev.CallLegCreated():
                if e.leg in self.legs:
                    return False
                self.legs.add(e.leg)
                if self.state is CallState.ORIGINATING:
                    self.state = CallState.DIALING
                return True
            case ev.CallRinging():
                if r.ringing_at is not None or not self._advance(CallState.RINGING):
                    return False
                r.ringing_at = e.at
                return True
            case ev.CallAnswered():
                if r.answer_at is not None or self.state not in PRE_ANSWER:
                    return False
                r.answer_at = e.at
                if self.amd:
                    self.state = CallState.ANSWERED
                else:
                    self._to_person(e.at)
                return True
            case ev.CallFailed():
                if self.failed_reason is not None or r.answer_at is not None:
                    return False
                self.failed_reason = e.reason
                r.originate_reason = e.reason
                if e.cause is not None:
                    self.leg_causes.setdefault(0, (e.cause, ""))
                self._end_signal(e.at)
                return True
            case ev.AmdVerdict():
                if r.amd_status is not None:
                    return False
                r.amd_status, r.amd_cause, r.amd_at = e.status, e.cause, e.at
                if r.answer_at is None:  # verdict before the answer event: the call is up
                    r.answer_at = e.at
                if not self.is_live:
                    return True
                target = {
                    "HUMAN": CallState.HUMAN, "NOTSURE": CallState.UNKNOWN,
                    "MACHINE": CallState.MACHINE,
                }.get(e.status)
                if target is not None and self.bot_first and target is not CallState.MACHINE:
                    if _RANK[self.state] < _RANK[CallState.BOT]:
                        self._to_person(e.at)
                elif target is not None:
                    self._advance(target)
                return True
            case ev.BotEscalated():
                if self.state is not CallState.BOT or r.escalated_at is not None:
                    return False
                r.escalated_at = e.at
                self.state = CallState.ESCALATED
                return True
            case ev.BotResult():
                if e.dial_status == "ANSWER" or r.bot_at is None or r.escalated_at is not None \
                        or r.bot_failed is not None:
                    return False
                r.bot_failed = e.dial_status or "UNKNOWN"
                r.queue_result = "bot_" + r.bot_failed.lower()
                if self.is_live:
                    self.state = CallState.ABANDONED
                return True
            case ev.CallQueued():
                if r.queued_at is not None:
                    return False
                r.queued_at = e.at
                return True
            case ev.AgentOffered():
                self.agents_offered.add(e.agent)
                return True
            case ev.AgentMissed():
                return True  # agent bookkeeping happens in the agent machine
            case ev.CallConnected():
                if r.connect_at is not None:
                    return False
                r.connect_at, r.agent = e.at, e.agent
                if self.is_live:
                    self.state = CallState.CONNECTED
                start = r.amd_at if r.amd_at is not None else r.answer_at
                # (a bot answered a bot-first call at once: a later agent is not an abandonment)
                if r.bot_at is None and start is not None and e.at - start > self.abandon_after_s + 1e-9:
                    r.abandoned = True  # connected, but later than the law allows
                return True
            case ev.QueueGaveUp():
                if r.queue_result == "caller" and e.reason != "caller" and r.connect_at is None:
                    r.queue_result = e.reason  # Asterisk's QueueCallerAbandon before a TIMEOUT
                    return True
                if r.queue_result is not None or r.connect_at is not None:
                    return False
                r.queue_result = e.reason
                if self.is_live:
                    self.state = CallState.ABANDONED
                return True
            case ev.CallCompleted():
                if r.agent is None:
                    r.agent = e.agent
                if r.connect_at is None:
                    # AgentComplete only follows AgentConnect: the connect (and the answer)
                    # happened while we were not listening (a dropped AMI link).
                    r.connect_at = e.at - (e.talk_s or 0.0)
                    if r.answer_at is None:
                        r.answer_at = r.connect_at
                return True
            case ev.CallHungUp():
                if e.leg in self.legs_down:
                    return False
                self.legs.add(e.leg)
                self.legs_down.add(e.leg)
                self.leg_causes[e.leg] = (e.cause, e.cause_txt)
                if e.leg == 1 or (r.answer_at is None and self.legs <= self.legs_down):
                    if r.hangup_at is None:
                        r.hangup_at = e.at
                    self._end_signal(e.at)
                return True
            case ev.CallVanished():
                self.vanished = True
                if r.hangup_at is None:
                    r.hangup_at = e.at
                self._end_signal(e.at)
                self.end_signal_at = e.at - END_GRACE_S  # nothing more will come
                return True
        return False

    def _to_person(self, at: float) -> None:
        """A person is on the line: to the agents' queue, or to the bot in a bot-first
        campaign (the dialplan's `human` label)."""
        if self.bot_first:
            self.record.bot_at = at
            self.state = CallState.BOT
        else:
            self.state = CallState.HUMAN

    # --- closing ---------------------------------------------------------------------

    def ready_to_close(self, now: float) -> bool:
        if self.state is not CallState.ENDING or self.end_signal_at is None:
            return False
        if self.rejected or self.vanished:
            return True
        pbx_done = self.failed_reason is not None or 1 in self.legs_down
        legs_done = bool(self.legs) and self.legs <= self.legs_down
        if pbx_done and legs_done:
            return True
        return now - self.end_signal_at >= END_GRACE_S

    def close(self, now: float) -> Disposition:
        """Decide the disposition from everything seen, once."""
        r = self.record
        r.ended_at = now
        self.state = CallState.ENDED
        cause, cause_txt = self._best_cause()
        r.hangup_cause, r.hangup_cause_txt = cause, cause_txt
        r.disposition = self._disposition(cause)
        if r.disposition is Disposition.ABANDONED:
            r.abandoned = True
        return r.disposition

    def _best_cause(self) -> tuple[int | None, str]:
        """The Local peer (leg 2) carries the far end's real cause on failures."""
        order = (2, 0, 1) if self.record.answer_at is None else (1, 2, 0)
        for leg in order:
            cause, txt = self.leg_causes.get(leg, (None, ""))
            if cause:
                return cause, txt
        for leg in order:
            if leg in self.leg_causes:
                return self.leg_causes[leg]
        return None, ""

    def _disposition(self, cause: int | None) -> Disposition:
        r = self.record
        if self.rejected:
            return Disposition.FAILED
        if r.connect_at is not None:
            return Disposition.CONNECTED
        if r.answer_at is None:
            if self.failed_reason is not None:
                return failure_disposition(self.failed_reason, cause)
            if self.vanished:
                return Disposition.LOST
            known = failure_disposition(-1, cause) if cause else Disposition.FAILED
            # No OriginateResponse and no answer seen: unless the cause itself tells what
            # happened, we missed the call's progress (a dropped link), so it is lost.
            return known if known is not Disposition.FAILED else Disposition.LOST
        # answered
        if r.amd_status == "MACHINE":
            return Disposition.MACHINE
        if r.handled_by == "bot":
            # The bot talked to the person (escalated or not): connected, handled_by "bot".
            return Disposition.CONNECTED
        if r.queue_result is not None:
            return Disposition.ABANDONED
        if self.vanished:
            # We lost sight of the call after the answer: it may have reached an agent or
            # been abandoned; guessing either would corrupt the figures.
            return Disposition.LOST
        start = r.amd_at if r.amd_at is not None else (None if self.amd else r.answer_at)
        if start is None:  # hung up before the AMD verdict
            return Disposition.HUMAN_HANGUP
        end = r.hangup_at if r.hangup_at is not None else r.ended_at
        if r.amd_status == "HANGUP":
            return Disposition.HUMAN_HANGUP
        if end is not None and end - start > self.abandon_after_s:
            return Disposition.ABANDONED  # a person waited past the threshold, no agent
        return Disposition.HUMAN_HANGUP
