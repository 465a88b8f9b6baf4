"""The whole dialer against the embedded simulated PBX over real AMI on loopback.

The acceptance check of the end-to-end issue: every placed call has exactly one outcome,
the outcomes reconcile one by one with the PBX's own ground truth, and no agent is ever on
two calls. Simulated time runs 20x faster than real time (both sides share the clock).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter

import pytest

from dialer.config import DEMO_CALLER_ID, RunConfig
from dialer.core.model import CampaignConfig
from dialer.service import DialerService


def config(tmp_path, **kw) -> RunConfig:
    base = dict(
        campaign=CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID, wrapup_s=10.0),
        agents=20, duration_s=120.0, speed=20.0, seed=3, outcomes_path=str(tmp_path / "out.jsonl"),
        metrics=None, progress=False, drain_timeout_s=900.0,
    )
    base.update(kw)
    return RunConfig(**base)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One two-minute campaign, shared by the checks below (it takes ~20 s of real time)."""
    tmp_path = tmp_path_factory.mktemp("run")

    async def go():
        svc = DialerService(config(tmp_path))
        await svc.start()
        try:
            summary = await svc.run()
            return svc, summary, svc.pbx.ground_truth(), list(svc.pbx.agent_overlap_violations)
        finally:
            await svc.close()

    svc, summary, truth, overlaps = asyncio.run(go())
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    return svc, summary, truth, overlaps, lines


def test_every_call_has_one_outcome_reconciled_with_pbx_truth(finished_run):
    _svc, summary, truth, _overlaps, lines = finished_run
    assert summary.placed > 50
    assert summary.placed == summary.outcomes == sum(summary.dispositions.values()) == len(lines)
    ids = [x["attempt_id"] for x in lines]
    assert len(set(ids)) == len(ids)
    by_id = {t.channel_id: t for t in truth}
    assert set(by_id) == set(ids)  # nothing dialled that we do not know of, and vice versa
    mismatches = []
    for x in lines:
        t = by_id[x["attempt_id"]]
        got = (x["disposition"], x["abandoned"], x["agent"] or "")
        want = (t.disposition, t.disposition == "abandoned", t.agent if t.connected_at else "")
        if got != want:
            mismatches.append((x["attempt_id"], got, want))
    assert not mismatches
    assert Counter(x["disposition"] for x in lines) == Counter(summary.dispositions)


def test_no_agent_is_ever_on_two_calls(finished_run):
    svc, _summary, _truth, overlaps, lines = finished_run
    assert overlaps == []
    assert svc.core.agent_conflicts == 0
    # And from the outcomes themselves: connected intervals of one agent never overlap.
    spans: dict[str, list[tuple[str, str]]] = {}
    for x in lines:
        if x["disposition"] == "connected":
            spans.setdefault(x["agent"], []).append((x["timestamps"]["connect"], x["timestamps"]["hangup"]))
    for agent, s in spans.items():
        s.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(s)), agent


def test_outcomes_leak_no_phone_number_or_borrower_id(finished_run):
    _svc, _summary, truth, _overlaps, lines = finished_run
    text = "\n".join(json.dumps(x) for x in lines)
    for t in truth:
        assert t.number not in text
    assert "demo-" not in text  # demo borrower ids are pseudonymised
    assert all(x["phone"].count("*") >= 4 for x in lines)


def test_summary_figures_are_consistent(finished_run):
    _svc, summary, _truth, _overlaps, _lines = finished_run
    s = summary.to_json()
    for key in ("placed", "outcomes", "dispositions", "answered_human", "abandoned",
                "abandon_rate", "agent_occupancy", "pacer", "duration_s"):
        assert key in s
    assert s["pacer"] == "progressive"
    assert 0.0 < s["agent_occupancy"] <= 1.0
    assert s["answered_human"] >= s["dispositions"].get("connected", 0)
    if s["answered_human"]:
        assert s["abandon_rate"] == pytest.approx(s["abandoned"] / s["answered_human"], abs=1e-6)
