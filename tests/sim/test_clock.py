from __future__ import annotations

import asyncio

import pytest

from dialer.sim.clock import DEFAULT_EPOCH, RealTimeScheduler, VirtualScheduler


def test_virtual_runs_in_time_then_fifo_order() -> None:
    s = VirtualScheduler()
    out: list[str] = []
    s.call_at(DEFAULT_EPOCH + 2, lambda: out.append("b"))
    s.call_at(DEFAULT_EPOCH + 1, lambda: out.append("a1"))
    s.call_at(DEFAULT_EPOCH + 1, lambda: out.append("a2"))
    assert s.run_until(DEFAULT_EPOCH + 1.5) == 2
    assert out == ["a1", "a2"]
    assert s.now() == DEFAULT_EPOCH + 1.5
    s.run()
    assert out == ["a1", "a2", "b"] and s.now() == DEFAULT_EPOCH + 2


def test_virtual_cancel_and_past_times() -> None:
    s = VirtualScheduler(start=100.0)
    out: list[float] = []
    h = s.call_later(5, lambda: out.append(s.now()))
    h.cancel()
    s.call_at(50.0, lambda: out.append(s.now()))  # in the past: runs now
    assert s.pending == 1
    s.run()
    assert out == [100.0]
    assert s.next_time() is None


def test_virtual_callbacks_can_schedule_more() -> None:
    s = VirtualScheduler(start=0.0)
    out: list[float] = []

    def tick() -> None:
        out.append(s.now())
        if len(out) < 3:
            s.call_later(1.0, tick)

    s.call_later(1.0, tick)
    s.advance(10)
    assert out == [1.0, 2.0, 3.0] and s.now() == 10.0


async def test_real_time_scheduler_speed() -> None:
    loop = asyncio.get_running_loop()
    s = RealTimeScheduler(loop, speed=100.0, epoch=1000.0)
    assert s.now() == pytest.approx(1000.0, abs=0.5)
    fired = asyncio.Event()
    at: list[float] = []
    start = loop.time()

    def fn() -> None:
        at.append(loop.time() - start)
        fired.set()

    s.call_at(s.now() + 5.0, fn)  # 5 simulated seconds = 50 ms real
    await asyncio.wait_for(fired.wait(), 2)
    assert 0.03 <= at[0] < 0.5
    assert s.real_seconds(10) == pytest.approx(0.1)


def test_real_time_scheduler_rejects_bad_speed() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="speed"):
            RealTimeScheduler(loop, speed=0)
    finally:
        loop.close()
