"""Compliance gate throughput: pure decisions/s, and reserve-commits/s on SQLite and PostgreSQL.

    python bench/bench_compliance.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--quick]

Every borrower has a realistic history of ~20 past attempts over the last 60 days (mostly
unanswered, a few conversations). Each ledger row in the table is one transaction that
reads the borrower's and the number's history, decides, writes the attempt and the audit
row, and commits durably (SQLite WAL synchronous=FULL; PostgreSQL default synchronous_commit).
"single" awaits one reserve at a time; "concurrent N" keeps N in flight (PostgreSQL pool);
"coalesced N" keeps N in flight through `ReserveBatcher` (concurrent calls share
transactions, as in the service); "batch N" reserves N candidates per `reserve_many`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.compliance import load_preset
from dialer.core.compliance import Attempt, Candidate, Rules, decide
from dialer.store import PostgresLedger, ReserveBatcher, SqliteLedger
from dialer.store._base import AttemptLedger

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
CALLER = "+861012345678"
RESULTS = (
    ["no_answer"] * 10 + ["no_connect"] * 4 + ["voicemail"] * 3 + ["conversation"] * 2 + ["machine"]
)


def rules_for(preset: str) -> Rules:
    return load_preset(preset).with_overrides(
        {"rules": {"all.caller_id": {"allowed": {"*": [CALLER]}}}}
    )


def phone(preset: str, i: int) -> str:
    return f"+86138{i:08d}" if preset == "cn" else f"+1212{5550000 + i % 10000:07d}"[:12]


def history(preset: str, i: int, now: float, rng: random.Random, n: int = 20) -> list[Attempt]:
    """~20 attempts over 60 days, none in the last 8 days (so the next call is allowed)."""
    out = []
    for k in range(n):
        at = now - 8 * 86400 - rng.random() * 52 * 86400
        out.append(
            Attempt(
                at=at,
                borrower=f"b{i}",
                phone=phone(preset, i),
                party="debtor",
                purpose="collection",
                result=rng.choice(RESULTS),
                campaign="c1",
                debt="d1",
                attempt_id=f"h{i}-{k}",
            )
        )
    return out


def bench_engine(
    preset: str, allowed_time: float, refused_time: float, n: int
) -> tuple[float, float]:
    rng = random.Random(1)
    rules = rules_for(preset)
    cases = [
        (
            Candidate(
                borrower=f"b{i}", phone=phone(preset, i), campaign="c1", debt="d1", caller_id=CALLER
            ),
            history(preset, i, allowed_time, rng),
        )
        for i in range(n)
    ]
    out = []
    for at, want in ((allowed_time, True), (refused_time, False)):
        for c, h in cases[:50]:  # warm caches (zones, phone lookups)
            decide(c, h, at, rules)
        t = time.perf_counter()
        for c, h in cases:
            d = decide(c, h, at, rules)
        dt = time.perf_counter() - t
        assert d.allowed == want, d
        out.append(n / dt)
    return out[0], out[1]


async def fill(ledger: AttemptLedger, preset: str, borrowers: int, now: float) -> None:
    rng = random.Random(2)
    rows = []
    for i in range(borrowers):
        for a in history(preset, i, now, rng):
            rows.append(
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
                    a.result,
                )
            )
    if isinstance(ledger, SqliteLedger):
        import sqlite3

        conn = sqlite3.connect(ledger.path)
        conn.executemany(
            "INSERT INTO attempts (attempt_id, borrower, debt, phone, party, contact, purpose,"
            " campaign, at, result) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
        conn.close()
    else:
        assert isinstance(ledger, PostgresLedger)
        async with ledger._pool.acquire() as conn:
            await conn.copy_records_to_table(
                "attempts",
                schema_name=ledger.schema,
                records=rows,
                columns=[
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
                ],
            )
            await conn.execute(f"ANALYZE {ledger.schema}.attempts")


async def run_ledgers(pg: str | None, quick: bool) -> list[tuple[str, str, float]]:
    preset = "cn"
    now = datetime(2026, 3, 2, 10, tzinfo=SH).timestamp()
    n_single = 300 if quick else 1500
    n_batch = 2000 if quick else 10000
    modes = [
        ("single", n_single),
        ("coalesced 64", n_batch),
        ("batch 100", n_batch),
        ("batch 500", n_batch),
    ]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        borrowers = n_single + 3 * n_batch
        led = SqliteLedger(Path(tmp) / "bench.db")
        await led.start()
        await fill(led, preset, borrowers, now)
        offset = 0
        for mode, n in modes:
            rate = await bench_ledger_range(led, preset, now, offset, n, mode)
            offset += n
            out.append(("SQLite (WAL, synchronous=FULL)", mode, rate))
        await led.close()
    if pg:
        schema = f"dialer_bench_{secrets.token_hex(4)}"
        led2 = PostgresLedger(pg, schema=schema, pool_size=8)
        await led2.start()
        try:
            pg_modes = [
                ("single", n_single),
                ("concurrent 8", n_batch),
                ("coalesced 64", n_batch),
                ("batch 100", n_batch),
                ("batch 500", n_batch),
            ]
            await fill(led2, preset, n_single + 4 * n_batch, now)
            offset = 0
            for mode, n in pg_modes:
                rate = await bench_ledger_range(led2, preset, now, offset, n, mode)
                offset += n
                out.append(("PostgreSQL 15 (asyncpg)", mode, rate))
        finally:
            async with led2._pool.acquire() as conn:
                await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await led2.close()
    return out


async def bench_ledger_range(
    ledger: AttemptLedger, preset: str, now: float, offset: int, n: int, mode: str
) -> float:
    """bench_ledger on borrowers offset..offset+n (each borrower reserved once)."""
    rules = rules_for(preset)
    cands = [
        (
            Candidate(
                borrower=f"b{i}", phone=phone(preset, i), campaign="c1", debt="d1", caller_id=CALLER
            ),
            f"r-{i}-{secrets.token_hex(4)}",
        )
        for i in range(offset, offset + n)
    ]
    t = time.perf_counter()
    if mode == "single":
        for c, aid in cands:
            d = await ledger.reserve(c, aid, now, rules)
            assert d.allowed, d
    elif mode.startswith("concurrent") or mode.startswith("coalesced"):
        width = int(mode.split()[1])
        sem = asyncio.Semaphore(width)
        gate: AttemptLedger | ReserveBatcher = (
            ReserveBatcher(ledger) if mode.startswith("coalesced") else ledger
        )

        async def one(c: Candidate, aid: str) -> None:
            async with sem:
                d = await gate.reserve(c, aid, now, rules)
                assert d.allowed, d

        await asyncio.gather(*(one(c, aid) for c, aid in cands))
    else:
        size = int(mode.split()[1])
        for k in range(0, n, size):
            ds = await ledger.reserve_many(cands[k : k + size], now, rules)
            assert all(d.allowed for d in ds), ds[0]
    return n / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--pg",
        default=os.environ.get("DIALER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL DSN, or 'off'",
    )
    p.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    a = p.parse_args(argv)
    n = 2000 if a.quick else 10000
    rows: list[tuple[str, str, float]] = []
    for preset, tz in (("cn", SH), ("us", NY)):
        ok_t = datetime(2026, 3, 2, 10, tzinfo=tz).timestamp()
        no_t = datetime(2026, 3, 2, 23, tzinfo=tz).timestamp()
        allowed, refused = bench_engine(preset, ok_t, no_t, n)
        rows.append((f"pure engine, {preset} preset, 20-attempt history", "allowed", allowed))
        rows.append(
            (
                f"pure engine, {preset} preset, 20-attempt history",
                "refused + next_allowed_at",
                refused,
            )
        )
    rows += asyncio.run(run_ledgers(None if a.pg == "off" else a.pg, a.quick))
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'mode':<26}  {'per second':>11}")
    print(f"{'-' * width}  {'-' * 26}  {'-' * 11}")
    for what, mode, rate in rows:
        print(f"{what:<{width}}  {mode:<26}  {rate:>11,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
