"""Read the Asterisk 22 AMI recordings and compare event streams with them.

A transcript is the byte stream read from the AMI socket, with the frames the client sent
inserted between `### >>> SENT (t=...)` and `### <<< END SENT` lines (and, in actions.txt,
`### --- <who> RECEIVED (t=...)` markers). Those marker lines are not protocol: the parser
strips them, returning the banner, the sent frames and the received frames in order.

Comparison (see test_pbx_fidelity.py for what it covers and why):
- frames are reduced to the event name plus key fields, with channel names replaced by their
  role (C1/C2 = the `;1`/`;2` halves of the originated Local channel, A1/A2 = an agent's
  halves, REQUESTED = the un-suffixed dial string of a failed OriginateResponse) and uniqueids
  by the role of the channel that owns them (`uid:C1`), so two runs with different counters
  and clocks compare equal when they have the same shape;
- "floating" events (emitted by other Asterisk threads: OriginateResponse from the originate
  thread, QueueMemberStatus from device-state processing) may sit anywhere among the events
  recorded within `FLOAT_WINDOW_S` of them; every other event must be in exactly the recorded
  order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

Frame = list[tuple[str, str]]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "transcripts"
SHARED = Path("/work/shared/asterisk/transcripts")

COMPARED_EVENTS = frozenset(
    {
        "Newchannel",
        "Newstate",
        "DialBegin",
        "DialState",
        "DialEnd",
        "OriginateResponse",
        "VarSet",
        "UserEvent",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "QueueMemberStatus",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "Hangup",
    }
)
COMPARED_VARIABLES = frozenset({"DIALER_CALL_ID", "AMDSTATUS", "AMDCAUSE"})
FLOATING_EVENTS = frozenset({"OriginateResponse", "QueueMemberStatus"})
FLOAT_WINDOW_S = 0.005
KEY_FIELDS = (
    "Channel",
    "ChannelStateDesc",
    "Context",
    "DestChannel",
    "Uniqueid",
    "Response",
    "Reason",
    "Cause",
    "Cause-txt",
    "DialStatus",
    "Variable",
    "Value",
    "UserEvent",
    "Status",
    "CallID",
    "QueueStatus",
    "Queue",
    "Interface",
    "MemberName",
    "Position",
    "Count",
    "Class",
)
_MARKER = re.compile(r"^### (>>> .*SENT|<<< END SENT|--- .*RECEIVED).*$")


@dataclass
class Transcript:
    name: str
    banner: str
    sent: list[Frame]
    received: list[Frame]

    def sent_action(self, action: str) -> Frame:
        for f in self.sent:
            if get(f, "Action").lower() == action.lower():
                return f
        raise KeyError(action)

    def events_after(self, action_id: str) -> list[Frame]:
        """Events received after the Response to `action_id` (the PBX's reaction to it)."""
        out: list[Frame] = []
        seen = False
        for f in self.received:
            if not seen:
                seen = get(f, "Response") != "" and get(f, "ActionID") == action_id
                continue
            if get(f, "Event"):
                out.append(f)
        return out


def transcript_path(name: str) -> Path:
    p = FIXTURES / f"{name}.txt"
    return p if p.exists() else SHARED / f"{name}.txt"


def get(frame: Frame, key: str, default: str = "") -> str:
    for k, v in frame:
        if k.lower() == key.lower():
            return v
    return default


def _frames(lines: list[str]) -> list[Frame]:
    frames: list[Frame] = []
    cur: Frame = []
    for line in lines:
        if not line:
            if cur:
                frames.append(cur)
                cur = []
            continue
        key, sep, value = line.partition(":")
        if sep:
            cur.append((key, value[1:] if value.startswith(" ") else value))
    if cur:
        frames.append(cur)
    return frames


def parse_transcript(path: str | Path) -> Transcript:
    text = Path(path).read_bytes().decode("utf-8")
    lines = text.split("\r\n")
    banner = ""
    received: list[str] = []
    sent: list[str] = []
    in_sent = False
    for line in lines:
        if _MARKER.match(line):
            if ">>>" in line:
                in_sent = True
            elif "<<<" in line:
                in_sent = False
                sent.append("")
            received.append("")  # a marker always ends the frame before it
            continue
        if in_sent:
            sent.append(line)
        elif not banner and line.startswith("Asterisk Call Manager/"):
            banner = line
        else:
            received.append(line)
    return Transcript(Path(path).stem, banner, _frames(sent), _frames(received))


# --------------------------------------------------------------------------- normalising

_LOCAL = re.compile(r"^Local/(?P<exten>[^@]+)@(?P<ctx>[^-;/]+)-[0-9a-f]{8};(?P<half>[12])$")
_REQUESTED = re.compile(r"^[A-Za-z]+/[^;]+$")


def channel_role(name: str) -> str:
    m = _LOCAL.match(name)
    if m:
        return ("A" if m.group("ctx") == "agents" else "C") + m.group("half")
    if _REQUESTED.match(name) and not re.search(r"-[0-9a-f]{8}$", name):
        return "REQUESTED"
    return name


def normalise(
    events: list[Frame], call_id: str
) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    """(event name, key fields, timestamp) for the compared events, in order."""
    uid_role: dict[str, str] = {}
    out = []
    for f in events:
        name = get(f, "Event")
        if name == "Newchannel":
            uid_role[get(f, "Uniqueid")] = "uid:" + channel_role(get(f, "Channel"))
        if name not in COMPARED_EVENTS:
            continue
        if name == "VarSet" and get(f, "Variable") not in COMPARED_VARIABLES:
            continue
        keys: list[tuple[str, str]] = []
        for key in KEY_FIELDS:
            value = get(f, key, "\0")
            if value == "\0":
                continue
            if key in ("Channel", "DestChannel"):
                value = channel_role(value)
            elif key == "Uniqueid":
                value = uid_role.get(value, value)
            elif key in ("Value", "CallID") and value == call_id:
                value = "<call id>"
            keys.append((key, value))
        out.append((name, tuple(keys), float(get(f, "Timestamp", "0") or 0)))
    return out


def compare(
    recorded: list[tuple[str, tuple[tuple[str, str], ...], float]],
    simulated: list[tuple[str, tuple[tuple[str, str], ...], float]],
    *,
    timing_tolerance_s: float | None = None,
) -> list[str]:
    """Differences between a recorded and a simulated normalised stream ([] = same shape)."""
    problems: list[str] = []
    rec_fixed = [e for e in recorded if e[0] not in FLOATING_EVENTS]
    sim_fixed = [e for e in simulated if e[0] not in FLOATING_EVENTS]
    for i in range(max(len(rec_fixed), len(sim_fixed))):
        r = rec_fixed[i][:2] if i < len(rec_fixed) else None
        s = sim_fixed[i][:2] if i < len(sim_fixed) else None
        if r != s:
            problems.append(f"event #{i}: recorded {r} but simulated {s}")
            break  # everything after the first divergence is noise
    if timing_tolerance_s is not None and not problems and rec_fixed:
        r0, s0 = rec_fixed[0][2], sim_fixed[0][2]
        for (rn, rk, rt), (_, _, st) in zip(rec_fixed, sim_fixed, strict=True):
            if abs((rt - r0) - (st - s0)) > timing_tolerance_s:
                problems.append(
                    f"{rn} {dict(rk).get('Channel', '')}: at +{rt - r0:.3f}s recorded, "
                    f"+{st - s0:.3f}s simulated"
                )

    def slots(stream, fixed):
        out = []
        count = 0
        for e in stream:
            if e[0] in FLOATING_EVENTS:
                out.append((e, count))
            else:
                count += 1
        return out

    rec_float = slots(recorded, rec_fixed)
    sim_float = slots(simulated, sim_fixed)
    if [e[0][:2] for e in rec_float] != [e[0][:2] for e in sim_float]:
        problems.append(
            f"floating events differ: recorded {[e[0][:2] for e in rec_float]} "
            f"simulated {[e[0][:2] for e in sim_float]}"
        )
        return problems
    for (rev, _), (_sev, sslot) in zip(rec_float, sim_float, strict=True):
        t = rev[2]
        lo = sum(1 for e in rec_fixed if e[2] < t - FLOAT_WINDOW_S)
        hi = sum(1 for e in rec_fixed if e[2] <= t + FLOAT_WINDOW_S)
        if not lo <= sslot <= hi:
            problems.append(
                f"{rev[0]} {dict(rev[1])} simulated after {sslot} ordered events; the recording "
                f"allows {lo}..{hi} (events within {FLOAT_WINDOW_S * 1000:.0f} ms)"
            )
    return problems
