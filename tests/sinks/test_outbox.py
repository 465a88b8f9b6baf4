from __future__ import annotations

import asyncio

import pytest

from dialer.sinks.outbox import AttemptRef, Message, Outbox


def msg(i: int, kind: str = "outcome") -> Message:
    return Message(f"m{i}", kind, "outcome.demo.busy", b'{"i":%d}' % i)


@pytest.fixture
async def outbox(tmp_path):
    ob = Outbox(tmp_path / "outbox.sqlite3")
    await ob.start()
    yield ob
    await ob.close()


async def test_put_is_durable_and_survives_a_reopen_until_confirmed(tmp_path):
    path = tmp_path / "o.sqlite3"
    ob = Outbox(path)
    await ob.start()
    assert await ob.put([msg(1), msg(2), msg(3)]) == 3
    rows = await ob.fetch(0, 10)
    await ob.confirm([rows[0].seq])
    await ob.close()  # no relay ran: two rows are unconfirmed

    ob = Outbox(path)
    await ob.start()
    assert ob.depth == 2
    assert [r.message_id for r in await ob.fetch(0, 10)] == ["m2", "m3"]
    await ob.close()


async def test_same_message_id_is_stored_once(outbox):
    assert await outbox.put([msg(1)]) == 1
    assert await outbox.put([msg(1)]) == 0
    rows = await outbox.fetch(0, 10)
    await outbox.confirm([r.seq for r in rows])
    assert await outbox.put([msg(1)]) == 0  # still known while confirmed rows are kept
    assert outbox.depth == 0


async def test_concurrent_puts_share_commits(outbox):
    results = await asyncio.gather(*(outbox.put([msg(i)]) for i in range(500)))
    assert sum(results) == 500 and outbox.depth == 500
    assert outbox.commits < 20  # group commit: one fsync covers many writes


async def test_fetch_pages_by_sequence_and_confirm_counts_once(outbox):
    await outbox.put([msg(i) for i in range(10)])
    first = await outbox.fetch(0, 4)
    second = await outbox.fetch(first[-1].seq, 100)
    assert [r.message_id for r in first + second] == [f"m{i}" for i in range(10)]
    assert await outbox.confirm([r.seq for r in first]) == 4
    assert await outbox.confirm([r.seq for r in first]) == 0
    assert outbox.depth == 6


async def test_on_change_fires_on_write_and_confirm(outbox):
    seen = []
    outbox.on_change = lambda: seen.append(outbox.depth)
    await outbox.put([msg(1), msg(2)])
    await outbox.confirm([r.seq for r in await outbox.fetch(0, 10)])
    assert seen == [2, 0]


async def test_scheduled_events_are_released_when_due_and_dropped_when_expired(outbox):
    await outbox.put(scheduled=[(msg(1, "sms.request"), 100.0, 200.0), (msg(2, "sms.request"), 150.0, 160.0)])
    assert outbox.depth == 0
    assert await outbox.release_due(99.0) == (0, 0)
    assert await outbox.release_due(120.0) == (1, 0)
    assert await outbox.release_due(170.0) == (0, 1)  # m2 expired before it was due
    assert [r.message_id for r in await outbox.fetch(0, 10)] == ["m1"]
    assert (await outbox.counts())["scheduled"] == 0


async def test_prune_forgets_old_confirmed_rows_only(tmp_path):
    clock = [1000.0]
    ob = Outbox(tmp_path / "o.sqlite3", keep_confirmed_s=60, clock=lambda: clock[0])
    await ob.start()
    await ob.put([msg(1), msg(2)])
    rows = await ob.fetch(0, 10)
    await ob.confirm([rows[0].seq])
    clock[0] += 61
    assert await ob.prune() == 1
    assert [r.message_id for r in await ob.fetch(0, 10)] == ["m2"]
    await ob.close()


async def test_attempt_refs_parking_runs_and_sms_log(outbox):
    ref = AttemptRef("r1-000001", "demo", "b_" + "0" * 32, "p_" + "1" * 32, "+86138****0001", "agent1",
                     "connected", "conversation", 123.0)
    await outbox.put([msg(1)], ref=ref, sms=[("b_x", "post_call_link", 5.0)])
    assert await outbox.attempt("r1-000001") == ref
    assert await outbox.attempts(["r1-000001", "nope"]) == {"r1-000001": ref}
    assert await outbox.sms_last("b_x") == {"post_call_link": 5.0}

    assert await outbox.park("d1", "r1-000002", "{}") is True
    assert await outbox.park("d1", "r1-000002", "{}") is False
    assert await outbox.parked_for("r1-000002") == [("d1", "{}")]
    await outbox.put([], unpark="d1")
    assert not await outbox.has_parked()

    await outbox.register_run("old", 1.0)
    await outbox.register_run("new", 2.0)
    assert await outbox.unrecovered_runs("new") == ["old"]
    await outbox.mark_recovered(["old"])
    assert await outbox.unrecovered_runs("new") == []


async def test_steady_state_reads_come_from_memory_and_a_restart_reads_disk(tmp_path):
    path = tmp_path / "o.sqlite3"
    ob = Outbox(path)
    await ob.start()
    await ob.put([msg(i) for i in range(5)])
    rows = await ob.fetch(0, 3)
    rows += await ob.fetch(rows[-1].seq, 10)
    assert [r.message_id for r in rows] == [f"m{i}" for i in range(5)]
    assert ob.cache_hits == 2 and ob.disk_reads == 0
    # Starting over (a relay after a failure) reads from disk what memory handed out.
    again = await ob.fetch(0, 10)
    assert [r.message_id for r in again] == [f"m{i}" for i in range(5)] and ob.disk_reads == 1
    await ob.confirm([r.seq for r in again[:2]])
    await ob.close()
    ob = Outbox(path)
    await ob.start()
    assert [r.message_id for r in await ob.fetch(0, 10)] == ["m2", "m3", "m4"] and ob.disk_reads == 1
    await ob.put([msg(9)])
    assert [r.message_id for r in await ob.fetch(rows[-1].seq, 10)] == ["m9"] and ob.cache_hits == 1
    await ob.close()


async def test_a_backlog_larger_than_memory_is_read_from_disk_until_it_drains(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3", cache_rows=10)
    await ob.start()
    await ob.put([msg(i) for i in range(30)])
    got, cursor = [], 0
    while rows := await ob.fetch(cursor, 7):
        got += rows
        cursor = rows[-1].seq
    assert [r.message_id for r in got] == [f"m{i}" for i in range(30)] and ob.disk_reads >= 4
    await ob.confirm([r.seq for r in got])
    assert ob.depth == 0
    await ob.put([msg(100)])  # drained: new rows go through memory again
    hits = ob.cache_hits
    assert [r.message_id for r in await ob.fetch(cursor, 7)] == ["m100"] and ob.cache_hits == hits + 1
    await ob.close()


async def test_sequence_numbers_of_new_rows_match_the_table(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3", keep_confirmed_s=0)
    await ob.start()
    await ob.put([msg(i) for i in range(5)])
    await ob.confirm([r.seq for r in await ob.fetch(0, 10)])
    await ob.prune()  # the largest seq is gone; AUTOINCREMENT still goes on after it
    await ob.put([msg(i) for i in range(5, 8)] + [msg(5)])
    mem = await ob.fetch(5, 10)
    disk = await ob.query("SELECT seq, message_id FROM outbox WHERE confirmed_at IS NULL ORDER BY seq")
    assert [(r.seq, r.message_id) for r in mem] == [tuple(x) for x in disk] == [(6, "m5"), (7, "m6"), (8, "m7")]
    await ob.close()
