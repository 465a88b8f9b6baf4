from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialer.errors import InputError
from dialer.sim.scenario import (
    AmdConfusion,
    Dist,
    OutcomeShares,
    Scenario,
    ScenarioError,
    bundled_scenarios,
)

SHARES = {
    "person": 0.25,
    "machine": 0.20,
    "busy": 0.10,
    "no_answer": 0.35,
    "congestion": 0.05,
    "invalid": 0.05,
}


def test_bundled_scenarios_load_and_round_trip() -> None:
    assert {"collections_day", "service_day", "verification"} <= set(bundled_scenarios())
    for name in bundled_scenarios():
        s = Scenario.load(name)
        assert s.name == name
        assert s.outcomes.total == pytest.approx(1.0)
        assert Scenario.from_dict(s.to_dict()) == s


def test_default_is_collections_day() -> None:
    s = Scenario.load()
    assert s.name == "collections_day"
    assert s.outcomes == OutcomeShares(**SHARES)
    assert s.talk_s == Dist.lognormal(120, 0.5)
    assert s.amd_delay_s == Dist.uniform(1.6, 2.4)
    assert s.amd_confusion == AmdConfusion()
    assert s.agent_wrapup_s == Dist.fixed(10)
    assert s.patience_s.mean() == 8.0
    # the code defaults and the shipped default file agree
    assert Scenario().outcomes == s.outcomes and Scenario().talk_s == s.talk_s


def test_service_day_answers_more() -> None:
    assert Scenario.load("service_day").outcomes.person > Scenario.load().outcomes.person


def test_scenario_is_frozen() -> None:
    s = Scenario.load()
    with pytest.raises(AttributeError):
        s.seed = 3  # type: ignore[misc]


def test_unknown_key_is_rejected_with_its_name() -> None:
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_dict({"outcomes": SHARES, "talktime": 30})
    assert "unknown field 'talktime'" in str(exc.value)
    assert "talk_s" in str(exc.value)  # the expected names are listed


def test_unknown_nested_keys_are_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"outcomes: unknown kind 'voicemail'"):
        Scenario.from_dict({"outcomes": {**SHARES, "voicemail": 0.0}})
    with pytest.raises(ScenarioError, match=r"talk_s: unknown key 'median' for a lognormal"):
        Scenario.from_dict(
            {"talk_s": {"dist": "lognormal", "mean": 100, "sigma": 0.5, "median": 80}}
        )
    with pytest.raises(ScenarioError, match=r"amd_confusion.person: unknown verdict 'HANGUP'"):
        Scenario.from_dict(
            {
                "amd_confusion": {
                    "person": {"HUMAN": 1, "MACHINE": 0, "NOTSURE": 0, "HANGUP": 0},
                    "machine": {"HUMAN": 0, "MACHINE": 1, "NOTSURE": 0},
                }
            }
        )


def test_shares_must_sum_to_one() -> None:
    bad = {**SHARES, "person": 0.20}
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_dict({"outcomes": bad})
    msg = str(exc.value)
    assert "outcomes: expected shares summing to 1, got 0.95" in msg
    assert "person=0.2" in msg


def test_shares_within_tolerance_are_accepted() -> None:
    ok = {**SHARES, "person": 0.25 + 5e-7}
    assert Scenario.from_dict({"outcomes": ok}).outcomes.person == pytest.approx(0.25, abs=1e-6)


def test_missing_share_is_named() -> None:
    partial = dict(SHARES)
    del partial["invalid"]
    with pytest.raises(ScenarioError, match=r"outcomes.invalid: missing"):
        Scenario.from_dict({"outcomes": partial})


def test_negative_times_name_the_field() -> None:
    with pytest.raises(
        ScenarioError, match=r"patience_s: expected a non-negative number of seconds, got -1"
    ):
        Scenario.from_dict({"patience_s": -1})
    with pytest.raises(
        ScenarioError, match=r"talk_s.mean: expected a positive number of seconds, got -3"
    ):
        Scenario.from_dict({"talk_s": {"dist": "lognormal", "mean": -3, "sigma": 0.5}})
    with pytest.raises(ScenarioError, match=r"person_ring_s.low: expected a non-negative"):
        Scenario.from_dict({"person_ring_s": {"dist": "uniform", "low": -2, "high": 12}})
    with pytest.raises(ScenarioError, match=r"person_ring_s.high: expected a number >= low"):
        Scenario.from_dict({"person_ring_s": {"dist": "uniform", "low": 12, "high": 2}})
    with pytest.raises(ScenarioError, match=r"amd_total_analysis_s: expected a non-negative"):
        Scenario.from_dict({"amd_total_analysis_s": -5})


def test_bad_types_and_kinds() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"talk_s.dist: expected one of fixed, uniform, lognormal, exponential, got 'gamma'",
    ):
        Scenario.from_dict({"talk_s": {"dist": "gamma", "mean": 3}})
    with pytest.raises(ScenarioError, match=r"talk_s.sigma: missing"):
        Scenario.from_dict({"talk_s": {"dist": "lognormal", "mean": 3}})
    with pytest.raises(ScenarioError, match=r"talk_s: expected seconds"):
        Scenario.from_dict({"talk_s": "long"})
    with pytest.raises(ScenarioError, match=r"talk_s: expected seconds"):
        Scenario.from_dict({"talk_s": True})
    with pytest.raises(ScenarioError, match=r"seed: expected a non-negative integer or null"):
        Scenario.from_dict({"seed": 1.5})
    with pytest.raises(
        ScenarioError, match=r"callee_selection: expected one of random, last_digit"
    ):
        Scenario.from_dict({"callee_selection": "first_digit"})
    with pytest.raises(ScenarioError, match=r"expected a JSON object"):
        Scenario.from_dict([1, 2])  # type: ignore[arg-type]


def test_confusion_rows_must_sum_to_one() -> None:
    with pytest.raises(
        ScenarioError, match=r"amd_confusion.machine: expected HUMAN\+MACHINE\+NOTSURE to sum to 1"
    ):
        Scenario.from_dict(
            {
                "amd_confusion": {
                    "person": {"HUMAN": 0.93, "MACHINE": 0.04, "NOTSURE": 0.03},
                    "machine": {"HUMAN": 0.5, "MACHINE": 0.88, "NOTSURE": 0.04},
                }
            }
        )


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_dict({"foo": 1, "patience_s": -1, "talk_s": {"dist": "uniform", "low": 1}})
    assert len(exc.value.errors) == 3
    assert isinstance(exc.value, ValueError)
    assert isinstance(exc.value, InputError)


def test_from_json_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "day.json"
    p.write_text(json.dumps({"name": "day", "talk_s": -1}))
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_json(p)
    assert str(p) in str(exc.value) and "talk_s" in str(exc.value)
    p.write_text("{not json")
    with pytest.raises(ScenarioError, match=r"not valid JSON at line 1"):
        Scenario.from_json(p)
    with pytest.raises(ScenarioError, match="cannot read"):
        Scenario.from_json(tmp_path / "missing.json")


def test_load_accepts_names_paths_dicts_and_scenarios(tmp_path: Path) -> None:
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"name": "mine", "seed": 4}))
    assert Scenario.load(p).seed == 4
    assert Scenario.load(str(p)).name == "mine"
    assert Scenario.load({"name": "d"}).name == "d"
    s = Scenario.load("service_day")
    assert Scenario.load(s) is s
    with pytest.raises(ScenarioError, match="bundled scenarios"):
        Scenario.load("no_such_day")


def test_with_changes_validates() -> None:
    s = Scenario.load()
    t = s.with_changes(talk_s=Dist.fixed(30), seed=9)
    assert t.talk_s == Dist.fixed(30) and t.seed == 9 and t.outcomes == s.outcomes
    with pytest.raises(ScenarioError, match="talk_s"):
        s.with_changes(talk_s=-4)


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ScenarioError, match="outcomes"):
        Scenario(outcomes=OutcomeShares(person=0.9))
    with pytest.raises(ScenarioError):
        Dist.uniform(3, 1)


def test_bot_fields_are_validated_with_their_names() -> None:
    from dialer.sim.scenario import ScenarioError

    base = Scenario.load().to_dict()
    for field, bad, words in [("bot_escalate_share", 1.5, "between 0 and 1"),
                              ("bot_channels", -1, "non-negative integer"),
                              ("bot_channels", 2.5, "non-negative integer"),
                              ("bot_escalate_after_s", -3, "bot_escalate_after_s")]:
        with pytest.raises(ScenarioError, match=field) as info:
            Scenario.from_dict({**base, field: bad})
        assert words in str(info.value)
    ok = Scenario.from_dict({**base, "bot_channels": 4, "bot_escalate_share": 0.25})
    assert (ok.bot_channels, ok.bot_escalate_share) == (4, 0.25)
