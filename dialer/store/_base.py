"""The attempt ledger: durable check-and-reserve around the pure compliance decision.

`reserve` reads the borrower's and the number's history, runs `decide`, and, when the call is
allowed, writes the attempt (open: no result yet) in the same transaction; every decision,
allowed or refused, is appended to the audit trail in that transaction too. The attempt is
on disk before anything is dialled, so a crash between reserve and originate leaves an open
attempt: it counts (every rule reads an unknown result in the way that restricts it most)
and it holds the borrower and the number until it is completed or `max_call_s` of the
`borrower_busy` rule has passed since it was reserved (2 h by default).

Failures fail closed. An unreachable ledger refuses with `gate.ledger_unavailable`, a row
that cannot be read refuses the candidates it concerns with `gate.corrupt_record`; both
are counted in `counters` (for the metrics adapter) and logged with the reason, never with
a full phone number.
"""

from __future__ import annotations

import abc
import json
import logging
import math
import os
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.compliance import (
    RESULTS,
    AbandonStats,
    Attempt,
    Candidate,
    Decision,
    History,
    OptOut,
    Rules,
    decide,
    to_datetime,
    to_ts,
)
from ..core.privacy import mask_phone, scrub_text
from ..errors import DialerIOError, InputError

log = logging.getLogger("dialer.store")

__all__ = [
    "ATTEMPT_COLUMNS",
    "SCHEMA_VERSION",
    "AttemptLedger",
    "CorruptRecord",
    "Explanation",
    "GateCounters",
    "LedgerUnavailable",
    "UnknownAttempt",
]

SCHEMA_VERSION = 1
ATTEMPT_COLUMNS = (
    "attempt_id",
    "borrower",
    "debt",
    "phone",
    "party",
    "contact",
    "purpose",
    "campaign",
    "at",
    "result",
)


class LedgerUnavailable(DialerIOError):
    """The ledger cannot be reached or written."""


class CorruptRecord(DialerIOError):
    """A stored row cannot be read back as an attempt."""


class UnknownAttempt(InputError):
    """complete() for an attempt id the ledger never reserved."""


@dataclass(slots=True)
class GateCounters:
    """Counts the metrics adapter reads (plain ints, no label carries a person)."""

    allowed: int = 0
    refused: int = 0
    refused_by_rule: Counter[str] = field(default_factory=Counter)
    ledger_unavailable: int = 0
    corrupt_record: int = 0
    completed: int = 0

    def count(self, decision: Decision) -> None:
        if decision.allowed:
            self.allowed += 1
        else:
            self.refused += 1
            self.refused_by_rule.update(decision.rules)

    def snapshot(self) -> dict[str, int]:
        out = {
            "allowed": self.allowed,
            "refused": self.refused,
            "ledger_unavailable": self.ledger_unavailable,
            "corrupt_record": self.corrupt_record,
            "completed": self.completed,
        }
        out.update({f"refused:{rule}": n for rule, n in sorted(self.refused_by_rule.items())})
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a borrower is (not) being called: the decision for their next call now."""

    borrower: str
    candidate: Candidate | None
    decision: Decision
    attempts: int
    open_attempts: int
    last_attempt_at: float | None

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "borrower": self.borrower,
            "candidate": None
            if c is None
            else {
                "phone": mask_phone(c.phone),
                "party": c.party,
                "purpose": c.purpose,
                "campaign": c.campaign,
                "debt": c.debt,
            },
            "attempts": self.attempts,
            "open_attempts": self.open_attempts,
            "last_attempt_at": None
            if self.last_attempt_at is None
            else to_datetime(self.last_attempt_at).isoformat(),
            **self.decision.to_json(),
        }


def refusal(rule: str, reason: str, retry_at: float | None = None) -> Decision:
    """A gate-level refusal. `retry_at` for transient causes (the ledger is down): the hopper
    tries again then instead of giving the lead up; None (never) for a corrupt record, which
    needs an operator."""
    return Decision(
        False, (rule,), (f"{rule}: {reason}",), None if retry_at is None else to_datetime(retry_at)
    )


def row_to_attempt(row: Sequence[Any]) -> Attempt:
    """A stored row (ATTEMPT_COLUMNS order) as an Attempt; CorruptRecord when it is not one."""
    attempt_id = row[0] if isinstance(row[0], str) else "?"
    try:
        at = row[8]
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
            raise InputError("at: not a time")
        result = row[9]
        if result is not None and result not in RESULTS:
            raise InputError(f"result: {str(result)[:20]!r} is not a known result")
        return Attempt(
            at=float(at),
            borrower=row[1],
            debt=row[2] or "",
            phone=row[3],
            party=row[4],
            contact=row[5] or "",
            purpose=row[6],
            campaign=row[7] or "",
            result=result,
            attempt_id=attempt_id,
        )
    except (InputError, TypeError, ValueError) as exc:
        raise CorruptRecord(f"attempt {attempt_id}: {scrub_text(str(exc))}") from None


def optout_from_row(row: Sequence[Any]) -> OptOut:
    """(id, borrower, phone, purpose, note) as an OptOut; CorruptRecord when it is not one."""
    try:
        return OptOut(borrower=row[1], phone=row[2], purpose=row[3], note=row[4] or "")
    except (InputError, TypeError, ValueError) as exc:
        raise CorruptRecord(f"opt-out entry {row[0]}: {scrub_text(str(exc))}") from None


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: float
    attempt_id: str
    borrower: str
    phone_masked: str
    campaign: str
    event: str  # "decision" or "complete"
    allowed: bool | None
    rules: str  # JSON list
    reasons: str  # JSON list
    next_allowed_at: float | None
    fingerprint: str


def audit_decision(
    c: Candidate, attempt_id: str, now: float, d: Decision, rules: Rules
) -> AuditRow:
    return AuditRow(
        now,
        attempt_id,
        c.borrower,
        mask_phone(c.phone),
        c.campaign,
        "decision",
        d.allowed,
        json.dumps(list(d.rules)),
        json.dumps(list(d.reasons), ensure_ascii=False),
        d.next_allowed_ts,
        rules.fingerprint,
    )


def decide_batch(
    items: Sequence[tuple[Candidate, str]],
    rows: Iterable[Sequence[Any]],
    optouts: Iterable[OptOut],
    stats: tuple[tuple[tuple[str, float], AbandonStats], ...] | None,
    existing_ids: set[str],
    now: float,
    rules: Rules,
) -> tuple[list[Decision], list[Attempt], list[AuditRow], list[str]]:
    """Decide a batch in order, inside the caller's transaction.

    Returns the decisions, the attempts to insert, the audit rows, and the corrupt-record
    messages (for counting and logging). An attempt allowed earlier in the batch is part of
    the history of the candidates after it (so a borrower twice in one batch is busy).
    """
    good: list[Attempt] = []
    corrupt: list[tuple[Sequence[Any], str]] = []
    for row in rows:
        try:
            good.append(row_to_attempt(row))
        except CorruptRecord as exc:
            corrupt.append((row, str(exc)))
    opt = tuple(optouts)
    decisions: list[Decision] = []
    inserts: list[Attempt] = []
    audits: list[AuditRow] = []
    problems: list[str] = []
    seen_ids: set[str] = set(existing_ids)
    borrowers = {c.borrower for c, _ in items}
    phones = {c.phone for c, _ in items}
    by_borrower: dict[str, list[Attempt]] = {}
    by_phone: dict[str, list[Attempt]] = {}
    for a in good:
        by_borrower.setdefault(a.borrower, []).append(a)
        by_phone.setdefault(a.phone, []).append(a)
    for c, attempt_id in items:
        if attempt_id in seen_ids:
            d = refusal(
                "gate.duplicate_attempt", f"attempt id {attempt_id} is already in the ledger"
            )
        else:
            bad = [
                msg
                for row, msg in corrupt
                if row[1] == c.borrower
                or row[3] == c.phone
                or (row[1] not in borrowers and row[3] not in phones)
            ]
            if bad:
                problems.extend(bad)
                d = refusal(
                    "gate.corrupt_record",
                    f"unreadable ledger record ({bad[0]}); refused (fail closed)",
                )
            else:
                mine = tuple(
                    {
                        id(a): a
                        for a in (*by_borrower.get(c.borrower, ()), *by_phone.get(c.phone, ()))
                    }.values()
                )
                mine_opt = tuple(
                    o
                    for o in opt
                    if o.borrower in (None, c.borrower) and o.phone in (None, c.phone)
                )
                d = decide(c, History(mine, mine_opt, stats), now, rules)
        seen_ids.add(attempt_id)
        decisions.append(d)
        audits.append(audit_decision(c, attempt_id, now, d, rules))
        if d.allowed:
            a = Attempt(
                at=now,
                borrower=c.borrower,
                phone=c.phone,
                party=c.party,
                purpose=c.purpose,
                result=None,
                campaign=c.campaign,
                debt=c.debt,
                contact=c.contact,
                attempt_id=attempt_id,
            )
            inserts.append(a)
            by_borrower.setdefault(a.borrower, []).append(a)
            by_phone.setdefault(a.phone, []).append(a)
    return decisions, inserts, audits, problems


class AttemptLedger(abc.ABC):
    """The async interface the service uses. Implementations: SqliteLedger, PostgresLedger.

    Every method that decides returns a Decision and never raises for IO: a failing ledger
    is a refusal (`gate.ledger_unavailable`). `complete` and `history` raise
    LedgerUnavailable, since there is nothing to fail closed to.
    """

    def __init__(
        self,
        *,
        stats_ttl_s: float = 5.0,
        process: str | None = None,
        unavailable_retry_s: float = 30.0,
    ) -> None:
        self.counters = GateCounters()
        self.unavailable_retry_s = unavailable_retry_s
        self.process = process or process_name()
        self.stats_ttl_s = stats_ttl_s
        self._stats_cache: dict[tuple[str, float], AbandonStats] = {}

    # --- lifecycle ------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self) -> None:
        """Open and create or migrate the schema (idempotent; safe with several processes)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> AttemptLedger:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the gate -------------------------------------------------------------------------

    async def reserve(
        self, candidate: Candidate, attempt_id: str, now: float | Any, rules: Rules
    ) -> Decision:
        """Atomic check-and-reserve for one candidate."""
        return (await self.reserve_many([(candidate, attempt_id)], now, rules))[0]

    async def reserve_many(
        self, items: Sequence[tuple[Candidate, str]], now: float | Any, rules: Rules
    ) -> list[Decision]:
        """Check-and-reserve several candidates in one transaction (in order)."""
        if not items:
            return []
        t = to_ts(now, "now")
        try:
            stats = await self._campaign_stats({c.campaign for c, _ in items}, t, rules)
            decisions, problems = await self._reserve_batch(list(items), t, rules, stats)
        except CorruptRecord as exc:
            self.counters.corrupt_record += 1
            log.error("corrupt ledger record, %d attempt(s) refused: %s", len(items), exc)
            decisions = [
                refusal(
                    "gate.corrupt_record",
                    f"unreadable ledger record ({exc}); refused (fail closed)",
                )
                for _ in items
            ]
            problems = []
        except LedgerUnavailable as exc:
            self.counters.ledger_unavailable += len(items)
            log.error(
                "ledger unavailable, %d attempt(s) refused: %s", len(items), scrub_text(str(exc))
            )
            decisions = [
                refusal(
                    "gate.ledger_unavailable",
                    f"the ledger cannot be read or written "
                    f"({scrub_text(str(exc))[:200]}); refused (fail closed)",
                    t + self.unavailable_retry_s,
                )
                for _ in items
            ]
            problems = []
        for msg in problems:
            self.counters.corrupt_record += 1
            log.error("corrupt ledger record, candidate refused: %s", msg)
        for d in decisions:
            self.counters.count(d)
        return decisions

    async def explain(
        self, borrower: str, now: float | Any, rules: Rules, candidate: Candidate | None = None
    ) -> Explanation:
        """The decision the gate would take now for the borrower's next call (nothing is
        written). Without a candidate, the borrower's latest debtor attempt supplies the
        number, debt, purpose and campaign."""
        t = to_ts(now, "now")
        try:
            attempts = await self.history(borrower, t - rules.lookback_s(), rules=rules)
        except CorruptRecord as exc:
            self.counters.corrupt_record += 1
            return Explanation(
                borrower, candidate, refusal("gate.corrupt_record", str(exc)), 0, 0, None
            )
        except LedgerUnavailable as exc:
            self.counters.ledger_unavailable += 1
            return Explanation(
                borrower,
                candidate,
                refusal(
                    "gate.ledger_unavailable",
                    scrub_text(str(exc))[:200],
                    t + self.unavailable_retry_s,
                ),
                0,
                0,
                None,
            )
        mine = [a for a in attempts if a.borrower == borrower]
        if candidate is None:
            last = max((a for a in mine if a.party == "debtor"), key=lambda a: a.at, default=None)
            if last is None:
                return Explanation(
                    borrower,
                    None,
                    Decision(
                        False,
                        ("explain.no_history",),
                        (
                            "explain.no_history: the ledger has no debtor attempt for this "
                            "borrower; "
                            "give the number to judge a first call",
                        ),
                        None,
                    ),
                    len(mine),
                    0,
                    None,
                )
            candidate = Candidate(
                borrower=borrower,
                phone=last.phone,
                party="debtor",
                purpose=last.purpose,
                campaign=last.campaign,
                debt=last.debt,
            )
        try:
            others = await self.history_for_number(candidate.phone, t - rules.lookback_s())
            optouts = await self.optouts_for(candidate.borrower, candidate.phone)
            stats = await self._campaign_stats({candidate.campaign}, t, rules)
        except CorruptRecord as exc:
            self.counters.corrupt_record += 1
            return Explanation(
                borrower, candidate, refusal("gate.corrupt_record", str(exc)), 0, 0, None
            )
        except LedgerUnavailable as exc:
            self.counters.ledger_unavailable += 1
            return Explanation(
                borrower,
                candidate,
                refusal(
                    "gate.ledger_unavailable",
                    scrub_text(str(exc))[:200],
                    t + self.unavailable_retry_s,
                ),
                0,
                0,
                None,
            )
        seen = {a.attempt_id for a in attempts}
        merged = tuple(attempts) + tuple(a for a in others if a.attempt_id not in seen)
        d = decide(candidate, History(merged, tuple(optouts), stats), t, rules)
        return Explanation(
            borrower,
            candidate,
            d,
            len(mine),
            sum(a.open for a in mine),
            max((a.at for a in mine), default=None),
        )

    async def _campaign_stats(
        self, campaigns: set[str], now: float, rules: Rules
    ) -> tuple[tuple[tuple[str, float], AbandonStats], ...] | None:
        windows = rules.abandonment_windows()
        if not windows:
            return None
        out = []
        for campaign in sorted(campaigns):
            for _, window in windows:
                key = (campaign, window)
                cached = self._stats_cache.get(key)
                if cached is None or not (
                    cached.recheck_at - self.stats_ttl_s <= now < cached.recheck_at
                ):
                    answered, abandoned, machine = await self._count_campaign(
                        campaign, now - window, now
                    )
                    cached = AbandonStats(
                        window, answered, abandoned, machine, now + self.stats_ttl_s
                    )
                    self._stats_cache[key] = cached
                out.append((key, cached))
        return tuple(out)

    # --- backend --------------------------------------------------------------------------

    @abc.abstractmethod
    async def _reserve_batch(
        self,
        items: list[tuple[Candidate, str]],
        now: float,
        rules: Rules,
        stats: tuple[tuple[tuple[str, float], AbandonStats], ...] | None,
    ) -> tuple[list[Decision], list[str]]:
        """Lock, read, decide (decide_batch), insert, audit, commit. Raise LedgerUnavailable."""

    @abc.abstractmethod
    async def _count_campaign(
        self, campaign: str, since: float, until: float
    ) -> tuple[int, int, int]:
        """(answered by a person, abandoned, machine) for resolved attempts in (since, until]."""

    @abc.abstractmethod
    async def complete(
        self, attempt_id: str, result: str, at: float | Any, details: dict[str, Any] | None = None
    ) -> bool:
        """Record the result of a reserved attempt. True if recorded; False if it already had
        a result (an `unknown` result may be replaced by the real one later). Raises
        UnknownAttempt for an id never reserved, LedgerUnavailable on IO failure."""

    @abc.abstractmethod
    async def history(
        self, borrower: str, since: float | Any, rules: Rules | None = None
    ) -> list[Attempt]:
        """The borrower's attempts at or after `since` (and, given rules, their whole history
        for the parties a `once` rule counts). Raises CorruptRecord / LedgerUnavailable."""

    @abc.abstractmethod
    async def history_for_number(self, phone: str, since: float) -> list[Attempt]: ...

    @abc.abstractmethod
    async def add_optout(
        self,
        *,
        borrower: str | None = None,
        phone: str | None = None,
        purpose: str | None = None,
        note: str = "",
        at: float | Any = 0.0,
    ) -> None:
        """Append a do-not-call / opt-out entry (see OptOut for how it matches)."""

    @abc.abstractmethod
    async def optouts_for(self, borrower: str, phone: str) -> list[OptOut]: ...

    @abc.abstractmethod
    async def audit_trail(
        self, borrower: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The latest audit rows (newest first), for auditors and tests."""


def check_result(result: str) -> str:
    if result not in RESULTS:
        raise InputError(f"result: expected one of {sorted(RESULTS)}, got {result!r}")
    return result


def details_json(details: dict[str, Any] | None) -> str | None:
    if details is None:
        return None
    return scrub_text(json.dumps(details, ensure_ascii=False, default=str))
