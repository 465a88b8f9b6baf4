"""SimConfig validation and the scenario it builds."""

from __future__ import annotations

import pytest

from dialer.errors import ConfigError
from dialer.sim.scenario import Scenario
from dialer.vsim import SimConfig, build_scenario


def test_traffic_knobs_override_the_scenario():
    s = build_scenario(SimConfig(answer_rate=0.10, machine_rate=0.30, talk_mean_s=45.0, wrap_s=7.0))
    shares = s.outcomes.as_dict()
    assert shares["person"] == pytest.approx(0.10) and shares["machine"] == pytest.approx(0.30)
    # the rest keeps the collections_day proportions 10 : 35 : 5 : 5
    rest = 0.60
    assert shares["busy"] == pytest.approx(rest * 10 / 55)
    assert shares["no_answer"] == pytest.approx(rest * 35 / 55)
    assert shares["congestion"] == pytest.approx(rest * 5 / 55)
    assert shares["invalid"] == pytest.approx(rest * 5 / 55)
    assert s.talk_s.kind == "lognormal" and s.talk_s.mean() == 45.0 and s.talk_s.b == 0.5
    assert s.agent_wrapup_s.kind == "fixed" and s.agent_wrapup_s.mean() == 7.0


def test_without_knobs_the_scenario_is_used_as_is():
    assert build_scenario(SimConfig()) == Scenario.load("collections_day")
    assert build_scenario(SimConfig(scenario="service_day")).outcomes.person == 0.5


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"agents": 0}, "agents"),
        ({"hours": 0}, "hours"),
        ({"seed": -1}, "seed"),
        ({"answer_rate": 1.5}, "answer_rate"),
        ({"answer_rate": 0.7, "machine_rate": 0.4}, "answer_rate + machine_rate"),
        ({"talk_mean_s": 0}, "talk_mean_s"),
        ({"abandon_target": 0}, "abandon_target"),
        ({"tick_s": 0}, "tick_s"),
        ({"amd": "yes"}, "amd"),
    ],
)
def test_bad_values_name_the_field(kw: dict, field: str):
    with pytest.raises(ConfigError, match=f"simulation: {field.replace('+', '[+]')}"):
        SimConfig(**kw)


def test_line_cap_never_binds_by_default():
    assert SimConfig(agents=10).lines == 1000
    assert SimConfig(agents=500).lines == 10000
    assert SimConfig(agents=5, max_lines=12).lines == 12
