"""The virtual-time day: determinism, common random numbers, and the engine's figures against
the simulator's own ground truth."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from itertools import pairwise

import pytest

from dialer.core.pacing.ratio import RatioPacer
from dialer.sim.behaviour import CalleePlan
from dialer.summary import Summary
from dialer.vsim import SimConfig, VirtualDay, simulate

EXTRA_KEYS = {"calls_per_agent_hour", "agent_idle_mean_s", "abandon_rate_worst_hour"}
PATIENT = {"name": "patient", "patience_s": 1e6}
IMPATIENT = {"name": "impatient", "patience_s": {"dist": "uniform", "low": 0.5, "high": 3.0}}


def cfg(**kw: object) -> SimConfig:
    base: dict[str, object] = {"agents": 8, "hours": 0.5, "seed": 3, "answer_rate": 0.3, "talk_mean_s": 60.0}
    base.update(kw)
    return SimConfig(**base)  # type: ignore[arg-type]


def test_the_simulate_api_and_summary_keys():
    r = simulate(SimConfig(pacer="progressive", agents=5, hours=0.25, seed=1, answer_rate=0.25,
                           machine_rate=0.20, talk_mean_s=180.0, wrap_s=10.0, amd=True,
                           abandon_target=0.03, scenario=None))
    run_keys = {f.name for f in fields(Summary)} - {"extra"}
    assert set(r.summary) == run_keys | EXTRA_KEYS
    assert r.summary["pacer"] == "progressive" and r.summary["duration_s"] == 900.0
    assert r.summary["placed"] == r.summary["outcomes"] > 0
    assert r.check() == []


def test_same_seed_same_day_and_another_seed_another_day():
    a, b, c = simulate(cfg(pacer="ratio")), simulate(cfg(pacer="ratio")), simulate(cfg(pacer="ratio", seed=4))
    assert a.summary == b.summary and a.series == b.series and a.truth == b.truth
    assert c.summary != a.summary


class RecordingDay(VirtualDay):
    def _next_plan(self):  # type: ignore[no-untyped-def]
        plan, fs = super()._next_plan()
        self.plans.append(plan)
        return plan, fs


def plans_for(pacer: str, **kw: object) -> list[CalleePlan]:
    day = RecordingDay(cfg(pacer=pacer, **kw))
    day.plans = []  # type: ignore[attr-defined]
    day.run()
    return day.plans  # type: ignore[attr-defined]


def test_call_i_meets_the_same_callee_whatever_the_pacer():
    slow, fast, oracle = plans_for("progressive"), plans_for("ratio", pacer_options={"ratio": 4.0}), \
        plans_for("clairvoyant")
    assert len(fast) > len(slow) > 50
    n = min(len(slow), len(fast), len(oracle))
    assert slow[:n] == fast[:n] == oracle[:n]


@pytest.mark.parametrize("amd", [True, False], ids=["amd", "no-amd"])
@pytest.mark.parametrize(
    ("pacer", "options"),
    [("progressive", {}), ("ratio", {"ratio": 2.5}), ("ratio", {"ratio": 1.4, "tally": "active"}), ("adaptive", {})],
    ids=["progressive", "ratio", "ratio-active", "adaptive"],
)
def test_engine_figures_equal_the_ground_truth(pacer: str, options: dict, amd: bool):
    r = simulate(cfg(pacer=pacer, pacer_options=options, amd=amd, scenario=IMPATIENT))
    assert r.check() == []
    s, t = r.summary, r.truth
    assert s["placed"] == s["outcomes"] == t.placed == sum(t.dispositions.values())
    assert s["abandoned"] == t.abandoned and s["answered_human"] == t.answered_human
    assert s["agent_occupancy"] == pytest.approx(t.occupancy, abs=1e-6)
    if not amd:
        assert "machine" not in s["dispositions"] and t.machines_routed > 0


def test_abandonment_paths_are_all_exercised_and_agree():
    """A hard-driven ratio with impatient callees: queue timeouts (some while an agent rings,
    AgentMissed) and people hanging up on hold, within and beyond the threshold."""
    day = VirtualDay(cfg(pacer="ratio", pacer_options={"ratio": 5.0}, scenario=IMPATIENT), keep_outcomes=True)
    r = day.run()
    assert_truth_but_occupancy_bug(r)
    results = {o.queue_result for o in r.outcomes if o.abandoned}
    assert results == {"timeout", "caller"}
    assert r.truth.hung_up_within_threshold > 0
    assert r.summary["abandon_rate"] > 0.05


def test_no_agent_is_ever_on_two_calls():
    r = VirtualDay(cfg(pacer="ratio", pacer_options={"ratio": 3.0}, agents=5), keep_outcomes=True).run()
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for o in r.outcomes:
        if o.connect_at is not None:
            spans[o.agent].append((o.connect_at, o.hangup_at))
    assert len(spans) == 5
    for intervals in spans.values():
        intervals.sort()
        assert all(b[0] >= a[1] for a, b in pairwise(intervals))
    assert r.truth.agent_overlaps == 0 and r.engine_final.agent_conflicts == 0


@pytest.mark.parametrize("amd", [True, False], ids=["amd", "no-amd"])
def test_progressive_never_abandons_patient_callees(amd: bool):
    r = simulate(cfg(pacer="progressive", agents=10, hours=1.0, amd=amd, scenario=PATIENT))
    assert r.check() == []
    assert r.summary["abandoned"] == 0 and r.truth.abandoned == 0
    assert r.summary["answered_human"] > 100


def assert_truth_but_occupancy_bug(r) -> None:  # type: ignore[no-untyped-def]
    """check(), except that the engine may count up to one tick per offer as wrap-up
    (see the xfail below)."""
    assert [p for p in r.check() if not p.startswith("occupancy")] == []
    c = r.config
    excess = r.engine_day.campaigns[0].occupancy - r.truth.occupancy
    assert -1e-9 <= excess <= c.tick_s * r.truth.connected_in_time / (c.agents * c.duration_s)


def test_clairvoyant_is_a_bound_on_the_same_traffic():
    ratio = simulate(cfg(pacer="ratio", agents=10, hours=1.0))
    clair = simulate(cfg(pacer="clairvoyant", agents=10, hours=1.0))
    assert_truth_but_occupancy_bug(clair)
    assert clair.summary["abandon_rate"] <= 0.01
    assert clair.summary["agent_occupancy"] > ratio.summary["agent_occupancy"]
    assert clair.summary["agent_idle_mean_s"] < ratio.summary["agent_idle_mean_s"]


def test_clairvoyant_occupancy_matches_the_ground_truth():
    assert simulate(cfg(pacer="clairvoyant", agents=10, hours=1.0)).check() == []


def test_hourly_series_cover_the_day():
    r = simulate(cfg(pacer="ratio", hours=1.5))
    s = r.series
    assert s["hour"] == [0, 1]
    assert sum(s["answered_human"]) == r.summary["answered_human"]
    assert sum(s["abandoned"]) == r.summary["abandoned"]
    assert s["abandon_rate_cumulative"][-1] == pytest.approx(r.summary["abandon_rate"], abs=1e-6)
    assert r.summary["abandon_rate_worst_hour"] == max(x for x in s["abandon_rate"] if x is not None)
    occ = s["occupancy"]
    assert (occ[0] * 3600 + occ[1] * 1800) / 5400 == pytest.approx(r.summary["agent_occupancy"], abs=1e-5)
    assert all(x > 0 for x in s["calls_in_flight_mean"]) and r.calls_in_flight_mean > 0
    tl = r.timeline.to_json(8)
    assert len(tl["start_s"]) == 18 and tl["start_s"][1] == 300.0
    assert sum(tl["answered_human"]) == r.summary["answered_human"] and sum(tl["abandoned"]) == r.summary["abandoned"]
    assert sum(r.timeline.busy_s) == pytest.approx(sum(r.hourly.busy_s))
    assert r.summary["calls_per_agent_hour"] == pytest.approx(
        r.summary["dispositions"]["connected"] / (8 * 1.5), abs=1e-3)


def test_a_pacer_instance_overrides_the_name():
    r = simulate(cfg(pacer="progressive"), pacer=RatioPacer(3.0))
    assert r.summary["pacer"] == "ratio"
    assert r.summary["placed"] > simulate(cfg(pacer="progressive")).summary["placed"]
