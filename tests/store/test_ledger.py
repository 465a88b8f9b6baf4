"""The ledger's contract, on SQLite and on the real PostgreSQL alike."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dialer.compliance import load_preset
from dialer.core.commands import ReserveAttempt
from dialer.core.compliance import Candidate
from dialer.core.events import AttemptApproved, AttemptRefused
from dialer.core.model import Disposition, Lead, Outcome
from dialer.store import (
    LedgerUnavailable,
    PostgresLedger,
    SqliteLedger,
    UnknownAttempt,
    complete_outcome,
    open_ledger,
    reserve_event,
)

from .conftest import _pg

SH = ZoneInfo("Asia/Shanghai")
CALLER = "+861012345678"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SH).timestamp()
RULES = load_preset("cn").with_overrides({"rules": {"all.caller_id": {"allowed": {"*": [CALLER]}}}})


def cand(borrower: str = "b1", phone: str = "+8613800138000", **kw: object) -> Candidate:
    fields: dict = {"campaign": "c1", "debt": "d1", "caller_id": CALLER} | kw
    return Candidate(borrower=borrower, phone=phone, **fields)


async def side_sql(led: object, sql: str) -> None:
    """Change the store behind the ledger's back (another process, an operator, a disk)."""
    if isinstance(led, SqliteLedger):
        conn = sqlite3.connect(led.path)
        conn.execute(sql)
        conn.commit()
        conn.close()
    else:
        assert isinstance(led, PostgresLedger)
        await _pg(
            sql.replace("attempts", f"{led.schema}.attempts").replace(
                "optouts", f"{led.schema}.optouts"
            )
        )


async def test_reserve_then_busy_then_complete(ledger) -> None:  # type: ignore[no-untyped-def]
    d = await ledger.reserve(cand(), "a1", T0, RULES)
    assert d.allowed
    d = await ledger.reserve(cand(campaign="c2"), "a2", T0 + 10, RULES)
    assert d.rules == ("all.borrower_busy",) and d.next_allowed_ts == T0 + 7200
    d = await ledger.reserve(cand(borrower="b2"), "a3", T0 + 10, RULES)  # same number
    assert d.rules == ("all.borrower_busy",)
    assert await ledger.complete("a1", "conversation", T0 + 60, {"agent": "x"})
    assert (await ledger.reserve(cand(), "a4", T0 + 120, RULES)).allowed
    hist = await ledger.history("b1", T0 - 1)
    assert [(a.attempt_id, a.result) for a in hist] == [("a1", "conversation"), ("a4", None)]
    trail = await ledger.audit_trail("b1")
    decisions = [t for t in trail if t["event"] == "decision"]
    assert [(t["attempt_id"], t["allowed"]) for t in reversed(decisions)] == [
        ("a1", True),
        ("a2", False),
        ("a4", True),
    ]
    refused = next(t for t in decisions if t["attempt_id"] == "a2")
    assert refused["rules"] == ["all.borrower_busy"] and refused["fingerprint"] == RULES.fingerprint
    assert refused["phone_masked"] != "+8613800138000"
    assert any(t["event"] == "complete" and t["attempt_id"] == "a1" for t in trail)
    snap = ledger.counters.snapshot()
    assert snap["allowed"] == 2 and snap["refused"] == 2 and snap["refused:all.borrower_busy"] == 2


async def test_complete_rules(ledger) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownAttempt):
        await ledger.complete("nope", "conversation", T0)
    assert (await ledger.reserve(cand(), "a1", T0, RULES)).allowed
    assert await ledger.complete("a1", "unknown", T0 + 5)  # the PBX lost it
    assert await ledger.complete("a1", "no_answer", T0 + 6)  # reconciled later
    assert not await ledger.complete("a1", "conversation", T0 + 7)  # first real result stays
    assert [a.result for a in await ledger.history("b1", 0)] == ["no_answer"]
    from dialer.errors import InputError

    with pytest.raises(InputError):
        await ledger.complete("a1", "talked", T0)


async def test_duplicate_attempt_id_is_refused(ledger) -> None:  # type: ignore[no-untyped-def]
    assert (await ledger.reserve(cand(), "a1", T0, RULES)).allowed
    await ledger.complete("a1", "no_answer", T0 + 30)
    d = await ledger.reserve(cand(), "a1", T0 + 60, RULES)
    assert d.rules == ("gate.duplicate_attempt",)


async def test_batch_reserve_in_order(ledger) -> None:  # type: ignore[no-untyped-def]
    items = [
        (cand("b1"), "x1"),
        (cand("b2", "+8613800138002"), "x2"),
        (cand("b1"), "x3"),
        (cand("b3", "+8613800138003"), "x4"),
    ]
    ds = await ledger.reserve_many(items, T0, RULES)
    assert [d.allowed for d in ds] == [True, True, False, True]
    assert ds[2].rules == ("all.borrower_busy",)
    assert len(await ledger.audit_trail()) == 4


async def test_open_attempt_counts_for_caps_after_expiry(ledger_factory) -> None:  # type: ignore[no-untyped-def]
    r = RULES.with_overrides({"rules": {"all.max_attempts_per_number_per_day": {"max": 2}}})
    async with ledger_factory() as led:
        assert (await led.reserve(cand(), "a1", T0, r)).allowed
        await led.complete("a1", "no_answer", T0 + 30)
        assert (await led.reserve(cand(), "a2", T0 + 60, r)).allowed  # never completed
    async with ledger_factory() as led:  # "restarted"
        d = await led.reserve(cand(), "a3", T0 + 600, r)
        assert d.rules == ("all.borrower_busy", "all.max_attempts_per_number_per_day")
        d = await led.reserve(cand(), "a4", T0 + 60 + 7200, r)  # expired: still counted
        assert d.rules == ("all.max_attempts_per_number_per_day",)
        assert d.next_allowed_at == datetime(2026, 3, 3, 8, 0, tzinfo=SH)


async def test_optouts(ledger) -> None:  # type: ignore[no-untyped-def]
    await ledger.add_optout(phone="+8613800138000", note="asked", at=T0 - 100)
    await ledger.add_optout(borrower="b2", purpose="notice", at=T0 - 100)
    d = await ledger.reserve(cand(), "a1", T0, RULES)
    assert d.rules == ("all.dnc.number",) and d.next_allowed_at is None
    assert (
        await ledger.reserve(cand("b2", "+8613800138002", purpose="notice"), "a2", T0, RULES)
    ).rules == ("all.dnc.purpose",)
    assert (await ledger.reserve(cand("b2", "+8613800138002"), "a3", T0, RULES)).allowed


async def test_corrupt_record_refuses_its_borrower_only(ledger) -> None:  # type: ignore[no-untyped-def]
    assert (await ledger.reserve(cand(), "a1", T0, RULES)).allowed
    await side_sql(ledger, "UPDATE attempts SET result = 'garbage' WHERE attempt_id = 'a1'")
    d = await ledger.reserve(cand(), "a2", T0 + 9000, RULES)
    assert d.rules == ("gate.corrupt_record",) and "a1" in d.reasons[0]
    assert (await ledger.reserve(cand("b2", "+8613800138002"), "a3", T0 + 9000, RULES)).allowed
    assert ledger.counters.corrupt_record == 1
    ex = await ledger.explain("b1", T0 + 9000, RULES)
    assert ex.decision.rules == ("gate.corrupt_record",)


async def test_ledger_failure_is_a_refusal(ledger, caplog) -> None:  # type: ignore[no-untyped-def]
    await side_sql(ledger, "DROP TABLE attempts")
    d = await ledger.reserve(cand(), "a1", T0, RULES)
    assert d.rules == ("gate.ledger_unavailable",) and not d.allowed
    assert d.next_allowed_ts == T0 + 30  # transient: retry, do not give the lead up
    assert ledger.counters.ledger_unavailable == 1
    assert "ledger unavailable" in caplog.text and "+8613800138000" not in caplog.text


async def test_unreachable_postgres_and_unstarted_ledgers() -> None:
    led = PostgresLedger("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    with pytest.raises(LedgerUnavailable):
        await led.start()
    d = await led.reserve(cand(), "a1", T0, RULES)
    assert d.rules == ("gate.ledger_unavailable",)
    d = await SqliteLedger("/tmp/never-started.db").reserve(cand(), "a1", T0, RULES)
    assert d.rules == ("gate.ledger_unavailable",)


async def test_schema_creation_is_idempotent(ledger_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = ledger_factory(), ledger_factory()
    await a.start()
    await b.start()
    assert (await a.reserve(cand(), "a1", T0, RULES)).allowed
    assert (await b.reserve(cand(), "a2", T0 + 1, RULES)).rules == ("all.borrower_busy",)
    await a.close()
    await b.close()


async def test_explain(ledger) -> None:  # type: ignore[no-untyped-def]
    ex = await ledger.explain("b1", T0, RULES)
    assert ex.decision.rules == ("explain.no_history",)
    for i in range(3):
        assert (await ledger.reserve(cand(), f"a{i}", T0 + 3600 * i, RULES)).allowed
        await ledger.complete(f"a{i}", "conversation", T0 + 3600 * i + 60)
    ex = await ledger.explain("b1", T0 + 4 * 3600, RULES)
    assert ex.decision.rules == ("cn.conversations_per_day",) and ex.attempts == 3
    assert ex.to_json()["next_allowed_at"] == "2026-03-03T00:00:00+00:00"
    ex = await ledger.explain("b1", T0 + 4 * 3600, RULES, cand(debt="d1", purpose="notice"))
    assert "cn.conversations_per_day" in ex.decision.rules


async def test_abandonment_rate_uses_campaign_stats(ledger_factory) -> None:  # type: ignore[no-untyped-def]
    london = ZoneInfo("Europe/London")
    t = datetime(2026, 6, 2, 10, tzinfo=london).timestamp()
    uk = load_preset("uk").with_overrides(
        {"rules": {"all.caller_id": {"allowed": {"*": [CALLER]}}}}
    )
    async with ledger_factory(stats_ttl_s=30.0) as led:
        for i in range(20):
            c = Candidate(
                borrower=f"u{i}", phone=f"+4420712345{i:02d}", campaign="uk1", caller_id=CALLER
            )
            assert (await led.reserve(c, f"u{i}", t - 3600 + i, uk)).allowed
            await led.complete(f"u{i}", "abandoned" if i == 0 else "conversation", t - 3500 + i)
        c = Candidate(borrower="z", phone="+442071239999", campaign="uk1", caller_id=CALLER)
        d = await led.reserve(c, "z1", t, uk)  # 1/20 = 5% > 3%
        assert d.rules == ("uk.ofcom.abandonment_rate",) and d.next_allowed_ts == t + 30
        c2 = Candidate(
            borrower="z",
            phone="+442071239999",
            campaign="uk1",
            caller_id=CALLER,
            agent_reserved=True,
        )
        assert (await led.reserve(c2, "z2", t, uk)).allowed


async def test_bridge_to_core_events(ledger) -> None:  # type: ignore[no-untyped-def]
    lead = Lead(borrower_id="b1", phone="+8613800138000", debt_id="d1")
    ok = await reserve_event(ledger, ReserveAttempt("call-1", "c1", lead, 1, CALLER, T0), RULES)
    assert ok == AttemptApproved(at=T0, call_id="call-1")
    no = await reserve_event(ledger, ReserveAttempt("call-2", "c1", lead, 2, CALLER, T0 + 1), RULES)
    assert isinstance(no, AttemptRefused) and no.rules == ("all.borrower_busy",)
    assert no.next_allowed_at == T0 + 7200
    out = Outcome(
        attempt_id="call-1",
        campaign="c1",
        borrower_id="b1",
        phone=lead.phone,
        attempt_no=1,
        disposition=Disposition.BUSY,
        abandoned=False,
        amd_status=None,
        amd_cause=None,
        hangup_cause=17,
        hangup_cause_txt="",
        agent=None,
        originate_at=T0,
        answer_at=None,
        amd_at=None,
        connect_at=None,
        hangup_at=T0 + 5,
        ended_at=T0 + 5,
    )
    assert await complete_outcome(ledger, out)
    assert [a.result for a in await ledger.history("b1", 0)] == ["no_connect"]


def test_open_ledger_urls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    led = open_ledger(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(led, SqliteLedger) and led.path == f"{tmp_path}/x.db"
    led = open_ledger("postgresql://postgres@127.0.0.1:5432/test?schema=abc")
    assert isinstance(led, PostgresLedger) and led.schema == "abc" and "schema" not in led.dsn
    from dialer.errors import ConfigError

    with pytest.raises(ConfigError):
        open_ledger("mysql://x")


async def test_reserve_batcher_coalesces_concurrent_calls(ledger) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from dialer.store import ReserveBatcher

    gate = ReserveBatcher(ledger, max_batch=50)
    calls = [gate.reserve(cand(f"b{i}", f"+86138{i:08d}"), f"a{i}", T0, RULES) for i in range(120)]
    calls.append(gate.reserve(cand("b7", "+8613800000007"), "dup-b7", T0, RULES))
    ds = await asyncio.gather(*calls)
    assert all(d.allowed for d in ds[:120])
    assert ds[120].rules == ("all.borrower_busy",)
    assert gate.batches == 3  # 121 calls in batches of at most 50
    await gate.close()
    assert len(await ledger.audit_trail(limit=500)) == 121
