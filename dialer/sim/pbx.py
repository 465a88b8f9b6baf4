"""The simulated PBX: channels, a dialplan, queues and agents, emitting Asterisk 22 AMI events.

Clock-agnostic: every time comes from the scheduler (`now()`, `call_at()`), so the same model
runs on an asyncio loop (`RealTimeScheduler`, optionally sped up) or on a virtual heap
(`VirtualScheduler`). It knows nothing about sockets: events are ordered lists of (key, value)
pairs handed to subscribers; `ami_server` serialises them.

The dialplan is the test PBX's (`/work/shared/asterisk/test-pbx-conf`), conceptually:

    Originate Channel=Local/<number>@<ctx>  Context=dialer-amd Exten=s Priority=1
      -> the callee plan decides: answer after ring_s, or busy / congestion / invalid / ring out
    [dialer-amd] s,1 NoOp
                 DIALER_AMD=0 -> straight to the queue (no AMD(), no DialerAMD)
                 s,2 AMD()           -> VarSet AMDSTATUS, AMDCAUSE
                 s,4 UserEvent(DialerAMD, Status, Cause, CallID=${DIALER_CALL_ID})
                     MACHINE -> s,10 Hangup()
                 s,7 Queue(${DIALER_QUEUE}, ..., timeout) as the shipped [dialer-queue]:
                     DIALER_QUEUE_TIMEOUT_S, else max(1, int(DIALER_ABANDON_S -
                     DIALER_ABANDON_MARGIN_S)) whole seconds (margin 0.8 s by default)
                     agent answers in time -> AgentConnect ... AgentComplete
                     timeout -> QueueCallerAbandon, QueueCallerLeave (as Asterisk 22 does),
                                s,8 UserEvent(DialerQueueResult, QueueStatus=TIMEOUT, CallID)
                                then the identification message (id_message_s) and Hangup()
                     caller hangs up on hold -> QueueCallerAbandon, QueueCallerLeave

Event shapes, order and fields follow the recordings in /work/shared/asterisk/transcripts and
Asterisk's source (manager.c, app_queue.c, main/dial.c, pbx.c); see dialer/sim/README.md for
which event types are emitted, which are not, and every inferred (not recorded) shape.

Ground truth: every accepted Originate gets a `TruthRecord`. Its `disposition` is what a
correct dialer must conclude from the AMI stream (the core's `Disposition` vocabulary);
`true_kind` and `ended_by` say what really happened behind it.

Invariant: no agent is ever on two calls. Members are only rung when free; the model checks
again whenever it rings one and records any overlap in `agent_overlap_violations`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .behaviour import Behaviour, CalleePlan
from .clock import Handle, Scheduler
from .scenario import Scenario

__all__ = [
    "DISPOSITIONS",
    "Frame",
    "OriginateError",
    "OriginateRequest",
    "PBXModel",
    "QueueResult",
    "TruthRecord",
    "ast_true",
    "get_header",
    "get_headers",
    "parse_callerid",
]

Frame = list[tuple[str, str]]

# Channel states (include/asterisk/channelstate.h) and their AMI descriptions.
DOWN, RING, RINGING, UP, BUSY_STATE = 0, 4, 5, 6, 7
STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
    10: "Unknown",
}
CAUSE_TXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
}
# Queue member device states (include/asterisk/devicestate.h).
DEV_NOT_INUSE, DEV_INUSE, DEV_RINGING = 1, 2, 6
# OriginateResponse Reason (the old AST_CONTROL_* values, pbx.c pbx_dial_reason).
REASON_FAILURE, REASON_HANGUP, REASON_NO_ANSWER, REASON_ANSWERED = 0, 1, 3, 4
REASON_BUSY, REASON_CONGESTION = 5, 8

DISPOSITIONS = (
    "connected",
    "abandoned",
    "machine",
    "human_hangup",
    "busy",
    "no_answer",
    "congestion",
    "invalid_number",
    "failed",
    "lost",
)
STRATEGIES = ("rrmemory", "roundrobin", "leastrecent", "fewestcalls", "linear", "random")
AST_MAX_PUBLIC_UNIQUEID = 149


class QueueResult:
    CONNECTED = "CONNECTED"
    TIMEOUT = "TIMEOUT"
    ABANDON = "ABANDON"
    UNKNOWN = "UNKNOWN"


# --------------------------------------------------------------------------- AMI helpers


def get_header(frame: Sequence[tuple[str, str]], key: str, default: str = "") -> str:
    """First value of `key` (case-insensitive), as Asterisk's astman_get_header."""
    k = key.lower()
    for name, value in frame:
        if name.lower() == k:
            return value
    return default


def get_headers(frame: Sequence[tuple[str, str]], key: str) -> list[str]:
    k = key.lower()
    return [value for name, value in frame if name.lower() == k]


def ast_true(value: str) -> bool:
    return value.strip().lower() in {"yes", "true", "y", "t", "1", "on"}


def parse_callerid(text: str) -> tuple[str, str]:
    """(name, number) from `"Name" <number>`, `Name <number>`, `number` or `Name`."""
    text = text.strip()
    if not text:
        return "", ""
    m = re.match(r'^(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>\s*$', text)
    if m:
        name = m.group(1) if m.group(1) is not None else m.group(2).strip()
        number = m.group(3)
    elif re.fullmatch(r"[+0-9()\-. *#]+", text):
        name, number = "", text
    else:
        name, number = text.strip('"'), ""
    return name, re.sub(r"[()\-.\s]", "", number)


class OriginateError(Exception):
    """An Originate refused up front; the message is Asterisk's `Response: Error` text."""


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """The fields of an AMI Originate action that the simulator honours."""

    channel: str
    context: str = ""
    exten: str = ""
    priority: str = "1"
    timeout_ms: int = 30000
    caller_id: str = ""
    is_async: bool = True
    action_id: str = ""
    channel_id: str = ""
    other_channel_id: str = ""
    variables: tuple[tuple[str, str], ...] = ()
    account: str = ""
    application: str = ""

    @classmethod
    def from_frame(cls, frame: Sequence[tuple[str, str]]) -> OriginateRequest:
        """Parse an Originate action; raises OriginateError with Asterisk's message."""
        h = lambda k: get_header(frame, k)  # noqa: E731
        channel_id, other_id = h("ChannelId"), h("OtherChannelId")
        if len(channel_id) > AST_MAX_PUBLIC_UNIQUEID or len(other_id) > AST_MAX_PUBLIC_UNIQUEID:
            raise OriginateError(f"Uniqueid length exceeds maximum of {AST_MAX_PUBLIC_UNIQUEID}\n")
        channel = h("Channel")
        if not channel:
            raise OriginateError("Channel not specified")
        priority = h("Priority")
        if priority and not re.fullmatch(r"\s*-?\d+.*", priority):
            raise OriginateError("Invalid priority")  # labels are not simulated
        timeout = h("Timeout")
        timeout_ms = 30000
        if timeout:
            m = re.match(r"\s*(-?\d+)", timeout)
            if not m:
                raise OriginateError("Invalid timeout")
            timeout_ms = int(m.group(1))
        if "/" not in channel:
            raise OriginateError("Invalid channel")
        variables: list[tuple[str, str]] = []
        for header in get_headers(frame, "Variable"):
            for item in header.split(","):
                if not item.strip():
                    continue
                name, _, value = item.partition("=")
                variables.append((name.strip(), value))
        return cls(
            channel=channel,
            context=h("Context"),
            exten=h("Exten"),
            priority=priority,
            timeout_ms=timeout_ms,
            caller_id=h("CallerID"),
            is_async=ast_true(h("Async")),
            action_id=h("ActionID"),
            channel_id=channel_id,
            other_channel_id=other_id,
            variables=tuple(variables),
            account=h("Account"),
            application=h("Application"),
        )

    @property
    def priority_int(self) -> int:
        m = re.match(r"\s*(-?\d+)", self.priority or "")
        return int(m.group(1)) if m else 0

    def variable(self, name: str) -> str | None:
        for k, v in reversed(self.variables):
            if k == name:
                return v
        return None


# --------------------------------------------------------------------------- truth


@dataclass(frozen=True, slots=True)
class TruthRecord:
    """What really happened to one originated call.

    disposition   what a correct dialer must conclude from the AMI stream, in the core's
                  vocabulary: connected, abandoned, machine, human_hangup, busy, no_answer,
                  congestion, invalid_number, failed, lost (None while the call is live)
    true_kind     the real far end: person, machine, busy, no_answer, congestion, invalid
    ended_by      callee, pbx (dialplan), agent, ami (a Hangup action), timeout (Originate
                  Timeout), restart (PBX restart), conflict (ChannelId already in use)
    queue_result  CONNECTED, TIMEOUT (no agent within the Queue() timeout), ABANDON (hung up
                  on hold), UNKNOWN (no such queue) or "" if never queued
    queue_timeout_s  the whole-second Queue() timeout the dialplan used (None if never
                  queued): DIALER_QUEUE_TIMEOUT_S, else max(1, int(DIALER_ABANDON_S - margin))
    hangup_cause  the cause on the far-end leg (the `;2` half for Local channels)
    """

    seq: int
    action_id: str
    channel_id: str
    call_id: str
    number: str
    channel: str
    uniqueid: str
    true_kind: str
    answered: bool
    amd_status: str
    amd_cause: str
    queued: bool
    queue: str
    agent: str
    queue_result: str
    originate_reason: int | None
    hangup_cause: int | None
    disposition: str | None
    ended_by: str
    abandon_s: float
    started_at: float
    answered_at: float | None
    queued_at: float | None
    left_queue_at: float | None
    connected_at: float | None
    ended_at: float | None
    queue_timeout_s: float | None = None
    bot_at: float | None = None  # bot-first: the bot answered the person
    escalated_at: float | None = None  # the bot sent DialerEscalate
    redirected_at: float | None = None  # the dialer's Redirect moved the call to the agents

    @property
    def handled_by(self) -> str | None:
        """"agent" if an agent talked, "bot" if only the bot did, else None."""
        if self.connected_at is not None:
            return "agent"
        return "bot" if self.bot_at is not None else None

    @property
    def hold_s(self) -> float | None:
        """Seconds in the queue: until an agent answered, the timeout, or the hang-up."""
        if self.queued_at is None or self.left_queue_at is None:
            return None
        return self.left_queue_at - self.queued_at


# --------------------------------------------------------------------------- internals


@dataclass(eq=False, slots=True)
class _Channel:
    name: str
    uniqueid: str
    linkedid: str
    state: int
    context: str
    exten: str
    created: float
    priority: int = 1
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    conn_num: str = "<unknown>"
    conn_name: str = "<unknown>"
    account: str = ""
    app: str = ""
    appdata: str = ""
    bridge: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    call: _Call | None = None
    role: str = ""  # "c1", "c2" (callee Local halves), "single", "a1", "a2" (agent halves)


@dataclass(eq=False, slots=True)
class _Member:
    interface: str
    name: str
    login_time: float
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    dynamic: bool = False
    state_interface: str = ""
    calls: int = 0
    last_call: float = 0.0
    last_pause: float = 0.0
    status: int = DEV_NOT_INUSE
    in_call: bool = False
    call: _Call | None = None
    wrapup_until: float = 0.0
    busy_since: float = 0.0


@dataclass(eq=False, slots=True)
class _Queue:
    name: str
    strategy: str
    wrapup_s: float
    member_timeout_s: float
    retry_s: float
    servicelevel: int = 20
    members: dict[str, _Member] = field(default_factory=dict)
    callers: list[_Call] = field(default_factory=list)
    rr_next: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    holdtime: int = 0
    talktime: int = 0


@dataclass(eq=False, slots=True)
class _Call:
    seq: int
    req: OriginateRequest
    plan: CalleePlan
    tech: str
    number: str
    dial_string: str  # DialString of DialBegin: the data after "Tech/"
    callee_context: str
    started_at: float
    on_result: Callable[[bool], None] | None = None
    c1: _Channel | None = None  # the originated channel (Local ;1 or the single channel)
    c2: _Channel | None = None  # the far-end half of a Local channel
    phase: str = "new"  # new, dialing, amd, queued, connected, post, done
    timers: list[Handle] = field(default_factory=list)
    # queue
    queue: _Queue | None = None
    abandon_s: float = 2.0
    queue_timeout_s: float | None = None
    orig_position: int = 0
    pending: bool = False
    member: _Member | None = None
    a1: _Channel | None = None
    a2: _Channel | None = None
    ring_started: float = 0.0
    ring_timer: Handle | None = None
    # bot-first
    bot: _Channel | None = None
    bot_timer: Handle | None = None
    bot_at: float | None = None
    escalated_at: float | None = None
    redirected_at: float | None = None
    # truth
    answered_at: float | None = None
    queued_at: float | None = None
    left_queue_at: float | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    amd_status: str = ""
    amd_cause: str = ""
    queue_name: str = ""
    queue_result: str = ""
    agent: str = ""
    originate_reason: int | None = None
    hangup_cause: int | None = None
    disposition: str | None = None
    ended_by: str = ""
    result_sent: bool = False


def _dial_status(cause: int) -> str:
    """main/dial.c ast_hangup_cause_to_dial_status."""
    return {17: "BUSY", 34: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}.get(
        cause, "NOANSWER"
    )


def _pbx_dial_reason(cause: int) -> int:
    """pbx.c pbx_dial_reason for an unanswered dial."""
    if cause == 17:
        return REASON_BUSY
    if cause in (21, 38, 27, 41, 42, 34):
        return REASON_CONGESTION
    if cause in (26, 19):
        return REASON_NO_ANSWER
    return REASON_FAILURE


def _split_local(data: str) -> tuple[str, str]:
    """ "5550001@callees/n" -> ("5550001", "callees")."""
    exten, _, context = data.partition("@")
    context = context.split("/", 1)[0]
    return exten, context or "default"


# --------------------------------------------------------------------------- the model


class PBXModel:
    """An Asterisk 22 stand-in driven by Originate/Hangup/Queue* calls, emitting AMI frames.

    scheduler         clock and timers (`clock.VirtualScheduler` or `clock.RealTimeScheduler`)
    scenario          callee/agent behaviour (`Scenario`; None = the bundled default)
    agents            static members agent1..agentN of the default queue
    seed              seed of the behaviour streams (default: the scenario's)
    queue             name of the default queue (DIALER_QUEUE when the variable is absent)
    strategy          member selection: rrmemory (queues.conf), leastrecent, fewestcalls,
                      linear, roundrobin, random
    amd_context       the context Originates must target (its only extension is `s`)
    default_abandon_s DIALER_ABANDON_S when the Originate does not set it (or sets it badly),
                      like [dialer-defaults]; the Queue() timeout is derived from it
    legal_abandon_s   the legal threshold used to classify a hang-up on hold in the ground
                      truth (abandoned if the person waited longer, human_hangup otherwise)
    id_message_s      length of the identification message played after a queue timeout
    member_timeout_s  how long an agent is rung before giving up (queues.conf timeout)
    retry_s           how often a waiting caller looks for a free agent (queues.conf retry)
    plan_provider     optional `f(OriginateRequest, number) -> CalleePlan | None` overriding the
                      scenario (tests force a situation with it; see also `force_plans`)
    """

    def __init__(
        self,
        scheduler: Scheduler,
        scenario: Scenario | None = None,
        *,
        agents: int = 5,
        seed: int | None = None,
        queue: str = "agents",
        strategy: str = "rrmemory",
        amd_context: str = "dialer-amd",
        default_abandon_s: float = 2.0,
        legal_abandon_s: float = 2.0,
        id_message_s: float = 3.0,
        member_timeout_s: float = 10.0,
        retry_s: float = 1.0,
        agent_context: str = "agents",
        plan_provider: Callable[[OriginateRequest, str], CalleePlan | None] | None = None,
        record_events: bool = False,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
        if agents < 0:
            raise ValueError(f"agents: expected a count >= 0, got {agents}")
        self.scheduler = scheduler
        self.scenario = scenario if scenario is not None else Scenario.load()
        self.behaviour = Behaviour(self.scenario, seed)
        self.agents = agents
        self.default_queue = queue
        self.strategy = strategy
        self.amd_context = amd_context
        self.default_abandon_s = default_abandon_s
        self.legal_abandon_s = legal_abandon_s
        self.id_message_s = id_message_s
        self.member_timeout_s = member_timeout_s
        self.retry_s = retry_s
        self.agent_context = agent_context
        self.plan_provider = plan_provider
        self.events: list[Frame] | None = [] if record_events else None
        self._forced: list[CalleePlan] = []
        self._subscribers: list[Callable[[Frame], None]] = []
        self._calls: list[_Call] = []
        self._active: set[_Call] = set()
        self.counters: Counter[str] = Counter()
        self._violations: list[str] = []
        self._agent_busy: dict[str, list[tuple[float, float, int]]] = {}
        self._call_seq = itertools.count(1)
        self.global_vars: dict[str, str] = {}
        self.bot_redirect_wait_s = 30.0
        self._boot()

    # ------------------------------------------------------------------ lifecycle

    def _boot(self) -> None:
        now = self.scheduler.now()
        self.boot_time = now
        self._channels: dict[str, _Channel] = {}
        self._by_uid: dict[str, _Channel] = {}
        self._uid_seq = 0
        self._local_seq = 0
        self._tech_seq: dict[str, int] = {}
        self._bridge_seq = itertools.count(1)
        self.bot_in_use = 0
        q = _Queue(
            self.default_queue,
            self.strategy,
            self.scenario.agent_wrapup_s.mean(),
            self.member_timeout_s,
            self.retry_s,
        )
        for k in range(1, self.agents + 1):
            interface = f"Local/agent{k}@{self.agent_context}"
            q.members[interface] = _Member(interface, f"agent{k}", now, state_interface=interface)
        self.queues: dict[str, _Queue] = {q.name: q}

    def reset(self) -> None:
        """An Asterisk restart: every channel vanishes without events, queues and members are
        reloaded from configuration (dynamic members and pauses are lost), name and uniqueid
        counters start again (so channel names seen before the restart can repeat)."""
        now = self.scheduler.now()
        for call in list(self._active):
            for h in call.timers:
                h.cancel()
            if call.ring_timer is not None:
                call.ring_timer.cancel()
            if call.member is not None:
                self._agent_release(call.member, call, now)
            if call.queued_at is not None and call.left_queue_at is None:
                call.left_queue_at = now
            if call.bot is not None:
                call.bot = None
                self.bot_in_use -= 1
            if call.disposition is None:
                handled = call.connected_at is not None or call.bot_at is not None
                call.disposition = "connected" if handled else "lost"
            call.ended_by = call.ended_by or "restart"
            self._finish(call)
            if call.on_result is not None and not call.result_sent:
                call.result_sent = True
                call.on_result(False)
        self.counters["restarts"] += 1
        self._boot()

    def shutdown_event(self, restart: bool = True) -> None:
        cleanly = "Uncleanly" if self._channels else "Cleanly"
        self._emit(
            "Shutdown",
            "system",
            [("Shutdown", cleanly), ("Restart", "True" if restart else "False")],
        )

    # ------------------------------------------------------------------ subscribers & plans

    def subscribe(self, fn: Callable[[Frame], None]) -> Callable[[], None]:
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def force_plans(self, *plans: CalleePlan) -> None:
        """Use these plans, in order, for the next Originates (before the scenario)."""
        self._forced.extend(plans)

    def now(self) -> float:
        return self.scheduler.now()

    # ------------------------------------------------------------------ truth & invariants

    def ground_truth(self) -> list[TruthRecord]:
        return [self._truth(c) for c in self._calls]

    @property
    def active_calls(self) -> int:
        return len(self._active)

    @property
    def agent_overlap_violations(self) -> list[str]:
        """Runtime violations plus any overlap in each agent's busy intervals."""
        out = list(self._violations)
        for agent, spans in self._agent_busy.items():
            ordered = sorted(spans)
            for (s1, e1, c1), (s2, e2, c2) in itertools.pairwise(ordered):
                if s2 < e1 - 1e-9:
                    out.append(
                        f"{agent}: call {c1} [{s1:.3f}, {e1:.3f}] overlaps "
                        f"call {c2} [{s2:.3f}, {e2:.3f}]"
                    )
        return out

    def agent_intervals(self) -> dict[str, list[tuple[float, float, int]]]:
        return {k: list(v) for k, v in self._agent_busy.items()}

    def _truth(self, c: _Call) -> TruthRecord:
        return TruthRecord(
            seq=c.seq,
            action_id=c.req.action_id,
            channel_id=c.req.channel_id,
            call_id=c.req.variable("DIALER_CALL_ID") or "",
            number=c.number,
            channel=c.req.channel,
            uniqueid=c.c1.uniqueid if c.c1 is not None else "",
            true_kind=c.plan.kind,
            answered=c.answered_at is not None,
            amd_status=c.amd_status,
            amd_cause=c.amd_cause,
            queued=c.queued_at is not None,
            queue=c.queue_name,
            agent=c.agent,
            queue_result=c.queue_result,
            originate_reason=c.originate_reason,
            hangup_cause=c.hangup_cause,
            disposition=c.disposition,
            ended_by=c.ended_by,
            abandon_s=c.abandon_s,
            started_at=c.started_at,
            answered_at=c.answered_at,
            queued_at=c.queued_at,
            left_queue_at=c.left_queue_at,
            connected_at=c.connected_at,
            ended_at=c.ended_at,
            queue_timeout_s=c.queue_timeout_s,
            bot_at=c.bot_at,
            escalated_at=c.escalated_at,
            redirected_at=c.redirected_at,
        )

    # ------------------------------------------------------------------ event plumbing

    def _emit(self, name: str, cls: str, fields: Iterable[tuple[str, str]]) -> None:
        frame: Frame = [
            ("Event", name),
            ("Privilege", f"{cls},all"),
            ("Timestamp", f"{self.scheduler.now():.6f}"),
            *fields,
        ]
        if self.events is not None:
            self.events.append(frame)
        for fn in list(self._subscribers):
            fn(frame)

    @staticmethod
    def _block(ch: _Channel, prefix: str = "") -> Frame:
        return [
            (f"{prefix}Channel", ch.name),
            (f"{prefix}ChannelState", str(ch.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(ch.state, "Unknown")),
            (f"{prefix}CallerIDNum", ch.cid_num),
            (f"{prefix}CallerIDName", ch.cid_name),
            (f"{prefix}ConnectedLineNum", ch.conn_num),
            (f"{prefix}ConnectedLineName", ch.conn_name),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ch.account),
            (f"{prefix}Context", ch.context),
            (f"{prefix}Exten", ch.exten),
            (f"{prefix}Priority", str(ch.priority)),
            (f"{prefix}Uniqueid", ch.uniqueid),
            (f"{prefix}Linkedid", ch.linkedid),
        ]

    def _ev_chan(self, name: str, ch: _Channel, extra: Iterable[tuple[str, str]] = ()) -> None:
        self._emit(name, "call", [*self._block(ch), *extra])

    def _newstate(self, ch: _Channel, state: int) -> None:
        ch.state = state
        self._ev_chan("Newstate", ch)

    def _varset(self, ch: _Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self._emit("VarSet", "dialplan", [*self._block(ch), ("Variable", name), ("Value", value)])

    def _user_event(self, ch: _Channel, name: str, fields: Iterable[tuple[str, str]]) -> None:
        self._emit("UserEvent", "user", [*self._block(ch), ("UserEvent", name), *fields])

    def _hangup_chan(self, ch: _Channel | None, cause: int) -> None:
        if ch is None or ch.name not in self._channels:
            return
        self._ev_chan(
            "Hangup", ch, [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT.get(cause, "Unknown"))]
        )
        del self._channels[ch.name]
        self._by_uid.pop(ch.uniqueid, None)

    def _uid(self, now: float) -> str:
        uid = f"{int(now)}.{self._uid_seq}"
        self._uid_seq += 1
        return uid

    def _new_channel(
        self, name: str, uid: str, linkedid: str, state: int, context: str, exten: str, role: str
    ) -> _Channel:
        ch = _Channel(
            name, uid, linkedid or uid, state, context, exten, self.scheduler.now(), role=role
        )
        self._channels[name] = ch
        self._by_uid[uid] = ch
        return ch

    def _at(self, call: _Call, delay: float, fn: Callable[[], None]) -> Handle:
        h = self.scheduler.call_at(self.scheduler.now() + delay, fn)
        call.timers.append(h)
        return h

    def _member_event(self, name: str, q: _Queue, m: _Member) -> None:
        self._emit(
            name,
            "agent",
            [
                ("Queue", q.name),
                ("MemberName", m.name),
                ("Interface", m.interface),
                ("StateInterface", m.state_interface or m.interface),
                ("Membership", "dynamic" if m.dynamic else "static"),
                ("Penalty", str(m.penalty)),
                ("CallsTaken", str(m.calls)),
                ("LastCall", str(int(m.last_call))),
                ("LastPause", str(int(m.last_pause))),
                ("LoginTime", str(int(m.login_time))),
                ("InCall", "1" if m.in_call else "0"),
                ("Status", str(m.status)),
                ("Paused", "1" if m.paused else "0"),
                ("PausedReason", m.paused_reason),
                ("Ringinuse", "0"),
                ("Wrapuptime", "0"),
            ],
        )

    # ------------------------------------------------------------------ Originate

    def originate(
        self, req: OriginateRequest, on_result: Callable[[bool], None] | None = None
    ) -> None:
        """Accept an Originate (or raise OriginateError with Asterisk's message).

        The call starts on the next scheduler tick, so the action's Response goes out before
        its first event, as in the recordings. `on_result(answered)` is called once, at answer
        or failure (the AMI server uses it for `Async: false`)."""
        if req.application:
            self.counters["originate_rejected"] += 1
            raise OriginateError("Originate with 'Application' is not simulated")
        pi = req.priority_int
        if pi and (req.context != self.amd_context or req.exten != "s" or pi < 1):
            self.counters["originate_rejected"] += 1
            raise OriginateError("Extension does not exist.")
        if not (req.context and req.exten and pi):
            self.counters["originate_rejected"] += 1
            raise OriginateError("Originate with 'Exten' requires 'Context' and 'Priority'")
        tech, _, data = req.channel.partition("/")
        if tech.lower() == "local":
            number, callee_context = _split_local(data)
        else:
            number, _, _ = data.partition("@")
            callee_context = ""
        plan = self._plan_for(req, number)
        now = self.scheduler.now()
        call = _Call(
            seq=next(self._call_seq),
            req=req,
            plan=plan,
            tech=tech,
            number=number,
            dial_string=data,
            callee_context=callee_context,
            started_at=now,
            on_result=on_result,
        )
        call.abandon_s = self._abandon_s_of(req.variable("DIALER_ABANDON_S"))
        self._calls.append(call)
        self._active.add(call)
        self.counters["originates"] += 1
        self.counters["peak_active_calls"] = max(
            self.counters["peak_active_calls"], len(self._active)
        )
        self._at(call, 0.0, lambda: self._start(call))

    def _plan_for(self, req: OriginateRequest, number: str) -> CalleePlan:
        if self._forced:
            return self._forced.pop(0)
        if self.plan_provider is not None:
            plan = self.plan_provider(req, number)
            if plan is not None:
                return plan
        return self.behaviour.plan(number)

    def _abandon_s_of(self, value: str | None) -> float:
        if value is None:
            return self.default_abandon_s
        try:
            v = float(value)
        except ValueError:
            return self.default_abandon_s
        return v if math.isfinite(v) and v >= 0 else self.default_abandon_s

    def _start(self, call: _Call) -> None:
        req = call.req
        now = self.scheduler.now()
        ids = [req.channel_id, req.other_channel_id]
        if req.channel_id and not req.other_channel_id and call.tech.lower() == "local":
            ids[1] = req.channel_id + ";2"
        if any(i and i in self._by_uid for i in ids):
            # channel.c refuses a uniqueid that is already in use: no channel is created.
            self.counters["originate_conflicts"] += 1
            call.ended_by = "conflict"
            self._originate_failed(call, REASON_FAILURE)
            self._close(call, "failed")
            return
        cid_name, cid_num = parse_callerid(req.caller_id)
        if call.tech.lower() == "local":
            n = self._local_seq
            self._local_seq += 1
            base = f"Local/{call.number}@{call.callee_context}-{n:08x}"
            uid1 = req.channel_id or self._uid(now)
            uid2 = ids[1] or self._uid(now)
            c1 = self._new_channel(
                f"{base};1", uid1, uid1, DOWN, call.callee_context, call.number, "c1"
            )
            c2 = self._new_channel(
                f"{base};2", uid2, uid1, RING, call.callee_context, call.number, "c2"
            )
            call.c1, call.c2 = c1, c2
            chans = [c1, c2]
        else:
            resource = call.dial_string.partition("@")[2] or call.dial_string
            resource = resource.split("/", 1)[0]
            n = self._tech_seq.get(call.tech, 0)
            self._tech_seq[call.tech] = n + 1
            uid1 = req.channel_id or self._uid(now)
            c1 = self._new_channel(
                f"{call.tech}/{resource}-{n:08x}", uid1, uid1, DOWN, "default", "s", "single"
            )
            call.c1 = c1
            chans = [c1]
        for ch in chans:
            ch.call = call
            ch.account = req.account
            ch.app, ch.appdata = (
                ("AppDial2", "(Outgoing Line)") if ch.role != "c2" else ("Wait", "")
            )
            self._ev_chan("Newchannel", ch)
        for ch in chans:
            for name, value in req.variables:
                self._varset(ch, name, value)
            if cid_num or cid_name:
                ch.cid_num = cid_num or "<unknown>"
                ch.cid_name = cid_name or "<unknown>"
                ch.conn_num, ch.conn_name = ch.cid_num, ch.cid_name
        call.phase = "dialing"
        self._emit(
            "DialBegin", "call", [*self._block(c1, "Dest"), ("DialString", call.dial_string)]
        )

        plan = call.plan
        timeout = (req.timeout_ms if req.timeout_ms > 0 else 30000) / 1000.0
        if plan.answers and plan.ring_s < timeout:
            self._ringing(call)
            self._at(call, plan.ring_s, lambda: self._answer(call))
        elif plan.kind in ("busy", "congestion", "invalid") and plan.ring_s < timeout:
            self._at(call, plan.ring_s, lambda: self._fail(call, plan.kind))
        else:
            self._ringing(call)
            self._at(call, timeout, lambda: self._ring_timeout(call))

    def _ringing(self, call: _Call) -> None:
        assert call.c1 is not None
        self._newstate(call.c1, RINGING)
        self._emit("DialState", "call", [*self._block(call.c1, "Dest"), ("DialStatus", "RINGING")])

    def _originate_failed(self, call: _Call, reason: int) -> None:
        call.originate_reason = reason
        if call.req.is_async:
            req = call.req
            cid_name, cid_num = parse_callerid(req.caller_id)
            self._emit(
                "OriginateResponse",
                "call",
                [
                    *([("ActionID", req.action_id)] if req.action_id else []),
                    ("Response", "Failure"),
                    ("Channel", req.channel),
                    ("Context", req.context),
                    ("Exten", req.exten),
                    ("Reason", str(reason)),
                    ("Uniqueid", req.channel_id or "<unknown>"),
                    ("CallerIDNum", cid_num or "<unknown>"),
                    ("CallerIDName", cid_name or "<unknown>"),
                ],
            )
        self._send_result(call, False)

    def _send_result(self, call: _Call, ok: bool) -> None:
        if call.on_result is not None and not call.result_sent:
            call.result_sent = True
            call.on_result(ok)

    def _fail(self, call: _Call, kind: str) -> None:
        """busy (Busy(), cause 17), congestion (Congestion(), cause 34), invalid (Hangup(1))."""
        c1, c2 = call.c1, call.c2
        assert c1 is not None
        cause = {"busy": 17, "congestion": 34, "invalid": 1}[kind]
        call.hangup_cause = cause
        call.ended_by = "callee"
        disposition = {"busy": "busy", "congestion": "congestion", "invalid": "invalid_number"}[
            kind
        ]
        if c2 is None:  # a single channel: the network's answer is on the channel itself
            self._emit(
                "DialEnd", "call", [*self._block(c1, "Dest"), ("DialStatus", _dial_status(cause))]
            )
            self._hangup_chan(c1, cause)
            self._originate_failed(call, _pbx_dial_reason(cause))
        elif kind == "invalid":
            # Hangup(1) on ;2; the Local core passes the cause to ;1 and dial.c sees it hang up.
            self._hangup_chan(c2, cause)
            self._emit(
                "DialEnd", "call", [*self._block(c1, "Dest"), ("DialStatus", _dial_status(cause))]
            )
            self._hangup_chan(c1, cause)
            self._originate_failed(call, REASON_FAILURE)
        else:
            # Busy()/Congestion() set ;2 to Busy; recordings busy_7 / busy_7_with_channelid.
            self._newstate(c2, BUSY_STATE)
            self._originate_failed(call, _pbx_dial_reason(cause))
            self._emit(
                "DialEnd", "call", [*self._block(c1, "Dest"), ("DialStatus", _dial_status(cause))]
            )
            self._hangup_chan(c2, cause)
            self._hangup_chan(c1, 0)
        self._close(call, disposition)

    def _ring_timeout(self, call: _Call) -> None:
        """The Originate Timeout expired while ringing (recording noanswer_8)."""
        call.hangup_cause = 19
        call.ended_by = "timeout"
        self._originate_failed(call, REASON_NO_ANSWER)
        self._hangup_chan(call.c1, 19)
        self._hangup_chan(call.c2, 19)
        self._close(call, "no_answer")

    def _answer(self, call: _Call) -> None:
        c1, c2 = call.c1, call.c2
        assert c1 is not None
        now = self.scheduler.now()
        if c2 is not None:
            self._newstate(c2, UP)
        self._newstate(c1, UP)
        self._emit("DialEnd", "call", [*self._block(c1, "Dest"), ("DialStatus", "ANSWER")])
        call.answered_at = now
        call.originate_reason = REASON_ANSWERED
        self.counters["answered"] += 1
        if call.req.is_async:
            self._emit(
                "OriginateResponse",
                "call",
                [
                    *([("ActionID", call.req.action_id)] if call.req.action_id else []),
                    ("Response", "Success"),
                    ("Channel", c1.name),
                    ("Context", call.req.context),
                    ("Exten", call.req.exten),
                    ("Reason", str(REASON_ANSWERED)),
                    ("Uniqueid", c1.uniqueid),
                    ("CallerIDNum", c1.cid_num),
                    ("CallerIDName", c1.cid_name),
                ],
            )
        self._send_result(call, True)
        # The answered leg now runs [dialer-amd]: s,1 NoOp; s,2 AMD().
        c1.context, c1.exten, c1.priority = call.req.context, call.req.exten, 2
        c1.app, c1.appdata = "AMD", ""
        if c2 is not None:
            c2.app, c2.appdata = "Playback", "greeting"
        call.phase = "amd"
        plan = call.plan
        amd_off = c1.variables.get("DIALER_AMD") == "0"
        if not amd_off:
            self._at(call, plan.amd_delay_s, lambda: self._amd_verdict(call))
        if plan.kind == "machine":
            self._at(call, plan.talk_s, lambda: self._far_end_hangup(call, 16, "callee"))
        if amd_off:
            # GotoIf($["${DIALER_AMD}" = "0"]?human): no AMD(), no DialerAMD; every answer
            # is treated as a person (an answering machine then reaches the queue too).
            self._human(call)

    def _amd_verdict(self, call: _Call) -> None:
        c1 = call.c1
        assert c1 is not None
        plan = call.plan
        call.amd_status, call.amd_cause = plan.amd_status, plan.amd_cause
        self.counters[f"amd_{plan.amd_status}"] += 1
        self._varset(c1, "AMDSTATUS", plan.amd_status)
        self._varset(c1, "AMDCAUSE", plan.amd_cause)
        c1.priority = 4
        self._user_event(
            c1,
            "DialerAMD",
            [
                ("Status", plan.amd_status),
                ("Cause", plan.amd_cause),
                ("CallID", c1.variables.get("DIALER_CALL_ID", "")),
            ],
        )
        if plan.amd_status == "MACHINE":
            c1.priority = 10  # s,10 Hangup(): the dialplan, not AMD, drops the line
            call.phase = "post"
            self._dialplan_hangup(call, 16, "pbx")
            return
        self._human(call)

    def _human(self, call: _Call) -> None:
        """[dialer-amd] (human): the bot when DIALER_BOT_ENDPOINT is set, else the queue."""
        assert call.c1 is not None
        if call.c1.variables.get("DIALER_BOT_ENDPOINT"):
            self._dial_bot(call)
            return
        self._join_queue(call)

    # ------------------------------------------------------------------ bot-first

    def _dial_bot(self, call: _Call) -> None:
        """[dialer-bot]: Set(__DIALER_BOT_CALL_ID), Dial(${DIALER_BOT_ENDPOINT}). The bot
        answers at once while it has a free channel (scenario `bot_channels`), then either
        escalates (UserEvent DialerEscalate from its own AMI session, with only CallID) or
        ends the conversation itself."""
        c1 = call.c1
        assert c1 is not None
        now = self.scheduler.now()
        call_id = c1.variables.get("DIALER_CALL_ID", "")
        c1.variables["DIALER_BOT_CALL_ID"] = call_id
        call.phase = "bot"
        endpoint = c1.variables["DIALER_BOT_ENDPOINT"]
        c1.context, c1.exten, c1.priority = "dialer-bot", "s", 2
        c1.app, c1.appdata = "Dial", endpoint
        if self.bot_in_use >= self.scenario.bot_channels:
            self.counters["bot_unavailable"] += 1
            self._bot_result(call, "CHANUNAVAIL")
            return
        n = self._tech_seq.get("bot", 0)
        self._tech_seq["bot"] = n + 1
        bot = self._new_channel(f"{endpoint}-{n:08x}", self._uid(now), c1.linkedid, DOWN,
                                "default", "s", "bot")
        bot.call = call
        bot.variables["DIALER_BOT_CALL_ID"] = call_id
        bot.app, bot.appdata = "AppDial2", "(Outgoing Line)"
        self._ev_chan("Newchannel", bot)
        self._emit("DialBegin", "call", [*self._block(c1), *self._block(bot, "Dest"),
                                         ("DialString", endpoint.partition("/")[2])])
        self._newstate(bot, UP)
        self._emit("DialEnd", "call", [*self._block(c1), *self._block(bot, "Dest"),
                                       ("DialStatus", "ANSWER")])
        call.bot = bot
        call.bot_at = now
        self.bot_in_use += 1
        self.counters["bot_answered"] += 1
        escalates, after = self.behaviour.bot_turn()
        action = self._bot_escalate if escalates else self._bot_done
        call.bot_timer = self._at(call, after, lambda: action(call))

    def _bot_escalate(self, call: _Call) -> None:
        if call.phase != "bot" or call.bot is None:
            return
        call.escalated_at = self.scheduler.now()
        self.counters["bot_escalations"] += 1
        self._emit("UserEvent", "user", [("UserEvent", "DialerEscalate"),
                                         ("CallID", call.bot.variables.get("DIALER_BOT_CALL_ID", ""))])
        # Nobody moved the call: the bot apologises and ends the conversation.
        call.bot_timer = self._at(call, self.bot_redirect_wait_s, lambda: self._bot_done(call))

    def _release_bot(self, call: _Call, cause: int = 16) -> None:
        if call.bot_timer is not None:
            call.bot_timer.cancel()
            call.bot_timer = None
        if call.bot is not None:
            self._hangup_chan(call.bot, cause)
            call.bot = None
            self.bot_in_use -= 1

    def _bot_done(self, call: _Call) -> None:
        """The bot hung up: Dial() returns ANSWER, DialerBotResult, Hangup()."""
        if call.phase != "bot":
            return
        self._release_bot(call)
        self._bot_result(call, "ANSWER")

    def _bot_result(self, call: _Call, status: str) -> None:
        c1 = call.c1
        assert c1 is not None
        c1.variables["DIALSTATUS"] = status
        c1.priority = 3
        self._user_event(c1, "DialerBotResult",
                         [("DialStatus", status), ("CallID", c1.variables.get("DIALER_CALL_ID", ""))])
        if status == "ANSWER":
            self._dialplan_hangup(call, 16, "pbx")
            return
        # The bot did not answer: a person with nobody to talk to hears the message.
        call.phase = "post"
        call.disposition = "abandoned"
        c1.app, c1.appdata = "Playback", "dialer-identification"
        self._at(call, self.id_message_s, lambda: self._dialplan_hangup(call, 16, "pbx"))

    def redirect(self, name_or_uid: str, context: str, exten: str = "s", priority: int = 1) -> str | None:
        """AMI Redirect; returns Asterisk's error message, or None when done. Only the
        escalation of a call with the bot to `[dialer-escalate]` is simulated: the bot leg is
        hung up and the call runs the queue with DIALER_ESCALATE_WAIT_S (default 60 s) and
        DIALER_ESCALATE_QUEUE (default DIALER_QUEUE)."""
        ch = self.find_channel(name_or_uid)
        if ch is None:
            return "Channel not found"
        if context != "dialer-escalate" or exten != "s" or priority != 1:
            return "Redirect to other than dialer-escalate,s,1 is not simulated"
        call = ch.call
        if call is None or ch.role not in ("c1", "single") or call.phase != "bot":
            return "Redirect of a channel that is not with the bot is not simulated"
        c1 = call.c1
        assert c1 is not None
        call.redirected_at = self.scheduler.now()
        self.counters["redirects"] += 1
        self._release_bot(call)
        c1.context, c1.exten, c1.priority = context, exten, priority
        c1.variables["DIALER_QUEUE_TIMEOUT_S"] = c1.variables.get("DIALER_ESCALATE_WAIT_S") or "60"
        if c1.variables.get("DIALER_ESCALATE_QUEUE"):
            c1.variables["DIALER_QUEUE"] = c1.variables["DIALER_ESCALATE_QUEUE"]
        self._join_queue(call)
        return None

    def user_event(self, fields: Iterable[tuple[str, str]]) -> None:
        """AMI UserEvent action (e.g. a bot's DialerEscalate): the event, to every session."""
        self._emit("UserEvent", "user", list(fields))

    def _queue_timeout_of(self, ch: _Channel, abandon_s: float) -> float:
        """[dialer-queue]'s Queue() timeout: DIALER_QUEUE_TIMEOUT_S, else
        MATH(DIALER_ABANDON_S - DIALER_ABANDON_MARGIN_S, int), and at least 1 s (Queue()
        takes whole seconds and reads 0 as "no timeout", hence the dialplan's floor)."""
        forced = ch.variables.get("DIALER_QUEUE_TIMEOUT_S", "")
        if forced:
            m = re.match(r"\s*(-?\d+)", forced)  # atoi: "2.5" is 2, "abc" is 0
            seconds = int(m.group(1)) if m else 0
        else:
            try:
                margin = float(ch.variables.get("DIALER_ABANDON_MARGIN_S", "") or "0.8")
            except ValueError:
                margin = 0.8
            seconds = int(abandon_s - margin) if math.isfinite(margin) else 0
        return float(max(1, seconds))

    # ------------------------------------------------------------------ queue

    def _join_queue(self, call: _Call) -> None:
        c1 = call.c1
        assert c1 is not None
        now = self.scheduler.now()
        name = c1.variables.get("DIALER_QUEUE") or self.default_queue
        call.queue_name = name
        call.abandon_s = self._abandon_s_of(c1.variables.get("DIALER_ABANDON_S"))
        timeout = call.queue_timeout_s = self._queue_timeout_of(c1, call.abandon_s)
        c1.priority = 7
        c1.app, c1.appdata = "Queue", f"{name},,,,{timeout:g}"
        q = self.queues.get(name)
        if q is None:  # app_queue: "Unable to join queue", QUEUESTATUS=UNKNOWN
            call.queue_result = QueueResult.UNKNOWN
            self._after_queue(call, QueueResult.UNKNOWN)
            return
        q.callers.append(call)
        call.queue = q
        call.queued_at = now
        call.phase = "queued"
        call.orig_position = len(q.callers)
        self.counters["queue_joins"] += 1
        self._emit(
            "QueueCallerJoin",
            "agent",
            [
                *self._block(c1),
                ("Queue", q.name),
                ("Position", str(len(q.callers))),
                ("Count", str(len(q.callers))),
            ],
        )
        self._ev_chan("MusicOnHoldStart", c1, [("Class", "default")])
        self._at(call, timeout, lambda: self._queue_timeout(call))
        if call.plan.kind == "person":
            self._at(call, call.plan.patience_s, lambda: self._far_end_hangup(call, 16, "callee"))
        self._queue_try(call)

    def _position(self, call: _Call) -> int:
        assert call.queue is not None
        return call.queue.callers.index(call) + 1

    def _member_free(self, m: _Member, now: float) -> bool:
        return (
            not m.paused
            and m.call is None
            and m.status == DEV_NOT_INUSE
            and now >= m.wrapup_until - 1e-9
        )

    def _pick_member(self, q: _Queue, now: float) -> _Member | None:
        members = list(q.members.values())
        free = [m for m in members if self._member_free(m, now)]
        if not free:
            return None
        if q.strategy in ("rrmemory", "roundrobin"):
            n = len(members)
            for i in range(n):
                idx = (q.rr_next + i) % n
                if self._member_free(members[idx], now):
                    q.rr_next = idx + 1
                    return members[idx]
        if q.strategy == "leastrecent":
            return min(free, key=lambda m: m.last_call)
        if q.strategy == "fewestcalls":
            return min(free, key=lambda m: m.calls)
        if q.strategy == "random":
            return free[int(self.behaviour.agent_rng.integers(len(free)))]
        return free[0]

    def _our_turn(self, call: _Call, available: int) -> bool:
        """app_queue is_our_turn with autofill: callers ahead that are not already ringing
        someone must be fewer than the available members."""
        assert call.queue is not None
        ahead = 0
        for c in call.queue.callers:
            if c is call:
                break
            if not c.pending:
                ahead += 1
        return ahead < available

    def _queue_try(self, call: _Call) -> None:
        if call.phase != "queued" or call.pending:
            return
        q = call.queue
        assert q is not None
        now = self.scheduler.now()
        available = sum(1 for m in q.members.values() if self._member_free(m, now))
        member = self._pick_member(q, now) if self._our_turn(call, available) else None
        if member is None:
            # wait_a_bit(): look again after `retry` seconds
            self._at(call, q.retry_s, lambda: self._queue_try(call))
            return
        self._ring_agent(call, member)

    def _agent_claim(self, m: _Member, call: _Call, now: float) -> None:
        if m.call is not None and m.call is not call:
            self._violations.append(
                f"{m.name}: rung for call {call.seq} at {now:.3f} while on call {m.call.seq}"
            )
            self.counters["agent_overlap_violations"] += 1
        m.call = call
        m.busy_since = now

    def _agent_release(self, m: _Member, call: _Call, now: float) -> None:
        if m.call is call:
            m.call = None
            self._agent_busy.setdefault(m.name, []).append((m.busy_since, now, call.seq))
        m.in_call = False
        m.status = DEV_NOT_INUSE

    def _ring_agent(self, call: _Call, m: _Member) -> None:
        c1, q = call.c1, call.queue
        assert c1 is not None and q is not None
        now = self.scheduler.now()
        self._agent_claim(m, call, now)
        call.member = m
        call.pending = True
        call.ring_started = now
        self.counters["agent_rings"] += 1
        tech, _, data = m.interface.partition("/")
        if tech.lower() == "local":
            exten, context = _split_local(data)
            n = self._local_seq
            self._local_seq += 1
            base = f"Local/{exten}@{context}-{n:08x}"
            a1 = self._new_channel(
                f"{base};1", self._uid(now), c1.linkedid, DOWN, context, exten, "a1"
            )
            a2 = self._new_channel(
                f"{base};2", self._uid(now), c1.linkedid, RING, context, exten, "a2"
            )
        else:
            n = self._tech_seq.get(tech, 0)
            self._tech_seq[tech] = n + 1
            a1 = self._new_channel(
                f"{m.interface}-{n:08x}", self._uid(now), c1.linkedid, DOWN, "default", "s", "a1"
            )
            a2 = None
        for ch in (a1, a2):
            if ch is None:
                continue
            ch.call = call
            ch.app, ch.appdata = (
                ("AppQueue", "(Outgoing Line)") if ch.role == "a1" else ("Wait", "")
            )
            self._ev_chan("Newchannel", ch)
        a1.cid_num, a1.cid_name = c1.cid_num, c1.cid_name
        if a2 is not None:
            a2.cid_num, a2.cid_name = c1.cid_num, c1.cid_name
            a2.conn_num, a2.conn_name = c1.cid_num, c1.cid_name
        call.a1, call.a2 = a1, a2
        member_fields = [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)]
        self._emit(
            "AgentCalled", "agent", [*self._block(c1), *self._block(a1, "Dest"), *member_fields]
        )
        self._emit(
            "DialBegin",
            "call",
            [*self._block(c1), *self._block(a1, "Dest"), ("DialString", m.interface)],
        )
        # A Local member's device state is INUSE as soon as its channel runs (core_local.c
        # local_devicestate); other technologies show RINGING while they ring.
        m.status = DEV_INUSE if a2 is not None else DEV_RINGING
        self._member_event("QueueMemberStatus", q, m)
        delay = self.behaviour.agent_answer_s()
        if delay <= q.member_timeout_s:
            call.ring_timer = self._at(call, delay, lambda: self._agent_answer(call))
        else:
            call.ring_timer = self._at(
                call, q.member_timeout_s, lambda: self._agent_no_answer(call)
            )

    def _drop_agent_legs(
        self, call: _Call, dial_status: str, cause: int, *, ring_no_answer: bool
    ) -> None:
        """Stop ringing the member (timeout, caller gone, member rejected)."""
        c1, q, m, a1 = call.c1, call.queue, call.member, call.a1
        assert c1 is not None and q is not None and m is not None and a1 is not None
        now = self.scheduler.now()
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        member_fields = [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)]
        if ring_no_answer:
            ring_ms = round((now - call.ring_started) * 1000)
            self._emit(
                "AgentRingNoAnswer",
                "agent",
                [
                    *self._block(c1),
                    *self._block(a1, "Dest"),
                    *member_fields,
                    ("RingTime", str(ring_ms)),
                ],
            )
        self._emit(
            "DialEnd",
            "call",
            [*self._block(c1), *self._block(a1, "Dest"), ("DialStatus", dial_status)],
        )
        self._hangup_chan(a1, cause)
        self._hangup_chan(call.a2, cause)
        self._agent_release(m, call, now)
        self._member_event("QueueMemberStatus", q, m)
        call.pending = False
        call.member = None
        call.a1 = call.a2 = None

    def _agent_no_answer(self, call: _Call) -> None:
        self._drop_agent_legs(call, "NOANSWER", 0, ring_no_answer=True)
        assert call.queue is not None
        self._at(call, call.queue.retry_s, lambda: self._queue_try(call))

    def _agent_answer(self, call: _Call) -> None:
        c1, q, m, a1, a2 = call.c1, call.queue, call.member, call.a1, call.a2
        assert c1 is not None and q is not None and m is not None and a1 is not None
        now = self.scheduler.now()
        call.ring_timer = None
        a1.exten = "s"
        self._newstate(a1, UP)
        a1.conn_num, a1.conn_name = c1.cid_num, c1.cid_name
        self._emit(
            "DialEnd",
            "call",
            [*self._block(c1), *self._block(a1, "Dest"), ("DialStatus", "ANSWER")],
        )
        self._ev_chan("MusicOnHoldStop", c1)
        if a2 is not None:
            self._newstate(a2, UP)
        pos = self._position(call)
        if m.status != DEV_INUSE:  # a non-Local member stops ringing
            m.status = DEV_INUSE
            self._member_event("QueueMemberStatus", q, m)
        q.callers.remove(call)
        call.left_queue_at = now
        self._emit(
            "QueueCallerLeave",
            "agent",
            [
                *self._block(c1),
                ("Queue", q.name),
                ("Position", str(pos)),
                ("Count", str(len(q.callers))),
            ],
        )
        assert call.queued_at is not None
        hold = int(now) - int(call.queued_at)
        ring = int(now - call.ring_started)
        self._emit(
            "AgentConnect",
            "agent",
            [
                *self._block(c1),
                *self._block(a1, "Dest"),
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
                ("HoldTime", str(hold)),
                ("RingTime", str(ring)),
            ],
        )
        bridge = f"{next(self._bridge_seq):08x}-5e1d-4d1a-9000-{self._local_seq:012x}"
        c1.bridge = a1.bridge = bridge
        call.pending = False
        call.phase = "connected"
        call.connected_at = now
        call.agent = m.name
        call.queue_result = QueueResult.CONNECTED
        m.in_call = True
        q.holdtime = (q.holdtime * 3 + hold) // 4
        if now - call.queued_at <= q.servicelevel:
            q.completed_in_sl += 1
        self.counters["agent_connects"] += 1
        # Cancel the queue timeout and the patience timer; keep a machine's end of line.
        for h in call.timers:
            h.cancel()
        call.timers.clear()
        if call.plan.kind == "person":
            self._at(call, call.plan.talk_s, lambda: self._far_end_hangup(call, 16, "callee"))
        else:
            assert call.answered_at is not None
            left = max(0.0, call.answered_at + call.plan.talk_s - now)
            self._at(call, left, lambda: self._far_end_hangup(call, 16, "callee"))

    def _queue_timeout(self, call: _Call) -> None:
        """No agent within the Queue() timeout: QUEUESTATUS=TIMEOUT. Asterisk 22 records the
        caller as abandoned (app_queue record_abandoned: QueueCallerAbandon) before
        QueueCallerLeave, exactly as when the caller hangs up; only the DialerQueueResult
        that follows tells the two apart (seen on a real Asterisk 22.10.1)."""
        if call.phase != "queued":
            return
        c1, q = call.c1, call.queue
        assert c1 is not None and q is not None and call.queued_at is not None
        now = self.scheduler.now()
        if call.pending:
            self._drop_agent_legs(call, "NOANSWER", 0, ring_no_answer=True)
        self._ev_chan("MusicOnHoldStop", c1)
        pos = self._position(call)
        self._caller_abandon_event(call, pos, now)
        q.callers.remove(call)
        call.left_queue_at = now
        q.abandoned += 1
        self._emit(
            "QueueCallerLeave",
            "agent",
            [
                *self._block(c1),
                ("Queue", q.name),
                ("Position", str(pos)),
                ("Count", str(len(q.callers))),
            ],
        )
        self.counters["queue_timeouts"] += 1
        call.queue_result = QueueResult.TIMEOUT
        self._after_queue(call, QueueResult.TIMEOUT)

    def _after_queue(self, call: _Call, status: str) -> None:
        """s,8 UserEvent(DialerQueueResult); then the identification message and Hangup()."""
        c1 = call.c1
        assert c1 is not None
        for h in call.timers:
            h.cancel()
        call.timers.clear()
        c1.variables["QUEUESTATUS"] = status
        c1.priority = 8
        self._user_event(
            c1,
            "DialerQueueResult",
            [("QueueStatus", status), ("CallID", c1.variables.get("DIALER_CALL_ID", ""))],
        )
        call.phase = "post"
        call.disposition = "abandoned"
        c1.priority = 9
        c1.app, c1.appdata = "Playback", "dialer-identification"
        self._at(call, self.id_message_s, lambda: self._dialplan_hangup(call, 16, "pbx"))
        if call.plan.kind == "machine":
            assert call.answered_at is not None
            left = max(0.0, call.answered_at + call.plan.talk_s - self.scheduler.now())
            self._at(call, left, lambda: self._far_end_hangup(call, 16, "callee"))

    # ------------------------------------------------------------------ hang-ups

    def _leave_on_hangup(self, call: _Call) -> None:
        """The caller left the queue by hanging up (QueueCallerAbandon + QueueCallerLeave)."""
        c1, q = call.c1, call.queue
        assert c1 is not None and q is not None and call.queued_at is not None
        now = self.scheduler.now()
        if call.pending:
            self._drop_agent_legs(call, "CANCEL", 0, ring_no_answer=False)
        self._ev_chan("MusicOnHoldStop", c1)
        pos = self._position(call)
        c1.variables["ABANDONED"] = "TRUE"
        self._caller_abandon_event(call, pos, now)
        q.callers.remove(call)
        call.left_queue_at = now
        q.abandoned += 1
        self.counters["queue_abandons"] += 1
        self._emit(
            "QueueCallerLeave",
            "agent",
            [
                *self._block(c1),
                ("Queue", q.name),
                ("Position", str(pos)),
                ("Count", str(len(q.callers))),
            ],
        )
        call.queue_result = QueueResult.ABANDON
        waited = now - call.queued_at
        call.disposition = "abandoned" if waited > self.legal_abandon_s + 1e-9 else "human_hangup"

    def _caller_abandon_event(self, call: _Call, pos: int, now: float) -> None:
        c1, q = call.c1, call.queue
        assert c1 is not None and q is not None and call.queued_at is not None
        self._emit(
            "QueueCallerAbandon",
            "agent",
            [
                *self._block(c1),
                ("Queue", q.name),
                ("Position", str(pos)),
                ("OriginalPosition", str(call.orig_position)),
                ("HoldTime", str(int(now) - int(call.queued_at))),
            ],
        )

    def _complete_agent_call(self, call: _Call, reason: str) -> None:
        c1, q, m, a1 = call.c1, call.queue, call.member, call.a1
        assert c1 is not None and q is not None and m is not None and a1 is not None
        assert call.queued_at is not None and call.connected_at is not None
        now = self.scheduler.now()
        talk = int(now) - int(call.connected_at)
        self._emit(
            "AgentComplete",
            "agent",
            [
                *self._block(c1),
                *self._block(a1, "Dest"),
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
                ("HoldTime", str(int(call.connected_at) - int(call.queued_at))),
                ("TalkTime", str(talk)),
                ("Reason", reason),
            ],
        )
        q.completed += 1
        q.talktime = (q.talktime * 3 + talk) // 4

    def _end_agent_side(self, call: _Call) -> None:
        m, q = call.member, call.queue
        assert m is not None and q is not None
        now = self.scheduler.now()
        self._hangup_chan(call.a1, 16)
        self._hangup_chan(call.a2, 16)
        m.calls += 1
        m.last_call = now
        m.wrapup_until = now + self.behaviour.wrapup_s()
        self._agent_release(m, call, now)
        self._member_event("QueueMemberStatus", q, m)

    def _far_end_hangup(self, call: _Call, cause: int, by: str) -> None:
        """The callee side (Local ;2, or the single channel's far end) hangs up."""
        if call.phase in ("done", "new"):
            return
        if call.phase == "dialing":
            self._cancel_dial(call, cause, by)
            return
        call.ended_by = by
        call.hangup_cause = cause
        c1, c2 = call.c1, call.c2
        if call.phase == "amd":
            self._hangup_chan(c2, cause)
            self._amd_hangup(call)
            self._hangup_chan(c1, cause)
            self._close(call, "human_hangup")
        elif call.phase == "queued":
            self._hangup_chan(c2, cause)
            self._leave_on_hangup(call)
            self._hangup_chan(c1, cause)
            self._close(call, call.disposition or "abandoned")
        elif call.phase == "bot":
            self._hangup_chan(c2, cause)
            self._release_bot(call)
            self._hangup_chan(c1, cause)
            self._close(call, "connected")
        elif call.phase == "connected":
            self._complete_agent_call(call, "caller")
            self._hangup_chan(c2, cause)
            self._hangup_chan(c1, cause)
            self._end_agent_side(call)
            self._close(call, "connected")
        else:  # post: during the identification message
            self._hangup_chan(c2, cause)
            self._hangup_chan(c1, cause)
            self._close(call, call.disposition or "abandoned")

    def _dialplan_hangup(self, call: _Call, cause: int, by: str) -> None:
        """The originated leg (Local ;1 / the single channel) is hung up: by the dialplan
        (Hangup() after MACHINE or after the identification message) or by an AMI Hangup."""
        if call.phase in ("done", "new"):
            return
        if call.phase == "dialing":
            self._cancel_dial(call, cause, by)
            return
        call.ended_by = by
        c1, c2 = call.c1, call.c2
        if call.hangup_cause is None:
            call.hangup_cause = cause
        if call.phase == "amd":
            self._amd_hangup(call)
            self._hangup_chan(c1, cause)
            self._hangup_chan(c2, cause)
            self._close(call, "human_hangup")
        elif call.phase == "queued":
            self._leave_on_hangup(call)
            self._hangup_chan(c1, cause)
            self._hangup_chan(c2, cause)
            self._close(call, call.disposition or "abandoned")
        elif call.phase == "bot":
            self._release_bot(call)
            self._hangup_chan(c1, cause)
            self._hangup_chan(c2, cause)
            self._close(call, "connected")
        elif call.phase == "connected":
            self._complete_agent_call(call, "caller")
            self._hangup_chan(c1, cause)
            self._hangup_chan(c2, cause)
            self._end_agent_side(call)
            self._close(call, "connected")
        else:
            self._hangup_chan(c1, cause)
            self._hangup_chan(c2, cause)
            if call.amd_status == "MACHINE":
                self._close(call, "machine")
            else:
                self._close(call, call.disposition or "abandoned")

    def _amd_hangup(self, call: _Call) -> None:
        """AMD() saw the line drop: AMDSTATUS=HANGUP, empty AMDCAUSE, no UserEvent."""
        c1 = call.c1
        assert c1 is not None
        for h in call.timers:
            h.cancel()
        call.amd_status, call.amd_cause = "HANGUP", ""
        self._varset(c1, "AMDSTATUS", "HANGUP")
        self._varset(c1, "AMDCAUSE", "")

    def _cancel_dial(self, call: _Call, cause: int, by: str) -> None:
        """A leg was hung up before answer (AMI Hangup while ringing)."""
        c1 = call.c1
        assert c1 is not None
        call.ended_by = by
        call.hangup_cause = cause
        self._emit(
            "DialEnd", "call", [*self._block(c1, "Dest"), ("DialStatus", _dial_status(cause))]
        )
        self._hangup_chan(c1, cause)
        self._hangup_chan(call.c2, cause)
        self._originate_failed(call, _pbx_dial_reason(cause))
        self._close(call, "failed")

    def _agent_leg_hangup(self, call: _Call, cause: int) -> None:
        """AMI Hangup of a member's channel: a reject while ringing, else the agent ends it."""
        if call.phase == "queued" and call.pending:
            self._drop_agent_legs(call, _dial_status(cause), cause, ring_no_answer=True)
            assert call.queue is not None
            self._at(call, call.queue.retry_s, lambda: self._queue_try(call))
            return
        if call.phase != "connected":
            return
        call.ended_by = "agent"
        call.hangup_cause = 16
        self._complete_agent_call(call, "agent")
        self._end_agent_side(call)
        self._hangup_chan(call.c1, 16)
        self._hangup_chan(call.c2, 16)
        self._close(call, "connected")

    def _close(self, call: _Call, disposition: str) -> None:
        for h in call.timers:
            h.cancel()
        call.timers.clear()
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        self._release_bot(call)
        if call.bot_at is not None and disposition in ("abandoned", "human_hangup"):
            # The bot answered at once: a person escalated and left without an agent was
            # handled by the bot, not abandoned (README, "Decisions").
            disposition = "connected"
        call.disposition = disposition
        self._finish(call)

    def _finish(self, call: _Call) -> None:
        call.phase = "done"
        call.ended_at = self.scheduler.now()
        self._active.discard(call)
        self.counters[f"disposition_{call.disposition}"] += 1
        for ch in (call.c1, call.c2, call.a1, call.a2, call.bot):
            if ch is not None and self._channels.get(ch.name) is ch:
                del self._channels[ch.name]
                self._by_uid.pop(ch.uniqueid, None)
        if call.queue is not None and call in call.queue.callers:
            call.queue.callers.remove(call)

    # ------------------------------------------------------------------ AMI-facing actions

    def find_channel(self, name_or_uid: str) -> _Channel | None:
        return self._channels.get(name_or_uid) or self._by_uid.get(name_or_uid)

    def hangup(self, name_or_uid: str, cause: int | None = None) -> bool:
        """AMI Hangup: False if there is no such channel."""
        ch = self.find_channel(name_or_uid)
        if ch is None:
            return False
        c = 16 if not cause or not 0 < cause <= 127 else cause
        call = ch.call
        if call is None:
            self._hangup_chan(ch, c)
            return True
        if ch.role in ("c1", "single"):
            self._dialplan_hangup(call, c, "ami")
        elif ch.role == "c2":
            self._far_end_hangup(call, c, "ami")
        elif ch.role == "bot":
            self._bot_done(call)
        else:
            self._agent_leg_hangup(call, c)
        return True

    def getvar(self, name_or_uid: str, variable: str) -> str:
        """AMI Getvar; KeyError if a channel is named and does not exist."""
        if not name_or_uid:
            return self.global_vars.get(variable, "")
        ch = self.find_channel(name_or_uid)
        if ch is None:
            raise KeyError(name_or_uid)
        return ch.variables.get(variable, "")

    def setvar(self, name_or_uid: str, variable: str, value: str) -> None:
        if not name_or_uid:
            self.global_vars[variable] = value
            return
        ch = self.find_channel(name_or_uid)
        if ch is None:
            raise KeyError(name_or_uid)
        self._varset(ch, variable, value)

    def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str = "",
        *,
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        state_interface: str = "",
    ) -> str:
        """AMI QueueAdd: "ok", "exists" or "no_queue"."""
        q = self.queues.get(queue)
        if q is None:
            return "no_queue"
        if interface in q.members:
            return "exists"
        now = self.scheduler.now()
        m = _Member(
            interface,
            member_name or interface,
            now,
            penalty=penalty,
            paused=paused,
            paused_reason=reason if paused else "",
            dynamic=True,
            state_interface=state_interface or interface,
            last_pause=now if paused else 0.0,
        )
        q.members[interface] = m
        self._member_event("QueueMemberAdded", q, m)
        return "ok"

    def queue_remove(self, queue: str, interface: str) -> str:
        """AMI QueueRemove: "ok", "not_there", "no_queue" or "not_dynamic"."""
        q = self.queues.get(queue)
        if q is None:
            return "no_queue"
        m = q.members.get(interface)
        if m is None:
            return "not_there"
        if not m.dynamic:
            return "not_dynamic"
        del q.members[interface]
        self._member_event("QueueMemberRemoved", q, m)
        return "ok"

    def queue_pause(self, interface: str, paused: bool, queue: str = "", reason: str = "") -> bool:
        """AMI QueuePause (all queues when `queue` is empty): False if the interface is not
        a member. A call in progress is not affected; a paused member gets no new calls."""
        found = False
        now = self.scheduler.now()
        for q in self.queues.values():
            if queue and q.name.lower() != queue.lower():
                continue
            m = q.members.get(interface) or next(
                (x for x in q.members.values() if x.name == interface), None
            )
            if m is None:
                continue
            found = True
            m.paused = paused
            m.paused_reason = reason if paused else ""
            m.last_pause = now if paused else m.last_pause
            self._member_event("QueueMemberPause", q, m)
        return found

    # ------------------------------------------------------------------ list actions

    def core_show_channels(self, action_id: str = "") -> list[Frame]:
        now = self.scheduler.now()
        out: list[Frame] = []
        for ch in self._channels.values():
            secs = max(0, int(now - ch.created))
            out.append(
                [
                    ("Event", "CoreShowChannel"),
                    *([("ActionID", action_id)] if action_id else []),
                    *self._block(ch),
                    ("Application", ch.app),
                    ("ApplicationData", ch.appdata),
                    ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"),
                    ("BridgeId", ch.bridge),
                ]
            )
        return out

    def queue_status(self, queue: str = "", member: str = "", action_id: str = "") -> list[Frame]:
        now = self.scheduler.now()
        aid = [("ActionID", action_id)] if action_id else []
        out: list[Frame] = []
        for q in self.queues.values():
            if queue and q.name.lower() != queue.lower():
                continue
            done = q.completed
            sl = 100.0 * q.completed_in_sl / done if done else 0.0
            both = done + q.abandoned
            sl2 = 100.0 * (q.completed_in_sl + q.abandoned_in_sl) / both if both else 0.0
            out.append(
                [
                    ("Event", "QueueParams"),
                    ("Queue", q.name),
                    ("Max", "0"),
                    ("Strategy", q.strategy),
                    ("Calls", str(len(q.callers))),
                    ("Holdtime", str(q.holdtime)),
                    ("TalkTime", str(q.talktime)),
                    ("Completed", str(q.completed)),
                    ("Abandoned", str(q.abandoned)),
                    ("ServiceLevel", str(q.servicelevel)),
                    ("ServicelevelPerf", f"{sl:.1f}"),
                    ("ServicelevelPerf2", f"{sl2:.1f}"),
                    ("Weight", "0"),
                    *aid,
                ]
            )
            for m in q.members.values():
                if member and member not in (m.interface, m.name):
                    continue
                out.append(
                    [
                        ("Event", "QueueMember"),
                        ("Queue", q.name),
                        ("Name", m.name),
                        ("Location", m.interface),
                        ("StateInterface", m.state_interface or m.interface),
                        ("Membership", "dynamic" if m.dynamic else "static"),
                        ("Penalty", str(m.penalty)),
                        ("CallsTaken", str(m.calls)),
                        ("LastCall", str(int(m.last_call))),
                        ("LastPause", str(int(m.last_pause))),
                        ("LoginTime", str(int(m.login_time))),
                        ("InCall", "1" if m.in_call else "0"),
                        ("Status", str(m.status)),
                        ("Paused", "1" if m.paused else "0"),
                        ("PausedReason", m.paused_reason),
                        ("Wrapuptime", "0"),
                        *aid,
                    ]
                )
            for pos, c in enumerate(q.callers, start=1):
                assert c.c1 is not None and c.queued_at is not None
                out.append(
                    [
                        ("Event", "QueueEntry"),
                        ("Queue", q.name),
                        ("Position", str(pos)),
                        ("Channel", c.c1.name),
                        ("Uniqueid", c.c1.uniqueid),
                        ("CallerIDNum", c.c1.cid_num.replace("<unknown>", "unknown")),
                        ("CallerIDName", c.c1.cid_name.replace("<unknown>", "unknown")),
                        ("ConnectedLineNum", c.c1.conn_num.replace("<unknown>", "unknown")),
                        ("ConnectedLineName", c.c1.conn_name.replace("<unknown>", "unknown")),
                        ("Wait", str(int(now) - int(c.queued_at))),
                        ("Priority", "0"),
                        *aid,
                    ]
                )
        return out

    def queue_summary(self, queue: str = "", action_id: str = "") -> list[Frame]:
        now = self.scheduler.now()
        out: list[Frame] = []
        for q in self.queues.values():
            if queue and q.name.lower() != queue.lower():
                continue
            logged_in = len(q.members)
            available = sum(
                1 for m in q.members.values() if m.status == DEV_NOT_INUSE and not m.paused
            )
            longest = max((int(now) - int(c.queued_at or now) for c in q.callers), default=0)
            out.append(
                [
                    ("Event", "QueueSummary"),
                    ("Queue", q.name),
                    ("LoggedIn", str(logged_in)),
                    ("Available", str(available)),
                    ("Callers", str(len(q.callers))),
                    ("HoldTime", str(q.holdtime)),
                    ("TalkTime", str(q.talktime)),
                    ("LongestHoldTime", str(longest)),
                    *([("ActionID", action_id)] if action_id else []),
                ]
            )
        return out

    def fully_booted_fields(self) -> Frame:
        up = max(0, int(self.scheduler.now() - self.boot_time))
        return [("Uptime", str(up)), ("LastReload", str(up)), ("Status", "Fully Booted")]
