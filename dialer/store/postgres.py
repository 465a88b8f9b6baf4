"""The shared ledger: PostgreSQL, for several dialer processes at once (asyncpg).

Atomic check-and-reserve per borrower: every reservation transaction first takes
transaction-scoped advisory locks on a 64-bit hash of its borrowers and of their numbers
(`pg_advisory_xact_lock`, in ascending key order, in one statement, so two batches can never
deadlock), then reads the history, decides and inserts. A second process reserving the same
borrower waits for the first to commit and then sees its open attempt: it is refused with
`all.borrower_busy`. A hash collision only makes two unrelated borrowers wait for each other.
Locks are released at commit or rollback, so a dying process never leaves one behind.

Tables live in their own schema (default `dialer`), created or migrated on start under an
advisory lock, so processes starting together migrate once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from ..core.compliance import AbandonStats, Attempt, Candidate, Decision, OptOut, Rules, to_ts
from ..core.privacy import mask_phone
from ._base import (
    ATTEMPT_COLUMNS,
    SCHEMA_VERSION,
    AttemptLedger,
    LedgerUnavailable,
    UnknownAttempt,
    check_result,
    decide_batch,
    details_json,
    log,
    optout_from_row,
    row_to_attempt,
)

__all__ = ["PostgresLedger", "lock_key"]

_MIGRATION_LOCK = 0x6469616C65720001  # "dialer" + 1: the schema migration lock

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS {s}.attempts (
    attempt_id   TEXT PRIMARY KEY,
    borrower     TEXT NOT NULL,
    debt         TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL,
    party        TEXT NOT NULL,
    contact      TEXT NOT NULL DEFAULT '',
    purpose      TEXT NOT NULL,
    campaign     TEXT NOT NULL DEFAULT '',
    at           DOUBLE PRECISION NOT NULL,
    result       TEXT,
    completed_at DOUBLE PRECISION,
    details      TEXT,
    process      TEXT
);
CREATE INDEX IF NOT EXISTS attempts_borrower_at ON {s}.attempts (borrower, at);
CREATE INDEX IF NOT EXISTS attempts_phone_at ON {s}.attempts (phone, at);
CREATE INDEX IF NOT EXISTS attempts_campaign_at ON {s}.attempts (campaign, at);
CREATE TABLE IF NOT EXISTS {s}.audit (
    id              BIGSERIAL PRIMARY KEY,
    at              DOUBLE PRECISION NOT NULL,
    attempt_id      TEXT NOT NULL,
    borrower        TEXT NOT NULL,
    phone_masked    TEXT NOT NULL,
    campaign        TEXT NOT NULL,
    event           TEXT NOT NULL,
    allowed         BOOLEAN,
    rules           TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    next_allowed_at DOUBLE PRECISION,
    fingerprint     TEXT NOT NULL,
    process         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_borrower_at ON {s}.audit (borrower, at);
CREATE TABLE IF NOT EXISTS {s}.optouts (
    id       BIGSERIAL PRIMARY KEY,
    borrower TEXT,
    phone    TEXT,
    purpose  TEXT,
    note     TEXT NOT NULL DEFAULT '',
    at       DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS optouts_borrower ON {s}.optouts (borrower);
CREATE INDEX IF NOT EXISTS optouts_phone ON {s}.optouts (phone);
"""

_MIGRATIONS = {1: _SCHEMA_V1}
_COLS = ", ".join(ATTEMPT_COLUMNS)


def lock_key(kind: str, value: str) -> int:
    """Signed 64-bit advisory-lock key for ('b', borrower) or ('p', phone)."""
    digest = hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
        asyncio.TimeoutError,
        ConnectionError,
    )


class PostgresLedger(AttemptLedger):
    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "dialer",
        pool_size: int = 4,
        lock_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        stats_ttl_s: float = 5.0,
        process: str | None = None,
        unavailable_retry_s: float = 30.0,
    ) -> None:
        super().__init__(
            stats_ttl_s=stats_ttl_s, process=process, unavailable_retry_s=unavailable_retry_s
        )
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ValueError("schema: lower-case letters, digits and '_' only")
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self.lock_timeout_s = lock_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._pool: Any = None
        s = schema
        self._sql_lock = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k"
        self._sql_history = (
            f"SELECT {_COLS} FROM {s}.attempts WHERE (borrower = ANY($1::text[]) OR phone = "
            "ANY($2::text[]))"
            " AND (at >= $3 OR party = ANY($4::text[]))"
        )
        self._sql_optouts = (
            f"SELECT id, borrower, phone, purpose, note FROM {s}.optouts WHERE borrower = "
            "ANY($1::text[])"
            " OR phone = ANY($2::text[]) OR (borrower IS NULL AND phone IS NULL)"
        )
        # Opt-outs and already-used attempt ids in one round trip.
        self._sql_optouts_existing = (
            f"SELECT 'o' AS k, id::text, borrower, phone, purpose, note FROM {s}.optouts"
            " WHERE borrower = ANY($1::text[]) OR phone = ANY($2::text[]) OR (borrower IS "
            "NULL AND phone IS NULL)"
            f" UNION ALL SELECT 'e', attempt_id, NULL, NULL, NULL, NULL FROM {s}.attempts"
            " WHERE attempt_id = ANY($3::text[])"
        )
        self._sql_audit_cols = (
            f"INSERT INTO {s}.audit (at, attempt_id, borrower, phone_masked, campaign, "
            "event, allowed,"
            " rules, reasons, next_allowed_at, fingerprint, process)"
            " SELECT $1, a, b, pm, ca, 'decision', al, r, re, n, $9, $10 FROM unnest($2::text[],"
            " $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[], "
            "$11::float8[])"
            " AS x(a, b, pm, ca, al, r, re, n)"
        )
        # The attempts the gate allowed and the audit of every decision, in one statement.
        self._sql_write = (
            f"WITH ins AS (INSERT INTO {s}.attempts ({_COLS}, process)"
            " SELECT a, b, d, p, pa, c, pu, ca, t, NULL, $10 FROM unnest($12::text[], $13::text[],"
            " $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],"
            " $20::float8[]) AS y(a, b, d, p, pa, c, pu, ca, t)) " + self._sql_audit_cols
        )

    # --- plumbing -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._pool is not None:
            return
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=self.connect_timeout_s,
                command_timeout=max(30.0, self.lock_timeout_s * 2),
                server_settings={"lock_timeout": f"{int(self.lock_timeout_s * 1000)}ms"},
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.schema}.dialer_schema (version "
                    "INTEGER NOT NULL)"
                )
                current = (
                    await conn.fetchval(f"SELECT max(version) FROM {self.schema}.dialer_schema")
                    or 0
                )
                if current > SCHEMA_VERSION:
                    raise LedgerUnavailable(
                        f"postgres: ledger schema v{current} is newer than this "
                        f"dialer (v{SCHEMA_VERSION})"
                    )
                for v in range(current + 1, SCHEMA_VERSION + 1):
                    await conn.execute(_MIGRATIONS[v].format(s=self.schema))
                    await conn.execute(
                        f"INSERT INTO {self.schema}.dialer_schema (version) VALUES ($1)", v
                    )
        except _errors() as exc:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
            raise LedgerUnavailable(
                f"postgres: cannot open the ledger: {type(exc).__name__}: {exc}"
            ) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _need_pool(self) -> Any:
        if self._pool is None:
            raise LedgerUnavailable("the PostgreSQL ledger is not started")
        return self._pool

    # --- gate -----------------------------------------------------------------------------

    async def _reserve_batch(
        self,
        items: list[tuple[Candidate, str]],
        now: float,
        rules: Rules,
        stats: tuple[tuple[tuple[str, float], AbandonStats], ...] | None,
    ) -> tuple[list[Decision], list[str]]:
        pool = self._need_pool()
        borrowers = sorted({c.borrower for c, _ in items})
        phones = sorted({c.phone for c, _ in items})
        keys = sorted({lock_key("b", b) for b in borrowers} | {lock_key("p", p) for p in phones})
        since = now - rules.lookback_s()
        unbounded = sorted(rules.unbounded_parties())
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(self._sql_lock, keys)
                rows = await conn.fetch(self._sql_history, borrowers, phones, since, unbounded)
                extra = await conn.fetch(
                    self._sql_optouts_existing, borrowers, phones, [i for _, i in items]
                )
                optouts = [optout_from_row(r[1:]) for r in extra if r[0] == "o"]
                existing = {r[1] for r in extra if r[0] == "e"}
                decisions, inserts, audits, problems = decide_batch(
                    items, [tuple(r) for r in rows], optouts, stats, existing, now, rules
                )
                cols: list[list[Any]] = (
                    [
                        list(c)
                        for c in zip(
                            *[
                                (
                                    a.attempt_id,
                                    a.borrower,
                                    a.debt,
                                    a.phone,
                                    a.party,
                                    a.contact,
                                    a.purpose,
                                    a.campaign,
                                    a.at,
                                )
                                for a in inserts
                            ],
                            strict=True,
                        )
                    ]
                    if inserts
                    else [[]] * 9
                )
                await conn.execute(
                    self._sql_write,
                    now,
                    [r.attempt_id for r in audits],
                    [r.borrower for r in audits],
                    [r.phone_masked for r in audits],
                    [r.campaign for r in audits],
                    [bool(r.allowed) for r in audits],
                    [r.rules for r in audits],
                    [r.reasons for r in audits],
                    rules.fingerprint,
                    self.process,
                    [r.next_allowed_at for r in audits],
                    *cols,
                )
        except _errors() as exc:
            raise LedgerUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc
        return decisions, problems

    async def _count_campaign(
        self, campaign: str, since: float, until: float
    ) -> tuple[int, int, int]:
        pool = self._need_pool()
        try:
            row = await pool.fetchrow(
                "SELECT count(*) FILTER (WHERE result IN "
                "('abandoned','conversation','refused_by_party')),"
                " count(*) FILTER (WHERE result = 'abandoned'), count(*) FILTER (WHERE "
                "result = 'machine')"
                f" FROM {self.schema}.attempts WHERE campaign = $1 AND at > $2 AND at <= $3",
                campaign,
                since,
                until,
            )
        except _errors() as exc:
            raise LedgerUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc
        return int(row[0]), int(row[1]), int(row[2])

    async def complete(
        self, attempt_id: str, result: str, at: float | Any, details: dict[str, Any] | None = None
    ) -> bool:
        check_result(result)
        t = to_ts(at, "at")
        pool = self._need_pool()
        s = self.schema
        try:
            async with pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"UPDATE {s}.attempts SET result = $2, completed_at = $3, details = $4"
                    " WHERE attempt_id = $1 AND (result IS NULL OR result = 'unknown')"
                    " RETURNING borrower, phone, campaign",
                    attempt_id,
                    result,
                    t,
                    details_json(details),
                )
                if row is None:
                    previous = await conn.fetchrow(
                        f"SELECT result FROM {s}.attempts WHERE attempt_id = $1", attempt_id
                    )
                else:
                    previous = None
                    await conn.execute(
                        f"INSERT INTO {s}.audit (at, attempt_id, borrower, phone_masked, "
                        "campaign, event,"
                        " allowed, rules, reasons, next_allowed_at, fingerprint, process)"
                        " VALUES ($1, $2, $3, $4, $5, 'complete', NULL, '[]', $6, NULL, '', $7)",
                        t,
                        attempt_id,
                        row[0],
                        mask_phone(row[1]),
                        row[2],
                        json.dumps([result]),
                        self.process,
                    )
        except _errors() as exc:
            raise LedgerUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc
        if row is not None:
            self.counters.completed += 1
            return True
        if previous is None:
            raise UnknownAttempt(f"complete: attempt {attempt_id} was never reserved")
        if previous[0] != result:
            log.warning(
                "attempt %s already completed as %s; %s ignored", attempt_id, previous[0], result
            )
        return False

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        pool = self._need_pool()
        try:
            return list(await pool.fetch(sql, *args))
        except _errors() as exc:
            raise LedgerUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc

    async def history(
        self, borrower: str, since: float | Any, rules: Rules | None = None
    ) -> list[Attempt]:
        unbounded = sorted(rules.unbounded_parties()) if rules is not None else []
        rows = await self._fetch(
            self._sql_history, [borrower], [], to_ts(since, "since"), unbounded
        )
        return sorted((row_to_attempt(tuple(r)) for r in rows), key=lambda a: a.at)

    async def history_for_number(self, phone: str, since: float) -> list[Attempt]:
        rows = await self._fetch(self._sql_history, [], [phone], since, [])
        return sorted((row_to_attempt(tuple(r)) for r in rows), key=lambda a: a.at)

    async def add_optout(
        self,
        *,
        borrower: str | None = None,
        phone: str | None = None,
        purpose: str | None = None,
        note: str = "",
        at: float | Any = 0.0,
    ) -> None:
        OptOut(borrower=borrower, phone=phone, purpose=purpose, note=note)  # validates
        pool = self._need_pool()
        try:
            await pool.execute(
                f"INSERT INTO {self.schema}.optouts (borrower, phone, purpose, note, at)"
                " VALUES ($1, $2, $3, $4, $5)",
                borrower,
                phone,
                purpose,
                note,
                to_ts(at, "at"),
            )
        except _errors() as exc:
            raise LedgerUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc

    async def optouts_for(self, borrower: str, phone: str) -> list[OptOut]:
        return [
            optout_from_row(r) for r in await self._fetch(self._sql_optouts, [borrower], [phone])
        ]

    async def audit_trail(
        self, borrower: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where = " WHERE borrower = $2" if borrower is not None else ""
        args: Sequence[Any] = (limit, borrower) if borrower is not None else (limit,)
        rows = await self._fetch(
            "SELECT at, attempt_id, borrower, phone_masked, campaign, event, allowed, "
            "rules, reasons,"
            f" next_allowed_at, fingerprint, process FROM {self.schema}.audit{where}"
            " ORDER BY id DESC LIMIT $1",
            *args,
        )
        out = []
        for r in rows:
            d = dict(r)
            d["rules"] = json.loads(d["rules"])
            d["reasons"] = json.loads(d["reasons"])
            out.append(d)
        return out
