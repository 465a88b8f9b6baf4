from __future__ import annotations

from dialer.core.hopper import Hopper
from dialer.core.model import Disposition, RetryPolicy

from .conftest import make_lead


def test_order_by_due_time_then_priority_then_arrival():
    h = Hopper(RetryPolicy())
    h.add(make_lead(1), 0.0)
    h.add(make_lead(2, priority=5), 0.0)
    h.add(make_lead(3), 0.0)
    h.add(make_lead(4, priority=9), 10.0)
    got = [h.pop(1.0) for _ in range(4)]
    assert [g[0].borrower_id if g else None for g in got] == ["b2", "b1", "b3", None]
    assert h.pop(10.0)[0].borrower_id == "b4"


def test_duplicate_borrower_not_added_twice():
    h = Hopper(RetryPolicy())
    assert h.add(make_lead(1), 0.0)
    assert not h.add(make_lead(1), 0.0)
    assert h.pending() == 1


def test_retry_delay_per_disposition_and_max_attempts():
    h = Hopper(RetryPolicy(max_attempts=2, delays=((Disposition.BUSY, 60.0),)))
    h.add(make_lead(1), 0.0)
    _, n = h.pop(0.0)
    assert n == 1
    assert h.pop(0.0) is None  # in flight: not handed out twice
    assert h.finished("b1", Disposition.BUSY, 10.0)
    assert h.pop(69.0) is None
    _lead, n = h.pop(70.0)
    assert n == 2
    assert not h.finished("b1", Disposition.BUSY, 80.0)  # attempts used up
    assert h.pop(1e9) is None and h.exhausted == 1


def test_no_retry_after_connected_or_unlisted_disposition():
    h = Hopper(RetryPolicy(max_attempts=5, delays=((Disposition.BUSY, 60.0),)))
    h.add(make_lead(1), 0.0)
    h.add(make_lead(2), 0.0)
    h.pop(0.0)
    h.pop(0.0)
    assert not h.finished("b1", Disposition.CONNECTED, 1.0)
    assert not h.finished("b2", Disposition.NO_ANSWER, 1.0)


def test_refusal_is_not_an_attempt_and_comes_back_at_next_allowed():
    h = Hopper(RetryPolicy(max_attempts=1))
    h.add(make_lead(1), 0.0)
    h.pop(0.0)
    assert h.refused("b1", 500.0)
    assert h.pop(499.0) is None
    _lead, n = h.pop(500.0)
    assert n == 1
    assert not h.refused("b1", None)
    assert h.pending() == 0
