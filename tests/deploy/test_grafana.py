"""deploy/grafana: the dashboard is valid JSON Grafana can provision, every PromQL expression
in it is accepted by promtool and names only metrics the dialer exports (or the recording
rules of deploy/prometheus), and every exported metric is on it."""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from .conftest import DASHBOARD, DEPLOY, PROMETHEUS_SERIES, run_promtool
from .promql import metric_names, substitute_grafana_vars

ROWS = {"Campaign overview", "Agents", "Pacing", "Compliance", "AMI health", "Outbox", "Bot-first"}
DS = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])  # panels inside a collapsed row


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation query, variables substituted.
    Query variables (`label_values(metric, label)`) contribute their metric selector."""
    values = {name: "c1" if name == "campaign" else "default" for name in _variables(dashboard)}
    exprs: list[tuple[str, str]] = []
    for p in _panels(dashboard):
        for t in p.get("targets", []):
            where = f"panel {p['title']!r} target {t['refId']}"
            exprs.append((where, substitute_grafana_vars(t["expr"], values)))
    for a in dashboard["annotations"]["list"]:
        if "expr" in a:
            exprs.append((f"annotation {a['name']!r}", substitute_grafana_vars(a["expr"], values)))
    for name, v in _variables(dashboard).items():
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["definition"])
            assert m, f"variable {name}: expected label_values(metric, label): {v['definition']!r}"
            assert v["query"]["query"] == v["definition"], name
            exprs.append((f"variable ${name}", m.group(1)))
    return exprs


def test_dashboard_shape(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == "dialer-overview"
    assert dashboard["id"] is None  # provisioned: Grafana assigns the id
    variables = _variables(dashboard)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    campaign = variables["campaign"]
    assert campaign["definition"] == "label_values(dialer_calls_originated_total, campaign)"
    assert campaign["datasource"] == DS
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert rows == ROWS


def test_panels_are_well_formed(dashboard: dict[str, Any]) -> None:
    ids: set[int] = set()
    cells: dict[tuple[int, int], str] = {}
    for p in _panels(dashboard):
        assert p["id"] not in ids, f"duplicate panel id {p['id']}"
        ids.add(p["id"])
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{p['title']!r} is wider than the grid"
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == DS, f"{p['title']!r} must use the ${{datasource}} variable"
        assert p["targets"], f"{p['title']!r} has no query"
        assert p.get("description"), f"{p['title']!r} has no description"
        for t in p["targets"]:
            assert t["datasource"] == DS, p["title"]
            assert t["expr"].strip(), p["title"]


def test_every_expression_names_only_exported_metrics(
    dashboard: dict[str, Any], exported_names: frozenset[str], recorded_names: frozenset[str],
) -> None:
    known = exported_names | recorded_names | PROMETHEUS_SERIES
    problems = []
    for where, expr in _expressions(dashboard):
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric name in {expr!r}")
        elif unknown := names - known:
            problems.append(f"{where}: {sorted(unknown)} not exported by the dialer nor recorded")
    assert not problems, "\n".join(problems)


@pytest.mark.integration  # runs promtool
def test_promtool_accepts_every_expression(
    dashboard: dict[str, Any], promtool: str, tmp_path: pathlib.Path,
) -> None:
    """Each expression becomes a recording rule in a scratch rules file (JSON is YAML)."""
    exprs = _expressions(dashboard)
    rules = [{"record": f"dashboard:expr:n{i}", "expr": expr} for i, (_, expr) in enumerate(exprs)]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}, indent=1))
    index = "\n".join(f"  n{i}: {where}: {expr}" for i, (where, expr) in enumerate(exprs))
    print(f"expressions:\n{index}")
    out = run_promtool(promtool, "check", "rules", str(path))
    print(out)
    assert f"SUCCESS: {len(exprs)} rules found" in out


def test_every_exported_metric_is_on_the_dashboard(
    dashboard: dict[str, Any], metric_families: dict[str, str], rules: dict[str, Any],
) -> None:
    """Directly, or through a recording rule a panel plots."""
    recorded = {r["record"]: metric_names(r["expr"]) for g in rules["groups"] for r in g["rules"]
                if "record" in r}
    used: set[str] = set()
    for _, expr in _expressions(dashboard):
        used |= metric_names(expr)
    while new := set().union(*(recorded[n] for n in used if n in recorded)) - used:
        used |= new
    missing = []
    for family, kind in metric_families.items():
        if family.endswith("_created"):
            continue  # a histogram's creation time, not a figure to plot
        series = {family}
        if kind == "histogram":
            series = {family + s for s in ("_bucket", "_sum", "_count")}
        if not series & used:
            missing.append(family)
    assert not missing, f"exported but on no dashboard panel: {missing}"


def test_every_alert_threshold_panel_exists(dashboard: dict[str, Any]) -> None:
    """The panels the alerts point supervisors to."""
    titles = {p["title"] for p in _panels(dashboard)}
    for title in ("Abandon rate vs cap", "Abandon rate, share of cap (1h)", "Agents by state",
                  "AMI link", "Dialing paused", "Outbox depth", "Compliance gate errors (this run)",
                  "Compliance refusals by rule per minute", "Dialer scrape target",
                  "Escalations per minute", "Escalated people waiting"):
        assert title in titles


def test_provisioning_examples() -> None:
    prov_dir = DEPLOY / "grafana" / "provisioning"
    ds = yaml.safe_load((prov_dir / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    assert ds["apiVersion"] == 1
    assert [d["type"] for d in ds["datasources"]] == ["prometheus"]
    prov = yaml.safe_load((prov_dir / "dashboards" / "dialer.yml").read_text(encoding="utf-8"))
    assert prov["apiVersion"] == 1
    (provider,) = prov["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
