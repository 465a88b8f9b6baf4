"""Commands: everything the core asks the outside world to do. Adapters execute them."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Lead, Outcome


@dataclass(frozen=True, slots=True)
class Command:
    pass


@dataclass(frozen=True, slots=True)
class ReserveAttempt(Command):
    """Ask the compliance gate to decide and, if allowed, record the attempt durably.

    The answer comes back as AttemptApproved or AttemptRefused with the same call_id.
    Nothing is dialled before the reservation is on disk: a crash in between counts
    as an attempt (fail closed).
    """

    call_id: str
    campaign: str
    lead: Lead
    attempt_no: int
    caller_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Originate(Command):
    call_id: str  # also the ChannelId; the Local peer gets f"{call_id}-2"
    campaign: str
    phone: str
    channel: str
    context: str
    exten: str
    priority: int
    caller_id: str
    timeout_ms: int
    variables: tuple[tuple[str, str], ...]
    pbx: str = "default"  # the pool member that dials it (dialer/core/pool.py)


@dataclass(frozen=True, slots=True)
class Hangup(Command):
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Redirect(Command):
    """Move the call's answered channel to another place in the dialplan (AMI Redirect):
    a bot-first call the bot escalated goes to the agents' queue (`[dialer-escalate]`)."""

    call_id: str
    context: str
    exten: str = "s"
    priority: int = 1


@dataclass(frozen=True, slots=True)
class EmitOutcome(Command):
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class LeadExhausted(Command):
    """A lead will not be dialled again in this run (attempts used or refused for good)."""

    campaign: str
    borrower_id: str
    reason: str


__all__ = ["Command", "EmitOutcome", "Hangup", "LeadExhausted", "Originate", "Redirect", "ReserveAttempt"]
