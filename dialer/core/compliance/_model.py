"""Records of the compliance gate: who we want to call, what happened before, what we decided.

Time inside the gate is a float (seconds since the Unix epoch, like every `at` of the core);
`datetime` values are accepted at the edges and converted once. Records validate on
construction: a malformed record is either bad input (`InputError`, reported with the field)
or, in the ledger, a corrupt row (refused with `gate.corrupt_record`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ...errors import InputError
from ..model import Disposition, Lead
from ..privacy import mask_phone

__all__ = [
    "PARTIES",
    "PURPOSES",
    "RESULTS",
    "AbandonStats",
    "Attempt",
    "Candidate",
    "Decision",
    "History",
    "OptOut",
    "mask_phone",
    "result_for_disposition",
    "to_datetime",
    "to_ts",
]

PARTIES = frozenset({"debtor", "third_party"})
PURPOSES = frozenset({"collection", "notice", "location", "service", "verification", "marketing"})

#: Results of an attempt. The first seven are the issue's vocabulary; two are ours:
#: `invalid_number` (the network says the number does not exist: a no_connect that also
#: proves the debtor unreachable, 失联) and `unknown` (the call ended but nobody knows how,
#: e.g. the PBX lost it: it no longer holds the borrower, but every rule reads it as
#: restrictively as an attempt whose result never came).
RESULTS = frozenset(
    {
        "no_connect",
        "no_answer",
        "voicemail",
        "machine",
        "abandoned",
        "conversation",
        "refused_by_party",
        "invalid_number",
        "unknown",
    }
)

#: How the core's final dispositions are written into the ledger. Conservative where the
#: law is vague: a person who picked up and hung up before the verdict counts as a
#: conversation (it triggers the US 7-day cool-down and the CN conversation cap, never the
#: UK abandoned-call rule, which it legally is not).
RESULT_FOR_DISPOSITION: dict[Disposition, str] = {
    Disposition.CONNECTED: "conversation",
    Disposition.ABANDONED: "abandoned",
    Disposition.MACHINE: "machine",
    Disposition.HUMAN_HANGUP: "conversation",
    Disposition.BUSY: "no_connect",
    Disposition.NO_ANSWER: "no_answer",
    Disposition.CONGESTION: "no_connect",
    Disposition.INVALID_NUMBER: "invalid_number",
    Disposition.FAILED: "no_connect",
    Disposition.LOST: "unknown",
}


def result_for_disposition(disposition: Disposition) -> str:
    return RESULT_FOR_DISPOSITION[disposition]


def to_ts(value: datetime | float | int, where: str = "time") -> float:
    """Seconds since the epoch from an aware datetime or a number; naive datetimes are misuse."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError(f"{where}: a datetime without a UTC offset is ambiguous")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(
            f"{where}: expected seconds since the epoch or an aware datetime, got {value!r}"
        )
    return float(value)


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _check_phone(phone: object, where: str) -> str:
    if (
        not isinstance(phone, str)
        or len(phone) < 4
        or not phone.startswith("+")
        or not phone[1:].isdigit()
        or len(phone) > 16
    ):
        raise InputError(f"{where}: expected an E.164 number (+ and 3 to 15 digits)")
    return phone


def _check_str(
    value: object, where: str, *, allowed: frozenset[str] | None = None, empty_ok: bool = True
) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {type(value).__name__}")
    if not empty_ok and not value:
        raise InputError(f"{where}: must not be empty")
    if allowed is not None and value not in allowed:
        raise InputError(f"{where}: expected one of {sorted(allowed)}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Candidate:
    """The call we are asked to allow: whom, for which debt, why, from which campaign.

    `zones` are IANA names from the borrower's address (they are added to the number's
    zones: every possible zone must allow the call). `caller_id=None` means the caller ID is
    not part of the question (the auditor's `compliance check` without one); the service
    always passes a string, and an empty string is refused.
    """

    borrower: str
    phone: str
    party: str = "debtor"
    purpose: str = "collection"
    campaign: str = ""
    debt: str = ""
    contact: str = ""
    zones: tuple[str, ...] = ()
    agent_reserved: bool = False
    caller_id: str | None = None
    ring_s: float | None = None

    def __post_init__(self) -> None:
        _check_str(self.borrower, "borrower", empty_ok=False)
        _check_phone(self.phone, "phone")
        _check_str(self.party, "party", allowed=PARTIES)
        _check_str(self.purpose, "purpose", allowed=PURPOSES)
        _check_str(self.campaign, "campaign")
        _check_str(self.debt, "debt")
        _check_str(self.contact, "contact")
        if not isinstance(self.zones, tuple) or not all(isinstance(z, str) for z in self.zones):
            raise InputError("zones: expected a list of IANA zone names")
        if not isinstance(self.agent_reserved, bool):
            raise InputError("agent_reserved: expected true or false")
        if self.caller_id is not None:
            _check_str(self.caller_id, "caller_id")
        if self.ring_s is not None and (
            isinstance(self.ring_s, bool)
            or not isinstance(self.ring_s, (int, float))
            or not math.isfinite(self.ring_s)
        ):
            raise InputError("ring_s: expected a number of seconds")

    @property
    def contact_key(self) -> str:
        """Who a third party is: the contact id, or the number when there is none."""
        return self.contact or self.phone

    @classmethod
    def from_lead(
        cls,
        lead: Lead,
        *,
        campaign: str,
        caller_id: str,
        agent_reserved: bool = False,
        ring_s: float | None = None,
        contact: str = "",
    ) -> Candidate:
        return cls(
            borrower=lead.borrower_id,
            phone=lead.phone,
            party=lead.party,
            purpose=lead.purpose,
            campaign=campaign,
            debt=lead.debt_id,
            contact=contact,
            zones=(lead.timezone,) if lead.timezone else (),
            agent_reserved=agent_reserved,
            caller_id=caller_id,
            ring_s=ring_s,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One past (or live) attempt. `result=None`: reserved, result not (yet) known."""

    at: float
    borrower: str
    phone: str
    party: str = "debtor"
    purpose: str = "collection"
    result: str | None = None
    campaign: str = ""
    debt: str = ""
    contact: str = ""
    attempt_id: str = ""

    def __post_init__(self) -> None:
        if (
            isinstance(self.at, bool)
            or not isinstance(self.at, (int, float))
            or not math.isfinite(self.at)
        ):
            raise InputError("at: expected a time")
        _check_str(self.borrower, "borrower", empty_ok=False)
        _check_phone(self.phone, "phone")
        _check_str(self.party, "party", allowed=PARTIES)
        _check_str(self.purpose, "purpose", allowed=PURPOSES)
        if self.result is not None:
            _check_str(self.result, "result", allowed=RESULTS)
        _check_str(self.campaign, "campaign")
        _check_str(self.debt, "debt")
        _check_str(self.contact, "contact")

    @property
    def open(self) -> bool:
        """Reserved and not completed: possibly a live call."""
        return self.result is None

    @property
    def resolved(self) -> bool:
        """The result is known. Unresolved attempts are read by each rule in the way that
        restricts it most (fail closed)."""
        return self.result is not None and self.result != "unknown"

    @property
    def contact_key(self) -> str:
        return self.contact or self.phone


@dataclass(frozen=True, slots=True)
class OptOut:
    """A do-not-call / opt-out entry. It matches a candidate when every key it sets matches:
    borrower only = never call the borrower; phone only = never call the number; with a
    purpose = opt-out of that purpose only (alone: the purpose is off for everyone)."""

    borrower: str | None = None
    phone: str | None = None
    purpose: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.borrower is None and self.phone is None and self.purpose is None:
            raise InputError("opt-out entry: set at least one of borrower, phone, purpose")
        if self.phone is not None:
            _check_phone(self.phone, "opt-out phone")
        if self.purpose is not None:
            _check_str(self.purpose, "opt-out purpose", allowed=PURPOSES)

    def matches(self, c: Candidate) -> bool:
        return (
            (self.borrower is None or self.borrower == c.borrower)
            and (self.phone is None or self.phone == c.phone)
            and (self.purpose is None or self.purpose == c.purpose)
        )

    @property
    def rule_suffix(self) -> str:
        if self.purpose is not None:
            return "purpose"
        return "borrower" if self.borrower is not None else "number"


@dataclass(frozen=True, slots=True)
class AbandonStats:
    """A campaign's answered/abandoned counts over an abandonment rule's window, computed by
    the ledger. The gate cannot know from aggregates when the rate will fall, so a refusal
    based on them is re-checked at `recheck_at`."""

    window_s: float
    answered: int  # answered by a person: conversation, refused_by_party, abandoned
    abandoned: int
    machine: int
    recheck_at: float


@dataclass(frozen=True, slots=True)
class History:
    """What the gate may know about a candidate: attempts to the borrower or the number,
    opt-outs that may match it, and campaign statistics keyed by (campaign, window_s)."""

    attempts: tuple[Attempt, ...] = ()
    optouts: tuple[OptOut, ...] = ()
    campaign_stats: tuple[tuple[tuple[str, float], AbandonStats], ...] | None = None

    def stats_for(self, campaign: str, window_s: float) -> AbandonStats | None:
        if self.campaign_stats is None:
            return None
        for key, value in self.campaign_stats:
            if key == (campaign, window_s):
                return value
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer. `rules` are the ids that refused; `next_allowed_at` (UTC) is the
    first instant the same candidate with the same history would be allowed, None = never."""

    allowed: bool
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    next_allowed_at: datetime | None = None
    zones: tuple[str, ...] = field(default=(), compare=False)

    @property
    def next_allowed_ts(self) -> float | None:
        return None if self.next_allowed_at is None else self.next_allowed_at.timestamp()

    def to_json(self, tz: object = None) -> dict[str, object]:
        nxt = self.next_allowed_at
        if nxt is not None and tz is not None:
            nxt = nxt.astimezone(tz)  # type: ignore[arg-type]
        return {
            "allowed": self.allowed,
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "next_allowed_at": None if nxt is None else nxt.isoformat(),
        }
