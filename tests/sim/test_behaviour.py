from __future__ import annotations

import ast
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dialer.sim import behaviour
from dialer.sim.behaviour import (
    PLAN_DRAWS,
    Behaviour,
    CalleePlan,
    kind_from_last_digit,
    sample_agent_answer,
    sample_plan,
    sample_wrapup,
)
from dialer.sim.scenario import CALLEE_KINDS, Dist, Scenario

N = 20_000


@pytest.fixture(scope="module")
def default() -> Scenario:
    return Scenario.load("collections_day")


@pytest.fixture(scope="module")
def plans(default: Scenario) -> list[CalleePlan]:
    rng = np.random.default_rng(12345)
    return [sample_plan(default, rng) for _ in range(N)]


def test_outcome_shares_converge_to_the_scenario(
    default: Scenario, plans: list[CalleePlan]
) -> None:
    counts = Counter(p.kind for p in plans)
    for kind, share in default.outcomes.as_dict().items():
        observed = counts[kind] / N
        sd = math.sqrt(share * (1 - share) / N)
        assert abs(observed - share) < 5 * sd + 1e-9, (kind, observed, share)


def test_lognormal_talk_time_has_the_requested_mean(default: Scenario) -> None:
    rng = np.random.default_rng(7)
    talk = np.array([default.talk_s.sample(rng) for _ in range(N)])
    assert talk.mean() == pytest.approx(120.0, rel=0.03)
    # sigma is the sd of log(talk)
    assert np.log(talk).std() == pytest.approx(0.5, rel=0.05)


def test_person_talk_time_in_plans_has_the_requested_mean(plans: list[CalleePlan]) -> None:
    talk = [p.talk_s for p in plans if p.kind == "person"]
    assert np.mean(talk) == pytest.approx(120.0, rel=0.05)


def test_confusion_matrix_is_applied(default: Scenario, plans: list[CalleePlan]) -> None:
    for kind, row in (
        ("person", default.amd_confusion.person),
        ("machine", default.amd_confusion.machine),
    ):
        verdicts = Counter(p.amd_status for p in plans if p.kind == kind)
        total = sum(verdicts.values())
        for status, prob in row.as_dict().items():
            sd = math.sqrt(prob * (1 - prob) / total)
            assert abs(verdicts[status] / total - prob) < 5 * sd + 1e-9, (kind, status)


def test_amd_causes_and_delays_follow_the_verdict(
    default: Scenario, plans: list[CalleePlan]
) -> None:
    for p in plans:
        if not p.answers:
            assert p.amd_status == ""
            continue
        if p.amd_status == "HUMAN":
            assert p.amd_cause == "HUMAN-800-800"
            assert 1.6 <= p.amd_delay_s <= 2.4
        elif p.amd_status == "MACHINE":
            assert p.amd_cause == (
                "MAXWORDS-3-2" if p.kind == "machine" else "LONGGREETING-1500-1500"
            )
            assert 1.6 <= p.amd_delay_s <= 2.4
        else:
            assert p.amd_cause == "TOOLONG-5000"
            assert p.amd_delay_s == default.amd_total_analysis_s


def test_ring_times_and_machine_line(plans: list[CalleePlan]) -> None:
    for p in plans:
        if p.kind == "person":
            assert 2.0 <= p.ring_s <= 12.0 and p.patience_s > 0
        elif p.kind == "machine":
            assert 2.0 <= p.ring_s <= 4.0
            assert p.talk_s == pytest.approx(p.greeting_s + 10.0)
        elif p.kind == "no_answer":
            assert p.ring_s == math.inf
        else:
            assert 0.2 <= p.ring_s <= 2.0


def test_patience_mean(plans: list[CalleePlan]) -> None:
    patience = [p.patience_s for p in plans if p.kind == "person"]
    assert np.mean(patience) == pytest.approx(8.0, rel=0.05)


def test_deterministic_for_a_seed(default: Scenario) -> None:
    b1, b2 = Behaviour(default, seed=3), Behaviour(default, seed=3)
    assert [b1.plan() for _ in range(50)] == [b2.plan() for _ in range(50)]
    assert [b1.wrapup_s() for _ in range(5)] == [b2.wrapup_s() for _ in range(5)]
    assert [b1.agent_answer_s() for _ in range(5)] == [b2.agent_answer_s() for _ in range(5)]


def test_different_seeds_give_different_runs(default: Scenario) -> None:
    b3, b4 = Behaviour(default, seed=3), Behaviour(default, seed=4)
    assert [b3.plan() for _ in range(30)] != [b4.plan() for _ in range(30)]


def test_each_plan_spends_a_fixed_number_of_draws(default: Scenario) -> None:
    rng = np.random.default_rng(1)
    ref = np.random.default_rng(1)
    for _ in range(100):
        sample_plan(default, rng)
        ref.random(PLAN_DRAWS)
    assert rng.random() == ref.random()


def test_agent_draws_do_not_shift_callee_plans(default: Scenario) -> None:
    quiet, busy = Behaviour(default, seed=9), Behaviour(default, seed=9)
    a = []
    b = []
    for i in range(40):
        a.append(quiet.plan())
        for _ in range(i % 4):
            busy.agent_answer_s()
            busy.wrapup_s()
        b.append(busy.plan())
    assert a == b


def test_scenario_seed_is_the_default(default: Scenario) -> None:
    assert Behaviour(default).seed == default.seed
    assert Behaviour(default, seed=5).seed == 5


def test_agent_samples(default: Scenario) -> None:
    rng = np.random.default_rng(2)
    answers = [sample_agent_answer(default, rng) for _ in range(1000)]
    assert min(answers) >= 0.2 and max(answers) <= 0.6
    assert {sample_wrapup(default, rng) for _ in range(10)} == {10.0}


def test_last_digit_rule_of_the_test_pbx() -> None:
    assert [kind_from_last_digit(f"555000000{d}") for d in range(10)] == [
        "person",
        "person",
        "person",
        "person",
        "person",
        "machine",
        "machine",
        "busy",
        "no_answer",
        "congestion",
    ]
    assert kind_from_last_digit("5550000099") == "invalid"
    assert kind_from_last_digit("abc") is None
    assert kind_from_last_digit("") is None


def test_verification_scenario_is_exact() -> None:
    s = Scenario.load("verification")
    rng = np.random.default_rng(0)
    p = sample_plan(s, rng, "5550000001")
    assert (p.kind, p.amd_status, p.ring_s, p.amd_delay_s, p.talk_s) == (
        "person",
        "HUMAN",
        2.0,
        2.0,
        30.0,
    )
    assert sample_plan(s, rng, "5550000005").amd_status == "MACHINE"
    assert sample_plan(s, rng, "5550000099").kind == "invalid"
    # a number without a final digit falls back to the shares
    assert sample_plan(s, rng, "x").kind in CALLEE_KINDS


def test_zero_share_is_never_drawn() -> None:
    s = Scenario.load().with_changes(
        outcomes={
            "person": 1.0,
            "machine": 0,
            "busy": 0,
            "no_answer": 0,
            "congestion": 0,
            "invalid": 0,
        }
    )
    rng = np.random.default_rng(0)
    assert {sample_plan(s, rng).kind for _ in range(500)} == {"person"}


def test_plan_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        CalleePlan("alien")
    with pytest.raises(ValueError, match="amd_status"):
        CalleePlan("person", amd_status="MAYBE")
    with pytest.raises(ValueError, match="talk_s"):
        CalleePlan("person", talk_s=-1)
    with pytest.raises(ValueError):
        CalleePlan.failing("person")
    assert CalleePlan.failing("busy", 0.5).amd_status == ""


def test_dist_inverse_cdf() -> None:
    assert Dist.fixed(3).from_uniform(0.7) == 3
    assert Dist.uniform(2, 4).from_uniform(0.5) == 3
    assert Dist.exponential(8).from_uniform(1 - math.exp(-1)) == pytest.approx(8)
    # the median of a lognormal with mean m and sigma s is m * exp(-s^2/2)
    assert Dist.lognormal(120, 0.5).from_uniform(0.5) == pytest.approx(120 * math.exp(-0.125))
    assert math.isfinite(Dist.lognormal(120, 0.5).from_uniform(0.0))


def test_module_is_pure() -> None:
    """behaviour.py will run inside a virtual-time simulator: no clock, IO or asyncio."""
    tree = ast.parse(Path(behaviour.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "math", "dataclasses", "numpy"}, imported
    rel = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
    assert rel <= {"scenario"}
