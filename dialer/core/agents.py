"""The agent state machine, fed by queue membership events.

Agents are the members of a campaign's Asterisk queue: the PBX owns who is logged in
and paused; the dialer mirrors it and adds what app_queue does not report, the wrap-up
after each call. States and transitions (event -> new state):

    logged_out --AgentStatus(available)--> ready | paused
    ready      --AgentOffered--> ringing      --AgentStatus(in use, no call of ours)--> on_call
    ringing    --CallConnected--> on_call     --AgentMissed--> ready
    on_call    --CallCompleted / our call ended--> wrap_up (until wrapup_s has passed)
    wrap_up    --time passes--> ready
    any        --AgentPaused(True)--> paused once idle (a pause never cuts a call)
    paused     --AgentPaused(False)--> ready, or wrap_up if its timer is still running
    any        --AgentRemoved / AgentStatus(unavailable, invalid)--> logged_out

Time spent in each state is accumulated so occupancy needs no second bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


# Asterisk device states meaning the member cannot take calls at all.
_UNAVAILABLE = frozenset({4, 5})
# Device states meaning the member's device is busy with something.
_IN_USE = frozenset({2, 3, 6, 7, 8})

BUSY_STATES = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})


@dataclass(slots=True)
class Agent:
    name: str
    queues: set[str] = field(default_factory=set)
    # Every queue the agent ever belonged to: time accounting stays with a campaign after
    # the agent leaves its queue, so cumulative figures never go backwards.
    queues_ever: set[str] = field(default_factory=set)
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    call_id: str | None = None
    paused: bool = False
    external: bool = False  # busy with a call the dialer did not place
    wrap_until: float | None = None
    wrapup_s: float | None = None
    time_in: dict[AgentState, float] = field(default_factory=dict)
    calls_handled: int = 0
    pbx: str = "default"  # the PBX whose queues the agent is a member of


    def _enter(self, state: AgentState, at: float) -> None:
        if state is self.state:
            return
        if at > self.since:
            self.time_in[self.state] = self.time_in.get(self.state, 0.0) + (at - self.since)
            self.since = at
        self.state = state

    def time_in_state(self, state: AgentState, now: float) -> float:
        t = self.time_in.get(state, 0.0)
        if self.state is state and now > self.since:
            t += now - self.since
        return t

    def _idle_state(self, at: float) -> AgentState:
        if self.wrap_until is not None and at < self.wrap_until:
            return AgentState.WRAP_UP
        self.wrap_until = None
        return AgentState.PAUSED if self.paused else AgentState.READY

    # --- events ----------------------------------------------------------------------

    def status(self, at: float, queue: str, device_status: int, paused: bool | None,
               wrapup_s: float | None) -> None:
        if queue:
            self.queues.add(queue)
            self.queues_ever.add(queue)
        if paused is not None:
            self.paused = paused
        if wrapup_s is not None:
            self.wrapup_s = wrapup_s
        if self.state is AgentState.LOGGED_OUT and self.since == 0.0:
            self.since = at
        if device_status in _UNAVAILABLE:
            self._enter(AgentState.LOGGED_OUT, at)
            self.call_id = None
            return
        if self.call_id is not None:
            return  # our own call drives the state; device churn adds nothing
        if device_status in _IN_USE:
            self.external = True
            self._enter(AgentState.ON_CALL, at)
        else:
            self.external = False
            if self.state in (AgentState.LOGGED_OUT, AgentState.ON_CALL, AgentState.READY,
                              AgentState.PAUSED):
                self._enter(self._idle_state(at), at)

    def pause(self, at: float, paused: bool) -> None:
        self.paused = paused
        if self.state in (AgentState.READY, AgentState.PAUSED, AgentState.WRAP_UP):
            self._enter(self._idle_state(at), at)

    def remove(self, at: float, queue: str) -> None:
        self.queues.discard(queue)
        if not self.queues:
            self._enter(AgentState.LOGGED_OUT, at)
            self.call_id = None

    def drop(self, at: float) -> None:
        """Their PBX is lost: out of every queue until its QueueStatus says otherwise."""
        self.queues.clear()
        self.call_id = None
        self.wrap_until = None
        self.external = False
        self._enter(AgentState.LOGGED_OUT, at)

    def offered(self, at: float, call_id: str) -> None:
        self.tick(at)  # a wrap-up that ended since the last tick ended at its own time
        if self.state is AgentState.LOGGED_OUT:
            self.since = self.since or at
        self.call_id = call_id
        self._enter(AgentState.RINGING, at)

    def missed(self, at: float, call_id: str) -> None:
        if self.call_id == call_id and self.state is AgentState.RINGING:
            self.call_id = None
            self._enter(self._idle_state(at), at)

    def connected(self, at: float, call_id: str) -> bool:
        """Returns False if the agent was already on another call (a PBX anomaly)."""
        self.tick(at)
        clash = self.state is AgentState.ON_CALL and self.call_id not in (None, call_id)
        self.call_id = call_id
        self._enter(AgentState.ON_CALL, at)
        return not clash

    def call_ended(self, at: float, call_id: str, default_wrapup_s: float) -> None:
        if self.call_id != call_id:
            return
        self.call_id = None
        self.calls_handled += 1
        wrap = self.wrapup_s if self.wrapup_s is not None else default_wrapup_s
        self.wrap_until = at + wrap if wrap > 0 else None
        self._enter(self._idle_state(at), at)

    def tick(self, at: float) -> None:
        if self.state is AgentState.WRAP_UP and self.wrap_until is not None and at >= self.wrap_until:
            ended = self.wrap_until  # account the wrap-up exactly, not to the tick
            self._enter(self._idle_state(at), ended)

    @property
    def available_time_states(self) -> tuple[AgentState, ...]:
        return (AgentState.READY, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP)
