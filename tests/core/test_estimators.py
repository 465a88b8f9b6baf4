"""Estimators: convergence on seeded synthetic traffic, forgetting, warm start, legal windows."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from dialer.core.model import Disposition, Outcome
from dialer.core.pacing.estimators import (
    AbandonFigures,
    Estimators,
    RollingCounter,
    lognormal_survival_table,
    needs_agent,
)

DAY = 24 * 3600.0


def outcome(
    kind: str,
    at: float,
    *,
    ring: float = 5.0,
    amd_delay: float | None = 2.0,
    talk: float = 100.0,
    wait: float = 0.5,
    n: int = 0,
) -> Outcome:
    """One ended call dialled at `at`. kind: person (connected), abandoned, machine, no_answer,
    busy, hangup (a person who hung up during AMD)."""
    base = {
        "attempt_id": f"c{n}", "campaign": "c1", "borrower_id": f"b{n}", "phone": "+15550000000",
        "attempt_no": 1, "amd_cause": None, "hangup_cause": 16, "hangup_cause_txt": "", "agent": None,
        "originate_at": at, "answer_at": None, "amd_at": None, "connect_at": None, "hangup_at": None,
        "amd_status": None, "abandoned": False,
    }
    answer = at + ring
    verdict = None if amd_delay is None else answer + amd_delay
    queued = verdict if verdict is not None else answer
    if kind == "person":
        connect = queued + wait
        end = connect + talk
        base.update(answer_at=answer, amd_at=verdict, amd_status="HUMAN" if verdict else None,
                    connect_at=connect, hangup_at=end, agent="a1")
        return Outcome(disposition=Disposition.CONNECTED, ended_at=end, **base)
    if kind == "abandoned":
        end = queued + 5.0
        base.update(answer_at=answer, amd_at=verdict, amd_status="HUMAN" if verdict else None, hangup_at=end,
                    abandoned=True, queue_result="timeout")
        return Outcome(disposition=Disposition.ABANDONED, ended_at=end, **base)
    if kind == "machine":
        assert verdict is not None
        base.update(answer_at=answer, amd_at=verdict, amd_status="MACHINE", hangup_at=verdict)
        return Outcome(disposition=Disposition.MACHINE, ended_at=verdict, **base)
    if kind == "hangup":
        end = answer + 1.0
        base.update(answer_at=answer, amd_status="HANGUP", hangup_at=end)
        return Outcome(disposition=Disposition.HUMAN_HANGUP, ended_at=end, **base)
    if kind == "no_answer":
        base.update(hangup_at=at + 30.0)
        return Outcome(disposition=Disposition.NO_ANSWER, ended_at=at + 30.0, originate_reason=3, **base)
    if kind == "busy":
        base.update(hangup_at=at + ring)
        return Outcome(disposition=Disposition.BUSY, ended_at=at + ring, originate_reason=5, **base)
    raise ValueError(kind)


def synthetic_day(
    rng: np.random.Generator,
    n: int,
    *,
    live: float = 0.25,
    machine: float = 0.2,
    talk_mu: float = math.log(120.0),
    talk_sigma: float = 0.5,
    start: float = 0.0,
    spacing: float = 1.0,
) -> list[Outcome]:
    out = []
    for i in range(n):
        at = start + i * spacing
        u = rng.random()
        if u < live:
            talk = float(rng.lognormal(talk_mu, talk_sigma))
            out.append(outcome("person", at, ring=float(rng.uniform(2, 12)), talk=talk,
                               amd_delay=float(rng.uniform(1.6, 2.4)), n=i))
        elif u < live + machine:
            out.append(outcome("machine", at, ring=float(rng.uniform(2, 4)), n=i))
        elif u < live + machine + 0.1:
            out.append(outcome("busy", at, ring=float(rng.uniform(0.2, 2)), n=i))
        else:
            out.append(outcome("no_answer", at, n=i))
    return out


# --------------------------------------------------------------------------- convergence


def test_rates_converge_to_the_truth() -> None:
    rng = np.random.default_rng(7)
    est = Estimators(half_life_s=math.inf)
    est.warm_start(synthetic_day(rng, 8000, live=0.25, machine=0.2))
    assert est.live_answer_probability == pytest.approx(0.25, abs=0.015)
    assert est.need_probability == pytest.approx(0.25, abs=0.015)
    assert est.machine_share == pytest.approx(0.20, abs=0.015)
    assert est.p_need_given_answered == pytest.approx(0.25 / 0.45, abs=0.025)
    assert est.amd_delay_s == pytest.approx(2.0, abs=0.02)
    assert est.agent_lag_s == pytest.approx(0.5, abs=1e-9)
    mu, sigma = est.talk_lognormal
    assert mu == pytest.approx(math.log(120.0), abs=0.03)
    assert sigma == pytest.approx(0.5, abs=0.03)
    assert est.talk_mean_s == pytest.approx(120.0 * math.exp(0.125), rel=0.03)
    # answer times of people: uniform 2..12 s
    assert est.need_time_quantile(0.5) == pytest.approx(7.0, abs=0.25)
    assert est.need_time_quantile(0.1) == pytest.approx(3.0, abs=0.25)


def test_answer_tables_without_calls_in_flight_are_the_empirical_curves() -> None:
    rng = np.random.default_rng(3)
    est = Estimators(half_life_s=math.inf)
    est.warm_start(synthetic_day(rng, 4000))
    live, surv, dt = est.answer_tables()
    assert dt == 0.5 and len(live) == len(surv) == est.answer_bins + 1
    assert live[0] == 0.0 and surv[0] == 1.0
    assert live[-1] == pytest.approx(est.need_probability, rel=1e-12)
    assert all(a <= b + 1e-15 for a, b in itertools.pairwise(live))
    assert all(a >= b - 1e-15 for a, b in itertools.pairwise(surv))
    # everything has ended 30 s after dialling (no-answer rings out at 30 s)
    assert surv[int(31 / dt)] == pytest.approx(0.0, abs=1e-12)
    # by 12 s every person has answered: L(12) = P(person)
    assert live[int(12.5 / dt)] == pytest.approx(est.need_probability, rel=1e-12)


def test_calls_in_flight_complete_the_early_sample() -> None:
    """Early in a day only failures and machines have ended: the calls talking to agents must
    count as live answers, and the calls still ringing as censored ring times."""
    rng = np.random.default_rng(5)
    ended = [o for o in synthetic_day(rng, 400) if o.disposition is not Disposition.CONNECTED]
    people = [o for o in synthetic_day(np.random.default_rng(5), 400) if o.disposition is Disposition.CONNECTED]
    est = Estimators(half_life_s=math.inf)
    est.warm_start(people[:10])  # a few short talks ended: the shape of the answer times
    est.warm_start(ended)
    naive, _, _ = est.answer_tables()
    completed, _, _ = est.answer_tables(pending_need=len(people) - 10, at=500.0)
    truth = len(people) / 400
    assert naive[-1] < 0.5 * truth
    assert completed[-1] == pytest.approx(truth, rel=1e-9)
    assert est.p_need_given_answered_with(len(people) - 10, at=500.0) > est.p_need_given_answered


def test_ring_times_of_people_on_the_phone_give_the_answer_curve_before_any_call_ends() -> None:
    """With no person's call ended yet, the spread of pending_need has no shape to follow; the
    ring times the engine reports for the people waiting or talking give it: the answer curve
    and the need-time quantiles come from them, each counting once."""
    est = Estimators(half_life_s=math.inf)
    est.warm_start(outcome("busy", float(i), ring=1.0, n=i) for i in range(30))
    rings = [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    spread, _, dt = est.answer_tables(pending_need=len(rings), at=40.0)
    assert spread[-1] == 0.0  # nothing to spread them over
    live, surv, dt = est.answer_tables(pending_need=len(rings), at=40.0, pending_ring=rings)
    assert live[-1] == pytest.approx(len(rings) / (30 + len(rings)), rel=1e-12)
    assert live[int(3.0 / dt)] == 0.0 and live[int(7.5 / dt)] == pytest.approx(5 / 40, rel=1e-12)  # by 3 s, by 7.5 s
    assert surv[int(2.0 / dt)] == pytest.approx(10 / 40, rel=1e-12)  # the busy ones ended at 1 s
    assert surv[int(12.5 / dt)] == 0.0  # and the last person answered at 12 s
    assert est.need_time_quantile(0.5) == 0.0  # no ended person: no quantile
    assert est.need_time_quantile(0.5, rings, at=40.0) == pytest.approx(7.5, abs=dt)


def test_censored_ringing_calls_raise_the_survival() -> None:
    est = Estimators(half_life_s=math.inf)
    est.warm_start(outcome("busy", float(i), ring=1.0, n=i) for i in range(50))
    _, surv, dt = est.answer_tables()
    assert surv[int(2 / dt)] == 0.0
    # 50 more calls ringing for 10 s and counting: at least half the calls last beyond 2 s
    _, surv2, _ = est.answer_tables(dialing_elapsed=[10.0] * 50, at=60.0)
    assert surv2[int(2 / dt)] == pytest.approx(0.5, rel=1e-9)


def test_talk_survival_counts_running_talks() -> None:
    """The first talks to end are the short ones; the agents still talking say so."""
    est = Estimators(half_life_s=math.inf)
    est.warm_start(outcome("person", 0.0, talk=30.0 + i, n=i) for i in range(20))
    naive, dt = est.talk_survival("empirical")
    assert naive[int(60 / dt)] == 0.0
    km, _ = est.talk_survival("empirical", censored=[200.0] * 20, at=100.0)
    assert km[int(60 / dt)] == pytest.approx(0.5, rel=1e-9)
    assert km[int(150 / dt)] == pytest.approx(0.5, rel=1e-9)
    logn, ldt = est.talk_survival("lognormal", censored=[200.0] * 20, at=100.0)
    assert math.log2(ldt) == int(math.log2(ldt))  # a power of two
    assert logn[0] == 1.0 and logn[-1] < 1e-3


def test_lognormal_table_is_the_survival_function() -> None:
    t = lognormal_survival_table(math.log(100.0), 0.5, 1.0, 400)
    assert t[0] == 1.0
    assert t[100] == pytest.approx(0.5, rel=1e-12)
    assert t[200] == pytest.approx(0.5 * math.erfc(math.log(2.0) / (0.5 * math.sqrt(2))), rel=1e-12)


def test_needs_agent() -> None:
    assert needs_agent(outcome("person", 0.0))
    assert needs_agent(outcome("abandoned", 0.0))
    assert not needs_agent(outcome("machine", 0.0))
    assert not needs_agent(outcome("hangup", 0.0))
    assert not needs_agent(outcome("no_answer", 0.0))


# ------------------------------------------------------------------------------ forgetting


def test_forgetting_weighs_by_half_life() -> None:
    est = Estimators(half_life_s=3600.0)
    est.observe(outcome("no_answer", 0.0, n=1))  # ends at 30 s: weight 1
    est.observe(outcome("busy", 3600.0 + 30.0 - 1.0, ring=1.0, n=2))  # ends one half-life later: weight 2
    assert est.n_calls == pytest.approx(3.0, rel=1e-12)
    est.observe(outcome("person", 7200.0, ring=5.0, talk=25.0, amd_delay=None, wait=0.0, n=3))  # ends at 7230: 4
    assert est.live_answer_probability == pytest.approx(4.0 / 7.0, rel=1e-12)


def test_forgetting_tracks_a_change_of_traffic() -> None:
    rng = np.random.default_rng(11)
    est = Estimators(half_life_s=600.0)
    first = synthetic_day(rng, 3600, live=0.4, spacing=1.0)
    second = synthetic_day(rng, 3600, live=0.1, spacing=1.0, start=3600.0)
    est.warm_start(first + second)
    assert est.live_answer_probability == pytest.approx(0.1, abs=0.02)
    slow = Estimators(half_life_s=math.inf)
    slow.warm_start(first + second)
    assert slow.live_answer_probability == pytest.approx(0.25, abs=0.02)


def test_growing_weights_are_rescaled_without_changing_estimates() -> None:
    rng = np.random.default_rng(2)
    est = Estimators(half_life_s=5.0)  # 2^200 is passed after 1000 s
    est.warm_start(synthetic_day(rng, 2500, spacing=1.0))
    assert math.isfinite(est.n_calls) and est.n_calls < 2.0**201
    assert 0.0 < est.live_answer_probability < 1.0
    live, surv, _ = est.answer_tables()
    assert all(math.isfinite(x) for x in live + surv)


# ------------------------------------------------------------------------------ warm start


def test_state_round_trips_through_json() -> None:
    rng = np.random.default_rng(4)
    est = Estimators(half_life_s=1800.0, amd_false_positive_rate=0.07)
    est.warm_start(synthetic_day(rng, 3000))
    est.observe(outcome("abandoned", 3000.0, n=99999))
    est.observe_wrapup(12.0)
    state = json.loads(json.dumps(est.to_state()))
    back = Estimators.from_state(state)
    assert back.to_state() == est.to_state()
    for name in ("live_answer_probability", "machine_share", "amd_delay_s", "talk_lognormal", "wrapup_s"):
        assert getattr(back, name) == getattr(est, name), name
    assert back.answer_tables() == est.answer_tables()
    assert back.abandon_24h(3100.0) == est.abandon_24h(3100.0)
    more = synthetic_day(rng, 100, start=3100.0)
    est.warm_start(more)
    back.warm_start(more)
    assert back.to_state()["scalars"] == est.to_state()["scalars"]


def test_state_without_forgetting_round_trips() -> None:
    est = Estimators(half_life_s=math.inf)
    est.observe(outcome("busy", 0.0))
    back = Estimators.from_state(json.loads(json.dumps(est.to_state())))
    assert back.half_life_s == math.inf and back.n_calls == 1.0


def test_bad_state_is_refused() -> None:
    est = Estimators()
    state = est.to_state()
    with pytest.raises(ValueError, match="version"):
        Estimators.from_state({**state, "version": 99})
    with pytest.raises(ValueError, match="h_pre"):
        Estimators.from_state({**state, "h_pre": [0.0]})


# --------------------------------------------------------------------- legal abandon counters


def test_rolling_window_is_exact_at_its_minute_boundaries() -> None:
    c = RollingCounter(DAY)
    c.add(30.0, live=True, abandoned=True, machine=False)  # minute 0
    c.add(90.0, live=True, abandoned=False, machine=True)  # minute 1
    assert c.figures(DAY - 0.001) == AbandonFigures(2, 1, 1)  # minute 1439: minute 0 still in
    assert c.figures(DAY) == AbandonFigures(1, 0, 1)  # minute 1440: minute 0 out
    assert c.figures(DAY + 59.999) == AbandonFigures(1, 0, 1)
    assert c.figures(DAY + 60.0) == AbandonFigures(0, 0, 0)


def test_rolling_counter_is_amortised_and_bounded() -> None:
    c = RollingCounter(3600.0)
    for i in range(100_000):
        c.add(i * 0.5, live=True, abandoned=i % 10 == 0, machine=False)
    assert len(c._buckets) <= 60
    f = c.figures(100_000 * 0.5)  # minute 833: minutes 774..833, the last one 40 outcomes so far
    assert f.live == 59 * 120 + 40 and f.abandoned == 59 * 12 + 4


def test_late_outcome_lands_in_its_minute() -> None:
    c = RollingCounter(600.0)
    c.add(300.0, live=True, abandoned=False, machine=False)
    c.add(100.0, live=True, abandoned=True, machine=False)  # late, minute 1
    c.add(-1000.0, live=True, abandoned=True, machine=False)  # far outside: dropped
    assert c.figures(599.0) == AbandonFigures(2, 1, 0)
    assert c.figures(660.0) == AbandonFigures(1, 0, 0)
    assert [b[0] for b in c._buckets] == [5]


def test_us_and_uk_rates() -> None:
    est = Estimators(amd_false_positive_rate=0.1)
    for i in range(97):
        est.observe(outcome("person", i * 60.0, n=i))
    for i in range(3):
        est.observe(outcome("abandoned", 6000.0 + i, n=100 + i))
    for i in range(50):
        est.observe(outcome("machine", 7000.0 + i, n=200 + i))
    now = 8000.0
    assert est.abandon_rate(now, "us") == pytest.approx(3 / 100, rel=1e-12)
    # UK: 5 estimated false positives (50 MACHINE x 0.1) are people we hung up on
    assert est.abandon_rate(now, "uk") == pytest.approx((3 + 5) / (100 + 5), rel=1e-12)
    # 25 hours later the UK (24 h) window is empty, the US (30 days) one is not
    assert est.abandon_rate(now + 25 * 3600, "uk") == 0.0
    assert est.abandon_rate(now + 25 * 3600, "us") == pytest.approx(0.03, rel=1e-12)
    assert est.abandon_rate(now + 31 * DAY, "us") == 0.0
    with pytest.raises(ValueError, match="mode"):
        est.abandon_rate(now, "fr")


def test_legal_counters_count_calls_not_weights() -> None:
    est = Estimators(half_life_s=60.0)
    for i in range(10):
        est.observe(outcome("person", i * 600.0, n=i))
    est.observe(outcome("abandoned", 6000.0, n=10))
    assert est.abandon_24h(7000.0) == AbandonFigures(11, 1, 0)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        Estimators(half_life_s=0.0)
    with pytest.raises(ValueError):
        Estimators(amd_false_positive_rate=1.5)
    with pytest.raises(ValueError):
        RollingCounter(30.0)
    with pytest.raises(ValueError, match="talk model"):
        Estimators().talk_survival("weibull")
