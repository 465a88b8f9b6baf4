"""Presets are data: every rule cites its source, unknown keys are errors naming their path."""

from __future__ import annotations

import json

import pytest

from dialer.compliance import PRESETS, load_preset, load_rules, preset_dict
from dialer.core.compliance import KINDS, Rules
from dialer.errors import ConfigError

EVERY_PRESET = (
    "all.borrower_busy",
    "all.dnc",
    "all.max_attempts_per_number_per_day",
    "all.holidays",
    "all.caller_id",
)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_cite_a_source_for_every_rule(name: str) -> None:
    r = load_preset(name)
    assert r.preset == name and r.fingerprint.startswith(name + ":")
    for spec in r.specs:
        assert len(spec.source) > 20, spec.id
        assert spec.kind in KINDS
    ids = {s.id for s in r.specs}
    assert set(EVERY_PRESET) <= ids


def test_the_issue_rules_are_in_the_presets() -> None:
    cn, us, uk = (load_preset(p) for p in PRESETS)
    assert cn.spec("cn.quiet_hours").params["allowed_until"].hour == 22
    assert cn.spec("cn.conversations_per_day").params["max"] == 3
    assert "GB/T 45251-2025" in cn.spec("cn.conversations_per_day").source
    assert cn.spec("cn.notice_per_day").params["max"] == 3
    assert cn.spec("cn.unanswered_per_number").params["max"] == 6
    assert (
        "design" in cn.spec("cn.third_party.contact_period").design_choice.lower()
        or "no legal number" in cn.spec("cn.third_party.contact_period").design_choice.lower()
    )
    assert (
        us.spec("us.reg_f.7in7").params["days"] == 7 and us.spec("us.reg_f.7in7").params["max"] == 7
    )
    assert "1006.14(b)(2)" in us.spec("us.reg_f.7in7").source
    assert us.spec("us.reg_f.cooldown_after_conversation").params["days"] == 7
    assert us.spec("us.tsr.abandonment_rate").params["window_hours"] == 720
    assert us.spec("us.min_ring").params["min_s"] == 15
    assert uk.spec("uk.ofcom.abandoned_72h").params["hours"] == 72
    assert uk.spec("uk.ofcom.amd_24h").params["hours"] == 24
    assert uk.spec("uk.ofcom.abandonment_rate").params["window_hours"] == 24
    assert uk.spec("all.borrower_busy").params["max_call_s"] == 7200


def test_unknown_key_in_a_rule_names_its_path() -> None:
    with pytest.raises(ConfigError, match=r'rules\["cn.quiet_hours"\].alowed_from: unknown key'):
        load_preset("cn").with_overrides({"rules": {"cn.quiet_hours": {"alowed_from": "09:00"}}})


def test_unknown_key_in_a_nested_filter_names_its_path() -> None:
    raw = preset_dict("us")
    raw["rules"]["us.reg_f.7in7"]["count"]["resutls"] = ["no_answer"]
    with pytest.raises(ConfigError, match=r'rules\["us.reg_f.7in7"\].count.resutls: unknown key'):
        Rules.from_dict(raw)


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError, match=r"overrides\.rule: unknown key"):
        load_preset("uk").with_overrides({"rule": {}})


def test_bad_values_are_named() -> None:
    with pytest.raises(ConfigError, match="allowed_from: expected local time"):
        load_preset("cn").with_overrides({"rules": {"cn.quiet_hours": {"allowed_from": "8am"}}})
    with pytest.raises(ConfigError, match=r"max: expected an integer >= 0"):
        load_preset("cn").with_overrides({"rules": {"cn.notice_per_day": {"max": -1}}})
    with pytest.raises(ConfigError, match=r"results\[0\]: expected one of"):
        load_preset("cn").with_overrides(
            {"rules": {"cn.notice_per_day": {"count": {"results": ["talk"]}}}}
        )
    with pytest.raises(ConfigError, match="allowed_from must be before allowed_until"):
        load_preset("cn").with_overrides({"rules": {"cn.quiet_hours": {"allowed_from": "23:00"}}})


def test_overrides_merge_and_change_the_fingerprint() -> None:
    base = load_preset("cn")
    r = base.with_overrides(
        {
            "rules": {
                "cn.third_party.contact_period": {"hours": 720},
                "all.caller_id": {"allowed": {"c1": ["+861012345678"]}},
            }
        }
    )
    assert r.spec("cn.third_party.contact_period").params["hours"] == 720
    assert (
        r.spec("cn.third_party.contact_period").source
        == base.spec("cn.third_party.contact_period").source
    )
    assert r.fingerprint != base.fingerprint
    off = base.with_overrides({"rules": {"cn.notice_per_day": {"enabled": False}}})
    assert "cn.notice_per_day" not in {s.id for s in off.active}


def test_a_new_rule_needs_a_kind_and_a_source() -> None:
    with pytest.raises(ConfigError, match=r"source.*required"):
        load_preset("cn").with_overrides({"rules": {"acme.no_sundays": {"kind": "holidays"}}})
    with pytest.raises(ConfigError, match="kind: expected one of"):
        load_preset("cn").with_overrides({"rules": {"acme.x": {"source": "policy"}}})
    r = load_preset("cn").with_overrides(
        {
            "rules": {
                "acme.late_start": {
                    "kind": "local_hours",
                    "allowed_from": "09:00",
                    "allowed_until": "20:00",
                    "source": "ACME policy 7.1",
                }
            }
        }
    )
    assert r.spec("acme.late_start").params["allowed_from"].hour == 9


def test_kind_of_a_preset_rule_cannot_change_and_gate_ids_are_reserved() -> None:
    with pytest.raises(ConfigError, match="cannot change the kind"):
        load_preset("cn").with_overrides({"rules": {"cn.quiet_hours": {"kind": "holidays"}}})
    with pytest.raises(ConfigError, match="reserved"):
        load_preset("cn").with_overrides(
            {"rules": {"gate.unknown_timezone": {"kind": "forbid", "source": "x"}}}
        )


def test_rules_file_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "r.json"
    bad.write_text('{"rules": {\n  "cn.quiet_hours": {"allowed_from": "09:00",}\n}}')
    with pytest.raises(ConfigError, match="line 2"):
        load_rules("cn", bad)
    good = tmp_path / "g.json"
    good.write_text(json.dumps({"rules": {"cn.quiet_hours": {"allowed_from": "09:00"}}}))
    assert load_rules("cn", good).spec("cn.quiet_hours").params["allowed_from"].hour == 9
    with pytest.raises(ConfigError, match="preset: expected one of"):
        load_rules("fr")


def test_rules_are_immutable() -> None:
    r = load_preset("cn")
    _ = r.compiled
    with pytest.raises(AttributeError):
        r.preset = "us"


def test_lookback_covers_the_longest_window() -> None:
    assert load_preset("us").lookback_s() >= 9 * 86400
    assert load_preset("cn").unbounded_parties() == {"third_party"}
