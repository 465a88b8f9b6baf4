"""The durable outbox: every event is on disk before the call path goes on.

One SQLite file in WAL mode, `synchronous=FULL` (like the attempt ledger: a commit survives
power loss). `put` is a group commit: the writes that arrive while a transaction is in flight
go together in the next one, so one fsync covers many calls at load and a lone write commits
at once. A background relay (dialer.sinks.relay) reads the unconfirmed rows in order,
publishes them and marks them confirmed; after a restart every unconfirmed row is published
again. The `message_id` is unique: writing an event twice (a retried outcome, a redelivered
disposition) is a no-op, and it is the AMQP message id consumers dedupe on.

Tables:
- `outbox`: the events (seq order), `confirmed_at` NULL while pending; confirmed rows are kept
  `keep_confirmed_s` for inspection and for the idempotency check, then pruned.
- `scheduled`: events that must not go out before `available_at` (a warm-up SMS ten minutes
  before a call) and are dropped after `expires_at`; `release_due` moves them into `outbox`.
- `attempts`: per attempt the pseudonymised references an agent's disposition needs later
  (campaign, borrower and phone references, final disposition). No clear personal data.
- `parked`: dispositions that arrived before their call's outcome.
- `runs`: the dialer runs that used this outbox, so a restart knows whose open attempts in
  the ledger are its own (attempt ids start with the run id).
- `sms_sent`: when each borrower (pseudonym) was last asked an SMS of each kind.

Every statement runs on one worker thread that owns the connection, so the event loop never
waits for SQLite or fsync.

Throughput: rows this process commits are also handed to the relay in memory (a tail cache of
up to `cache_rows`), so in steady state the relay never reads bodies back from disk; it reads
the file after a restart, after a publish failure, or when the backlog outgrew the cache.
Confirm marks are written without an fsync (`synchronous=NORMAL` for that transaction): a mark
lost to a power cut only publishes the event once more, which consumers dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DialerIOError

__all__ = ["AttemptRef", "Message", "Outbox", "OutboxUnavailable", "Row"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   REAL NOT NULL,
    confirmed_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE confirmed_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_confirmed ON outbox (confirmed_at) WHERE confirmed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS scheduled (
    message_id   TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    body         BLOB NOT NULL,
    available_at REAL NOT NULL,
    expires_at   REAL
);
CREATE INDEX IF NOT EXISTS scheduled_at ON scheduled (available_at);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id   TEXT PRIMARY KEY,
    campaign     TEXT NOT NULL,
    borrower     TEXT NOT NULL,
    phone_ref    TEXT NOT NULL,
    phone_masked TEXT NOT NULL,
    agent        TEXT,
    disposition  TEXT NOT NULL,
    result       TEXT NOT NULL,
    ended_at     REAL NOT NULL,
    written_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS parked (
    message_id  TEXT PRIMARY KEY,
    attempt_id  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    parked_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS parked_attempt ON parked (attempt_id);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started_at  REAL NOT NULL,
    recovered   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sms_sent (
    borrower    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (borrower, kind)
);
"""


class OutboxUnavailable(DialerIOError):
    """The outbox file cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class Message:
    """An event as it goes on the bus: id, kind, routing key and the JSON body (bytes)."""

    message_id: str
    kind: str
    routing_key: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    message_id: str
    kind: str
    routing_key: str
    body: bytes


@dataclass(frozen=True, slots=True)
class AttemptRef:
    """What a later disposition needs to know about a finished attempt (pseudonymised)."""

    attempt_id: str
    campaign: str
    borrower: str
    phone_ref: str
    phone_masked: str
    agent: str | None
    disposition: str
    result: str
    ended_at: float


@dataclass(slots=True)
class _Write:
    messages: Sequence[Message]
    scheduled: Sequence[tuple[Message, float, float | None]]
    ref: AttemptRef | None
    sms: Sequence[tuple[str, str, float]]  # (borrower, kind, at)
    unpark: str | None
    future: asyncio.Future[int]


class Outbox:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        max_batch: int = 1024,
        keep_confirmed_s: float = 86400.0,
        clock: Callable[[], float] = time.time,
        cache_rows: int = 20_000,
    ) -> None:
        if synchronous not in ("FULL", "EXTRA", "NORMAL"):
            raise ValueError("synchronous must be FULL, EXTRA or NORMAL")
        self.path = str(path)
        self.synchronous = synchronous
        self.max_batch = max_batch
        self.keep_confirmed_s = keep_confirmed_s
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None
        self.depth = 0  # rows written and not confirmed
        self.commits = 0
        self.written = 0
        self.confirmed = 0
        self.on_change: Callable[[], None] | None = None  # called after depth changes
        # The tail cache. The worker thread appends every committed row to `_fresh` in commit
        # (= seq) order; the loop moves them into `_cache`, and `fetch` hands them out from
        # there. While `_cache_from` is not None, every unconfirmed row with seq >= _cache_from
        # that was not handed out yet is in `_fresh` or `_cache`.
        self.cache_rows = cache_rows
        self._fresh: deque[Row] = deque()
        self._cache: deque[Row] = deque()
        self._cache_from: int | None = None
        self._handed = 0  # highest seq handed out from memory
        self._max_seq = 0  # written by the worker thread only
        self.cache_hits = 0
        self.disk_reads = 0

    # --- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None or self._conn is None:
            raise OutboxUnavailable(f"outbox {self.path} is not open")
        conn = self._conn

        def job() -> T:
            try:
                return fn(conn)
            except BaseException as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise OutboxUnavailable(f"outbox {self.path}: {type(exc).__name__}: {exc}") from exc
                raise

        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    async def start(self) -> None:
        if self._conn is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-sqlite")

        def open_db() -> tuple[sqlite3.Connection, int]:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if self.path != ":memory:" and str(mode).lower() != "wal":
                    raise OutboxUnavailable(f"outbox {self.path}: cannot switch to WAL mode (got {mode})")
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                conn.execute("BEGIN IMMEDIATE")
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("COMMIT")
                depth = conn.execute("SELECT count(*) FROM outbox WHERE confirmed_at IS NULL").fetchone()[0]
                self._max_seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])
            except BaseException:
                conn.close()
                raise
            return conn, int(depth)

        try:
            self._conn, self.depth = await asyncio.get_running_loop().run_in_executor(self._pool, open_db)
        except (sqlite3.Error, OSError) as exc:
            self._pool.shutdown(wait=False)
            self._pool = None
            raise OutboxUnavailable(f"outbox {self.path}: cannot open: {exc}") from exc
        self._cache_from = self._max_seq + 1

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        conn, pool = self._conn, self._pool
        self._conn = self._pool = None
        if pool is not None:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(pool, conn.close)
            pool.shutdown(wait=True)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # --- writing (group commit) -----------------------------------------------------------

    async def put(
        self,
        messages: Sequence[Message] = (),
        *,
        scheduled: Sequence[tuple[Message, float, float | None]] = (),
        ref: AttemptRef | None = None,
        sms: Sequence[tuple[str, str, float]] = (),
        unpark: str | None = None,
    ) -> int:
        """Write in one durable step; returns how many outbox rows were new (not duplicates).

        Everything given to one call commits together: an outcome, the SMS requests it causes
        and the attempt reference are never half written.
        """
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(_Write(messages, scheduled, ref, sms, unpark, fut))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the writes of this loop iteration join
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                counts = await self._run(lambda conn, b=batch: self._write_batch(conn, b))  # type: ignore[misc]
            except BaseException as exc:
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(exc if isinstance(exc, Exception) else OutboxUnavailable(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                continue
            self.commits += 1
            new = sum(counts)
            self.depth += new
            self.written += new
            for w, n in zip(batch, counts, strict=True):
                if not w.future.done():
                    w.future.set_result(n)
            if new:
                self._changed()

    def _write_batch(self, conn: sqlite3.Connection, batch: Sequence[_Write]) -> list[int]:
        """One transaction for the whole batch; statements per table, not per row (the worker
        thread shares the GIL with the event loop, so every Python-level call here counts)."""
        now = self._clock()
        conn.execute("BEGIN IMMEDIATE")
        ids = [m.message_id for w in batch for m in w.messages]
        seen: set[str] = set()
        for k in range(0, len(ids), 500):
            part = ids[k : k + 500]
            seen.update(r[0] for r in conn.execute(
                f"SELECT message_id FROM outbox WHERE message_id IN ({','.join('?' * len(part))})", part))
        new: list[Message] = []
        counts = []
        for w in batch:
            n = 0
            for m in w.messages:
                if m.message_id not in seen:
                    seen.add(m.message_id)
                    new.append(m)
                    n += 1
            counts.append(n)
        rows: list[Row] = []
        if new:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
            base = int(row[0]) if row else 0
            conn.executemany(
                "INSERT INTO outbox (message_id, kind, routing_key, body, created_at) VALUES (?,?,?,?,?)",
                [(m.message_id, m.kind, m.routing_key, m.body, now) for m in new],
            )
            last = int(conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()[0])
            if last == base + len(new):  # AUTOINCREMENT: consecutive after the largest seq ever used
                rows = [Row(base + 1 + i, m.message_id, m.kind, m.routing_key, m.body) for i, m in enumerate(new)]
            else:  # never seen; read them back rather than guess
                by_id = {m.message_id: m for m in new}
                got = conn.execute(
                    "SELECT seq, message_id FROM outbox WHERE seq > ? ORDER BY seq", (base,)).fetchall()
                rows = [Row(seq, mid, by_id[mid].kind, by_id[mid].routing_key, by_id[mid].body)
                        for seq, mid in got if mid in by_id]
        scheduled = [
            (m.message_id, m.kind, m.routing_key, m.body, at, exp) for w in batch for m, at, exp in w.scheduled
        ]
        if scheduled:
            conn.executemany(
                "INSERT OR IGNORE INTO scheduled (message_id, kind, routing_key, body, available_at, expires_at)"
                " VALUES (?,?,?,?,?,?)", scheduled)
        refs = [w.ref for w in batch if w.ref is not None]
        if refs:
            conn.executemany(
                "INSERT OR IGNORE INTO attempts (attempt_id, campaign, borrower, phone_ref, phone_masked,"
                " agent, disposition, result, ended_at, written_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(r.attempt_id, r.campaign, r.borrower, r.phone_ref, r.phone_masked, r.agent, r.disposition,
                  r.result, r.ended_at, now) for r in refs],
            )
        sms = [x for w in batch for x in w.sms]
        if sms:
            conn.executemany(
                "INSERT INTO sms_sent (borrower, kind, at) VALUES (?,?,?) ON CONFLICT (borrower, kind)"
                " DO UPDATE SET at = max(at, excluded.at)", sms)
        unpark = [(w.unpark,) for w in batch if w.unpark is not None]
        if unpark:
            conn.executemany("DELETE FROM parked WHERE message_id = ?", unpark)
        conn.execute("COMMIT")
        self._committed(rows)
        return counts

    def _committed(self, rows: list[Row]) -> None:
        """Worker thread, right after COMMIT: hand the new rows to the loop in seq order."""
        if rows:
            self._max_seq = rows[-1].seq
            self._fresh.extend(rows)

    def _take_fresh(self) -> None:
        fresh = self._fresh
        if self._cache_from is None:
            fresh.clear()
            return
        cache, start = self._cache, self._cache_from
        while fresh:
            r = fresh.popleft()
            if r.seq >= start:  # older ones were committed before the cache (re)started: on disk
                cache.append(r)
        if len(cache) > self.cache_rows:
            # The backlog outgrew memory (a long outage): read from disk until it drains.
            self._cache_from = None
            cache.clear()

    # --- the relay's side -------------------------------------------------------------------

    async def fetch(self, after_seq: int, limit: int) -> list[Row]:
        """Unconfirmed rows after `after_seq`, oldest first (from memory when it has them all)."""
        self._take_fresh()
        # From memory only when the caller has seen everything memory handed out before (a relay
        # starting over after a failure reads those from disk again: they may be unconfirmed).
        if self._cache_from is not None and after_seq >= self._cache_from - 1 and after_seq >= self._handed:
            self.cache_hits += 1
            cache = self._cache
            while cache and cache[0].seq <= after_seq:
                cache.popleft()
            out = [cache.popleft() for _ in range(min(limit, len(cache)))]
            if out:
                self._handed = out[-1].seq
            return out
        self.disk_reads += 1

        def q(conn: sqlite3.Connection) -> list[Row]:
            return [
                Row(*r)
                for r in conn.execute(
                    "SELECT seq, message_id, kind, routing_key, body FROM outbox"
                    " WHERE confirmed_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, limit),
                )
            ]

        return await self._run(q)

    async def confirm(self, seqs: Sequence[int]) -> int:
        if not seqs:
            return 0
        now = self._clock()
        ranges = _ranges(seqs)

        def txn(conn: sqlite3.Connection) -> int:
            # No fsync for a confirm mark: losing one only publishes the event again.
            conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                n = 0
                for lo, hi in ranges:
                    n += conn.execute(
                        "UPDATE outbox SET confirmed_at = ? WHERE seq BETWEEN ? AND ? AND confirmed_at IS NULL",
                        (now, lo, hi),
                    ).rowcount
                conn.execute("COMMIT")
            finally:
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            return n

        n = await self._run(txn)
        self.depth -= n
        self.confirmed += n
        if self.depth <= 0 and self._cache_from is None and not self._cache:
            # Everything confirmed: every later row is new, and goes through memory again.
            self._cache_from = self._max_seq + 1
        if n:
            self._changed()
        return n

    async def release_due(self, now: float) -> tuple[int, int]:
        """Move scheduled events whose time has come into the outbox; drop expired ones.

        Returns (released, expired). `now` is the service's clock (simulated in tests).
        """
        wall = self._clock()

        def txn(conn: sqlite3.Connection) -> tuple[int, int]:
            conn.execute("BEGIN IMMEDIATE")
            expired = conn.execute(
                "DELETE FROM scheduled WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            ).rowcount
            rows = conn.execute(
                "SELECT message_id, kind, routing_key, body FROM scheduled WHERE available_at <= ?"
                " ORDER BY available_at LIMIT 5000",
                (now,),
            ).fetchall()
            released: list[Row] = []
            for mid, kind, rk, body in rows:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO outbox (message_id, kind, routing_key, body, created_at)"
                    " VALUES (?,?,?,?,?)",
                    (mid, kind, rk, body, wall),
                )
                if cur.rowcount == 1:
                    released.append(Row(int(cur.lastrowid or 0), mid, kind, rk, body))
                conn.execute("DELETE FROM scheduled WHERE message_id = ?", (mid,))
            conn.execute("COMMIT")
            self._committed(released)
            return len(released), expired

        released, expired = await self._run(txn)
        if released:
            self.depth += released
            self.written += released
            self._changed()
        return released, expired

    async def prune(self) -> int:
        """Forget confirmed rows and attempt references older than the retention."""
        cutoff = self._clock() - self.keep_confirmed_s

        def txn(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            n = conn.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE confirmed_at IS NOT NULL"
                " AND confirmed_at < ? LIMIT 20000)",
                (cutoff,),
            ).rowcount
            conn.execute("DELETE FROM attempts WHERE written_at < ?", (cutoff - self.keep_confirmed_s,))
            conn.execute("DELETE FROM parked WHERE parked_at < ?", (cutoff,))
            conn.execute("COMMIT")
            return n

        return await self._run(txn)

    # --- look-ups -------------------------------------------------------------------------------

    async def attempt(self, attempt_id: str) -> AttemptRef | None:
        def q(conn: sqlite3.Connection) -> AttemptRef | None:
            r = conn.execute(
                "SELECT attempt_id, campaign, borrower, phone_ref, phone_masked, agent, disposition, result,"
                " ended_at FROM attempts WHERE attempt_id = ?",
                (attempt_id,),
            ).fetchone()
            return None if r is None else AttemptRef(*r)

        return await self._run(q)

    async def attempts(self, attempt_ids: Iterable[str]) -> dict[str, AttemptRef]:
        ids = list(attempt_ids)

        def q(conn: sqlite3.Connection) -> dict[str, AttemptRef]:
            out = {}
            for k in range(0, len(ids), 400):
                part = ids[k : k + 400]
                for r in conn.execute(
                    "SELECT attempt_id, campaign, borrower, phone_ref, phone_masked, agent, disposition, result,"
                    f" ended_at FROM attempts WHERE attempt_id IN ({','.join('?' * len(part))})",
                    part,
                ):
                    out[r[0]] = AttemptRef(*r)
            return out

        return await self._run(q)

    async def park(self, message_id: str, attempt_id: str, payload: str) -> bool:
        now = self._clock()

        def q(conn: sqlite3.Connection) -> bool:
            return bool(
                conn.execute(
                    "INSERT OR IGNORE INTO parked (message_id, attempt_id, payload, parked_at) VALUES (?,?,?,?)",
                    (message_id, attempt_id, payload, now),
                ).rowcount
            )

        return await self._run(q)

    async def parked_for(self, attempt_id: str) -> list[tuple[str, str]]:
        def q(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return list(
                conn.execute(
                    "SELECT message_id, payload FROM parked WHERE attempt_id = ? ORDER BY parked_at", (attempt_id,)
                )
            )

        return await self._run(q)

    async def has_parked(self) -> bool:
        return bool(await self._run(lambda c: c.execute("SELECT 1 FROM parked LIMIT 1").fetchone()))

    async def sms_last(self, borrower: str) -> dict[str, float]:
        def q(conn: sqlite3.Connection) -> dict[str, float]:
            return dict(conn.execute("SELECT kind, at FROM sms_sent WHERE borrower = ?", (borrower,)).fetchall())

        return await self._run(q)

    async def register_run(self, run_id: str, started_at: float) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO runs (run_id, started_at) VALUES (?,?)", (run_id, started_at))

        await self._run(q)

    async def unrecovered_runs(self, current: str) -> list[str]:
        def q(conn: sqlite3.Connection) -> list[str]:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE recovered = 0 AND run_id != ? ORDER BY started_at", (current,)
                )
            ]

        return await self._run(q)

    async def mark_recovered(self, run_ids: Sequence[str]) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE runs SET recovered = 1 WHERE run_id = ?", [(r,) for r in run_ids])

        await self._run(q)

    async def counts(self) -> dict[str, int]:
        """Pending rows by kind, and scheduled rows (for tests and the status line)."""

        def q(conn: sqlite3.Connection) -> dict[str, int]:
            out = {
                f"pending:{k}": n
                for k, n in conn.execute(
                    "SELECT kind, count(*) FROM outbox WHERE confirmed_at IS NULL GROUP BY kind"
                )
            }
            out["scheduled"] = conn.execute("SELECT count(*) FROM scheduled").fetchone()[0]
            out["total"] = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            return out

        return await self._run(q)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only look-up for tests and operators' tools."""
        return await self._run(lambda conn: list(conn.execute(sql, params)))


def _ranges(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """[3, 1, 2, 7, 8] -> [(1, 3), (7, 8)]: confirms come mostly in runs."""
    out: list[tuple[int, int]] = []
    for s in sorted(seqs):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out
