from __future__ import annotations

import asyncio

import pytest

from dialer.sinks.outbox import Message, Outbox
from dialer.sinks.relay import Relay

from .helpers import FakeBatchTransport, FakeTransport


def msgs(n: int, start: int = 0) -> list[Message]:
    return [Message(f"m{i}", "outcome", "outcome.demo.busy", b"{}") for i in range(start, start + n)]


@pytest.fixture
async def outbox(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    await ob.start()
    yield ob
    await ob.close()


@pytest.fixture(params=["task per publish", "batches"])
def make(request):
    """The relay's two ways to publish: a task per `publish(row)` (the JSON-lines file), and
    batches through `publish_nowait` (the broker)."""
    return FakeTransport if request.param == "task per publish" else FakeBatchTransport


def relay(outbox: Outbox, t: FakeTransport, **kw) -> Relay:
    r = Relay(outbox, t, backoff_min_s=0.01, backoff_max_s=0.05, confirm_every_s=0.005, idle_poll_s=0.05, **kw)
    outbox.on_change = r.wake
    return r


async def test_publishes_everything_once_and_marks_it_confirmed(outbox, make):
    t = make()
    r = relay(outbox, t)
    await r.start()
    await outbox.put(msgs(300))
    assert await r.wait_drained(5)
    assert sorted(t.delivered) == sorted(f"m{i}" for i in range(300))
    assert outbox.depth == 0 and r.publish_failures == 0
    await r.close()


async def test_keeps_at_most_the_window_in_flight(outbox, make):
    t = make(delay_s=0.01)
    r = relay(outbox, t, window=50, fetch_size=20)
    await outbox.put(msgs(400))
    await r.start()
    assert await r.wait_drained(10)
    assert 20 <= t.max_in_flight <= 50
    await r.close()


async def test_broker_down_at_start_buffers_then_delivers(outbox, make, caplog):
    t = make(up=False)
    r = relay(outbox, t)
    await r.start()
    assert "unreachable at start" in caplog.text and "buffers events in the outbox" in caplog.text
    await outbox.put(msgs(50))
    await asyncio.sleep(0.1)
    assert t.delivered == [] and outbox.depth == 50 and r.connect_failures >= 1
    t.up = True
    assert await r.wait_drained(5)
    assert sorted(t.delivered) == sorted(f"m{i}" for i in range(50))
    await r.close()


async def test_lost_confirms_are_published_again_never_dropped(outbox, make):
    t = make(delay_s=0.02)
    r = relay(outbox, t, window=100)
    await r.start()
    await outbox.put(msgs(200))
    await asyncio.sleep(0.01)
    t.up = False  # the connection drops with publishes in flight: their confirms are lost
    await asyncio.sleep(0.1)
    t.up = True
    assert await r.wait_drained(5)
    want = {f"m{i}" for i in range(200)}
    assert set(t.delivered) == want  # none lost
    assert len(t.delivered) > 200  # some twice (same message id): consumers dedupe
    assert r.publish_failures > 0 and t.connects >= 2
    await r.close()


async def test_a_nack_is_retried(outbox, make):
    t = make()
    t.nack_ids = {"m3"}
    r = relay(outbox, t)
    await r.start()
    await outbox.put(msgs(10))
    assert await r.wait_drained(5)
    assert sorted(set(t.delivered)) == sorted(f"m{i}" for i in range(10))
    assert r.publish_failures == 1
    await r.close()


async def test_close_gives_up_after_the_drain_timeout_and_keeps_rows(outbox):
    t = FakeTransport(up=False)
    r = relay(outbox, t)
    await r.start()
    await outbox.put(msgs(5))
    assert await r.close(drain_timeout_s=0.1) is False
    assert outbox.depth == 5


async def test_a_broker_that_stops_confirming_is_dropped_and_the_messages_published_again(outbox):
    class Stuck(FakeTransport):
        stuck = True

        async def publish(self, row):
            if self.stuck:
                await asyncio.sleep(3600)  # accepted, never confirmed (until the connection drops)
            await super().publish(row)

        async def disconnect(self):
            self.stuck = False
            self._conn = False
            for t in list(r._in_flight):
                t.cancel()

    t = Stuck()
    r = relay(outbox, t, stall_timeout_s=0.2)
    await r.start()
    await outbox.put(msgs(5))
    assert await r.wait_drained(5)
    assert sorted(t.delivered) == [f"m{i}" for i in range(5)] and t.connects >= 2
    await r.close()


async def test_batches_take_what_the_transport_accepts_and_the_rest_follows(outbox):
    t = FakeBatchTransport(take=7, delay_s=0.005)
    r = relay(outbox, t, window=50)
    await outbox.put(msgs(200))
    await r.start()
    assert await r.wait_drained(5)
    assert sorted(t.delivered) == sorted(f"m{i}" for i in range(200))  # once each, none skipped
    assert max(t.batches) == 7 and t.max_in_flight <= 50
    await r.close()


async def test_confirms_of_one_loop_iteration_free_one_batch(outbox):
    t = FakeBatchTransport(delay_s=0.01)
    r = relay(outbox, t, window=100)
    await outbox.put(msgs(1000))
    await r.start()
    assert await r.wait_drained(10)
    assert sorted(t.delivered) == sorted(f"m{i}" for i in range(1000))
    # 100 confirms land together every 10 ms, and each wave goes out again as one write, not 100
    assert len(t.batches) < 100
    await r.close()
