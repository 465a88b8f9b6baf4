"""The dialer core: one entry point, `Dialer.handle(event) -> list[Command]`.

The engine owns the campaigns (hopper, pacer, figures), the calls and the agents. It
does no IO and reads no clock: every event says when it happened, and timers (wrap-up,
end-of-call grace, watchdogs) advance on `Tick`. The asyncio service and the virtual-time
simulator drive the same engine, so what is tested here is what runs in production.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass

from . import commands as cmd
from . import events as ev
from .agents import BUSY_STATES, Agent, AgentState
from .calls import IN_FLIGHT, PRE_ANSWER, WAITING_FOR_AGENT, Call, CallState
from .hopper import Hopper
from .model import CallRecord, CampaignConfig, Outcome
from .pacing import Pacer, PacingView, feed_outcome, make_pacer
from .pool import PbxPool, PbxSnapshot
from .stats import CampaignStats

# A call not answered this long after its Originate timeout is declared lost: the PBX
# forgot it or we missed its end (a dropped link). Answered calls get a generous cap.
UNANSWERED_SLACK_S = 30.0
MAX_CALL_S = 4 * 3600.0
_RECENTLY_ENDED = 50_000


def _ring_time(call: Call, out: list[float]) -> None:
    """The seconds from the Originate to the answer of a call that needs an agent: the pacer
    learns the day's answer times from these minutes before the calls end."""
    r = call.record
    if r.originate_at is not None and r.answer_at is not None:
        out.append(r.answer_at - r.originate_at)


@dataclass(slots=True)
class Campaign:
    config: CampaignConfig
    hopper: Hopper
    pacer: Pacer
    stats: CampaignStats
    draining: bool = False


@dataclass(frozen=True, slots=True)
class CampaignSnapshot:
    name: str
    pacer: str
    agents: dict[str, int]
    calls: dict[str, int]
    leads_pending: int
    leads_exhausted: int
    draining: bool
    stats: CampaignStats
    dial_ratio: float
    occupancy: float
    talk_wrap_s: float
    available_s: float
    bot_capacity: int | None = None  # bot-first campaigns: the bot's channels; None otherwise


@dataclass(frozen=True, slots=True)
class DialerSnapshot:
    at: float
    campaigns: tuple[CampaignSnapshot, ...]
    agents: dict[str, int]
    calls_in_flight: int
    pbx_up: bool
    backpressure: bool
    unknown_events: int
    late_events: int
    agent_conflicts: int
    pbxs: tuple[PbxSnapshot, ...] = ()


class Dialer:
    def __init__(
        self,
        campaigns: list[CampaignConfig],
        *,
        run_id: str,
        abandon_target: float = 0.03,
        pacers: dict[str, Pacer] | None = None,
        pool: PbxPool | None = None,
    ) -> None:
        if not campaigns:
            raise ValueError("at least one campaign is required")
        if not run_id or not all(c.isalnum() or c in "-_" for c in run_id):
            raise ValueError("run_id must be a non-empty string of letters, digits, '-' or '_'")
        self.run_id = run_id
        # Which PBX each call is on, and which PBXs are up (one unlimited PBX by default).
        self.pool = pool or PbxPool()
        self.abandon_target = abandon_target
        self.campaigns: dict[str, Campaign] = {}
        for c in campaigns:
            if c.name in self.campaigns:
                raise ValueError(f"campaign {c.name!r} configured twice")
            pacer = (pacers or {}).get(c.name) or make_pacer(c.pacer)
            self.campaigns[c.name] = Campaign(c, Hopper(c.retry), pacer, CampaignStats())
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, Agent] = {}
        # Timers, so a tick touches only what is due instead of every call and agent:
        self._ending: set[str] = set()  # calls waiting for their last Hangup events
        self._deadlines: list[tuple[float, str]] = []  # heap: watchdog checks per call
        self._wrapups: list[tuple[float, str]] = []  # heap: agents' wrap-up ends
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._seq = 0
        self.now = 0.0
        self.pbx_up = True
        self.backpressure = False
        self.unknown_events = 0
        self.late_events = 0
        self.agent_conflicts = 0

    # --- the entry point ------------------------------------------------------------

    def handle(self, event: ev.Event) -> list[cmd.Command]:
        if event.at > self.now:
            self.now = event.at
        out: list[cmd.Command] = []
        match event:
            case ev.Tick():
                self._tick(event.at, out)
            case ev.CallEvent():
                self._call_event(event, out)
            case ev.AgentEvent():
                self._agent_event(event)
            case ev.LeadsAdded():
                camp = self._campaign(event.campaign)
                for lead in event.leads:
                    camp.hopper.add(lead, event.at)
            case ev.Drain():
                for c in self.campaigns.values():
                    if event.campaign in (None, c.config.name):
                        c.draining = True
            case ev.PbxLinkChanged():
                self.pool.link_changed(event.pbx, event.up, event.at)
                self.pbx_up = self.pool.any_up()
            case ev.OutboxBackpressure():
                self.backpressure = event.engaged
            case _:
                raise TypeError(f"not a dialer event: {event!r}")
        return out

    def _campaign(self, name: str) -> Campaign:
        try:
            return self.campaigns[name]
        except KeyError:
            raise ValueError(f"unknown campaign {name!r}") from None

    # --- time -------------------------------------------------------------------------

    def _tick(self, now: float, out: list[cmd.Command]) -> None:
        while self._wrapups and self._wrapups[0][0] <= now:
            _, name = heapq.heappop(self._wrapups)
            self.agents[name].tick(now)
        while self._deadlines and self._deadlines[0][0] <= now:
            _, call_id = heapq.heappop(self._deadlines)
            call = self.calls.get(call_id)
            if call is not None:
                self._watchdog(call, now)
        self._lose_pbxs(now)
        for call_id in sorted(self._ending):
            call = self.calls.get(call_id)
            if call is None:
                self._ending.discard(call_id)
            elif call.ready_to_close(now):
                self._close(call, now, out)
        if self.pbx_up and not self.backpressure:
            for camp in self.campaigns.values():
                if not camp.draining:
                    self._pace(camp, now, out)

    def _watchdog(self, call: Call, now: float) -> None:
        """A call not answered long after its Originate timeout, or up for longer than any
        call can last, is declared lost: the PBX forgot it or we missed its end."""
        r = call.record
        if not call.is_live or r.originate_at is None:
            return
        timeout = self.campaigns[r.campaign].config.originate_timeout_s
        if call.state in PRE_ANSWER:
            deadline = r.originate_at + timeout + UNANSWERED_SLACK_S
        else:
            deadline = r.originate_at + timeout + MAX_CALL_S
        if now < deadline:
            heapq.heappush(self._deadlines, (deadline, call.call_id))
            return
        call.apply(ev.CallVanished(at=now, call_id=r.call_id, reason="watchdog"))
        self._ending.add(call.call_id)

    def _lose_pbxs(self, now: float) -> None:
        """A PBX down past its grace is lost: the calls it was dialling or carrying end as
        lost (once: the pool reports each loss once), and its agents stop counting. Calls
        it held that were not originated yet go elsewhere when the gate approves them."""
        for name, call_ids in self.pool.expire(now):
            for call_id in call_ids:
                call = self.calls.get(call_id)
                if call is not None and call.is_live and call.state is not CallState.QUEUED:
                    call.apply(ev.CallVanished(at=now, call_id=call_id, reason=f"PBX {name} lost"))
                    self._ending.add(call_id)
            for agent in self.agents.values():
                if agent.pbx == name:
                    agent.drop(now)

    def _staffed_pbxs(self, queue: str) -> set[str]:
        """PBXs with an agent of this queue logged in (routing prefers them)."""
        if len(self.pool.names) == 1:
            return set()
        return {a.pbx for a in self.agents.values()
                if queue in a.queues and a.state is not AgentState.LOGGED_OUT}

    # --- pacing -------------------------------------------------------------------------

    def pacing_view(self, camp: Campaign, now: float) -> PacingView:
        cfg = camp.config
        counts = {s: 0 for s in AgentState}
        talk_elapsed: list[float] = []
        # --- pacing feed (predictive pacer): wrap-up left, AMD elapsed, wrap-up time -------
        wrap_remaining: list[float] = []
        answered_elapsed: list[float] = []
        wrap_sum = 0.0
        members = 0
        # ---------------------------------------------------------------------------------
        pool = self.pool
        for a in self.agents.values():
            # Agents on a PBX whose link is down cannot take the calls placed elsewhere.
            if cfg.queue in a.queues and pool.usable(a.pbx):
                counts[a.state] += 1
                if a.state is AgentState.ON_CALL:
                    talk_elapsed.append(now - a.since)
                elif a.state is AgentState.WRAP_UP and a.wrap_until is not None:
                    wrap_remaining.append(a.wrap_until - now)
                members += 1
                wrap_sum += cfg.wrapup_s if a.wrapup_s is None else a.wrapup_s
        dialing = answered = waiting = live = with_bot = 0
        dialing_elapsed: list[float] = []
        need_ring: list[float] = []  # ring times of the people waiting for or talking to an agent
        for c in self.calls.values():
            if c.record.campaign != cfg.name or not c.is_live:
                continue
            live += 1
            if c.state in PRE_ANSWER:
                dialing += 1
                if c.record.originate_at is not None:
                    dialing_elapsed.append(now - c.record.originate_at)
            elif c.state is CallState.ANSWERED:
                answered += 1
                if c.record.answer_at is not None:
                    answered_elapsed.append(now - c.record.answer_at)
            elif c.state in WAITING_FOR_AGENT:
                waiting += 1
                _ring_time(c, need_ring)
            elif c.state is CallState.CONNECTED:
                _ring_time(c, need_ring)
            elif c.state is CallState.BOT:
                with_bot += 1
        return PacingView(
            at=now,
            campaign=cfg.name,
            agents_logged_in=counts[AgentState.READY] + sum(counts[s] for s in BUSY_STATES),
            agents_ready=counts[AgentState.READY],
            agents_ringing=counts[AgentState.RINGING],
            agents_on_call=counts[AgentState.ON_CALL],
            agents_wrap_up=counts[AgentState.WRAP_UP],
            calls_dialing=dialing,
            calls_answered=answered,
            calls_waiting=waiting,
            lines_free=max(0, min(cfg.max_lines - live, pool.free())),
            abandon_target=self.abandon_target,
            talk_elapsed_s=tuple(talk_elapsed),
            dialing_elapsed_s=tuple(dialing_elapsed),
            wrap_remaining_s=tuple(wrap_remaining),
            answered_elapsed_s=tuple(answered_elapsed),
            need_ring_s=tuple(need_ring),
            wrapup_s=wrap_sum / members if members else cfg.wrapup_s,
            abandon_after_s=cfg.abandon_after_s,
            ring_timeout_s=cfg.originate_timeout_s,
            calls_with_bot=with_bot,
            bot_capacity=cfg.bot_capacity if cfg.bot_first else None,
            escalation_rate=camp.stats.escalation_rate(cfg.escalation_rate_prior, cfg.escalation_prior_calls)
            if cfg.bot_first or with_bot else 0.0,
        )

    def _pace(self, camp: Campaign, now: float, out: list[cmd.Command]) -> None:
        if not camp.hopper.has_due(now):
            return
        view = self.pacing_view(camp, now)
        n = max(0, min(int(camp.pacer.calls_to_place(view)), view.lines_free))
        camp.stats.pacing_decisions += 1
        camp.stats.last_decision = n
        cfg = camp.config
        staffed = self._staffed_pbxs(cfg.queue) if n else set()
        for _ in range(n):
            call_id = f"{self.run_id}-{self._seq + 1:06d}"
            if self.pool.assign(call_id, staffed) is None:
                break
            popped = camp.hopper.pop(now)
            if popped is None:
                self.pool.release(call_id)
                break
            lead, attempt_no = popped
            self._seq += 1
            record = CallRecord(call_id=call_id, campaign=cfg.name, lead=lead, attempt_no=attempt_no, created_at=now)
            self.calls[call_id] = Call(record, amd=cfg.amd, abandon_after_s=cfg.abandon_after_s,
                                       bot_first=cfg.bot_first)
            camp.stats.reserved += 1
            out.append(
                cmd.ReserveAttempt(
                    call_id=call_id,
                    campaign=cfg.name,
                    lead=lead,
                    attempt_no=attempt_no,
                    caller_id=cfg.caller_id,
                    at=now,
                )
            )

    def _originate(self, call: Call, out: list[cmd.Command]) -> None:
        r = call.record
        camp = self.campaigns[r.campaign]
        cfg = camp.config
        camp.stats.placed += 1
        variables = (
            ("DIALER_CALL_ID", r.call_id),
            ("DIALER_CAMPAIGN", cfg.name),
            ("DIALER_QUEUE", cfg.queue),
            ("DIALER_ABANDON_S", f"{cfg.abandon_after_s:g}"),
            ("DIALER_AMD", "1" if cfg.amd else "0"),
            *((("DIALER_BOT_ENDPOINT", cfg.bot_endpoint),) if cfg.bot_first else ()),
            *cfg.variables,
        )
        out.append(
            cmd.Originate(
                call_id=r.call_id,
                campaign=cfg.name,
                phone=r.lead.phone,
                channel=cfg.channel_template.format(phone=r.lead.phone.lstrip("+"), e164=r.lead.phone),
                context=cfg.context,
                exten=cfg.exten,
                priority=cfg.priority,
                caller_id=cfg.caller_id,
                timeout_ms=int(cfg.originate_timeout_s * 1000),
                variables=variables,
                pbx=self.pool.reroute(r.call_id, self._staffed_pbxs(cfg.queue)) or self.pool.names[0],
            )
        )

    # --- calls --------------------------------------------------------------------------

    def _call_event(self, e: ev.CallEvent, out: list[cmd.Command]) -> None:
        call = self.calls.get(e.call_id)
        if call is None:
            if e.call_id in self._ended:
                self.late_events += 1
            else:
                self.unknown_events += 1
            return
        if not call.apply(e):
            return
        if call.state is CallState.ENDING:
            self._ending.add(call.call_id)
        match e:
            case ev.AttemptApproved():
                self._watchdog(call, e.at)  # arms the first deadline
                self._originate(call, out)
            case ev.AttemptRefused():
                camp = self.campaigns[call.record.campaign]
                camp.stats.refused += 1
                camp.stats.refused_by_rule.update(e.rules or ("unspecified",))
                del self.calls[call.call_id]
                self.pool.release(call.call_id)
                self._remember_ended(call.call_id)
                if not camp.hopper.refused(call.record.lead.borrower_id, e.next_allowed_at):
                    out.append(
                        cmd.LeadExhausted(
                            campaign=camp.config.name,
                            borrower_id=call.record.lead.borrower_id,
                            reason="refused:" + ",".join(e.rules),
                        )
                    )
                return
            case ev.AgentOffered():
                self._agent(e.agent, e.at, call.call_id).offered(e.at, call.call_id)
            case ev.AgentMissed():
                self._agent(e.agent, e.at, call.call_id).missed(e.at, call.call_id)
            case ev.CallConnected():
                if not self._agent(e.agent, e.at, call.call_id).connected(e.at, call.call_id):
                    self.agent_conflicts += 1
            case ev.CallCompleted():
                self._release_agent(call, e.at)
            case ev.BotEscalated():
                cfg = self.campaigns[call.record.campaign].config
                self.campaigns[cfg.name].stats.escalated()
                out.append(cmd.Redirect(call.call_id, context=cfg.escalate_context, exten="s", priority=1))
        if call.ready_to_close(e.at):
            self._close(call, e.at, out)

    def _release_agent(self, call: Call, at: float) -> None:
        """The call is over for its agent: wrap-up if they talked, back to ready if the
        queue was still ringing them (the caller left, or we lost sight of the call)."""
        cfg = self.campaigns[call.record.campaign].config
        names = set(call.agents_offered)
        if call.record.agent:
            names.add(call.record.agent)
        for name in sorted(names):
            agent = self.agents.get(name)
            if agent is None or agent.call_id != call.call_id:
                continue
            if agent.state is AgentState.RINGING:
                agent.missed(at, call.call_id)
                continue
            agent.call_ended(at, call.call_id, cfg.wrapup_s)
            if agent.wrap_until is not None:
                heapq.heappush(self._wrapups, (agent.wrap_until, agent.name))

    def _close(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        call.close(now)
        self._release_agent(call, now)
        del self.calls[call.call_id]
        self.pool.release(call.call_id)
        self._ending.discard(call.call_id)
        self._remember_ended(call.call_id)
        outcome = Outcome.from_record(call.record)
        camp = self.campaigns[outcome.campaign]
        camp.stats.record(outcome)
        feed_outcome(camp.pacer, outcome)  # observe(outcome) if the pacer has it, else observe_outcome
        out.append(cmd.EmitOutcome(outcome))
        if not camp.hopper.finished(outcome.borrower_id, outcome.disposition, now):
            out.append(
                cmd.LeadExhausted(
                    campaign=outcome.campaign, borrower_id=outcome.borrower_id, reason=outcome.disposition.value
                )
            )

    def _remember_ended(self, call_id: str) -> None:
        self._ended[call_id] = None
        if len(self._ended) > _RECENTLY_ENDED:
            self._ended.popitem(last=False)

    # --- agents -------------------------------------------------------------------------

    def _agent(self, name: str, at: float, call_id: str | None = None) -> Agent:
        a = self.agents.get(name)
        if a is None:
            a = self.agents[name] = Agent(name, since=at)
            owner = self.pool.owner(call_id) if call_id else None
            if owner:
                a.pbx = owner  # first seen through a call: the call's PBX is theirs
        return a

    def _agent_event(self, e: ev.AgentEvent) -> None:
        a = self._agent(e.agent, e.at)
        a.pbx = e.pbx
        match e:
            case ev.AgentStatus():
                a.status(e.at, e.queue, e.device_status, e.paused, e.wrapup_s)
            case ev.AgentPaused():
                if e.queue:
                    a.queues.add(e.queue)
                    a.queues_ever.add(e.queue)
                a.pause(e.at, e.paused)
            case ev.AgentRemoved():
                a.remove(e.at, e.queue)

    # --- read-only views -------------------------------------------------------------

    def in_flight_call_ids(self, pbx: str | None = None) -> list[str]:
        """Calls the PBX (or every PBX) should still know about, for resync after a reconnect."""
        return [c.call_id for c in self.calls.values() if c.is_live and c.state is not CallState.QUEUED
                and (pbx is None or self.pool.owner(c.call_id) == pbx)]

    def is_idle(self) -> bool:
        """No live call and nothing left to dial (or every campaign draining)."""
        if self.calls:
            return False
        return all(c.draining or c.hopper.pending() == 0 for c in self.campaigns.values())

    def snapshot(self, now: float | None = None) -> DialerSnapshot:
        now = self.now if now is None else now
        all_agents = {s.value: 0 for s in AgentState}
        for a in self.agents.values():
            all_agents[a.state.value] += 1
        camps = []
        for camp in self.campaigns.values():
            cfg = camp.config
            agents = {s.value: 0 for s in AgentState}
            busy_s = avail_s = 0.0
            for a in self.agents.values():
                if cfg.queue in a.queues:
                    agents[a.state.value] += 1
                if cfg.queue in a.queues_ever or cfg.queue in a.queues:
                    for s in (AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP):
                        busy_s += a.time_in_state(s, now)
                    avail_s += a.time_in_state(AgentState.READY, now)
            avail_s += busy_s
            calls = {s.value: 0 for s in CallState if s is not CallState.ENDED}
            in_flight = 0
            for c in self.calls.values():
                if c.record.campaign == cfg.name:
                    calls[c.state.value] += 1
                    if c.state in IN_FLIGHT or c.state in WAITING_FOR_AGENT:
                        in_flight += 1
            staffed = agents[AgentState.READY.value] + sum(agents[s.value] for s in BUSY_STATES)
            camps.append(
                CampaignSnapshot(
                    name=cfg.name,
                    pacer=camp.pacer.name,
                    agents=agents,
                    calls=calls,
                    leads_pending=camp.hopper.pending(),
                    leads_exhausted=camp.hopper.exhausted,
                    draining=camp.draining,
                    stats=camp.stats,
                    dial_ratio=in_flight / staffed if staffed else 0.0,
                    occupancy=busy_s / avail_s if avail_s > 0 else 0.0,
                    talk_wrap_s=busy_s,
                    available_s=avail_s,
                    bot_capacity=cfg.bot_capacity if cfg.bot_first else None,
                )
            )
        return DialerSnapshot(
            at=now,
            campaigns=tuple(camps),
            agents=all_agents,
            calls_in_flight=sum(1 for c in self.calls.values() if c.is_live),
            pbx_up=self.pbx_up,
            backpressure=self.backpressure,
            unknown_events=self.unknown_events,
            late_events=self.late_events,
            agent_conflicts=self.agent_conflicts,
            pbxs=self.pool.snapshot(),
        )
