"""deploy/prometheus: the scrape config and the rules load in promtool, the rule unit tests
pass, every alert is unit-tested both ways, and the rules read only metrics the dialer
exports."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from .conftest import PROM, PROMETHEUS_SERIES, RULES, run_promtool
from .promql import metric_names

pytestmark = pytest.mark.integration  # runs promtool

TESTS = sorted((PROM / "tests").glob("*.yml"))
ALLOWED_ALERT_LABELS = {"campaign", "pbx", "rule", "reason", "instance", "job"}


def _alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_check_config(promtool: str) -> None:
    out = run_promtool(promtool, "check", "config", "prometheus.yml", cwd=PROM)
    print(out)
    assert "SUCCESS" in out


def test_scrape_config_targets_the_dialer() -> None:
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text(encoding="utf-8"))
    assert cfg["rule_files"] == ["dialer.rules.yml"]
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "dialer"]
    assert job["scrape_interval"] == "5s"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9108"]


def test_check_rules(promtool: str, rules: dict[str, Any]) -> None:
    out = run_promtool(promtool, "check", "rules", str(RULES))
    print(out)
    n = sum(len(g["rules"]) for g in rules["groups"])
    assert f"SUCCESS: {n} rules found" in out


def test_rule_unit_tests(promtool: str) -> None:
    assert TESTS, "no rule unit tests in deploy/prometheus/tests/"
    out = run_promtool(promtool, "test", "rules", *map(str, TESTS))
    print(out)
    assert out.count("SUCCESS") == len(TESTS)


def test_every_alert_is_tested_firing_and_quiet(rules: dict[str, Any]) -> None:
    """An alert with only a firing case could fire all the time; one with only a quiet case
    could never fire. Each needs both."""
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in group.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {a["alert"] for a in _alerts(rules)}
    assert names - fires == set(), "alerts without a test where they fire"
    assert names - quiet == set(), "alerts without a near-miss test where they stay quiet"
    assert (fires | quiet) - names == set(), "tests for alerts that do not exist"


def test_rules_read_only_exported_metrics(
    rules: dict[str, Any], exported_names: frozenset[str], recorded_names: frozenset[str],
) -> None:
    known = exported_names | recorded_names | PROMETHEUS_SERIES
    for group in rules["groups"]:
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            name = rule.get("record") or rule.get("alert")
            assert names, f"{name}: no metric name found in {rule['expr']!r}"
            unknown = sorted(names - known)
            assert not unknown, f"{name} reads metrics the dialer does not export: {unknown}"


def test_recording_rule_names_follow_convention(recorded_names: frozenset[str]) -> None:
    # level:metric:operations (https://prometheus.io/docs/practices/rules/)
    for name in recorded_names:
        assert re.fullmatch(r"[a-z_]+:dialer_[a-z0-9_]+:[a-z0-9_]+", name), name


def test_alerts_are_labelled_and_documented(rules: dict[str, Any]) -> None:
    for a in _alerts(rules):
        name = a["alert"]
        assert re.fullmatch(r"Dialer[A-Z][A-Za-z0-9]+", name), name
        assert set(a["labels"]) == {"severity"}, f"{name}: only a severity label"
        assert a["labels"]["severity"] in {"warning", "critical"}, name
        assert set(a["annotations"]) == {"summary", "description"}, name
        text = " ".join(a["annotations"].values())
        used = set(re.findall(r"\$labels\.(\w+)", text))
        assert used <= ALLOWED_ALERT_LABELS, f"{name} shows {sorted(used - ALLOWED_ALERT_LABELS)}"
        grouped = set()
        for clause in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", a["expr"]):
            grouped |= {s.strip() for s in clause.split(",") if s.strip()}
        extra = sorted(grouped - ALLOWED_ALERT_LABELS)
        assert not extra, f"{name} groups by {extra}"
