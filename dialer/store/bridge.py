"""The two calls the service makes: ReserveAttempt -> event, Outcome -> completed attempt."""

from __future__ import annotations

from ..core.commands import ReserveAttempt
from ..core.compliance import Candidate, Rules, result_for_disposition
from ..core.events import AttemptApproved, AttemptRefused
from ..core.model import Outcome
from ._base import AttemptLedger
from .batching import ReserveBatcher

__all__ = ["complete_outcome", "reserve_event"]


async def reserve_event(
    ledger: AttemptLedger | ReserveBatcher,
    cmd: ReserveAttempt,
    rules: Rules,
    *,
    agent_reserved: bool = False,
    ring_s: float | None = None,
    contact: str = "",
) -> AttemptApproved | AttemptRefused:
    """Ask the gate; the answer as the core's event (same call_id, `at` = the command's)."""
    candidate = Candidate.from_lead(
        cmd.lead,
        campaign=cmd.campaign,
        caller_id=cmd.caller_id,
        agent_reserved=agent_reserved,
        ring_s=ring_s,
        contact=contact,
    )
    d = await ledger.reserve(candidate, cmd.call_id, cmd.at, rules)
    if d.allowed:
        return AttemptApproved(at=cmd.at, call_id=cmd.call_id)
    return AttemptRefused(
        at=cmd.at,
        call_id=cmd.call_id,
        rules=d.rules,
        reasons=d.reasons,
        next_allowed_at=d.next_allowed_ts,
    )


async def complete_outcome(ledger: AttemptLedger, outcome: Outcome) -> bool:
    """Write a finished call's result into its reserved attempt."""
    return await ledger.complete(
        outcome.attempt_id,
        result_for_disposition(outcome.disposition),
        outcome.ended_at,
        {
            "disposition": outcome.disposition.value,
            "abandoned": outcome.abandoned,
            "amd": outcome.amd_status,
            "hangup_cause": outcome.hangup_cause,
        },
    )
