"""Shared fixtures for the deploy/ artifacts: promtool, and the metric names the dialer
really exports (from a real exposition, not a hand-kept list)."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from dialer.core import CampaignConfig, Dialer, Lead
from dialer.core import commands as cmd
from dialer.core import events as ev
from dialer.metrics import AmiFigures, DialerMetrics, MetricsState

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
RULES = PROM / "dialer.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dialer-dashboard.json"
UNIT = DEPLOY / "systemd" / "dialer.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "dialer.env.example"
OPERATIONS = ROOT / "docs" / "operations.md"

# Series Prometheus itself writes: target health and alert state.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS"})


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found on PATH. Install it by running `scripts/services-up.sh` "
                    "as root (Debian's prometheus package provides promtool).", pytrace=False)
    return path


def run_promtool(promtool: str, *args: str, cwd: pathlib.Path = ROOT) -> str:
    """Run promtool; fail with its whole output (it names the rule and the problem)."""
    proc = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed (exit {proc.returncode}):\n{out}",
                    pytrace=False)
    return out


def _drive_dialer() -> Dialer:
    """A tiny real campaign through the core: two agents, two leads; one lead is refused by
    the compliance gate, the other is answered by a person, talks to an agent and ends."""
    d = Dialer([CampaignConfig(name="c1", wrapup_s=5.0)], run_id="deploytest")
    for agent in ("agent1", "agent2"):
        d.handle(ev.AgentStatus(0.0, agent, queue="agents", device_status=1, paused=False))
    leads = tuple(Lead(borrower_id=f"b{i}", phone=f"+8613800000{i:03d}") for i in range(2))
    d.handle(ev.LeadsAdded(0.0, "c1", leads))
    reserved = [c for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    assert len(reserved) == 2, reserved
    talked, refused = reserved[0].call_id, reserved[1].call_id
    d.handle(ev.AttemptRefused(1.0, refused, rules=("cn.calling_hours",)))
    out = d.handle(ev.AttemptApproved(1.0, talked))
    assert any(isinstance(c, cmd.Originate) for c in out), out
    ended: list[cmd.Command] = []
    for e in (
        ev.OriginateQueued(1.1, talked), ev.CallLegCreated(1.1, talked, leg=1),
        ev.CallRinging(1.2, talked), ev.CallAnswered(4.0, talked),
        ev.AmdVerdict(6.0, talked, status="HUMAN"), ev.CallQueued(6.0, talked, queue="agents"),
        ev.AgentOffered(6.0, talked, agent="agent1"), ev.CallConnected(6.3, talked, agent="agent1"),
        ev.CallCompleted(36.0, talked, agent="agent1", talk_s=30, reason="caller"),
        ev.CallHungUp(36.0, talked, leg=1, cause=16), ev.Tick(40.0),
    ):
        ended += d.handle(e)
    assert any(isinstance(c, cmd.EmitOutcome) for c in ended), ended
    return d


@pytest.fixture(scope="session")
def exposition() -> str:
    """What the dialer's /metrics serves, from a real snapshot of a real engine."""
    metrics = DialerMetrics()
    metrics.decision_seconds.observe(0.0002)
    metrics.publish(MetricsState(
        snapshot=_drive_dialer().snapshot(),
        ami=(AmiFigures(pbx="default", connected=True, frames=42, malformed=1, reconnects=1),),
        kernel="python", outbox_depth=3, publish_failures=1,
        gate_errors={"ledger_unavailable": 1},
    ))
    return generate_latest(metrics.registry).decode()


_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
}


@pytest.fixture(scope="session")
def exported_names(exposition: str) -> frozenset[str]:
    """Every series name Prometheus stores from a scrape: the sample names, plus what each
    `# TYPE` line implies even where this snapshot produced no sample (a counter family
    with no label values yet). The text format already carries `_total` and `_info`."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if m := re.match(r"# TYPE (\S+) (\S+)", line):
            name, kind = m.groups()
            names.update(name + s for s in _SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group())  # type: ignore[union-attr]
    return frozenset(names)


@pytest.fixture(scope="session")
def metric_families(exposition: str) -> dict[str, str]:
    """Family name (as in `# TYPE`) -> type."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.M))


@pytest.fixture(scope="session")
def rules() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def recorded_names(rules: dict[str, Any]) -> frozenset[str]:
    return frozenset(r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r)
