"""A bot-first campaign end to end: the dialer against the embedded simulated PBX over real
AMI on loopback. People go to the simulated bot; the bot escalates some of them with the
same UserEvent a real bot sends (DialerEscalate, CallID only); the dialer redirects those to
`[dialer-escalate]` with AMI Redirect and agents take them. Every call gets one outcome."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from dialer.config import DEMO_CALLER_ID, RunConfig
from dialer.core.model import CampaignConfig
from dialer.service import DialerService
from dialer.sim.scenario import Dist, Scenario

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bot_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bot")
    scenario = Scenario.load().with_changes(
        name="bot_test", bot_channels=8, bot_escalate_share=0.5, bot_escalate_after_s=Dist.fixed(6.0),
        bot_talk_s=Dist.fixed(15.0), talk_s=Dist.fixed(20.0), patience_s=Dist.fixed(200.0),
    )
    path = tmp_path / "bot.json"
    path.write_text(json.dumps(scenario.to_dict()))
    cfg = RunConfig(
        campaign=CampaignConfig(name="botfirst", caller_id=DEMO_CALLER_ID, wrapup_s=10.0, bot_first=True,
                                bot_endpoint="PJSIP/voicebot", bot_capacity=6),
        agents=4, duration_s=150.0, speed=20.0, seed=5, outcomes_path=str(tmp_path / "out.jsonl"),
        metrics=None, progress=False, drain_timeout_s=900.0, scenario=str(path),
    )

    async def go():
        svc = DialerService(cfg)
        await svc.start()
        try:
            summary = await svc.run()
            stats = svc.core.campaigns["botfirst"].stats
            return summary, svc.pbx.ground_truth(), list(svc.pbx.agent_overlap_violations), stats, \
                svc.pbx.model.counters
        finally:
            await svc.close()

    summary, truth, overlaps, stats, counters = asyncio.run(go())
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    return summary, truth, overlaps, stats, counters, lines


def test_every_bot_first_call_has_one_outcome_matching_the_pbx(bot_run):
    summary, truth, overlaps, _stats, _counters, lines = bot_run
    assert summary.placed > 20
    assert summary.placed == summary.outcomes == len(lines) == len(truth)
    ids = [x["attempt_id"] for x in lines]
    assert len(set(ids)) == len(ids)
    by_id = {t.channel_id: t for t in truth}
    assert set(by_id) == set(ids)
    for x in lines:
        t = by_id[x["attempt_id"]]
        assert x["disposition"] == t.disposition, (x, t)
        if t.bot_at is not None:
            assert x["handled_by"] == t.handled_by and x["escalated"] == (t.escalated_at is not None)
        else:
            assert "handled_by" not in x  # not a bot call: the v2 body older consumers know
    assert overlaps == []


def test_escalations_are_redirected_to_agents_and_not_abandoned(bot_run):
    _summary, truth, _overlaps, stats, counters, lines = bot_run
    escalated = [x for x in lines if x.get("escalated")]
    bot_only = [x for x in lines if x.get("handled_by") == "bot" and not x.get("escalated")]
    assert escalated and bot_only
    # every escalation the bot sent was redirected by the dialer (nothing left with the bot)
    assert counters["bot_escalations"] == counters["redirects"] == stats.escalations == len(escalated)
    by_agent = [x for x in escalated if x["handled_by"] == "agent"]
    assert by_agent, "no escalated call reached an agent"
    assert all(x["agent"] and x["disposition"] == "connected" and not x["abandoned"] for x in by_agent)
    assert stats.escalations_connected == len(by_agent)
    assert stats.escalation_abandoned == len(escalated) - len(by_agent)
    redirected = {t.channel_id for t in truth if t.redirected_at is not None}
    assert redirected == {x["attempt_id"] for x in escalated}
    # bot capacity respected: the PBX never refused a person for lack of a bot channel
    assert counters["bot_unavailable"] == 0
    assert Counter(x["disposition"] for x in lines)["abandoned"] == 0
