"""The pure dialer core: state machines, pacing, and the decisions that drive calls.

Rules for everything in this package (checked by tests/core/test_purity.py):
- no networking, no files, no asyncio, no threads, no clock: this package contains no IO
  at all. Time is the `at` of each event; randomness is an input.
- it imports no asyncio, socket, time, panoramisk, prometheus_client, broker or database
  module;
- decisions are return values (commands, Decision objects); exceptions mean misuse.

The single entry point is `Dialer.handle(event) -> list[Command]`.
"""

from __future__ import annotations

from .agents import Agent, AgentState
from .calls import Call, CallState, failure_disposition
from .commands import Command, EmitOutcome, Hangup, LeadExhausted, Originate, ReserveAttempt
from .engine import CampaignSnapshot, Dialer, DialerSnapshot
from .hopper import Hopper
from .model import CallRecord, CampaignConfig, Disposition, Lead, Outcome, RetryPolicy
from .pacing import Pacer, PacingView, make_pacer
from .stats import CampaignStats, is_live_answer

__all__ = [
    "Agent", "AgentState", "Call", "CallRecord", "CallState", "CampaignConfig",
    "CampaignSnapshot", "CampaignStats", "Command", "Dialer", "DialerSnapshot", "Disposition",
    "EmitOutcome", "Hangup", "Hopper", "Lead", "LeadExhausted", "Originate", "Outcome", "Pacer",
    "PacingView", "ReserveAttempt", "RetryPolicy", "failure_disposition", "is_live_answer",
    "make_pacer",
]
