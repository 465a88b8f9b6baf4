"""Events: everything the core is told. Each carries `at`, the time it happened.

Adapters translate the outside world into these (AMI frames, the clock, the compliance
ledger, the lead loader); the core never looks anywhere else. Call events are keyed by
`call_id`, the attempt id the core itself generated and sent as the Originate's ChannelId,
so no adapter has to guess which call a frame belongs to.

Events are immutable and validate what they can on construction: a malformed event is a
bug in an adapter, so it raises at the boundary instead of corrupting state later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .model import Lead


def _check_time(at: float) -> None:
    if not isinstance(at, (int, float)) or not math.isfinite(at):
        raise ValueError(f"event time must be a finite number of seconds, got {at!r}")


@dataclass(frozen=True, slots=True)
class Event:
    at: float

    def __post_init__(self) -> None:
        _check_time(self.at)


@dataclass(frozen=True, slots=True)
class CallEvent(Event):
    call_id: str

    def __post_init__(self) -> None:
        _check_time(self.at)
        if not self.call_id:
            raise ValueError("call event without call_id")


# --- control ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick(Event):
    """The clock moved; the core re-evaluates timers and pacing."""


@dataclass(frozen=True, slots=True)
class LeadsAdded(Event):
    campaign: str
    leads: tuple[Lead, ...]


@dataclass(frozen=True, slots=True)
class Drain(Event):
    """Stop placing new calls; calls in flight run to their end."""

    campaign: str | None = None  # None: every campaign


@dataclass(frozen=True, slots=True)
class PbxLinkChanged(Event):
    """The AMI link went down or came back. While down nothing is originated."""

    up: bool
    pbx: str = "default"


@dataclass(frozen=True, slots=True)
class OutboxBackpressure(Event):
    """Outcome delivery is backed up: pause originating until it drains."""

    engaged: bool


# --- compliance gate (answers to ReserveAttempt) -------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptApproved(CallEvent):
    """The gate recorded the attempt durably; the call may be originated."""


@dataclass(frozen=True, slots=True)
class AttemptRefused(CallEvent):
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    next_allowed_at: float | None = None  # None: never (e.g. do-not-call)


# --- call progress (from AMI) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OriginateQueued(CallEvent):
    """The PBX accepted the async Originate action (`Response: Success`)."""


@dataclass(frozen=True, slots=True)
class OriginateRejected(CallEvent):
    """The PBX refused the Originate action itself: nothing was dialled."""

    message: str = ""


@dataclass(frozen=True, slots=True)
class CallLegCreated(CallEvent):
    """A channel of this call exists (Newchannel). leg 1 = ours, 2 = the Local peer."""

    leg: int = 1
    channel: str = ""


@dataclass(frozen=True, slots=True)
class CallRinging(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class CallAnswered(CallEvent):
    """OriginateResponse Success (Reason 4): the far end picked up."""


@dataclass(frozen=True, slots=True)
class CallFailed(CallEvent):
    """OriginateResponse Failure. `reason` is Asterisk's originate reason code:
    0 other (e.g. unallocated number), 1 hung up before answer, 3 no answer (timeout),
    5 busy, 8 congestion."""

    reason: int = 0
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class AmdVerdict(CallEvent):
    """AMD() finished: status HUMAN, MACHINE, NOTSURE or HANGUP."""

    status: str = "NOTSURE"
    cause: str = ""

    def __post_init__(self) -> None:
        CallEvent.__post_init__(self)
        if self.status not in AMD_STATUSES:
            raise ValueError(f"AMD status must be one of {sorted(AMD_STATUSES)}, got {self.status!r}")


AMD_STATUSES = frozenset({"HUMAN", "MACHINE", "NOTSURE", "HANGUP"})


@dataclass(frozen=True, slots=True)
class CallQueued(CallEvent):
    """The answered person joined the agent queue (QueueCallerJoin)."""

    queue: str = ""


@dataclass(frozen=True, slots=True)
class AgentOffered(CallEvent):
    """The queue rings an agent for this call (AgentCalled)."""

    agent: str = ""


@dataclass(frozen=True, slots=True)
class AgentMissed(CallEvent):
    """The offered agent did not pick up (AgentRingNoAnswer)."""

    agent: str = ""


@dataclass(frozen=True, slots=True)
class CallConnected(CallEvent):
    """An agent is talking to the person (AgentConnect)."""

    agent: str = ""


@dataclass(frozen=True, slots=True)
class QueueGaveUp(CallEvent):
    """The person left the queue without an agent.

    reason: "caller" (hung up on hold: QueueCallerAbandon), "timeout" (the queue's
    abandonment threshold passed), or another QUEUESTATUS in lower case.
    """

    reason: str = "caller"
    hold_s: float | None = None


@dataclass(frozen=True, slots=True)
class CallCompleted(CallEvent):
    """The agent conversation ended (AgentComplete)."""

    agent: str = ""
    talk_s: float | None = None
    reason: str = ""  # "caller", "agent", "transfer"


@dataclass(frozen=True, slots=True)
class CallHungUp(CallEvent):
    leg: int = 1
    cause: int | None = None
    cause_txt: str = ""


@dataclass(frozen=True, slots=True)
class BotEscalated(CallEvent):
    """The bot of a bot-first campaign asks for an agent (UserEvent DialerEscalate)."""


@dataclass(frozen=True, slots=True)
class BotResult(CallEvent):
    """The dialplan's Dial() to the bot ended (UserEvent DialerBotResult): ANSWER after a
    conversation the bot finished, or why the bot did not take the call (NOANSWER,
    CHANUNAVAIL, CONGESTION, BUSY)."""

    dial_status: str = ""


@dataclass(frozen=True, slots=True)
class CallVanished(CallEvent):
    """The PBX no longer knows this call (resync after a reconnect or a PBX loss)."""

    reason: str = "lost"


# --- agents (from queue membership) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentEvent(Event):
    agent: str
    pbx: str = "default"  # the PBX whose queue the agent is a member of

    def __post_init__(self) -> None:
        _check_time(self.at)
        if not self.agent:
            raise ValueError("agent event without agent name")


@dataclass(frozen=True, slots=True)
class AgentStatus(AgentEvent):
    """Queue membership and device state (QueueMember, QueueMemberAdded, QueueMemberStatus).

    device_status is Asterisk's device state number: 1 not in use, 2 in use, 3 busy,
    4 invalid, 5 unavailable, 6 ringing, 7 ring+in use, 8 on hold, 0 unknown.
    """

    queue: str = ""
    device_status: int = 1
    paused: bool | None = None
    wrapup_s: float | None = None


@dataclass(frozen=True, slots=True)
class AgentPaused(AgentEvent):
    queue: str = ""
    paused: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AgentRemoved(AgentEvent):
    queue: str = ""


CALL_EVENTS: tuple[type[CallEvent], ...] = (
    AttemptApproved, AttemptRefused, OriginateQueued, OriginateRejected, CallLegCreated,
    CallRinging, CallAnswered, CallFailed, AmdVerdict, CallQueued, AgentOffered, AgentMissed,
    CallConnected, QueueGaveUp, CallCompleted, CallHungUp, CallVanished, BotEscalated, BotResult,
)

__all__ = [
    "AMD_STATUSES", "CALL_EVENTS", "AgentEvent", "AgentMissed", "AgentOffered", "AgentPaused",
    "AgentRemoved", "AgentStatus", "AmdVerdict", "AttemptApproved", "AttemptRefused", "BotEscalated", "BotResult",
    "CallAnswered", "CallCompleted", "CallConnected", "CallEvent", "CallFailed", "CallHungUp",
    "CallLegCreated", "CallQueued", "CallRinging", "CallVanished", "Drain", "Event",
    "LeadsAdded", "OriginateQueued", "OriginateRejected", "OutboxBackpressure", "PbxLinkChanged",
    "QueueGaveUp", "Tick",
]
