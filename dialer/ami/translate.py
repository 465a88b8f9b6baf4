"""AMI frames -> core events. Pure: no IO, no clock (the receive time is passed in).

Correlation. The dialer originates each call with `ActionID=<call_id>`,
`ChannelId=<call_id>`, `OtherChannelId=<call_id>-2` and `Variable: DIALER_CALL_ID=<call_id>`,
and tells the translator first (`register_originate`). A frame is tied to a call by, in
order: its Uniqueid when already known; the ChannelId pattern (Uniqueid `<call_id>`,
`<call_id>-1` -> leg 1, `<call_id>-2` -> leg 2); the ActionID of an `OriginateResponse`
(a failed one carries `Uniqueid: <unknown>`); `VarSet DIALER_CALL_ID` (both Local halves
get it; `;2` in the channel name means leg 2); and `UserEvent` `CallID:`. So it also works
with a PBX that ignores ChannelId (every recording but busy_7_with_channelid).

Frames of a channel that is not known *yet* (Newchannel comes before the VarSet that
names the call) are parked, bounded, per Uniqueid, and replayed in order when the
Uniqueid is learned; frames of channels that never turn out to be ours (agents' Local
channels, other clients' calls) age out of that bounded buffer and produce nothing.

Duplicates and order. Once-only per call, whatever arrives twice: CallLegCreated and
CallHungUp (per leg), CallRinging (and never after an answer or failure),
CallAnswered/CallFailed (the first OriginateResponse wins; a contradicting later one is
counted as `conflicting`), AmdVerdict (UserEvent DialerAMD or the VarSet
AMDSTATUS/AMDCAUSE pair, whichever completes first), OriginateQueued/OriginateRejected
(not emitted at all once the call already has an originate result), QueueGaveUp,
BotEscalated (UserEvent DialerEscalate, sent by a bot-first campaign's bot with only a
`CallID`) and BotResult (UserEvent DialerBotResult).
CallQueued, AgentOffered, AgentMissed, CallConnected and CallCompleted may legitimately
repeat within a call (an agent offered twice), so only byte-identical repeats of their
frame are dropped. Agent events (AgentStatus, AgentPaused, AgentRemoved) are state
assertions and are never de-duplicated here: a resync repeats them on purpose, and the
core must treat them as idempotent.

Nothing here raises on peer input: irrelevant frames, frames of other calls, malformed
frames and bad field values are counted in `stats` and produce no event.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core import events as ev
from .codec import Banner, Frame, MalformedFrame

__all__ = ["QUEUE_GAVE_UP_STATUSES", "AmiTranslator"]

#: QUEUESTATUS values (DialerQueueResult UserEvent) that mean "left the queue without
#: an agent"; CONTINUE (connected, then the agent hung up) and empty mean nothing.
QUEUE_GAVE_UP_STATUSES = frozenset(
    {"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL",
     "UNKNOWN",  # no such queue (seen on Asterisk 22): nobody could take the call
     "WITHDRAW"}  # withdrawn from the queue by an action: no agent took it
)

_DUP_CHECKED = frozenset(
    {"queuecallerjoin", "agentcalled", "agentringnoanswer", "agentconnect", "agentcomplete"}
)


@dataclass(slots=True)
class _Call:
    call_id: str
    action_id: str
    legs_created: set[int] = field(default_factory=set)
    legs_hung_up: set[int] = field(default_factory=set)
    ack: bool = False  # OriginateQueued/Rejected emitted (or made moot)
    result: str = ""  # "", "Success" or "Failure": the first OriginateResponse
    result_reason: str = ""
    ringing: bool = False
    amd: bool = False
    amd_status: str = ""
    amd_cause: str = ""
    # "", "caller" (QueueCallerAbandon seen) or "status" (DialerQueueResult seen). Real
    # Asterisk also sends QueueCallerAbandon when the queue times out, before our
    # DialerQueueResult TIMEOUT: the status, when it comes, refines "caller".
    gave_up: str = ""
    escalated: bool = False  # BotEscalated emitted (a bot may ask twice)
    bot_result: bool = False
    uniqueids: set[str] = field(default_factory=set)


class AmiTranslator:
    """Stateful frame -> event translation for the calls this dialer originated.

    `translate(frame, received_at)` returns the (possibly empty) list of events.
    `register_originate` before sending each Originate; `forget(call_id)` when the core
    is done with a call (memory is also bounded: the oldest calls beyond `max_calls`
    are dropped).
    """

    def __init__(self, *, max_calls: int = 100_000, max_parked: int = 4096,
                 dedupe_window: int = 4096, max_skew_s: float | None = None) -> None:
        self.stats: Counter[str] = Counter()
        self.max_skew_s = max_skew_s
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._by_action: dict[str, str] = {}
        self._uids: dict[str, tuple[str, int]] = {}
        self._parked: OrderedDict[str, list[tuple[Frame, float]]] = OrderedDict()
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._max_calls = max_calls
        self._max_parked = max_parked
        self._dedupe_window = dedupe_window
        self._handlers: dict[str, Callable[[Frame, float], list[ev.Event]]] = {
            "newchannel": self._newchannel,
            "newstate": self._newstate,
            "dialstate": self._dialstate,
            "varset": self._varset,
            "userevent": self._userevent,
            "originateresponse": self._originate_response,
            "queuecallerjoin": self._call_event,
            "agentcalled": self._call_event,
            "agentringnoanswer": self._call_event,
            "agentconnect": self._call_event,
            "agentcomplete": self._call_event,
            "queuecallerabandon": self._abandon,
            "hangup": self._hangup,
            "queuemember": self._agent_status,
            "queuememberadded": self._agent_status,
            "queuememberstatus": self._agent_status,
            "queuememberpause": self._agent_paused,
            "queuememberpaused": self._agent_paused,  # pre-13 name
            "queuememberremoved": self._agent_removed,
        }

    # --- registration -----------------------------------------------------------------

    def register_originate(self, call_id: str, action_id: str | None = None) -> None:
        """Tell the translator about an Originate before it is sent."""
        if not call_id:
            raise ValueError("register_originate needs a call_id")
        aid = action_id or call_id
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(call_id, aid)
            while len(self._calls) > self._max_calls:
                old_id = next(iter(self._calls))
                self._drop(old_id)
                del self._calls[old_id]
                self.stats["calls_evicted"] += 1
        else:
            self._by_action.pop(call.action_id, None)
            call.action_id = aid
        self._by_action[aid] = call_id

    def forget(self, call_id: str) -> None:
        """The core closed this call: free its state. Later frames of it produce nothing."""
        if call_id in self._calls:
            self._drop(call_id)
            del self._calls[call_id]

    def _drop(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        if self._by_action.get(call.action_id) == call_id:
            del self._by_action[call.action_id]
        for uid in call.uniqueids:
            self._uids.pop(uid, None)

    def call_for_uniqueid(self, uniqueid: str) -> str | None:
        """The call_id a channel Uniqueid belongs to, if it is one of ours."""
        hit = self._resolve(uniqueid)
        return hit[0] if hit else None

    def leg_for_uniqueid(self, uniqueid: str) -> tuple[str, int] | None:
        return self._resolve(uniqueid)

    # --- entry point ------------------------------------------------------------------

    def translate(self, frame: Frame | MalformedFrame | Banner,
                  received_at: float) -> list[ev.Event]:
        stats = self.stats
        stats["frames"] += 1
        if not isinstance(frame, Frame):
            if isinstance(frame, MalformedFrame):
                stats["malformed"] += 1
                stats["malformed_" + frame.reason] += 1
            return []
        if frame.defects:
            stats["defective"] += 1
        if frame.kind == "response":
            return self._response(frame, received_at)
        if frame.kind != "event":
            stats["ignored"] += 1
            return []
        handler = self._handlers.get(frame.name.lower())
        if handler is None:
            stats["ignored"] += 1
            return []
        try:
            out = handler(frame, received_at)
        except ValueError:
            # A field the core's event rejected (e.g. an empty agent name): bad input.
            stats["invalid"] += 1
            return []
        if out:
            stats["events"] += len(out)
        return out

    # --- helpers ----------------------------------------------------------------------

    def _at(self, frame: Frame, received_at: float) -> float:
        """The PBX's own Timestamp (precise, same clock for every event of a call) unless
        it is missing, malformed, or further than `max_skew_s` from our receive time (a
        PBX with a wrong clock must not move the core's timers)."""
        ts = frame.get("Timestamp")
        if ts:
            try:
                value = float(ts)
            except ValueError:
                self.stats["bad_timestamp"] += 1
            else:
                skew = self.max_skew_s
                if value == value and (skew is None or abs(value - received_at) <= skew):
                    return value
                self.stats["clock_skew"] += 1
        return received_at

    def _resolve(self, uid: str) -> tuple[str, int] | None:
        hit = self._uids.get(uid)
        if hit is not None:
            return hit
        if not uid:
            return None
        calls = self._calls
        if uid in calls:
            return self._learn(uid, uid, 1)
        if len(uid) > 2 and uid[-2] == "-" and uid[-1] in "12" and uid[:-2] in calls:
            return self._learn(uid, uid[:-2], int(uid[-1]))
        return None

    def _learn(self, uid: str, call_id: str, leg: int) -> tuple[str, int]:
        hit = (call_id, leg)
        self._uids[uid] = hit
        call = self._calls.get(call_id)
        if call is not None:
            call.uniqueids.add(uid)
        return hit

    def _learn_and_replay(self, uid: str, call_id: str, leg: int, frame: Frame,
                          at: float) -> list[ev.Event]:
        """A Uniqueid was just tied to a call: create the leg and replay parked frames."""
        if not uid or uid == "<unknown>" or uid in self._uids:
            return []
        self._learn(uid, call_id, leg)
        out: list[ev.Event] = []
        parked = self._parked.pop(uid, None)
        if parked:
            self.stats["replayed"] += len(parked)
            for pframe, precv in parked:
                handler = self._handlers[pframe.name.lower()]
                try:
                    out.extend(handler(pframe, precv))
                except ValueError:
                    self.stats["invalid"] += 1
        call = self._calls[call_id]
        if leg not in call.legs_created:
            call.legs_created.add(leg)
            out.insert(0, ev.CallLegCreated(at, call_id, leg=leg, channel=frame.get("Channel")))
        return out

    def _park(self, uid: str, frame: Frame, received_at: float) -> None:
        if not uid or uid == "<unknown>":
            self.stats["foreign"] += 1
            return
        lst = self._parked.get(uid)
        if lst is None:
            lst = self._parked[uid] = []
            while len(self._parked) > self._max_parked:
                self._parked.popitem(last=False)
        if len(lst) < 16:
            lst.append((frame, received_at))
        self.stats["parked"] += 1

    def _duplicate(self, frame: Frame) -> bool:
        key = hash(frame.pairs)
        if key in self._seen:
            self.stats["duplicates"] += 1
            return True
        self._seen.add(key)
        order = self._seen_order
        order.append(key)
        if len(order) > self._dedupe_window:
            self._seen.discard(order.popleft())
        return False

    def _call_of(self, frame: Frame, received_at: float, key: str = "Uniqueid"
                 ) -> tuple[_Call, int] | None:
        uid = frame.get(key)
        hit = self._resolve(uid)
        if hit is None:
            self._park(uid, frame, received_at)
            return None
        call = self._calls.get(hit[0])
        if call is None:
            self.stats["foreign"] += 1
            return None
        return call, hit[1]

    # --- responses ----------------------------------------------------------------------

    def _response(self, frame: Frame, received_at: float) -> list[ev.Event]:
        call_id = self._by_action.get(frame.get("ActionID"))
        if call_id is None:
            self.stats["ignored"] += 1
            return []
        call = self._calls[call_id]
        if call.ack:
            self.stats["suppressed"] += 1
            return []
        call.ack = True
        if call.result:
            # The OriginateResponse overtook the action's response: the call already has
            # its result, and "queued" after "answered" would only confuse the core.
            self.stats["late_ack"] += 1
            return []
        at = self._at(frame, received_at)
        self.stats["events"] += 1
        if frame.name == "Response:Success":
            return [ev.OriginateQueued(at, call_id)]
        return [ev.OriginateRejected(at, call_id, message=frame.get("Message"))]

    # --- channel events -------------------------------------------------------------------

    def _newchannel(self, frame: Frame, received_at: float) -> list[ev.Event]:
        found = self._call_of(frame, received_at)
        if found is None:
            return []
        call, leg = found
        if leg in call.legs_created:
            self.stats["suppressed"] += 1
            return []
        call.legs_created.add(leg)
        return [ev.CallLegCreated(self._at(frame, received_at), call.call_id, leg=leg,
                                  channel=frame.get("Channel"))]

    def _ringing(self, call: _Call, frame: Frame, received_at: float) -> list[ev.Event]:
        if call.ringing or call.result or call.legs_hung_up:
            self.stats["suppressed"] += 1
            return []
        call.ringing = True
        return [ev.CallRinging(self._at(frame, received_at), call.call_id)]

    def _newstate(self, frame: Frame, received_at: float) -> list[ev.Event]:
        state = frame.get("ChannelStateDesc")
        if state != "Ringing" and frame.get("ChannelState") != "5":
            return []
        found = self._call_of(frame, received_at)
        if found is None or found[1] != 1:
            return []
        return self._ringing(found[0], frame, received_at)

    def _dialstate(self, frame: Frame, received_at: float) -> list[ev.Event]:
        if frame.get("DialStatus") != "RINGING":
            return []
        found = self._call_of(frame, received_at, "DestUniqueid")
        if found is None or found[1] != 1:
            return []
        return self._ringing(found[0], frame, received_at)

    def _varset(self, frame: Frame, received_at: float) -> list[ev.Event]:
        var = frame.get("Variable")
        if var == "DIALER_CALL_ID":
            call_id = frame.get("Value")
            if call_id not in self._calls:
                self.stats["foreign"] += 1
                return []
            leg = 2 if frame.get("Channel").endswith(";2") else 1
            return self._learn_and_replay(frame.get("Uniqueid"), call_id, leg, frame,
                                          self._at(frame, received_at))
        if var not in ("AMDSTATUS", "AMDCAUSE"):
            return []
        value = frame.get("Value")
        if not value:
            return []
        found = self._call_of(frame, received_at)
        if found is None:
            return []
        call = found[0]
        if call.amd:
            return []
        if var == "AMDSTATUS":
            call.amd_status = value
        else:
            call.amd_cause = value
        if call.amd_status and call.amd_cause:
            return self._amd(call, call.amd_status, call.amd_cause, frame, received_at)
        return []

    def _amd(self, call: _Call, status: str, cause: str, frame: Frame,
             received_at: float) -> list[ev.Event]:
        if call.amd:
            self.stats["suppressed"] += 1
            return []
        call.amd = True
        if status not in ev.AMD_STATUSES:
            # AMD() only sets the four documented values; anything else is a dialplan
            # problem. The core still needs a verdict to leave its AMD wait.
            self.stats["invalid_amd_status"] += 1
            cause = f"{status}:{cause}" if cause else status
            status = "NOTSURE"
        return [ev.AmdVerdict(self._at(frame, received_at), call.call_id, status=status,
                              cause=cause)]

    def _userevent(self, frame: Frame, received_at: float) -> list[ev.Event]:
        kind = frame.get("UserEvent")
        if kind in ("DialerEscalate", "DialerBotResult"):
            return self._bot_event(kind, frame, received_at)
        if kind not in ("DialerAMD", "DialerQueueResult"):
            return []
        out: list[ev.Event] = []
        call_id = frame.get("CallID")
        call = self._calls.get(call_id) if call_id else None
        if call is not None:
            uid = frame.get("Uniqueid")
            if uid and uid not in self._uids:
                leg = 2 if frame.get("Channel").endswith(";2") else 1
                out = self._learn_and_replay(uid, call_id, leg, frame,
                                             self._at(frame, received_at))
        else:
            found = self._call_of(frame, received_at)
            if found is None:
                return []
            call = found[0]
        if kind == "DialerAMD":
            out.extend(self._amd(call, frame.get("Status"), frame.get("Cause"), frame,
                                 received_at))
            return out
        status = frame.get("QueueStatus").upper()
        if status in QUEUE_GAVE_UP_STATUSES:
            if call.gave_up == "status":
                self.stats["suppressed"] += 1
            else:
                call.gave_up = "status"
                out.append(ev.QueueGaveUp(self._at(frame, received_at), call.call_id,
                                          reason=status.lower()))
        return out

    def _bot_event(self, kind: str, frame: Frame, received_at: float) -> list[ev.Event]:
        """Bot-first campaigns. `DialerEscalate` comes from the bot's own AMI session
        (`Action: UserEvent`), so it has no channel: only its `CallID` (the bot's
        DIALER_BOT_CALL_ID) ties it to the call. `DialerBotResult` is the dialplan's, after
        Dial() to the bot. Each is taken once per call."""
        call = self._calls.get(frame.get("CallID"))
        if call is None:
            self.stats["foreign"] += 1
            return []
        at = self._at(frame, received_at)
        if kind == "DialerEscalate":
            if call.escalated:
                self.stats["suppressed"] += 1
                return []
            call.escalated = True
            return [ev.BotEscalated(at, call.call_id)]
        if call.bot_result:
            self.stats["suppressed"] += 1
            return []
        call.bot_result = True
        return [ev.BotResult(at, call.call_id, dial_status=frame.get("DialStatus").upper())]

    def _originate_response(self, frame: Frame, received_at: float) -> list[ev.Event]:
        call_id = self._by_action.get(frame.get("ActionID"))
        uid = frame.get("Uniqueid")
        if call_id is None:
            hit = self._resolve(uid)
            if hit is None:
                self.stats["foreign"] += 1
                return []
            call_id = hit[0]
        call = self._calls.get(call_id)
        if call is None:
            self.stats["foreign"] += 1
            return []
        response = frame.get("Response")
        reason = frame.get("Reason")
        if call.result:
            if (call.result, call.result_reason) == (response, reason):
                self.stats["duplicates"] += 1
            else:
                self.stats["conflicting"] += 1
            return []
        at = self._at(frame, received_at)
        call.result = response or "Failure"
        call.result_reason = reason
        out: list[ev.Event] = []
        if response == "Success":
            out.extend(self._learn_and_replay(uid, call_id, 1, frame, at))
            out.append(ev.CallAnswered(at, call_id))
            return out
        try:
            code = int(reason)
        except ValueError:
            self.stats["invalid"] += 1
            code = 0
        if uid and uid != "<unknown>" and uid not in self._uids:
            self._learn(uid, call_id, 1)  # ChannelId case: Uniqueid is our leg 1
        out.append(ev.CallFailed(at, call_id, reason=code, cause=None))
        return out

    def _call_event(self, frame: Frame, received_at: float) -> list[ev.Event]:
        found = self._call_of(frame, received_at)
        if found is None:
            return []
        if self._duplicate(frame):
            return []
        call = found[0]
        at = self._at(frame, received_at)
        name = frame.name.lower()
        agent = frame.get("MemberName") or frame.get("Interface")
        if name == "queuecallerjoin":
            return [ev.CallQueued(at, call.call_id, queue=frame.get("Queue"))]
        if name == "agentcalled":
            return [ev.AgentOffered(at, call.call_id, agent=agent)]
        if name == "agentringnoanswer":
            return [ev.AgentMissed(at, call.call_id, agent=agent)]
        if name == "agentconnect":
            return [ev.CallConnected(at, call.call_id, agent=agent)]
        return [ev.CallCompleted(at, call.call_id, agent=agent,
                                 talk_s=self._float(frame, "TalkTime"),
                                 reason=frame.get("Reason"))]

    def _abandon(self, frame: Frame, received_at: float) -> list[ev.Event]:
        found = self._call_of(frame, received_at)
        if found is None:
            return []
        call = found[0]
        if call.gave_up:
            self.stats["suppressed"] += 1
            return []
        call.gave_up = "caller"
        return [ev.QueueGaveUp(self._at(frame, received_at), call.call_id, reason="caller",
                               hold_s=self._float(frame, "HoldTime"))]

    def _hangup(self, frame: Frame, received_at: float) -> list[ev.Event]:
        found = self._call_of(frame, received_at)
        if found is None:
            return []
        call, leg = found
        if leg in call.legs_hung_up:
            self.stats["suppressed"] += 1
            return []
        call.legs_hung_up.add(leg)
        cause_s = frame.get("Cause")
        try:
            cause: int | None = int(cause_s) if cause_s else None
        except ValueError:
            self.stats["invalid"] += 1
            cause = None
        return [ev.CallHungUp(self._at(frame, received_at), call.call_id, leg=leg, cause=cause,
                              cause_txt=frame.get("Cause-txt"))]

    # --- agents ---------------------------------------------------------------------------

    def _float(self, frame: Frame, key: str) -> float | None:
        raw = frame.get(key)
        if not raw:
            return None
        try:
            return float(raw)
        except ValueError:
            self.stats["invalid"] += 1
            return None

    def _agent_status(self, frame: Frame, received_at: float) -> list[ev.Event]:
        # QueueMember (QueueStatus list) says Name/Location; the others MemberName/Interface.
        agent = frame.get("MemberName") or frame.get("Name") or frame.get("Interface") \
            or frame.get("Location")
        status_s = frame.get("Status")
        try:
            status = int(status_s) if status_s else 0
        except ValueError:
            self.stats["invalid"] += 1
            status = 0
        paused_s = frame.get("Paused")
        paused = (paused_s == "1" or paused_s.lower() == "true") if paused_s else None
        # A member's Wrapuptime of 0 means "the queue's wrapuptime applies", which AMI
        # does not report; only a positive per-member value is a real override.
        wrapup = self._float(frame, "Wrapuptime")
        return [ev.AgentStatus(self._at(frame, received_at), agent, queue=frame.get("Queue"),
                               device_status=status, paused=paused,
                               wrapup_s=wrapup if wrapup else None)]

    def _agent_paused(self, frame: Frame, received_at: float) -> list[ev.Event]:
        agent = frame.get("MemberName") or frame.get("Interface")
        paused_s = frame.get("Paused")
        return [ev.AgentPaused(self._at(frame, received_at), agent, queue=frame.get("Queue"),
                               paused=paused_s == "1" or paused_s.lower() == "true",
                               reason=frame.get("PausedReason") or frame.get("Reason"))]

    def _agent_removed(self, frame: Frame, received_at: float) -> list[ev.Event]:
        agent = frame.get("MemberName") or frame.get("Interface")
        return [ev.AgentRemoved(self._at(frame, received_at), agent, queue=frame.get("Queue"))]
