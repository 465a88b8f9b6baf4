"""Domain records shared by the state machines: leads, campaigns, dispositions, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Disposition(StrEnum):
    """The one final disposition every originated call ends with.

    connected        a person talked to an agent
    abandoned        a person answered and no agent was connected within the threshold
                     (they hung up on hold, or the queue gave up and played the
                     identification message)
    machine          AMD said MACHINE (voicemail, answering machine)
    human_hangup     a person answered and hung up before the AMD verdict or before the
                     threshold passed (not an abandonment in law: the dialer was in time)
    busy             OriginateResponse Reason 5 (cause 17)
    no_answer        rang until the Originate timeout (Reason 3, cause 19)
    congestion       network congestion (Reason 8, cause 34)
    invalid_number   unallocated or malformed number (Reason 0 with cause 1/28)
    failed           the PBX refused the Originate or it failed for another reason
    lost             the PBX lost the call (AMI link or PBX died) and it never reappeared
    """

    CONNECTED = "connected"
    ABANDONED = "abandoned"
    MACHINE = "machine"
    HUMAN_HANGUP = "human_hangup"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Lead:
    """A borrower to call. `phone` is E.164 (validated by the loader)."""

    borrower_id: str
    phone: str
    name: str = ""
    timezone: str | None = None
    debt_id: str = ""
    party: str = "debtor"  # or "third_party"
    purpose: str = "collection"
    priority: int = 0  # larger first

    def __post_init__(self) -> None:
        if not self.borrower_id:
            raise ValueError("lead without borrower_id")
        if not self.phone.startswith("+") or not self.phone[1:].isdigit():
            raise ValueError(f"lead phone must be E.164 (+ and digits), got a {len(self.phone)}-char value")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a lead comes back after an attempt. Delays in seconds; absent = no retry."""

    max_attempts: int = 3
    delays: tuple[tuple[Disposition, float], ...] = (
        (Disposition.BUSY, 600.0),
        (Disposition.NO_ANSWER, 3600.0),
        (Disposition.CONGESTION, 300.0),
        (Disposition.MACHINE, 7200.0),
        (Disposition.ABANDONED, 3600.0),
        (Disposition.HUMAN_HANGUP, 3600.0),
        (Disposition.FAILED, 900.0),
        (Disposition.LOST, 900.0),
    )

    def delay_for(self, disposition: Disposition) -> float | None:
        for d, seconds in self.delays:
            if d == disposition:
                return seconds
        return None


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    """How one campaign dials. The queue's members are its agents."""

    name: str
    queue: str = "agents"
    channel_template: str = "Local/{phone}@callees"
    context: str = "dialer-amd"
    exten: str = "s"
    priority: int = 1
    caller_id: str = ""
    originate_timeout_s: float = 30.0
    abandon_after_s: float = 2.0  # legal threshold: person answered, no agent within this
    amd: bool = True
    wrapup_s: float = 10.0  # fallback when the PBX does not report the queue's wrap-up time
    max_lines: int = 1000  # channel cap for this campaign
    pacer: str = "progressive"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Extra channel variables sent with every Originate (e.g. recording flags).
    variables: tuple[tuple[str, str], ...] = ()
    # Bot-first campaigns (AI筛选 + 人工攻坚): a person goes to the bot at bot_endpoint (sent as
    # DIALER_BOT_ENDPOINT), which talks to at most bot_capacity people at once; when it
    # escalates, the call is redirected to escalate_context and waits for an agent.
    bot_first: bool = False
    bot_endpoint: str = ""
    bot_capacity: int = 0
    escalate_context: str = "dialer-escalate"
    # Share of bot calls expected to escalate before the campaign has its own figures
    # (worth `escalation_prior_calls` calls of evidence).
    escalation_rate_prior: float = 0.2
    escalation_prior_calls: float = 20.0

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ValueError(f"campaign name must be letters, digits, '-' or '_', got {self.name!r}")
        if "{phone}" not in self.channel_template:
            raise ValueError("channel_template must contain '{phone}'")
        if self.originate_timeout_s <= 0 or self.abandon_after_s <= 0:
            raise ValueError("originate_timeout_s and abandon_after_s must be > 0")
        if self.bot_first:
            if not self.bot_endpoint:
                raise ValueError("bot_endpoint: a bot-first campaign needs the bot's dial string (DIALER_BOT_ENDPOINT)")
            if self.bot_capacity < 1:
                raise ValueError(f"bot_capacity: a bot-first campaign needs >= 1 bot channel, got {self.bot_capacity}")
        if not 0.0 <= self.escalation_rate_prior <= 1.0:
            raise ValueError(f"escalation_rate_prior must be in [0, 1], got {self.escalation_rate_prior!r}")
        if self.escalation_prior_calls < 0:
            raise ValueError(f"escalation_prior_calls must be >= 0, got {self.escalation_prior_calls!r}")


@dataclass(slots=True)
class CallRecord:
    """Everything the core knows about one attempt; frozen into an outcome at the end."""

    call_id: str
    campaign: str
    lead: Lead
    attempt_no: int
    created_at: float
    originate_at: float | None = None
    ringing_at: float | None = None
    answer_at: float | None = None
    amd_at: float | None = None
    amd_status: str | None = None
    amd_cause: str | None = None
    queued_at: float | None = None
    connect_at: float | None = None
    hangup_at: float | None = None
    ended_at: float | None = None
    agent: str | None = None
    originate_reason: int | None = None
    hangup_cause: int | None = None
    hangup_cause_txt: str = ""
    queue_result: str | None = None
    disposition: Disposition | None = None
    abandoned: bool = False
    compliance_rules: tuple[str, ...] = ()
    # bot-first: when the person was handed to the bot, when the bot escalated, and the
    # bot's Dial() status if it did not take the call (DialerBotResult)
    bot_at: float | None = None
    escalated_at: float | None = None
    bot_failed: str | None = None

    @property
    def handled_by(self) -> str | None:
        """Who talked to the person: "agent", "bot" (the bot, escalated or not, and no agent
        came), or None (nobody: not answered by a person, or abandoned)."""
        if self.connect_at is not None:
            return "agent"
        if self.bot_at is not None and self.bot_failed is None and self.amd_status != "MACHINE":
            return "bot"
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final, immutable account of one originated call (internal form).

    It still holds the raw borrower id and phone: the outcome sinks mask and
    pseudonymise them (see dialer.outcomes) before anything leaves the process.
    """

    attempt_id: str
    campaign: str
    borrower_id: str
    phone: str
    attempt_no: int
    disposition: Disposition
    abandoned: bool
    amd_status: str | None
    amd_cause: str | None
    hangup_cause: int | None
    hangup_cause_txt: str
    agent: str | None
    originate_at: float | None
    answer_at: float | None
    amd_at: float | None
    connect_at: float | None
    hangup_at: float | None
    ended_at: float
    originate_reason: int | None = None
    queue_result: str | None = None
    handled_by: str | None = None  # "agent", "bot" or None (see CallRecord.handled_by)
    escalated: bool = False  # the bot handed the call to the agents
    escalated_at: float | None = None

    @property
    def escalation_wait_s(self) -> float | None:
        """From the bot's escalation to an agent; None if no agent came (or no escalation)."""
        if self.escalated_at is None or self.connect_at is None:
            return None
        return max(0.0, self.connect_at - self.escalated_at)

    @property
    def escalation_abandoned(self) -> bool:
        """Escalated by the bot, and no agent ever took the call."""
        return self.escalated and self.connect_at is None

    @classmethod
    def from_record(cls, r: CallRecord) -> Outcome:
        assert r.disposition is not None and r.ended_at is not None
        return cls(
            attempt_id=r.call_id, campaign=r.campaign, borrower_id=r.lead.borrower_id,
            phone=r.lead.phone, attempt_no=r.attempt_no, disposition=r.disposition,
            abandoned=r.abandoned, amd_status=r.amd_status, amd_cause=r.amd_cause,
            hangup_cause=r.hangup_cause, hangup_cause_txt=r.hangup_cause_txt, agent=r.agent,
            originate_at=r.originate_at, answer_at=r.answer_at, amd_at=r.amd_at,
            connect_at=r.connect_at, hangup_at=r.hangup_at, ended_at=r.ended_at,
            originate_reason=r.originate_reason, queue_result=r.queue_result,
            handled_by=r.handled_by, escalated=r.escalated_at is not None,
            escalated_at=r.escalated_at,
        )
