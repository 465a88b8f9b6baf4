"""kill -9 between reserve and originate; two processes hammering one PostgreSQL ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.compliance import load_preset
from dialer.core.compliance import Candidate
from dialer.store import open_ledger

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ledger_worker.py")
SH = ZoneInfo("Asia/Shanghai")
CALLER = "+861012345678"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SH).timestamp()


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    schema = request.getfixturevalue("pg_schema")
    return f"{request.getfixturevalue('pg_dsn')}?schema={schema}"


async def test_kill_9_between_reserve_and_originate(ledger_url: str) -> None:
    rules = load_preset("cn").with_overrides(
        {
            "rules": {
                "all.caller_id": {"allowed": {"*": [CALLER]}},
                "all.max_attempts_per_number_per_day": {"max": 2},
            }
        }
    )
    phone = "+8613800138000"
    async with open_ledger(ledger_url) as led:  # one earlier, completed attempt today
        c = Candidate(borrower="b1", phone=phone, campaign="c1", debt="d1", caller_id=CALLER)
        assert (await led.reserve(c, "early", T0 - 3600, rules)).allowed
        await led.complete("early", "no_answer", T0 - 3500)

    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "crash", ledger_url, "b1", phone, str(T0)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line == "RESERVED", (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        os.kill(proc.pid, signal.SIGKILL)  # the dialer dies before it originates
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    async with open_ledger(ledger_url) as led:  # restarted
        hist = await led.history("b1", T0 - 86400)
        assert [a.result for a in hist] == ["no_answer", None]  # the reservation survived
        c = Candidate(borrower="b1", phone=phone, campaign="c2", debt="d1", caller_id=CALLER)
        d = await led.reserve(c, "after-1", T0 + 60, rules)
        assert "all.borrower_busy" in d.rules  # still held
        d = await led.reserve(c, "after-2", T0 + 7300, rules)  # expired, still counted
        assert d.rules == ("all.max_attempts_per_number_per_day",)
        assert d.next_allowed_at == datetime(2026, 3, 3, 8, tzinfo=SH)
        assert (
            await led.reserve(c, "after-3", datetime(2026, 3, 3, 8, tzinfo=SH).timestamp(), rules)
        ).allowed


async def test_two_processes_hammering_one_postgres_ledger(pg_dsn: str, pg_schema: str) -> None:
    url = f"{pg_dsn}?schema={pg_schema}"
    async with open_ledger(url):
        pass  # create the schema once, so both workers race on data, not on DDL
    t0 = time.time() + 1.0
    n = 30
    seconds = 5.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "hammer",
                url,
                str(seed),
                str(seconds),
                str(T0),
                str(t0),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for seed in (1, 2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    stats = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(s["reserves"] > 50 and s["allowed"] > 5 for s in stats), stats

    import asyncpg

    conn = await asyncpg.connect(pg_dsn)
    try:
        attempts = await conn.fetch(
            f"SELECT attempt_id, borrower, phone, purpose, at, result, process"
            f" FROM {pg_schema}.attempts"
        )
        audit = await conn.fetch(
            f"SELECT id, attempt_id, borrower, event, allowed FROM {pg_schema}.audit ORDER BY id"
        )
    finally:
        await conn.close()
    assert len({a["process"] for a in attempts}) == 2, "both processes must have reserved calls"
    assert all(a["result"] is not None for a in attempts)

    # Zero double live calls: replay the audit in commit order per borrower and per number.
    by_id = {a["attempt_id"]: a for a in attempts}
    live_b: dict[str, str | None] = defaultdict(lambda: None)
    live_p: dict[str, str | None] = defaultdict(lambda: None)
    for row in audit:
        a = by_id.get(row["attempt_id"])
        if row["event"] == "decision" and row["allowed"]:
            assert live_b[a["borrower"]] is None, f"double live call to borrower {a['borrower']}"
            assert live_p[a["phone"]] is None, "double live call to one number"
            live_b[a["borrower"]] = live_p[a["phone"]] = a["attempt_id"]
        elif row["event"] == "complete":
            assert (
                live_b[a["borrower"]] == a["attempt_id"] and live_p[a["phone"]] == a["attempt_id"]
            )
            live_b[a["borrower"]] = live_p[a["phone"]] = None

    # Zero cap violations, recomputed from the table (Shanghai calendar days).
    def day(ts: float) -> str:
        return datetime.fromtimestamp(ts, SH).date().isoformat()

    conv = Counter(
        (a["borrower"], day(a["at"]))
        for a in attempts
        if a["result"] in ("conversation", "refused_by_party")
    )
    notice = Counter(
        (a["borrower"], day(a["at"]))
        for a in attempts
        if a["purpose"] == "notice" and a["result"] in ("conversation", "refused_by_party")
    )
    unanswered = Counter(
        (a["phone"], day(a["at"]))
        for a in attempts
        if a["result"] in ("no_connect", "no_answer", "voicemail")
    )
    per_number = Counter((a["phone"], day(a["at"])) for a in attempts)
    assert max(conv.values()) <= 3 and max(notice.values(), default=0) <= 3
    assert max(unanswered.values()) <= 6 and max(per_number.values()) <= 9
    assert max(conv.values()) == 3 or max(per_number.values()) == 9, "the caps were never reached"
