"""The predictive pacer: bounds, fallbacks, reactions to the floor and to the traffic, feedback."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.core.model import Outcome
from dialer.core.pacing import PACERS, PacingView, PredictivePacer, ProgressivePacer, feed_outcome, make_pacer
from dialer.core.pacing.estimators import Estimators

from .test_estimators import outcome, synthetic_day


def view(**kw: object) -> PacingView:
    base: dict[str, object] = {
        "at": 10_000.0, "campaign": "c1", "agents_logged_in": 10, "agents_ready": 0, "agents_ringing": 0,
        "agents_on_call": 10, "agents_wrap_up": 0, "calls_dialing": 0, "calls_answered": 0, "calls_waiting": 0,
        "lines_free": 500, "abandon_target": 0.03, "talk_elapsed_s": tuple([60.0] * 10), "wrapup_s": 10.0,
    }
    base.update(kw)
    return PacingView(**base)  # type: ignore[arg-type]


def history(live: float = 0.25, n: int = 3000, seed: int = 1) -> list[Outcome]:
    return synthetic_day(np.random.default_rng(seed), n, live=live, spacing=3.0)


def warm(live: float = 0.25, **kw: object) -> PredictivePacer:
    est = Estimators()
    est.warm_start(history(live))
    return PredictivePacer(estimators=est, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ the interface


def test_registered_and_selectable() -> None:
    assert PACERS["predictive"] is PredictivePacer
    p = make_pacer("predictive")
    assert p.name == "predictive" and isinstance(p, PredictivePacer)


def test_feed_outcome_gives_the_whole_outcome_to_pacers_that_want_it() -> None:
    p = PredictivePacer()
    o = outcome("abandoned", 0.0)
    feed_outcome(p, o)
    assert p.est.count_calls == 1 and p.realised == 1
    progressive = ProgressivePacer()
    feed_outcome(progressive, o)  # the thin interface still works
    assert progressive.calls_to_place(view(agents_ready=2, agents_on_call=8)) == 2


# ------------------------------------------------------------------------------ fallbacks


def test_warm_up_is_progressive() -> None:
    p = PredictivePacer()
    v = view(agents_ready=4, agents_on_call=6, calls_dialing=1, talk_elapsed_s=(5.0,) * 6)
    assert p.calls_to_place(v) == 3
    assert p.mode == "warmup"
    for i, o in enumerate(history(n=20)):
        p.observe(replace(o, attempt_id=f"x{i}"))
    assert p.est.count_need < 10 and not p.warmed_up()  # 20 calls: too few people yet
    assert p.calls_to_place(v) == 3 and p.mode == "warmup"


def test_people_waiting_or_talking_count_as_seen() -> None:
    """The people on the phone now tell the answer times minutes before their calls end: with
    their ring times in the view, a morning's first dozen answers end the warm-up."""
    p = PredictivePacer()
    for i, o in enumerate(history(n=20)):
        p.observe(replace(o, attempt_id=f"x{i}"))
    seen = p.est.count_need
    v = view(agents_ready=4, agents_on_call=6, calls_dialing=1, talk_elapsed_s=(5.0,) * 6,
             need_ring_s=(3.0, 5.5, 7.0, 9.0, 4.0, 11.0))
    assert p.people_seen(v) == seen + 6
    assert p.people_seen(replace(v, need_ring_s=None)) == seen  # an engine that does not report them
    assert p.warmed_up(v) == (seen + 6 >= p.warmup_need)


def test_the_model_waits_until_the_answer_curve_covers_the_ring_time() -> None:
    """Before any call has rung as long as the ring timeout allows, late answers are unseen and
    the answer curve says the calls still ringing never will: the pacer stays progressive until
    a call rang out, or the first calls went out a ring timeout ago."""
    quick = [o for o in history(n=400) if o.disposition.value != "no_answer"]  # nobody rang out
    assert max(o.answer_at - o.originate_at for o in quick if o.answer_at is not None) < 13.0

    def fed() -> PredictivePacer:
        p = PredictivePacer()
        for i, o in enumerate(quick):
            p.observe(replace(o, attempt_id=f"q{i}"))
        assert p.est.count_need >= p.warmup_need and p.est.longest_ring_s < 13.0
        return p

    def at(t: float) -> PacingView:
        return view(at=t, agents_ready=4, agents_on_call=6, calls_dialing=3, dialing_elapsed_s=(1.0, 2.0, 3.0),
                    talk_elapsed_s=(60.0,) * 6, ring_timeout_s=30.0)

    p = fed()
    assert not p.warmed_up(at(10_000.0))
    p.calls_to_place(at(10_000.0))
    assert p.mode == "warmup"
    p.calls_to_place(at(10_029.0))
    assert p.mode == "warmup"
    p.calls_to_place(at(10_030.0))  # the first calls seen dialling went out 30 s ago
    assert p.mode != "warmup"
    q = fed()  # a ring-out covers the whole curve at once
    q.observe(outcome("no_answer", 9_900.0, n=999_999))
    assert q.est.longest_ring_s >= 29.0 and q.warmed_up(at(10_000.0))
    q.calls_to_place(at(10_000.0))
    assert q.mode != "warmup"


def test_warm_start_from_saved_state_skips_the_warm_up() -> None:
    state = warm().est.to_state()
    p = PredictivePacer(estimators=state)
    assert p.warmed_up()
    p.calls_to_place(view(agents_ready=1, agents_on_call=9, talk_elapsed_s=(60.0,) * 9))
    assert p.mode != "warmup"


def test_exhausted_budget_is_progressive() -> None:
    p = warm()
    v = view(agents_ready=5, agents_on_call=5, talk_elapsed_s=(170.0,) * 5)
    assert p.calls_to_place(v) > 5
    for i in range(40):  # 40 abandoned of ~the 760 live answers of its history: over 3%
        p.observe(outcome("abandoned", 9_000.0 + i, n=100_000 + i))
    assert p.calls_to_place(v) == 5
    assert p.mode == "budget"


def test_spent_budget_still_dials_the_calls_under_the_recovery_floor() -> None:
    """A large team whose budget is spent keeps the calls the calibrated model says are nearly
    safe (the recovery floor), rather than falling to progressive; with the floor off, it is
    progressive; with people already waiting and no agent coming, no extra call goes out."""

    def spent(**kw: object) -> PredictivePacer:
        p = warm(live=0.10, **kw)
        for i in range(40):  # far over 3% of the ~300 live answers of its history
            p.observe(outcome("abandoned", 9_000.0 + i, n=100_000 + i))
        return p

    big = view(agents_logged_in=500, agents_ready=300, agents_on_call=200, talk_elapsed_s=(60.0,) * 200)
    with_floor, without = spent(), spent(recovery_share=0.0)
    n = with_floor.calls_to_place(big)
    assert with_floor.mode == "budget"
    assert without.calls_to_place(big) == 300 and without.mode == "budget"
    assert n > 300
    # never past the evidence cap: one call per ready agent plus twice the people seen
    assert n <= 300 + 2 * with_floor.est.count_need
    crowded = view(agents_logged_in=500, agents_ready=0, agents_on_call=500, calls_waiting=20,
                   talk_elapsed_s=(5.0,) * 500)
    assert spent().calls_to_place(crowded) == 0
    # under recovery_min_agents (25) the floor is off: a small team's fallback is progressive
    small = view(agents_logged_in=20, agents_ready=12, agents_on_call=8, talk_elapsed_s=(60.0,) * 8)
    assert spent().calls_to_place(small) == 12
    assert spent(recovery_min_agents=20).calls_to_place(small) > 12


def test_the_forecast_crossing_the_cap_stops_over_dialling() -> None:
    """People already waiting and no agent about to be free: even one more call is too many."""
    p = warm()
    v = view(agents_ready=0, calls_waiting=4, talk_elapsed_s=(5.0,) * 10)
    assert p.calls_to_place(v) == 0
    assert p.mode == "model"


def test_uk_mode_counts_amd_false_positives() -> None:
    us, uk = warm(), warm(legal_mode="uk", amd_false_positive_rate=0.5)
    for p in (us, uk):
        for i in range(12):
            p.observe(outcome("abandoned", 9_000.0 + i, n=100_000 + i))
    v = view(agents_ready=5, agents_on_call=5, talk_elapsed_s=(170.0,) * 5)
    assert us.calls_to_place(v) > 5 and us.mode == "model"
    # half of the ~600 MACHINE verdicts counted as people hung up on: far over budget
    assert uk.calls_to_place(v) == 5 and uk.mode == "budget"


# ---------------------------------------------------------------------------- bounds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    agents=st.integers(0, 60),
    ready_share=st.floats(0, 1),
    dialing=st.integers(0, 80),
    waiting=st.integers(0, 5),
    answered=st.integers(0, 5),
    lines=st.integers(0, 40),
    seed=st.integers(0, 1000),
)
def test_never_negative_never_above_lines_free(
    agents: int, ready_share: float, dialing: int, waiting: int, answered: int, lines: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ready = int(agents * ready_share)
    wrap = (agents - ready) // 4
    busy = agents - ready - wrap
    v = view(
        agents_logged_in=agents, agents_ready=ready, agents_on_call=busy, agents_wrap_up=wrap,
        calls_dialing=dialing, calls_waiting=waiting, calls_answered=answered, lines_free=lines,
        talk_elapsed_s=tuple(rng.uniform(0, 600, busy)), wrap_remaining_s=tuple(rng.uniform(0, 10, wrap)),
        dialing_elapsed_s=tuple(rng.uniform(0, 30, dialing)), answered_elapsed_s=tuple(rng.uniform(0, 3, answered)),
    )
    for p in (PredictivePacer(), PACER):
        n = p.calls_to_place(v)
        assert isinstance(n, int) and 0 <= n <= lines


PACER = warm()


def test_never_fewer_than_progressive() -> None:
    p = warm()
    v = view(agents_ready=6, agents_on_call=4, calls_waiting=3, talk_elapsed_s=(1.0,) * 4)
    assert p.calls_to_place(v) >= 3


# ------------------------------------------------------------------- it reacts sensibly


def test_more_aggressive_with_low_answer_rates() -> None:
    v = view(agents_ready=5, agents_on_call=5, talk_elapsed_s=(150.0,) * 5)
    low, high = warm(live=0.10), warm(live=0.40)
    assert low.calls_to_place(v) > 2 * high.calls_to_place(v) > 2 * 5


def test_dials_ahead_of_agents_about_to_be_free() -> None:
    p = warm()
    talking = view(agents_ready=0, agents_on_call=10, talk_elapsed_s=(2.0,) * 10)
    wrapping = view(
        agents_ready=0, agents_on_call=7, agents_wrap_up=3, talk_elapsed_s=(2.0,) * 7, wrap_remaining_s=(3.0, 4.0, 5.0)
    )
    assert p.calls_to_place(talking) == 0
    assert p.calls_to_place(wrapping) >= 3


def test_calls_already_ringing_count() -> None:
    p = warm()
    base = {"agents_ready": 5, "agents_on_call": 5, "talk_elapsed_s": (30.0,) * 5}
    counts = [p.calls_to_place(view(**base, calls_dialing=d, dialing_elapsed_s=(1.0,) * d)) for d in (0, 2, 4, 8)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > 5 and counts[-1] == 0


def test_lambda_tracks_the_aim() -> None:
    """Feedback: a pacer told it abandons far more than it predicts gets more careful."""
    a, b = warm(), warm()
    v = view(agents_ready=1, agents_on_call=9, talk_elapsed_s=(170.0,) * 9)
    a.calls_to_place(v)
    b.calls_to_place(v)
    for i in range(3):
        b.observe(outcome("abandoned", 9_000.0 + i, n=100_000 + i))
    assert b.calibration() > a.calibration()
    assert b.calls_to_place(v) <= a.calls_to_place(v)


def test_the_calibration_forgets_an_early_burst() -> None:
    """Abandonments an hour ago weigh a quarter of what they did (half-life 30 min): the factor
    falls back toward its prior instead of holding the pacer back all day."""
    p = warm(calibration_half_life_s=1800.0)
    v = view(agents_ready=1, agents_on_call=9, talk_elapsed_s=(170.0,) * 9)
    p.calls_to_place(v)
    for i in range(10):
        p.observe(outcome("abandoned", 9_000.0 + i, n=100_000 + i))
    burst = p.calibration()
    realised = p.realised
    p.calls_to_place(replace(v, at=v.at + 3600.0))
    assert p.realised == pytest.approx(realised / 4.0)
    assert p.calibration() < burst
    keeps = warm(calibration_half_life_s=math.inf)
    keeps.calls_to_place(v)
    for i in range(10):
        keeps.observe(outcome("abandoned", 9_000.0 + i, n=100_000 + i))
    keeps.calls_to_place(replace(v, at=v.at + 3600.0))
    assert keeps.calibration() == pytest.approx(burst)
    with pytest.raises(ValueError, match="calibration_half_life_s"):
        PredictivePacer(calibration_half_life_s=0.0)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="target"):
        PredictivePacer(target=1.5)
    with pytest.raises(ValueError, match="talk_model"):
        PredictivePacer(talk_model="weibull")
    with pytest.raises(ValueError, match="legal_mode"):
        PredictivePacer(legal_mode="fr")
    with pytest.raises(ValueError, match="horizons"):
        PredictivePacer(horizons=0)
    assert [PredictivePacer.strata_for(n) for n in (5, 100, 500, 5000)] == [10, 16, 16, 8]


# ------------------------------------------------------------------- in the engine


def test_in_the_engine_over_a_simulated_day() -> None:
    """The engine feeds it what it needs (wrap-up left, AMD elapsed, whole outcomes), and a
    short day stays within the cap while keeping agents busier than progressive."""
    from dialer.vsim import SimConfig, simulate

    seen: list[PacingView] = []

    class Spy(PredictivePacer):
        def calls_to_place(self, v: PacingView) -> int:
            seen.append(v)
            return super().calls_to_place(v)

    cfg = SimConfig(pacer="predictive", agents=8, hours=0.4, seed=3, answer_rate=0.25, machine_rate=0.2,
                    talk_mean_s=60.0, wrap_s=10.0)
    spy = Spy()
    r = simulate(cfg, pacer=spy)
    base = simulate(replace(cfg, pacer="progressive"))
    assert spy.est.count_calls == r.summary["outcomes"]
    assert any(v.wrap_remaining_s for v in seen) and any(v.answered_elapsed_s for v in seen)
    assert all(0.0 <= x <= 10.0 + 1e-9 for v in seen for x in v.wrap_remaining_s)
    assert all(x >= 0.0 for v in seen for x in v.answered_elapsed_s)
    assert all(v.wrapup_s == 10.0 and v.abandon_after_s == 2.0 and v.ring_timeout_s == 30.0 for v in seen)
    # the people waiting or talking, with their ring times (the scenario's: 2-12 s to a person,
    # 2-4 s to a machine)
    assert all(v.need_ring_s is not None and len(v.need_ring_s) == v.agents_on_call + v.calls_waiting
               for v in seen)
    assert any(v.need_ring_s for v in seen)
    assert all(2.0 <= x <= 12.0 + 1e-9 for v in seen for x in v.need_ring_s or ())
    assert r.summary["abandon_rate"] <= 0.03
    assert r.summary["agent_occupancy"] > base.summary["agent_occupancy"]
    assert spy.mode == "model" and math.isfinite(spy.lam)


# ------------------------------------------------------------------ bot-first and escalations


def test_expected_escalations_take_ready_agents_from_new_answers() -> None:
    p = warm()
    plain = view(agents_ready=4, agents_on_call=6, talk_elapsed_s=(5.0,) * 6)
    # warm-up floor uses the same reduced count: 4 ready, 2 expected escalations -> 2
    cold = PredictivePacer()
    assert cold.calls_to_place(replace(plain, calls_with_bot=5, escalation_rate=0.3)) == 2
    assert cold.calls_to_place(plain) == 4
    # warmed up: expected escalations lower the model's decision too
    assert p.calls_to_place(replace(plain, calls_with_bot=10, escalation_rate=0.4)) < p.calls_to_place(plain)


def test_bot_first_view_is_paced_on_bot_channels_and_escalations() -> None:
    p = warm()
    v = view(agents_ready=2, agents_on_call=8, bot_capacity=30, calls_with_bot=20, calls_dialing=3,
             escalation_rate=0.1)
    # bot: 30 - 20 - 3 = 7; agents: 10 / 0.1 - 20 - 3 = 77
    assert p.calls_to_place(v) == 7
    assert p.mode == "bot"
    # a high escalation rate makes the agents the limit: 10 / 0.5 - 20 - 3 < 0
    assert p.calls_to_place(replace(v, escalation_rate=0.5)) == 0
