"""The virtual-time day: the real `Dialer` engine, a heap of scheduled happenings, no IO.

`VirtualDay` plays the PBX, the callees and the agents. It feeds the engine exactly the core
events the AMI translator would produce from Asterisk (see dialer/sim/README.md for the frames
behind them) and executes the engine's commands:

- `ReserveAttempt` is always answered `AttemptApproved` at once (the compliance gate is not
  what a pacing experiment measures);
- `Originate` draws the next callee plan from `dialer.sim.behaviour` (one plan per originate,
  in order, from the callee stream: call i is the same callee whatever the pacer did);
- `EmitOutcome` is counted; `LeadExhausted` is ignored (leads are topped up as needed).

Call life, per plan (t = the Originate):

    t            OriginateQueued, CallLegCreated(leg 1), CallRinging (if it will ring)
    t+ring       busy / congestion / invalid: CallFailed(5/8/0, cause) + CallHungUp
    t+timeout    no answer (or ring longer than the Originate timeout): CallFailed(3) + CallHungUp
    t+ring       person or machine: CallAnswered
      AMD on     +amd_delay: AmdVerdict; MACHINE -> CallHungUp; HUMAN/NOTSURE -> queue
      AMD off    straight to the queue (machines too: nobody can tell them apart)
    queue        CallQueued; the longest-idle free agent (not ringing, not talking, not in
                 wrap-up) gets AgentOffered, then CallConnected after the agent's answer time;
                 with no free agent the call waits, first come first served, and takes the next
                 agent that frees up (at once: app_queue would look again within `retry` = 1 s)
    join+2 s     still no agent: (AgentMissed if one was ringing) QueueGaveUp("timeout"), the
                 identification message, CallHungUp `id_message_s` later
    join+patience  a person whose patience is shorter than the threshold hangs up first:
                 QueueGaveUp("caller") + CallHungUp
    connect+talk CallCompleted + CallHungUp; the agent wraps up for `wrap_s`, then is free
                 (a machine talked to by an agent ends when its recording time is over)

Only leg 1 of the Local channel pair is modelled: leg 2 adds events, not information.

Ticks: `Tick(k * tick_s)` for k = 0, 1, ...; every happening due at or before a tick is played
before it, so the engine sees time move forward only. No tick is skipped (pacers may act on
time alone). At `hours` the engine is told to `Drain`; the calls in flight then run to their
end and their outcomes count. Figures "over the day" (occupancy, idle gaps, per-hour series)
cover [0, hours]; counts of outcomes cover every call placed.

Ground truth is counted here, from the simulator's own calls and agent timeline, independently
of the engine: `SimResult.check()` compares the two.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..core import commands as cmd
from ..core import events as ev
from ..core.engine import Dialer
from ..core.model import CampaignConfig, Lead
from ..core.pacing import PACERS, Pacer
from ..core.pacing.clairvoyant import Arrival, Foresight
from ..sim.behaviour import Behaviour, CalleePlan
from ..summary import summarize
from .config import SimConfig, build_scenario
from .result import GroundTruth, Series, SimResult

__all__ = ["CAMPAIGN", "VirtualDay", "make_pacer_for", "simulate"]

CAMPAIGN = "sim"
TIMELINE_S = 300.0  # bucket of `SimResult.timeline`
QUEUE = "agents"
CALLER_ID = "4008001234"

_FAIL = {"busy": (5, 17), "congestion": (8, 34), "invalid": (0, 1)}
_FAIL_DISPOSITION = {"busy": "busy", "congestion": "congestion", "invalid": "invalid_number"}

# call states
_DIAL, _AMD, _QUEUE, _OFFER, _TALK, _MSG, _END = range(7)
# agent states
_FREE, _RINGING, _ONCALL, _WRAP = range(4)


class _Call:
    __slots__ = ("agent", "answered", "cid", "connected", "deadline", "end_at", "joined", "plan", "state")

    def __init__(self, cid: str, plan: CalleePlan) -> None:
        self.cid = cid
        self.plan = plan
        self.state = _DIAL
        self.answered = math.nan
        self.joined = math.nan
        self.deadline = math.nan
        self.connected = math.nan
        self.end_at = math.nan
        self.agent: _Agent | None = None


class _Agent:
    __slots__ = ("busy_from", "call", "free_at", "free_since", "idx", "name", "state")

    def __init__(self, idx: int, name: str) -> None:
        self.idx = idx
        self.name = name
        self.state = _FREE
        self.call: _Call | None = None
        self.free_since = 0.0
        self.busy_from = 0.0
        self.free_at = 0.0  # when it will be free again (oracle), for busy agents


def make_pacer_for(cfg: SimConfig) -> Pacer:
    try:
        factory = PACERS[cfg.pacer]
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(f"simulation: pacer: unknown pacer {cfg.pacer!r}; expected one of {sorted(PACERS)}") from None
    try:
        return factory(**dict(cfg.pacer_options))
    except (TypeError, ValueError) as exc:
        from ..errors import ConfigError

        raise ConfigError(f"simulation: pacer_options for {cfg.pacer!r}: {exc}") from None


class VirtualDay:
    """One campaign's day in virtual time. `run()` once, then read the `SimResult`."""

    def __init__(self, cfg: SimConfig, *, pacer: Pacer | None = None,
                 keep_outcomes: bool = False) -> None:
        self.cfg = cfg
        self.scenario = build_scenario(cfg)
        self.behaviour = Behaviour(self.scenario, seed=cfg.seed)
        self.wrap_s = self.scenario.agent_wrapup_s.mean()
        self.campaign = CampaignConfig(
            name=CAMPAIGN, queue=QUEUE, caller_id=CALLER_ID, amd=cfg.amd,
            originate_timeout_s=cfg.originate_timeout_s, abandon_after_s=cfg.abandon_after_s,
            wrapup_s=self.wrap_s, max_lines=cfg.lines, pacer=cfg.pacer,
        )
        self.pacer = pacer if pacer is not None else make_pacer_for(cfg)
        self.dialer = Dialer([self.campaign], run_id=f"vsim{cfg.seed}", abandon_target=cfg.abandon_target,
                             pacers={CAMPAIGN: self.pacer})
        # Calls in flight that will need an agent and have none yet: only kept for an oracle.
        self.arrivals: dict[str, Arrival] | None = None
        attach = getattr(self.pacer, "attach_oracle", None)
        if attach is not None:
            from .oracle import SimOracle

            self.arrivals = {}
            attach(SimOracle(self))
        self.keep_outcomes = keep_outcomes
        self.outcomes: list[Any] = []
        self.end_of_day = cfg.duration_s
        self.truth = GroundTruth()
        self.hourly = Series.empty(3600.0, cfg.duration_s)
        self.timeline = Series.empty(TIMELINE_S, cfg.duration_s)
        self._series = (self.hourly, self.timeline)
        self._heap: list[tuple[float, int, Callable[[float, Any], None], Any]] = []
        self._seq = 0
        self._plans: deque[tuple[CalleePlan, Foresight]] = deque()  # drawn ahead (oracle)
        self.calls: dict[str, _Call] = {}
        self.agents = [_Agent(i, f"agent{i + 1}") for i in range(cfg.agents)]
        self._pool: list[tuple[float, int]] = []  # (free_since, idx): longest idle first
        self._waiting: deque[_Call] = deque()
        self.live = 0  # calls with a channel up
        self.talking = 0
        self._leads_added = 0
        self._first_attempts = 0
        self._lead_chunk = max(2000, 60 * cfg.agents)
        self._busy_s = 0.0  # agent busy seconds within [0, end_of_day]
        self._idle_gaps = 0
        self._idle_sum = 0.0
        self.events_sent = 0
        self.ticks = 0
        # plan-derived constants
        answer = self.scenario.agent_answer_s
        self.agent_answer_max_s = answer.from_uniform(0.999)

    # ------------------------------------------------------------------ plumbing

    def _push(self, at: float, fn: Callable[[float, Any], None], arg: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, fn, arg))

    def _send(self, e: ev.Event) -> None:
        self.events_sent += 1
        out = self.dialer.handle(e)
        if out:
            self._execute(out, e.at)

    def _execute(self, commands: list[cmd.Command], now: float) -> None:
        for c in commands:
            t = type(c)
            if t is cmd.ReserveAttempt:
                if c.attempt_no == 1:  # type: ignore[attr-defined]
                    self._first_attempts += 1
                self._send(ev.AttemptApproved(now, c.call_id))  # type: ignore[attr-defined]
            elif t is cmd.Originate:
                self._originate(c, now)  # type: ignore[arg-type]
            elif t is cmd.EmitOutcome:
                self.truth.engine_outcomes += 1
                if self.keep_outcomes:
                    self.outcomes.append(c.outcome)  # type: ignore[attr-defined]

    def _top_up_leads(self, now: float) -> None:
        if self._leads_added - self._first_attempts >= self._lead_chunk // 2:
            return
        start = self._leads_added
        leads = tuple(
            Lead(borrower_id=f"L{n}", phone=f"+1555{n:07d}") for n in range(start, start + self._lead_chunk)
        )
        self._leads_added += len(leads)
        self._send(ev.LeadsAdded(now, CAMPAIGN, leads))

    # ------------------------------------------------------------------ plans (CRN, oracle)

    def _foresight(self, plan: CalleePlan) -> Foresight:
        """What the clairvoyant pacer may know about a call with this plan, before dialling."""
        timeout = self.cfg.originate_timeout_s
        if not plan.answers or plan.ring_s >= timeout:
            return Foresight(None)
        if self.cfg.amd:
            if plan.amd_status == "MACHINE":
                return Foresight(None)
            after = plan.ring_s + plan.amd_delay_s
        else:
            after = plan.ring_s
        ans = self.agent_answer_max_s
        if plan.kind == "person":
            hold = ans + plan.talk_s + self.wrap_s
            limit = min(self.cfg.abandon_after_s, plan.patience_s)
        else:  # a machine taken for a person: it talks until its recording time is over
            hold = max(ans, plan.talk_s - (after - plan.ring_s)) + self.wrap_s
            limit = self.cfg.abandon_after_s
        return Foresight(after, hold, max(0.0, limit - ans - 1e-6))

    def peek(self, n: int) -> Iterator[Foresight]:
        """The next calls' foresights, drawing plans ahead in order (same stream, same calls)."""
        i = 0
        plans = self._plans
        while i < n:
            if i >= len(plans):
                plan = self.behaviour.plan()
                plans.append((plan, self._foresight(plan)))
            yield plans[i][1]
            i += 1

    def _next_plan(self) -> tuple[CalleePlan, Foresight | None]:
        if self._plans:
            return self._plans.popleft()
        return self.behaviour.plan(), None

    # ------------------------------------------------------------------ calls

    def _originate(self, c: cmd.Originate, now: float) -> None:
        plan, fs = self._next_plan()
        call = _Call(c.call_id, plan)
        self.calls[c.call_id] = call
        if self.arrivals is not None:
            fs = fs or self._foresight(plan)
            if fs.needs_agent_after_s is not None:
                need = now + fs.needs_agent_after_s
                self.arrivals[c.call_id] = Arrival(need, fs.hold_s, need + fs.wait_limit_s)
        self.live += 1
        tr = self.truth
        tr.placed += 1
        if now < self.end_of_day:
            for series in self._series:
                series.placed[series.index(now)] += 1
        cid = c.call_id
        self._send(ev.OriginateQueued(now, cid))
        self._send(ev.CallLegCreated(now, cid, leg=1))
        timeout = c.timeout_ms / 1000.0
        if plan.answers and plan.ring_s < timeout:
            self._send(ev.CallRinging(now, cid))
            self._push(now + plan.ring_s, self._h_answer, call)
        elif plan.kind in _FAIL and plan.ring_s < timeout:
            self._push(now + plan.ring_s, self._h_fail, call)
        else:
            self._send(ev.CallRinging(now, cid))
            self._push(now + timeout, self._h_no_answer, call)

    def _end(self, call: _Call, t: float, disposition: str) -> None:
        if call.state == _TALK:
            self.talking -= 1
        call.state = _END
        call.end_at = t
        if self.arrivals is not None:
            self.arrivals.pop(call.cid, None)
        self.live -= 1
        self.truth.dispositions[disposition] += 1
        del self.calls[call.cid]

    def _h_fail(self, t: float, call: _Call) -> None:
        reason, cause = _FAIL[call.plan.kind]
        self._send(ev.CallFailed(t, call.cid, reason=reason, cause=cause))
        self._send(ev.CallHungUp(t, call.cid, leg=1, cause=cause))
        self._end(call, t, _FAIL_DISPOSITION[call.plan.kind])

    def _h_no_answer(self, t: float, call: _Call) -> None:
        self._send(ev.CallFailed(t, call.cid, reason=3, cause=19))
        self._send(ev.CallHungUp(t, call.cid, leg=1, cause=19))
        self._end(call, t, "no_answer")

    def _h_answer(self, t: float, call: _Call) -> None:
        call.answered = t
        self.truth.answered += 1
        self._send(ev.CallAnswered(t, call.cid))
        plan = call.plan
        if plan.kind == "machine":
            self._push(t + plan.talk_s, self._h_machine_gone, call)
        if self.cfg.amd:
            call.state = _AMD
            self._push(t + plan.amd_delay_s, self._h_verdict, call)
        else:
            self._join(t, call)

    def _h_verdict(self, t: float, call: _Call) -> None:
        if call.state != _AMD:
            return
        plan = call.plan
        self._send(ev.AmdVerdict(t, call.cid, status=plan.amd_status, cause=plan.amd_cause))
        if plan.amd_status == "MACHINE":
            self._send(ev.CallHungUp(t, call.cid, leg=1, cause=16))
            self._end(call, t, "machine")
            return
        self._join(t, call)

    def _join(self, t: float, call: _Call) -> None:
        call.state = _QUEUE
        call.joined = t
        call.deadline = t + self.cfg.abandon_after_s
        tr = self.truth
        tr.answered_human += 1
        if call.plan.kind == "machine":
            tr.machines_routed += 1
        for series in self._series:
            series.answered_human[series.index(t)] += 1
        self._send(ev.CallQueued(t, call.cid, queue=QUEUE))
        self._push(call.deadline, self._h_timeout, call)
        plan = call.plan
        if plan.kind == "person" and plan.patience_s < self.cfg.abandon_after_s:
            self._push(t + plan.patience_s, self._h_patience, call)
        agent = self._pop_free()
        if agent is not None:
            self._offer(t, call, agent)
        else:
            self._waiting.append(call)

    def _pop_free(self) -> _Agent | None:
        pool = self._pool
        while pool:
            since, idx = heapq.heappop(pool)
            a = self.agents[idx]
            if a.state == _FREE and a.free_since == since:
                return a
        return None

    def _offer(self, t: float, call: _Call, agent: _Agent) -> None:
        if agent.state != _FREE or agent.call is not None:
            self.truth.agent_overlaps += 1
        if t < self.end_of_day and agent.free_since <= t:
            self._idle_gaps += 1
            self._idle_sum += t - agent.free_since
        agent.state = _RINGING
        agent.call = call
        agent.busy_from = t
        call.state = _OFFER
        call.agent = agent
        if self.arrivals is not None:
            self.arrivals.pop(call.cid, None)
        self._send(ev.AgentOffered(t, call.cid, agent=agent.name))
        ring = self.behaviour.agent_answer_s()
        agent.free_at = t + ring + self._hold_after_connect(call, t + ring)
        self._push(t + ring, self._h_connect, call)

    def _hold_after_connect(self, call: _Call, connect_at: float) -> float:
        plan = call.plan
        if plan.kind == "person":
            return plan.talk_s + self.wrap_s
        return max(0.0, call.answered + plan.talk_s - connect_at) + self.wrap_s

    def _h_connect(self, t: float, call: _Call) -> None:
        if call.state != _OFFER:
            return
        agent = call.agent
        assert agent is not None
        call.state = _TALK
        call.connected = t
        self.talking += 1
        agent.state = _ONCALL
        self.truth.connected_in_time += 1
        self._send(ev.CallConnected(t, call.cid, agent=agent.name))
        plan = call.plan
        end = t + plan.talk_s if plan.kind == "person" else max(t, call.answered + plan.talk_s)
        self._push(end, self._h_complete, call)

    def _h_complete(self, t: float, call: _Call) -> None:
        agent = call.agent
        assert agent is not None and call.state == _TALK
        self._send(ev.CallCompleted(t, call.cid, agent=agent.name, talk_s=t - call.connected, reason="caller"))
        self._send(ev.CallHungUp(t, call.cid, leg=1, cause=16))
        self._end(call, t, "connected")
        wrap = self.behaviour.wrapup_s()
        agent.state = _WRAP
        agent.call = None
        agent.free_at = t + wrap
        self._push(t + wrap, self._h_agent_free, agent)

    def _release(self, t: float, agent: _Agent) -> None:
        """The agent is free at `t` (wrap-up over, or its ringing call went away)."""
        self._add_busy(agent.busy_from, t)
        agent.state = _FREE
        agent.call = None
        agent.free_since = t
        agent.free_at = t
        waiting = self._waiting
        while waiting:
            call = waiting.popleft()
            if call.state == _QUEUE:
                self._offer(t, call, agent)
                return
        heapq.heappush(self._pool, (t, agent.idx))

    def _h_agent_free(self, t: float, agent: _Agent) -> None:
        if agent.state == _WRAP:
            self._release(t, agent)

    def _give_up(self, t: float, call: _Call, reason: str) -> None:
        agent = call.agent
        if call.state == _OFFER and agent is not None:
            self._send(ev.AgentMissed(t, call.cid, agent=agent.name))
        self._send(ev.QueueGaveUp(t, call.cid, reason=reason, hold_s=t - call.joined))
        call.state = _MSG
        call.agent = None
        if self.arrivals is not None:
            self.arrivals.pop(call.cid, None)
        tr = self.truth
        tr.abandoned += 1
        if reason == "caller" and t - call.joined <= self.cfg.abandon_after_s:
            tr.hung_up_within_threshold += 1
        for series in self._series:
            series.abandoned[series.index(call.joined)] += 1
        if agent is not None:
            self._release(t, agent)

    def _h_timeout(self, t: float, call: _Call) -> None:
        if call.state not in (_QUEUE, _OFFER):
            return
        self._give_up(t, call, "timeout")
        self._push(t + self.cfg.id_message_s, self._h_hang_up, call)

    def _h_patience(self, t: float, call: _Call) -> None:
        if call.state not in (_QUEUE, _OFFER):
            return
        self._give_up(t, call, "caller")
        self._h_hang_up(t, call)

    def _h_hang_up(self, t: float, call: _Call) -> None:
        if call.state != _MSG:
            return
        self._send(ev.CallHungUp(t, call.cid, leg=1, cause=16))
        self._end(call, t, "abandoned")

    def _h_machine_gone(self, t: float, call: _Call) -> None:
        """A machine's recording time is over: it hangs up wherever the call is."""
        if call.state == _MSG:
            self._h_hang_up(t, call)
        elif call.state in (_QUEUE, _OFFER):
            self._give_up(t, call, "caller")
            self._h_hang_up(t, call)
        # _AMD: the verdict always comes first; _TALK: _h_complete ends it at this time.

    # ------------------------------------------------------------------ agents' timeline

    def _add_busy(self, start: float, end: float) -> None:
        end = min(end, self.end_of_day)
        if end <= start:
            return
        self._busy_s += end - start
        for series in self._series:
            series.add_busy(start, end)

    # ------------------------------------------------------------------ the day

    def run(self) -> SimResult:
        cfg = self.cfg
        d = self.dialer
        heap = self._heap
        pop = heapq.heappop
        tick_s = cfg.tick_s
        end = self.end_of_day
        t0 = time.perf_counter()
        for a in self.agents:
            self._send(ev.AgentStatus(0.0, a.name, queue=QUEUE, device_status=1, paused=False,
                                      wrapup_s=self.wrap_s))
            heapq.heappush(self._pool, (0.0, a.idx))
        k = 0
        day_snapshot = None
        while True:
            now = k * tick_s
            if day_snapshot is None and now >= end - 1e-9:
                # Close the day at exactly `end`: play what is due, stop dialling, let the
                # engine retire the wrap-ups due by then, and take its figures.
                while heap and heap[0][0] <= end:
                    at, _, fn, arg = pop(heap)
                    fn(at, arg)
                for a in self.agents:
                    if a.state != _FREE:
                        self._add_busy(a.busy_from, end)
                        a.busy_from = end
                self._send(ev.Drain(end, CAMPAIGN))
                self._send(ev.Tick(end))
                day_snapshot = d.snapshot(end)
            while heap and heap[0][0] <= now:
                at, _, fn, arg = pop(heap)
                fn(at, arg)
            if day_snapshot is None:
                live, in_flight = self.live, self.live - self.talking
                for series in self._series:
                    i = series.index(now)
                    series.samples[i] += 1
                    series.lines_sum[i] += live
                    series.in_flight_sum[i] += in_flight
                    if live > series.lines_max[i]:
                        series.lines_max[i] = live
                self._top_up_leads(now)
            self.ticks += 1
            out = d.handle(ev.Tick(now))
            if out:
                self._execute(out, now)
            if day_snapshot is not None and not self.calls and not heap:
                break
            k += 1
        final = d.snapshot(now)
        wall = time.perf_counter() - t0
        return self._result(day_snapshot, final, now, wall)

    def _result(self, day_snap: Any, final: Any, finished_at: float, wall: float) -> SimResult:
        cfg = self.cfg
        s = summarize(final, duration_s=cfg.duration_s, leads_loaded=self._leads_added)
        day_camp = day_snap.campaigns[0]
        s.agent_occupancy = round(day_camp.occupancy, 6)
        agent_hours = cfg.agents * cfg.hours
        connected = final.campaigns[0].stats.dispositions.get("connected", 0)
        worst = self.hourly.worst_abandon_rate()
        s.extra = {
            "calls_per_agent_hour": round(connected / agent_hours, 4) if agent_hours else 0.0,
            "agent_idle_mean_s": round(self._idle_sum / self._idle_gaps, 4) if self._idle_gaps else 0.0,
            "abandon_rate_worst_hour": round(worst, 6),
        }
        tr = self.truth
        tr.occupancy = self._busy_s / (cfg.agents * cfg.duration_s)
        tr.idle_gaps = self._idle_gaps
        tr.idle_mean_s = self._idle_sum / self._idle_gaps if self._idle_gaps else 0.0
        tr.agent_conflicts = self.dialer.agent_conflicts
        return SimResult(
            config=cfg,
            summary=s.to_json(),
            hourly=self.hourly,
            timeline=self.timeline,
            truth=tr,
            engine_day=day_snap,
            engine_final=final,
            finished_at=finished_at,
            wall_s=wall,
            ticks=self.ticks,
            events=self.events_sent,
            outcomes=self.outcomes,
        )


def simulate(cfg: SimConfig, *, pacer: Pacer | None = None, keep_outcomes: bool = False) -> SimResult:
    """Run one simulated day. `pacer` overrides `cfg.pacer` with a ready-made instance (its name
    is what the summary reports), e.g. to tune a pacer's parameters."""
    return VirtualDay(cfg, pacer=pacer, keep_outcomes=keep_outcomes).run()

