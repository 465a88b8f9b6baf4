"""dialer.delivery without the service: crash recovery against the ledger, agent dispositions,
SMS requests and campaign statistics, all through the outbox."""

from __future__ import annotations

import asyncio
import json
import os
import secrets

import pytest

from dialer.compliance import load_rules
from dialer.config import DEMO_CALLER_ID
from dialer.core.commands import ReserveAttempt
from dialer.core.engine import Dialer
from dialer.core.model import CampaignConfig, Disposition, Lead
from dialer.delivery import Delivery, DeliverySettings, EventsConfig
from dialer.sim.embedded import demo_epoch
from dialer.sinks.events import parse_agent_disposition
from dialer.store import PostgresLedger, SqliteLedger, reserve_event
from tests.sinks.helpers import FakeTransport, outcome, validate

CAMPAIGN = CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID)
RULES = load_rules("cn", {"rules": {"all.caller_id": {"allowed": {"demo": [DEMO_CALLER_ID]}}}})
T0 = demo_epoch()
PG_DSN = os.environ.get("DIALER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def ledger(request, tmp_path):
    if request.param == "sqlite":
        led = SqliteLedger(tmp_path / "ledger.sqlite3")
        await led.start()
        yield led
        await led.close()
        return
    import asyncpg

    schema = f"dialer_test_{secrets.token_hex(5)}"
    try:
        led = PostgresLedger(PG_DSN, schema=schema)
        await led.start()
    except Exception as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_DSN} ({type(exc).__name__}): run scripts/services-up.sh")
    yield led
    await led.close()
    conn = await asyncpg.connect(PG_DSN)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.close()


def make(tmp_path, run_id: str, transport=None, **kw) -> Delivery:
    s = DeliverySettings(outbox_path=str(tmp_path / "outbox.sqlite3"), stats_interval_s=kw.pop("stats", 0), **kw)
    return Delivery(s, run_id=run_id, campaigns=[CAMPAIGN], pseudonym_key=b"k", now=lambda: T0 + 3600,
                    transport=transport or FakeTransport())


async def die(d: Delivery) -> None:
    """Stop like a killed process: no drain, no final confirm."""
    for t in (d.relay._task, d.relay._flusher):
        assert t is not None
        t.cancel()
    await asyncio.gather(d.relay._task, d.relay._flusher, return_exceptions=True)
    await d.outbox.close()


async def reserve(ledger, attempt_id: str, i: int) -> None:
    lead = Lead(borrower_id=f"B-{i}", phone=f"+8613800{i:06d}", timezone="Asia/Shanghai")
    ev = await reserve_event(ledger, ReserveAttempt(call_id=attempt_id, campaign="demo", lead=lead, attempt_no=1,
                                                    caller_id=DEMO_CALLER_ID, at=T0 + i), RULES)
    assert type(ev).__name__ == "AttemptApproved", ev


async def test_recover_gives_each_open_attempt_of_an_earlier_run_one_outcome(tmp_path, ledger):
    # Run "old": three attempts reserved. One ended normally (outbox, then ledger); one was
    # killed between the outbox and the ledger; one was killed before its call ended.
    old = make(tmp_path, "old")
    await old.start()
    for i in (1, 2, 3):
        await reserve(ledger, f"old-{i:06d}", i)
    done = outcome(1, run="old")
    await old.emit_outcome(done)
    await ledger.complete(done.attempt_id, "no_answer", done.ended_at)
    await old.emit_outcome(outcome(2, run="old", disposition=Disposition.BUSY))  # ...killed here
    await die(old)

    # Another dialer's live attempt on a shared ledger must not be touched.
    await reserve(ledger, "other-000001", 9)

    new = make(tmp_path, "new")
    await new.start()
    rep = await new.recover(ledger)
    assert rep.runs == ("old",) and rep.lost == 1 and rep.completed == 1 and rep.failed == 0
    by_id = {a.attempt_id: a.result for b in ("B-1", "B-2", "B-3", "B-9") for a in await ledger.history(b, 0)}
    assert by_id == {"old-000001": "no_answer", "old-000002": "no_connect", "old-000003": "unknown",
                     "other-000001": None}
    rows = await new.outbox.query("SELECT message_id, body FROM outbox WHERE kind = 'outcome' ORDER BY seq")
    assert [r[0] for r in rows] == ["old-000001", "old-000002", "old-000003"]  # one outcome each
    lost = json.loads(rows[2][1])
    validate(lost, "outcome.v2.json")
    assert lost["disposition"] == "lost" and lost["recovered"] is True and lost["attempt_no"] == 1
    assert (await new.recover(ledger)).runs == ()  # done once
    await new.close()


async def test_disposition_is_attached_to_its_attempt_and_asks_the_sms_link(tmp_path):
    events = EventsConfig.from_json({"campaigns": {"demo": {"sms": {"link": {"after_codes": ["promise_to_pay"],
                                                                              "after_dispositions": []}}}}})
    t = FakeTransport()
    d = make(tmp_path, "r1", transport=t, events=events)
    signals = []
    d.on_disposition = lambda disp, ref: signals.append((disp.code, ref.attempt_id))
    await d.start()
    await d.emit_outcome(outcome(1, connected=True))
    body = json.dumps({"attempt_id": "r1-000001", "code": "promise_to_pay", "agent": "agent1"}).encode()
    assert await d._on_disposition_message(body, "agent.disposition.demo", None)
    assert await d._on_disposition_message(body, "agent.disposition.demo", None)  # a resend
    assert not await d._on_disposition_message(b'{"attempt_id": "r1-000001", "code": "?"}', "", None)
    assert await d.relay.wait_drained(5)
    rows = await d.outbox.query("SELECT kind, routing_key, body FROM outbox ORDER BY seq")
    kinds = [r[0] for r in rows]
    assert kinds == ["outcome", "outcome.disposition", "sms.request"]
    disp, sms = json.loads(rows[1][2]), json.loads(rows[2][2])
    validate(disp, "outcome_disposition.v1.json")
    validate(sms, "sms_request.v1.json")
    assert rows[1][1] == "disposition.demo.promise_to_pay" and disp["call_disposition"] == "connected"
    assert sms["kind"] == "post_call_link" and sms["reason"] == "promise_to_pay"
    assert sms["borrower"] == json.loads(rows[0][2])["borrower"]
    assert signals == [("promise_to_pay", "r1-000001"), ("promise_to_pay", "r1-000001")]
    assert d.dispositions_rejected == 1
    await d.close()


async def test_a_disposition_before_its_outcome_is_parked_then_attached(tmp_path):
    d = make(tmp_path, "r1")
    await d.start()
    disp = parse_agent_disposition(b'{"attempt_id": "r1-000005", "code": "wrong_number"}', "agent.disposition.demo")
    await d.attach_disposition(disp)
    assert d.dispositions_parked == 1
    await d.emit_outcome(outcome(5))
    for _ in range(100):
        if not await d.outbox.has_parked():
            break
        await asyncio.sleep(0.01)
    kinds = [r[0] for r in await d.outbox.query("SELECT kind FROM outbox ORDER BY seq")]
    assert kinds == ["outcome", "outcome.disposition"]
    await d.close()


async def test_failed_contact_asks_a_link_now_and_schedules_the_warmup(tmp_path):
    events = EventsConfig.from_json({"default": {"sms": {"warmup": {"before_s": 600}, "link": True}}})
    clock = [T0]
    s = DeliverySettings(outbox_path=str(tmp_path / "ob.sqlite3"), events=events, stats_interval_s=0)
    d = Delivery(s, run_id="r1", campaigns=[CAMPAIGN], pseudonym_key=b"k", now=lambda: clock[0],
                 transport=FakeTransport())
    await d.start()
    o = outcome(1, disposition=Disposition.NO_ANSWER)
    clock[0] = o.ended_at
    await d.emit_outcome(o)
    await d.emit_outcome(outcome(2, disposition=Disposition.NO_ANSWER))  # another borrower
    counts = await d.outbox.counts()
    assert counts["pending:sms.request"] + counts.get("scheduled", 0) >= 2 and counts["scheduled"] == 2
    assert await d.outbox.release_due(o.ended_at + 3600 - 600 + 5) == (2, 0)  # ten minutes before the retries
    await d.close()


async def test_campaign_stats_are_published_every_interval(tmp_path):
    d = make(tmp_path, "r1", stats=60)
    await d.start()
    core = Dialer([CAMPAIGN], run_id="r1")
    for t in (0, 30, 61, 90, 125):
        d.tick(T0 + t, lambda at=T0 + t: core.snapshot(at))
    await asyncio.sleep(0.05)
    await d.close()
    d2 = make(tmp_path, "r2")
    await d2.outbox.start()
    ids = [r[0] for r in await d2.outbox.query("SELECT message_id FROM outbox WHERE kind = 'campaign.stats'")]
    await d2.outbox.close()
    assert ids == ["stats:r1:demo:1", "stats:r1:demo:2", "stats:r1:demo:3"]
