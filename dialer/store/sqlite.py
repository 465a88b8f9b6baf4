"""The embedded ledger: one SQLite file in WAL mode.

Durability: `synchronous=FULL`. In WAL mode NORMAL survives a killed process but may lose
the last commits on power loss or an OS crash, and a lost reservation is a call that was
dialled and never counted: the gate would fail open. FULL syncs the WAL at every commit;
its cost is one fsync per transaction, which `reserve_many` spreads over a whole batch.

Concurrency: every statement runs on one dedicated worker thread that owns the connection,
so the event loop never blocks on SQLite (or on fsync). Each reservation is one
`BEGIN IMMEDIATE` transaction: it takes SQLite's write lock before reading, so check and
reserve are atomic even when several processes share the file (they wait up to
`busy_timeout_s` for each other, then the gate refuses with `gate.ledger_unavailable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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

__all__ = ["SqliteLedger"]

T = TypeVar("T")

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id   TEXT PRIMARY KEY,
    borrower     TEXT NOT NULL,
    debt         TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL,
    party        TEXT NOT NULL,
    contact      TEXT NOT NULL DEFAULT '',
    purpose      TEXT NOT NULL,
    campaign     TEXT NOT NULL DEFAULT '',
    at           REAL NOT NULL,
    result       TEXT,
    completed_at REAL,
    details      TEXT,
    process      TEXT
);
CREATE INDEX IF NOT EXISTS attempts_borrower_at ON attempts (borrower, at);
CREATE INDEX IF NOT EXISTS attempts_phone_at ON attempts (phone, at);
CREATE INDEX IF NOT EXISTS attempts_campaign_at ON attempts (campaign, at);
CREATE TABLE IF NOT EXISTS audit (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              REAL NOT NULL,
    attempt_id      TEXT NOT NULL,
    borrower        TEXT NOT NULL,
    phone_masked    TEXT NOT NULL,
    campaign        TEXT NOT NULL,
    event           TEXT NOT NULL,
    allowed         INTEGER,
    rules           TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    next_allowed_at REAL,
    fingerprint     TEXT NOT NULL,
    process         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_borrower_at ON audit (borrower, at);
CREATE TABLE IF NOT EXISTS optouts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    borrower TEXT,
    phone    TEXT,
    purpose  TEXT,
    note     TEXT NOT NULL DEFAULT '',
    at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS optouts_borrower ON optouts (borrower);
CREATE INDEX IF NOT EXISTS optouts_phone ON optouts (phone);
"""

_MIGRATIONS = {1: _SCHEMA_V1}
_COLS = ", ".join(ATTEMPT_COLUMNS)
_CHUNK = 400  # keeps IN (...) lists far below SQLite's variable limit


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


class SqliteLedger(AttemptLedger):
    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 10.0,
        synchronous: str = "FULL",
        stats_ttl_s: float = 5.0,
        process: str | None = None,
        unavailable_retry_s: float = 30.0,
    ) -> None:
        super().__init__(
            stats_ttl_s=stats_ttl_s, process=process, unavailable_retry_s=unavailable_retry_s
        )
        if synchronous not in ("FULL", "EXTRA"):
            raise ValueError(
                "synchronous must be FULL or EXTRA: the reservation must survive power loss"
            )
        self.path = str(path)
        self.busy_timeout_s = busy_timeout_s
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None or self._conn is None:
            raise LedgerUnavailable("the SQLite ledger is not started")
        conn = self._conn

        def job() -> T:
            try:
                return fn(conn)
            except BaseException as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise LedgerUnavailable(f"sqlite: {type(exc).__name__}: {exc}") from exc
                raise

        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    async def start(self) -> None:
        if self._conn is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")

        def open_db() -> sqlite3.Connection:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_s,
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if self.path != ":memory:" and str(mode).lower() != "wal":
                    raise LedgerUnavailable(
                        f"sqlite: cannot switch {self.path} to WAL mode (got {mode})"
                    )
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._pool, open_db)
        except sqlite3.Error as exc:
            self._pool.shutdown(wait=False)
            self._pool = None
            raise LedgerUnavailable(f"sqlite: cannot open the ledger: {exc}") from exc

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS dialer_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM dialer_schema").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise LedgerUnavailable(
                    f"sqlite: ledger schema v{current} is newer than this "
                    f"dialer (v{SCHEMA_VERSION})"
                )
            for v in range(current + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("INSERT INTO dialer_schema (version) VALUES (?)", (v,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        conn, pool = self._conn, self._pool
        self._conn = self._pool = None
        if pool is not None:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(pool, conn.close)
            pool.shutdown(wait=True)

    # --- gate -------------------------------------------------------------------------------

    async def _reserve_batch(
        self,
        items: list[tuple[Candidate, str]],
        now: float,
        rules: Rules,
        stats: tuple[tuple[tuple[str, float], AbandonStats], ...] | None,
    ) -> tuple[list[Decision], list[str]]:
        since = now - rules.lookback_s()
        unbounded = sorted(rules.unbounded_parties())
        process = self.process

        def txn(conn: sqlite3.Connection) -> tuple[list[Decision], list[str]]:
            conn.execute("BEGIN IMMEDIATE")
            borrowers = sorted({c.borrower for c, _ in items})
            phones = sorted({c.phone for c, _ in items})
            ids = [i for _, i in items]
            rows = _select_attempts(conn, borrowers, phones, since, unbounded)
            optouts = _select_optouts(conn, borrowers, phones)
            existing: set[str] = set()
            for k in range(0, len(ids), _CHUNK):
                part = ids[k : k + _CHUNK]
                existing.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT attempt_id FROM attempts WHERE attempt_id IN "
                        f"({_placeholders(len(part))})",
                        part,
                    )
                )
            decisions, inserts, audits, problems = decide_batch(
                items, rows, optouts, stats, existing, now, rules
            )
            conn.executemany(
                f"INSERT INTO attempts ({_COLS}, process) VALUES "
                f"({_placeholders(len(ATTEMPT_COLUMNS) + 1)})",
                [
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
                        None,
                        process,
                    )
                    for a in inserts
                ],
            )
            conn.executemany(
                "INSERT INTO audit (at, attempt_id, borrower, phone_masked, campaign, "
                "event, allowed,"
                " rules, reasons, next_allowed_at, fingerprint, process)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r.at,
                        r.attempt_id,
                        r.borrower,
                        r.phone_masked,
                        r.campaign,
                        r.event,
                        None if r.allowed is None else int(r.allowed),
                        r.rules,
                        r.reasons,
                        r.next_allowed_at,
                        r.fingerprint,
                        process,
                    )
                    for r in audits
                ],
            )
            conn.execute("COMMIT")
            return decisions, problems

        return await self._run(txn)

    async def _count_campaign(
        self, campaign: str, since: float, until: float
    ) -> tuple[int, int, int]:
        def q(conn: sqlite3.Connection) -> tuple[int, int, int]:
            row = conn.execute(
                "SELECT coalesce(sum(result IN ('abandoned','conversation','refused_by_party')),0),"
                " coalesce(sum(result = 'abandoned'),0), coalesce(sum(result = 'machine'),0)"
                " FROM attempts WHERE campaign = ? AND at > ? AND at <= ?",
                (campaign, since, until),
            ).fetchone()
            return int(row[0]), int(row[1]), int(row[2])

        return await self._run(q)

    async def complete(
        self, attempt_id: str, result: str, at: float | Any, details: dict[str, Any] | None = None
    ) -> bool:
        check_result(result)
        t = to_ts(at, "at")
        blob = details_json(details)
        process = self.process

        def txn(conn: sqlite3.Connection) -> tuple[bool, str | None]:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT borrower, phone, campaign, result FROM attempts WHERE attempt_id = ?",
                (attempt_id,),
            ).fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                return False, "missing"
            if row[3] is not None and row[3] != "unknown":
                conn.execute("ROLLBACK")
                return False, row[3]
            conn.execute(
                "UPDATE attempts SET result = ?, completed_at = ?, details = ? WHERE "
                "attempt_id = ?",
                (result, t, blob, attempt_id),
            )
            conn.execute(
                "INSERT INTO audit (at, attempt_id, borrower, phone_masked, campaign, "
                "event, allowed,"
                " rules, reasons, next_allowed_at, fingerprint, process)"
                " VALUES (?,?,?,?,?,'complete',NULL,'[]',?,NULL,'',?)",
                (t, attempt_id, row[0], mask_phone(row[1]), row[2], json.dumps([result]), process),
            )
            conn.execute("COMMIT")
            return True, None

        done, previous = await self._run(txn)
        if previous == "missing":
            raise UnknownAttempt(f"complete: attempt {attempt_id} was never reserved")
        if done:
            self.counters.completed += 1
        elif previous != result:
            log.warning(
                "attempt %s already completed as %s; %s ignored", attempt_id, previous, result
            )
        return done

    async def history(
        self, borrower: str, since: float | Any, rules: Rules | None = None
    ) -> list[Attempt]:
        t = to_ts(since, "since")
        unbounded = sorted(rules.unbounded_parties()) if rules is not None else []

        def q(conn: sqlite3.Connection) -> list[Any]:
            return _select_attempts(conn, [borrower], [], t, unbounded)

        return sorted((row_to_attempt(r) for r in await self._run(q)), key=lambda a: a.at)

    async def history_for_number(self, phone: str, since: float) -> list[Attempt]:
        def q(conn: sqlite3.Connection) -> list[Any]:
            return _select_attempts(conn, [], [phone], since, [])

        return sorted((row_to_attempt(r) for r in await self._run(q)), key=lambda a: a.at)

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
        t = to_ts(at, "at")

        def q(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO optouts (borrower, phone, purpose, note, at) VALUES (?,?,?,?,?)",
                (borrower, phone, purpose, note, t),
            )

        await self._run(q)

    async def optouts_for(self, borrower: str, phone: str) -> list[OptOut]:
        return await self._run(lambda conn: _select_optouts(conn, [borrower], [phone]))

    async def audit_trail(
        self, borrower: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        def q(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute(
                "SELECT at, attempt_id, borrower, phone_masked, campaign, event, allowed, rules,"
                " reasons, next_allowed_at, fingerprint, process FROM audit"
                + (" WHERE borrower = ?" if borrower is not None else "")
                + " ORDER BY id DESC LIMIT ?",
                ((borrower, limit) if borrower is not None else (limit,)),
            )
            names = [d[0] for d in cur.description]
            out = []
            for row in cur:
                d = dict(zip(names, row, strict=True))
                d["allowed"] = None if d["allowed"] is None else bool(d["allowed"])
                d["rules"] = json.loads(d["rules"])
                d["reasons"] = json.loads(d["reasons"])
                out.append(d)
            return out

        return await self._run(q)


def _select_attempts(
    conn: sqlite3.Connection,
    borrowers: Sequence[str],
    phones: Sequence[str],
    since: float,
    unbounded_parties: Sequence[str],
) -> list[Any]:
    rows: dict[str, Any] = {}
    time_cond = (
        "(at >= ?"
        + (f" OR party IN ({_placeholders(len(unbounded_parties))})" if unbounded_parties else "")
        + ")"
    )
    for column, values in (("borrower", borrowers), ("phone", phones)):
        for k in range(0, len(values), _CHUNK):
            part = list(values[k : k + _CHUNK])
            sql = (
                f"SELECT {_COLS} FROM attempts WHERE {column} IN ({_placeholders(len(part))})"
                f" AND {time_cond}"
            )
            for r in conn.execute(sql, [*part, since, *unbounded_parties]):
                rows[r[0]] = r
    return list(rows.values())


def _select_optouts(
    conn: sqlite3.Connection, borrowers: Sequence[str], phones: Sequence[str]
) -> list[OptOut]:
    out = []
    seen = set()
    queries: list[tuple[str, list[Any]]] = [("borrower IS NULL AND phone IS NULL", [])]
    for column, values in (("borrower", borrowers), ("phone", phones)):
        for k in range(0, len(values), _CHUNK):
            part = list(values[k : k + _CHUNK])
            queries.append((f"{column} IN ({_placeholders(len(part))})", part))
    for cond, params in queries:
        for r in conn.execute(
            f"SELECT id, borrower, phone, purpose, note FROM optouts WHERE {cond}", params
        ):
            if r[0] in seen:
                continue
            seen.add(r[0])
            out.append(optout_from_row(r))
    return out
