"""The engine end to end, with a tiny scripted PBX that answers in virtual time."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter

import pytest

from dialer.core import Dialer, Disposition
from dialer.core import commands as cmd
from dialer.core import events as ev
from dialer.core.agents import AgentState

from .conftest import campaign, make_lead


class ScriptedPbx:
    """Answers each Originate by the lead's last digit, like the test PBX dialplan:
    5-6 machine, 7 busy, 8 no answer, any other digit a person (connects to a free agent,
    talks 30 s, or is abandoned when none is free)."""

    def __init__(self, dialer: Dialer, agents: int, refuse: set[str] | None = None) -> None:
        self.d = dialer
        self.heap: list[tuple[float, int, ev.Event]] = []
        self.seq = itertools.count()
        self.free = [f"agent{i}" for i in range(1, agents + 1)]
        self.busy_until: dict[str, float] = {}
        self.refuse = refuse or set()
        self.outcomes: list[cmd.EmitOutcome] = []
        self.originated: list[str] = []
        for a in self.free:
            self.push(0.0, ev.AgentStatus(0.0, a, queue="agents", device_status=1, paused=False))

    def push(self, at: float, e: ev.Event) -> None:
        heapq.heappush(self.heap, (at, next(self.seq), e))

    def execute(self, commands: list[cmd.Command], now: float) -> None:
        for c in commands:
            if isinstance(c, cmd.ReserveAttempt):
                if c.lead.borrower_id in self.refuse:
                    self.push(now, ev.AttemptRefused(now, c.call_id, rules=("all.dnc.borrower",)))
                else:
                    self.push(now, ev.AttemptApproved(now, c.call_id))
            elif isinstance(c, cmd.Originate):
                self.originated.append(c.call_id)
                self.script(c, now)
            elif isinstance(c, cmd.EmitOutcome):
                self.outcomes.append(c)

    def script(self, c: cmd.Originate, t: float) -> None:
        cid, digit = c.call_id, int(c.phone[-1])
        p = self.push
        p(t + 0.01, ev.OriginateQueued(t + 0.01, cid))
        p(t + 0.01, ev.CallLegCreated(t + 0.01, cid, leg=1))
        if digit == 7:
            p(t + 0.02, ev.CallFailed(t + 0.02, cid, reason=5))
            p(t + 0.02, ev.CallHungUp(t + 0.02, cid, leg=1, cause=17))
            return
        p(t + 0.02, ev.CallRinging(t + 0.02, cid))
        if digit == 8:
            p(t + 30, ev.CallFailed(t + 30, cid, reason=3))
            p(t + 30, ev.CallHungUp(t + 30, cid, leg=1, cause=19))
            return
        p(t + 3, ev.CallAnswered(t + 3, cid))
        status = "MACHINE" if digit in (5, 6) else "HUMAN"
        p(t + 5, ev.AmdVerdict(t + 5, cid, status=status))
        if status == "MACHINE":
            p(t + 5, ev.CallHungUp(t + 5, cid, leg=1, cause=16))
            return
        p(t + 5, ev.CallQueued(t + 5, cid, queue="agents"))
        # agent choice happens when the event fires (see run loop)
        p(t + 5, _Route(t + 5, cid))

    def run(self, until: float, tick: float = 0.5) -> None:
        now = 0.0
        next_tick = 0.0
        while now < until:
            if self.heap and self.heap[0][0] <= next_tick:
                now, _, e = heapq.heappop(self.heap)
                if isinstance(e, _Route):
                    self.route(e)
                    continue
                self.execute(self.d.handle(e), now)
            else:
                now = next_tick
                next_tick += tick
                for a, t in list(self.busy_until.items()):
                    if t <= now:
                        del self.busy_until[a]
                        self.free.append(a)
                self.execute(self.d.handle(ev.Tick(now)), now)

    def route(self, r: _Route) -> None:
        t, cid = r.at, r.call_id
        if not self.free:
            self.push(t + 2, ev.QueueGaveUp(t + 2, cid, reason="timeout"))
            self.push(t + 5, ev.CallHungUp(t + 5, cid, leg=1, cause=16))
            return
        agent = self.free.pop(0)
        self.busy_until[agent] = t + 30 + 5  # talk + wrap-up (the queue's wrapuptime)
        self.push(t, ev.AgentOffered(t, cid, agent=agent))
        self.push(t + 0.3, ev.CallConnected(t + 0.3, cid, agent=agent))
        self.push(t + 30, ev.CallCompleted(t + 30, cid, agent=agent, talk_s=30, reason="caller"))
        self.push(t + 30, ev.CallHungUp(t + 30, cid, leg=1, cause=16))


class _Route(ev.CallEvent):
    pass


def leads(n: int) -> tuple:
    return tuple(make_lead(i) for i in range(n))


def test_every_originate_ends_in_exactly_one_outcome():
    d = Dialer([campaign()], run_id="t1")
    pbx = ScriptedPbx(d, agents=5)
    d.handle(ev.LeadsAdded(0.0, "c1", leads(60)))
    pbx.run(until=600)
    d.handle(ev.Drain(600.0))
    pbx.run(until=700)
    ids = [o.outcome.attempt_id for o in pbx.outcomes]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(pbx.originated)
    snap = d.snapshot()
    c = snap.campaigns[0]
    assert c.stats.placed == c.stats.outcomes == sum(c.stats.dispositions.values()) == len(ids)
    assert d.agent_conflicts == 0
    assert d.is_idle()


def test_progressive_never_dials_more_than_ready_agents():
    d = Dialer([campaign()], run_id="t2")
    pbx = ScriptedPbx(d, agents=3)
    d.handle(ev.LeadsAdded(0.0, "c1", leads(100)))
    # After every pacing decision, calls not yet with an agent never outnumber the agents
    # that are idle or already being rung for one of them.
    original = d.handle
    checks = []

    def checked(e: ev.Event) -> list[cmd.Command]:
        out = original(e)
        if isinstance(e, ev.Tick):
            v = d.pacing_view(d.campaigns["c1"], e.at)
            committed = v.calls_dialing + v.calls_answered + v.calls_waiting
            checks.append(committed <= v.agents_ready + v.agents_ringing)
        return out

    d.handle = checked  # type: ignore[method-assign]
    pbx.run(until=900)
    assert len(checks) > 1000 and all(checks)
    c = d.snapshot().campaigns[0]
    # With one call per ready agent and the scripted agents, nobody is abandoned.
    assert c.stats.dispositions.get("abandoned", 0) == 0
    assert c.stats.answered_human > 0
    assert 0.0 < c.occupancy <= 1.0


def test_dispositions_follow_the_script():
    d = Dialer([campaign()], run_id="t3")
    pbx = ScriptedPbx(d, agents=10)
    d.handle(ev.LeadsAdded(0.0, "c1", tuple(make_lead(i) for i in range(10, 20))))
    pbx.run(until=200)
    got = Counter(o.outcome.disposition for o in pbx.outcomes if o.outcome.attempt_no == 1)
    assert got[Disposition.CONNECTED] == 6  # digits 0-4 and 9 are people in this script
    assert got[Disposition.MACHINE] == 2
    assert got[Disposition.BUSY] == 1
    assert got[Disposition.NO_ANSWER] == 1


def test_refused_lead_is_never_originated_and_gets_no_outcome():
    d = Dialer([campaign()], run_id="t4")
    pbx = ScriptedPbx(d, agents=2, refuse={"b1"})
    d.handle(ev.LeadsAdded(0.0, "c1", (make_lead(1), make_lead(2))))
    pbx.run(until=100)
    stats = d.snapshot().campaigns[0].stats
    assert stats.refused == 1 and stats.refused_by_rule["all.dnc.borrower"] == 1
    assert all(o.outcome.borrower_id != "b1" for o in pbx.outcomes)
    assert stats.placed == 1


def test_nothing_is_originated_while_the_pbx_link_is_down_or_outbox_full():
    d = Dialer([campaign()], run_id="t5")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", leads(3)))
    d.handle(ev.PbxLinkChanged(0.0, up=False))
    assert d.handle(ev.Tick(1.0)) == []
    d.handle(ev.PbxLinkChanged(1.0, up=True))
    d.handle(ev.OutboxBackpressure(1.0, engaged=True))
    assert d.handle(ev.Tick(2.0)) == []
    d.handle(ev.OutboxBackpressure(2.0, engaged=False))
    out = d.handle(ev.Tick(3.0))
    assert len([c for c in out if isinstance(c, cmd.ReserveAttempt)]) == 1


def test_originate_carries_channel_variables_and_timeout():
    d = Dialer([campaign(channel_template="PJSIP/{phone}@carrier", caller_id="4008001234")],
               run_id="t6")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", (make_lead(42),)))
    (reserve,) = d.handle(ev.Tick(1.0))
    (orig,) = d.handle(ev.AttemptApproved(1.01, reserve.call_id))
    assert isinstance(orig, cmd.Originate)
    assert orig.channel == "PJSIP/8613800000042@carrier"
    assert orig.timeout_ms == 30000 and orig.caller_id == "4008001234"
    assert dict(orig.variables)["DIALER_CALL_ID"] == orig.call_id
    assert dict(orig.variables)["DIALER_ABANDON_S"] == "2"


def test_watchdog_gives_a_silent_call_an_outcome():
    d = Dialer([campaign()], run_id="t7")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", (make_lead(1),)))
    (reserve,) = d.handle(ev.Tick(1.0))
    d.handle(ev.AttemptApproved(1.0, reserve.call_id))
    assert d.handle(ev.Tick(50.0)) == []
    out = d.handle(ev.Tick(62.0))
    (o,) = [c for c in out if isinstance(c, cmd.EmitOutcome)]
    assert o.outcome.disposition is Disposition.LOST


def test_unknown_and_late_events_are_counted_not_applied():
    d = Dialer([campaign()], run_id="t8")
    assert d.handle(ev.CallAnswered(1.0, "nope")) == []
    assert d.unknown_events == 1


def test_agents_by_state_in_snapshot():
    d = Dialer([campaign()], run_id="t9")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.AgentStatus(0.0, "agent2", queue="agents", device_status=1, paused=True))
    snap = d.snapshot(1.0)
    assert snap.agents[AgentState.READY.value] == 1
    assert snap.agents[AgentState.PAUSED.value] == 1


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="run_id"):
        Dialer([campaign()], run_id="bad id")
    with pytest.raises(ValueError, match="twice"):
        Dialer([campaign(), campaign()], run_id="x")
    with pytest.raises(ValueError, match="unknown pacer"):
        Dialer([campaign(pacer="magic")], run_id="x")


def test_agent_rung_for_a_call_that_ends_goes_back_to_ready():
    d = Dialer([campaign()], run_id="t10")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", (make_lead(1),)))
    (reserve,) = d.handle(ev.Tick(1.0))
    cid = reserve.call_id
    for e in (ev.AttemptApproved(1.0, cid), ev.OriginateQueued(1.0, cid), ev.CallLegCreated(1.0, cid, leg=1),
              ev.CallAnswered(3.0, cid), ev.AmdVerdict(5.0, cid, status="HUMAN"),
              ev.CallQueued(5.0, cid, queue="agents"), ev.AgentOffered(5.0, cid, agent="agent1")):
        d.handle(e)
    assert d.agents["agent1"].state is AgentState.RINGING
    # The caller hangs up while the agent's phone rings: Asterisk says nothing to the agent side.
    d.handle(ev.QueueGaveUp(5.5, cid, reason="caller"))
    d.handle(ev.CallHungUp(5.5, cid, leg=1, cause=16))
    d.handle(ev.Tick(7.0))
    assert d.agents["agent1"].state is AgentState.READY
    assert not d.calls


# --- bot-first campaigns -----------------------------------------------------------------------


def _bot_dialer(**kw: object) -> Dialer:
    cfg = campaign(bot_first=True, bot_endpoint="PJSIP/voicebot", bot_capacity=3, **kw)
    d = Dialer([cfg], run_id="r1")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", tuple(make_lead(i) for i in range(10))))
    return d


def _to_bot(d: Dialer, call_id: str, t: float) -> list[cmd.Command]:
    out = d.handle(ev.AttemptApproved(t, call_id))
    out += d.handle(ev.CallAnswered(t + 2, call_id))
    out += d.handle(ev.AmdVerdict(t + 4, call_id, status="HUMAN"))
    return out


def test_bot_first_campaign_config_is_validated() -> None:
    with pytest.raises(ValueError, match="bot_endpoint"):
        campaign(bot_first=True, bot_capacity=3)
    with pytest.raises(ValueError, match="bot_capacity"):
        campaign(bot_first=True, bot_endpoint="PJSIP/voicebot")
    with pytest.raises(ValueError, match="escalation_rate_prior"):
        campaign(escalation_rate_prior=1.5)


def test_bot_first_paces_bot_channels_sends_the_endpoint_and_redirects_escalations() -> None:
    d = _bot_dialer()
    reserves = [c for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    assert len(reserves) == 3  # the bot's 3 channels, not the 1 agent
    first = reserves[0].call_id
    out = _to_bot(d, first, 1.0)
    (orig,) = [c for c in out if isinstance(c, cmd.Originate)]
    assert ("DIALER_BOT_ENDPOINT", "PJSIP/voicebot") in orig.variables
    view = d.pacing_view(d.campaigns["c1"], 6.0)
    assert (view.calls_with_bot, view.bot_capacity, view.escalation_rate) == (1, 3, pytest.approx(0.2))
    out = d.handle(ev.BotEscalated(30.0, first))
    assert out == [cmd.Redirect(first, context="dialer-escalate", exten="s", priority=1)]
    assert d.handle(ev.BotEscalated(31.0, first)) == []  # once
    view = d.pacing_view(d.campaigns["c1"], 31.0)
    assert (view.calls_with_bot, view.calls_waiting) == (0, 1)
    # 1 escalation out of 1 settled call, with the prior of 0.2 over 20 calls
    assert view.escalation_rate == pytest.approx((1 + 0.2 * 20) / (1 + 20))
    d.handle(ev.CallQueued(30.2, first, queue="agents"))
    d.handle(ev.CallConnected(42.0, first, agent="agent1"))
    d.handle(ev.CallCompleted(100.0, first, agent="agent1"))
    out = d.handle(ev.CallHungUp(100.0, first, leg=1, cause=16))
    (emitted,) = [c for c in out if isinstance(c, cmd.EmitOutcome)]
    o = emitted.outcome
    assert (o.disposition, o.abandoned, o.handled_by, o.escalated) == (Disposition.CONNECTED, False, "agent", True)
    assert o.escalation_wait_s == pytest.approx(12.0)
    stats = d.campaigns["c1"].stats
    assert (stats.escalations, stats.escalations_connected, stats.escalation_wait_s_max) == (1, 1, 12.0)
    assert stats.answered_human == 1 and stats.abandoned == 0


def test_bot_handled_and_escalation_abandoned_calls_are_counted_apart() -> None:
    d = _bot_dialer(escalation_rate_prior=0.5, escalation_prior_calls=0.0)
    ids = [c.call_id for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    for cid in ids[:2]:
        _to_bot(d, cid, 1.0)
    d.handle(ev.BotResult(80.0, ids[0], dial_status="ANSWER"))
    (bot_only,) = [c for c in d.handle(ev.CallHungUp(80.0, ids[0], leg=1, cause=16)) if isinstance(c, cmd.EmitOutcome)]
    d.handle(ev.BotEscalated(50.0, ids[1]))
    d.handle(ev.QueueGaveUp(110.0, ids[1], reason="timeout"))
    (left,) = [c for c in d.handle(ev.CallHungUp(120.0, ids[1], leg=1, cause=16)) if isinstance(c, cmd.EmitOutcome)]
    assert (bot_only.outcome.handled_by, bot_only.outcome.escalated) == ("bot", False)
    assert (left.outcome.disposition, left.outcome.handled_by, left.outcome.escalated) == (
        Disposition.CONNECTED, "bot", True)
    assert left.outcome.escalation_abandoned and not left.outcome.abandoned
    stats = d.campaigns["c1"].stats
    assert (stats.handled_by_bot, stats.escalations, stats.escalation_abandoned, stats.abandoned) == (2, 1, 1, 0)
    # no prior: 1 escalation out of 2 settled bot calls
    assert d.pacing_view(d.campaigns["c1"], 130.0).escalation_rate == pytest.approx(0.5)


def test_plain_campaign_sends_no_bot_endpoint_and_sees_no_bot() -> None:
    d = Dialer([campaign()], run_id="r1")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", (make_lead(1),)))
    (res,) = [c for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    (orig,) = [c for c in d.handle(ev.AttemptApproved(1.0, res.call_id)) if isinstance(c, cmd.Originate)]
    assert not [k for k, _ in orig.variables if k == "DIALER_BOT_ENDPOINT"]
    view = d.pacing_view(d.campaigns["c1"], 2.0)
    assert (view.bot_capacity, view.calls_with_bot, view.escalation_rate) == (None, 0, 0.0)
