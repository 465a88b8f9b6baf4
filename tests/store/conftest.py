"""Ledger fixtures: a fresh SQLite file, and a fresh schema on the real local PostgreSQL.

PostgreSQL is never skipped: when it is down the tests fail and say so (.ci/run starts it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dialer.store import AttemptLedger, PostgresLedger, SqliteLedger

PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_execute(sql: str) -> None:
    asyncio.run(_pg(sql))


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    try:
        pg_execute("SELECT 1")
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_DSN} ({type(exc).__name__}: {exc}). "
            "These tests need the real server: start it (the CI script .ci/run does) or "
            "point DIALER_TEST_PG_DSN at one.",
            pytrace=False,
        )
    return PG_DSN


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    name = f"dialer_test_{secrets.token_hex(5)}"
    yield name
    pg_execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_factory(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A function making ledgers on one store (several instances = several processes)."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        return lambda **kw: SqliteLedger(path, **kw)
    schema = request.getfixturevalue("pg_schema")
    dsn = request.getfixturevalue("pg_dsn")
    return lambda **kw: PostgresLedger(dsn, schema=schema, **kw)


@pytest.fixture
async def ledger(ledger_factory) -> AsyncIterator[AttemptLedger]:  # type: ignore[no-untyped-def]
    led = ledger_factory()
    await led.start()
    try:
        yield led
    finally:
        await led.close()
