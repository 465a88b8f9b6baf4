"""Losing a PBX (issue 6 acceptance): with two simulated PBXs, one is killed mid-run. The
campaign completes on the other, and the dead one's calls get outcomes.

Both simulators speak real AMI over TCP; the killed one closes its port and drops every
channel, as a crashed Asterisk would. Simulated time runs 20x real time.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace

import pytest

from dialer.config import DEMO_CALLER_ID, RunConfig
from dialer.core.agents import AgentState
from dialer.core.compliance import result_for_disposition
from dialer.core.model import CampaignConfig, Disposition, RetryPolicy
from dialer.leads import demo_leads
from dialer.service import DialerService

pytestmark = pytest.mark.integration

AGENTS = 8  # per PBX
LEADS = 70
SEED = 21
KILL_AT_S = 60.0  # simulated seconds after the start


def _config(tmp_path) -> RunConfig:
    campaign = CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID, wrapup_s=5.0, pacer="progressive")
    # One attempt per lead: "all leads worked" is then exact, and a lost call is never
    # dialled again by a retry that could be mistaken for a re-sent Originate.
    campaign = replace(campaign, retry=RetryPolicy(max_attempts=1))
    return RunConfig(
        campaign=campaign, agents=AGENTS, sim_pbxs=2, pbx_grace_s=1.0, duration_s=900.0, speed=20.0,
        seed=SEED, demo_leads=LEADS, outcomes_path=str(tmp_path / "out.jsonl"),
        ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}", metrics=None, progress=False,
        drain_timeout_s=900.0,
    )


def _run(tmp_path):
    cfg = _config(tmp_path)

    async def go():
        svc = DialerService(cfg)
        await svc.start()
        survivor, victim = svc.sims
        sent: list[tuple[float, str, str]] = []  # (when, PBX, call id) of every Originate sent
        real_originate = svc._originate

        async def originate(c):
            sent.append((svc.clock.now(), c.pbx, c.call_id))
            await real_originate(c)

        svc._originate = originate
        marks: dict[str, float] = {}

        async def kill_then_finish():
            await survivor.sleep(KILL_AT_S)
            marks["kill"] = victim.now()
            await victim.kill()
            while svc.members["sim2"].link.connected:
                await asyncio.sleep(0.001)
            marks["down"] = svc.clock.now()
            # The campaign is complete once every lead was dialled and its call ended.
            while svc.core.campaigns["demo"].hopper.pending() or svc.core.calls:
                await asyncio.sleep(0.05)
            marks["done"] = svc.clock.now()
            svc.request_stop()

        task = asyncio.create_task(kill_then_finish())
        try:
            summary = await svc.run()
            await asyncio.wait_for(task, 5)
            ledger = {}
            for lead in demo_leads(LEADS, seed=SEED):
                for a in await svc.gate.ledger.history(lead.borrower_id, since=0.0):
                    ledger[a.attempt_id] = a
            # The end state, before close() takes the links down.
            agents = {name: (a.pbx, a.state) for name, a in svc.core.agents.items()}
            return SimpleNamespace(
                svc=svc, summary=summary, survivor=survivor.ground_truth(), victim=victim.ground_truth(),
                sent=sent, marks=marks, ledger=ledger, snapshot=svc.core.snapshot(), agents=agents,
                hopper_pending=svc.core.campaigns["demo"].hopper.pending())
        finally:
            task.cancel()
            await svc.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("pool")
    r = _run(tmp_path)
    r.lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    return r


def test_every_call_has_exactly_one_outcome_reconciled_with_the_ledger(run):
    ids = [x["attempt_id"] for x in run.lines]
    assert len(ids) == len(set(ids)) == run.summary.placed == run.summary.outcomes, run.svc.errors
    assert set(ids) == {call_id for _, _, call_id in run.sent}
    # Every reserved attempt has its result in the ledger, and it is the outcome's.
    assert set(run.ledger) == set(ids)
    assert {a.attempt_id: a.result for a in run.ledger.values()} == {
        x["attempt_id"]: result_for_disposition(Disposition(x["disposition"])) for x in run.lines}
    assert not run.svc.errors


def test_the_dead_pbxs_calls_end_lost_or_with_what_really_happened(run):
    by_id = {x["attempt_id"]: x for x in run.lines}
    killed = [t for t in run.victim if t.ended_by == "restart"]
    assert killed, "the kill must catch calls in flight, or this test proves nothing"
    for t in run.victim:
        outcome = by_id[t.channel_id]["disposition"]
        if t.ended_at is not None and t.ended_at < run.marks["kill"] - 1.0:
            assert outcome == t.disposition, (t, outcome)  # ended, and seen, before the kill
        else:
            # Gone with the PBX: lost, unless an agent was already talking to the person
            # (or the end was seen just before the link went).
            assert outcome in ("lost", t.disposition), (t, outcome)
    lost = [x for x in run.lines if x["disposition"] == "lost"]
    assert lost and all(x["attempt_id"] in {t.channel_id for t in killed} for x in lost)


def test_after_the_kill_every_new_call_goes_to_the_survivor(run):
    before = Counter(pbx for at, pbx, _ in run.sent if at < run.marks["kill"])
    after = Counter(pbx for at, pbx, _ in run.sent if at > run.marks["down"])
    assert before["sim1"] > 5 and before["sim2"] > 5  # the load was spread before
    assert after["sim1"] > 10 and after["sim2"] == 0
    assert {t.channel_id for t in run.victim} <= {c for _, pbx, c in run.sent if pbx == "sim2"}
    assert {t.channel_id for t in run.survivor} == {c for _, pbx, c in run.sent if pbx == "sim1"}


def test_every_lead_is_worked_and_no_attempt_is_dialled_twice(run):
    assert "done" in run.marks
    assert run.hopper_pending == 0
    borrowers = {a.borrower for a in run.ledger.values()}
    assert borrowers == {lead.borrower_id for lead in demo_leads(LEADS, seed=SEED)}
    dialled = Counter(t.channel_id for t in run.survivor + run.victim)
    assert max(dialled.values()) == 1
    assert len({call_id for _, _, call_id in run.sent}) == len(run.sent)


def test_agent_counts_are_right_at_the_end(run):
    states = {pbx: Counter(state for p, state in run.agents.values() if p == pbx) for pbx in ("sim1", "sim2")}
    # The survivor's agents: all logged in, none left ringing or on a call.
    assert sum(states["sim1"].values()) == AGENTS
    assert states["sim1"][AgentState.LOGGED_OUT] == states["sim1"][AgentState.ON_CALL] == 0
    assert states["sim1"][AgentState.RINGING] == 0
    # The dead PBX's agents: logged out, and out of the campaign's figures.
    assert states["sim2"] == {AgentState.LOGGED_OUT: AGENTS}
    snap = run.snapshot
    assert sum(n for s, n in snap.campaigns[0].agents.items() if s != "logged_out") == AGENTS
    assert all(name.startswith(("sim1:", "sim2:")) for name in run.agents)
    assert snap.agent_conflicts == 0
    assert [(p.name, p.up, p.lost, p.in_use) for p in snap.pbxs] == [("sim1", True, False, 0), ("sim2", False, True, 0)]
