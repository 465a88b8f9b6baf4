"""One simulated campaign in which the PBX drops the AMI connection five times and
restarts once. Every call ends with exactly one outcome, agent states are right
afterwards, and no attempt is dialled twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from dialer.config import DEMO_CALLER_ID, RunConfig
from dialer.core.agents import AgentState
from dialer.core.model import CampaignConfig
from dialer.service import DialerService

pytestmark = pytest.mark.integration

AGENTS = 8


def test_five_drops_and_a_restart(tmp_path):
    cfg = RunConfig(
        campaign=CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID, wrapup_s=5.0),
        agents=AGENTS, duration_s=240.0, speed=20.0, seed=11, outcomes_path=str(tmp_path / "out.jsonl"),
        metrics=None, progress=False, drain_timeout_s=900.0,
    )

    async def go():
        svc = DialerService(cfg)
        await svc.start()
        pbx = svc.pbx

        async def chaos():
            for _ in range(5):
                await pbx.sleep(25.0)
                pbx.drop_connections()
            await pbx.sleep(25.0)
            await pbx.restart(down_for=3.0)

        task = asyncio.create_task(chaos())
        try:
            summary = await svc.run()
            await task
            return svc, summary, pbx.ground_truth()
        finally:
            task.cancel()
            await svc.close()

    svc, summary, truth = asyncio.run(go())
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    ids = [x["attempt_id"] for x in lines]
    assert svc.link.reconnects >= 6
    # Exactly one outcome per placed call.
    assert len(ids) == len(set(ids)) == summary.placed == summary.outcomes, (
        len(ids), len(set(ids)), summary.placed, summary.outcomes, svc.errors)
    # No attempt dialled twice, and every dialled attempt has its outcome.
    dialled = Counter(t.channel_id for t in truth)
    assert max(dialled.values()) == 1
    assert set(dialled) <= set(ids)
    # Calls the restart killed end as lost; the rest match what really happened, except
    # calls that ended while the link was down (lost or, if the end was seen, the truth).
    truth_by_id = {t.channel_id: t for t in truth}
    wrong = [x for x in lines if x["attempt_id"] in truth_by_id
             and x["disposition"] not in (truth_by_id[x["attempt_id"]].disposition, "lost")]
    assert not wrong, wrong[:3]
    lost = sum(1 for x in lines if x["disposition"] == "lost")
    assert lost < len(lines) * 0.25
    # Agents afterwards: every member logged in, none stuck on a call or ringing.
    states = Counter(a.state for a in svc.core.agents.values())
    assert states[AgentState.ON_CALL] == states[AgentState.RINGING] == 0
    assert sum(n for s, n in states.items() if s is not AgentState.LOGGED_OUT) == AGENTS
    assert svc.core.agent_conflicts == 0
