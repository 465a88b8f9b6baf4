from __future__ import annotations

import pytest

from dialer.ami.codec import Frame, MalformedFrame, parse_buffer
from dialer.ami.translate import AmiTranslator
from dialer.core import events as ev

from .conftest import received, sent_frames

RECV = 1795000000.0  # receive time handed in for frames without a Timestamp


def frames_of(name: str, session: str = "") -> list[Frame]:
    items, rest = parse_buffer(received(name, session))
    assert rest == b""
    return [i for i in items if isinstance(i, Frame)]


def registered(name: str, session: str = "") -> AmiTranslator:
    """A translator told about the recording's Originate, as the service would do."""
    tr = AmiTranslator()
    for f in sent_frames(name, session):
        if f.name == "Action:Originate":
            (var,) = [v for v in f.getall("Variable") if v.startswith("DIALER_CALL_ID=")]
            tr.register_originate(var.split("=", 1)[1], f.get("ActionID"))
    return tr


def run(tr: AmiTranslator, frames: list[Frame]) -> list[ev.Event]:
    out: list[ev.Event] = []
    for f in frames:
        out += tr.translate(f, RECV)
    return out


def replay(name: str, frames: list[Frame] | None = None) -> list[ev.Event]:
    return run(registered(name), frames if frames is not None else frames_of(name))


# --- the recordings, event by event ------------------------------------------------------

H1 = "human_1-1795862398"
M5 = "machine_5-1795862446"
B7 = "busy_7-1795862453"
B7C = "busy_7_with_channelid-1795862518"
N8 = "noanswer_8-1795862455"
AB = "human_no_free_agent_abandon-1795863210"



def legs(call_id: str, channel: str, at1: float, at2: float) -> list[ev.Event]:
    return [ev.CallLegCreated(at1, call_id, leg=1, channel=f"{channel};1"),
            ev.CallLegCreated(at2, call_id, leg=2, channel=f"{channel};2")]


EXPECTED: dict[str, list[ev.Event]] = {
    "human_1": [
        ev.OriginateQueued(RECV, H1),
        *legs(H1, "Local/5550000001@callees-00000000", 1795862398.466720, 1795862398.466734),
        ev.CallRinging(1795862398.467277, H1),
        ev.CallAnswered(1795862400.469645, H1),
        ev.AmdVerdict(1795862402.650990, H1, status="HUMAN", cause="HUMAN-800-800"),
        ev.CallQueued(1795862402.652109, H1, queue="agents"),
        ev.AgentOffered(1795862402.652478, H1, agent="agent1"),
        ev.AgentStatus(1795862402.653452, "agent1", queue="agents", device_status=2, paused=False,
                       wrapup_s=None),
        ev.CallConnected(1795862402.653486, H1, agent="agent1"),
        ev.CallCompleted(1795862438.235853, H1, agent="agent1", talk_s=36.0, reason="caller"),
        ev.CallHungUp(1795862438.235865, H1, leg=2, cause=16, cause_txt="Normal Clearing"),
        ev.CallHungUp(1795862438.236100, H1, leg=1, cause=16, cause_txt="Normal Clearing"),
        ev.AgentStatus(1795862438.239192, "agent1", queue="agents", device_status=1, paused=False,
                       wrapup_s=None),
    ],
    "machine_5": [
        ev.OriginateQueued(RECV, M5),
        *legs(M5, "Local/5550000005@callees-00000002", 1795862446.722662, 1795862446.722678),
        ev.CallRinging(1795862446.723092, M5),
        ev.CallAnswered(1795862448.727051, M5),
        ev.AmdVerdict(1795862450.648072, M5, status="MACHINE", cause="MAXWORDS-3-2"),
        ev.CallHungUp(1795862450.648621, M5, leg=1, cause=16, cause_txt="Normal Clearing"),
        ev.CallHungUp(1795862450.649190, M5, leg=2, cause=16, cause_txt="Normal Clearing"),
    ],
    "busy_7": [
        ev.OriginateQueued(RECV, B7),
        *legs(B7, "Local/5550000007@callees-00000003", 1795862453.090155, 1795862453.090170),
        ev.CallFailed(1795862453.091017, B7, reason=5, cause=None),
        ev.CallHungUp(1795862453.091222, B7, leg=2, cause=17, cause_txt="User busy"),
        ev.CallHungUp(1795862453.091250, B7, leg=1, cause=0, cause_txt="Unknown"),
    ],
    "busy_7_with_channelid": [
        ev.OriginateQueued(RECV, B7C),
        *legs(B7C, "Local/5550000007@callees-00000008", 1795862518.005864, 1795862518.005875),
        ev.CallFailed(1795862518.006359, B7C, reason=5, cause=None),
        ev.CallHungUp(1795862518.006404, B7C, leg=2, cause=17, cause_txt="User busy"),
        ev.CallHungUp(1795862518.006413, B7C, leg=1, cause=0, cause_txt="Unknown"),
    ],
    "noanswer_8": [
        ev.OriginateQueued(RECV, N8),
        *legs(N8, "Local/5550000008@callees-00000004", 1795862455.500098, 1795862455.500123),
        ev.CallRinging(1795862455.500514, N8),
        ev.CallFailed(1795862485.527731, N8, reason=3, cause=None),
        ev.CallHungUp(1795862485.527835, N8, leg=1, cause=19, cause_txt="User alerting, no answer"),
        ev.CallHungUp(1795862485.528118, N8, leg=2, cause=19, cause_txt="User alerting, no answer"),
    ],
    "human_no_free_agent_abandon": [
        ev.OriginateQueued(RECV, AB),
        *legs(AB, "Local/5550000003@callees-00001182", 1795863210.330899, 1795863210.330926),
        ev.CallRinging(1795863210.331404, AB),
        ev.CallAnswered(1795863215.337004, AB),
        ev.AmdVerdict(1795863217.518045, AB, status="HUMAN", cause="HUMAN-800-800"),
        ev.CallQueued(1795863217.518487, AB, queue="agents"),
        ev.CallHungUp(1795863253.074257, AB, leg=2, cause=16, cause_txt="Normal Clearing"),
        ev.QueueGaveUp(1795863253.074896, AB, reason="caller", hold_s=36.0),
        ev.CallHungUp(1795863253.074932, AB, leg=1, cause=16, cause_txt="Normal Clearing"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recording_translates_to_exact_events(name: str) -> None:
    assert replay(name) == EXPECTED[name]


def test_busy_with_channelid_needs_no_varset() -> None:
    """With ChannelId the Uniqueids name the call: no DIALER_CALL_ID VarSet needed, and
    the failed OriginateResponse (Uniqueid = our ChannelId) correlates without ActionID."""
    frames = [f for f in frames_of("busy_7_with_channelid") if f.name != "VarSet"]
    tr = AmiTranslator()
    tr.register_originate(B7C, "some-other-action-id")
    got = run(tr, frames)
    assert got == [e for e in EXPECTED["busy_7_with_channelid"]
                   if not isinstance(e, ev.OriginateQueued)]
    assert tr.stats["parked"] == 0


def test_channelid_as_sent_by_our_client() -> None:
    """AmiLink sends ChannelId=<call_id>, OtherChannelId=<call_id>-2."""
    tr = AmiTranslator()
    tr.register_originate("c42")
    f1 = Frame.from_pairs([("Event", "Newchannel"), ("Timestamp", "10.0"),
                           ("Channel", "PJSIP/trunk-0001"), ("Uniqueid", "c42")])
    f2 = Frame.from_pairs([("Event", "Newchannel"), ("Timestamp", "10.1"),
                           ("Channel", "Local/x;2"), ("Uniqueid", "c42-2")])
    assert tr.translate(f1, 1.0) == [
        ev.CallLegCreated(10.0, "c42", leg=1, channel="PJSIP/trunk-0001")]
    assert tr.translate(f2, 1.0) == [ev.CallLegCreated(10.1, "c42", leg=2, channel="Local/x;2")]
    assert tr.call_for_uniqueid("c42-2") == "c42" and tr.leg_for_uniqueid("c42") == ("c42", 1)


def test_two_interleaved_calls_do_not_mix() -> None:
    tr = AmiTranslator()
    for name in ("human_1", "machine_5"):
        for f in sent_frames(name):
            if f.name == "Action:Originate":
                cid = f.getall("Variable")[0].split("=", 1)[1]
                tr.register_originate(cid, f.get("ActionID"))
    a, b = frames_of("human_1"), frames_of("machine_5")
    merged = sorted(a + b, key=lambda f: float(f.get("Timestamp") or 0))
    got = run(tr, merged)
    for cid, name in ((H1, "human_1"), (M5, "machine_5")):
        mine = [e for e in got if getattr(e, "call_id", None) == cid]
        want = [e for e in EXPECTED[name] if getattr(e, "call_id", None) == cid]
        assert sorted(mine, key=lambda e: e.at) == sorted(want, key=lambda e: e.at)


# --- duplicates and order -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_frame_twice_gives_no_extra_call_event(name: str) -> None:
    frames = [f for f in frames_of(name) for _ in range(2)]
    got = replay(name, frames)
    want = EXPECTED[name]
    assert [e for e in got if not isinstance(e, ev.AgentEvent)] == [
        e for e in want if not isinstance(e, ev.AgentEvent)]
    # Agent events are state assertions: repeated on purpose, idempotent in the core.
    assert [e for e in got if isinstance(e, ev.AgentEvent)] == [
        e for e in want if isinstance(e, ev.AgentEvent) for _ in range(2)]


def test_duplicate_originate_response_is_dropped_and_contradiction_counted() -> None:
    tr = registered("busy_7")
    frames = frames_of("busy_7")
    orr = next(f for f in frames if f.name == "OriginateResponse")
    run(tr, frames)
    assert tr.translate(orr, RECV) == []
    assert tr.stats["duplicates"] == 1
    success = Frame.from_pairs([(k, "Success" if k == "Response" else "4" if k == "Reason" else v)
                                for k, v in orr.pairs])
    assert tr.translate(success, RECV) == []
    assert tr.stats["conflicting"] == 1


def test_originate_response_before_the_action_response() -> None:
    frames = frames_of("human_1")
    ack = next(i for i, f in enumerate(frames) if f.get("ActionID") == "human_1-orig"
               and f.is_response)
    orr = next(i for i, f in enumerate(frames) if f.name == "OriginateResponse")
    reordered = [*frames[:ack], frames[orr], *frames[ack:orr], *frames[orr + 1:]]
    tr = registered("human_1")
    got = run(tr, reordered)
    # Leg 1 is learned from the OriginateResponse's Uniqueid, so it is created then.
    assert got[:2] == [
        legs(H1, "Local/5550000001@callees-00000000", 1795862400.469645, 0)[0],
        ev.CallAnswered(1795862400.469645, H1),
    ]
    assert not any(isinstance(e, ev.OriginateQueued) for e in got)  # moot once answered
    assert tr.stats["late_ack"] == 1
    want = EXPECTED["human_1"]
    # Ringing that arrives after the answer is not reported.
    assert got[2:] == [e for e in want
                       if not isinstance(e, ev.OriginateQueued | ev.CallAnswered | ev.CallRinging)
                       and not (isinstance(e, ev.CallLegCreated) and e.leg == 1)]


def test_frames_before_the_call_is_known_are_parked_and_replayed() -> None:
    """The DIALER_CALL_ID VarSets arrive last: every earlier frame of the call waits."""
    frames = frames_of("busy_7")
    varsets = [f for f in frames if f.name == "VarSet" and f.get("Variable") == "DIALER_CALL_ID"]
    rest = [f for f in frames if f not in varsets]
    tr = AmiTranslator()
    tr.register_originate(B7, "not-the-recorded-action-id")  # no ActionID help either
    got = run(tr, rest + varsets)
    # Failure has Uniqueid <unknown> and the ActionID does not match: nothing to tie it to.
    assert sorted(got, key=lambda e: e.at) == [
        e for e in EXPECTED["busy_7"] if isinstance(e, ev.CallLegCreated | ev.CallHungUp)]
    assert tr.stats["foreign"] >= 1


def test_ringing_after_answer_is_not_reported() -> None:
    frames = frames_of("machine_5")
    ringing = [f for f in frames if f.name in ("Newstate", "DialState")
               and "Ringing" in (f.get("ChannelStateDesc"), f.get("DestChannelStateDesc"))]
    rest = [f for f in frames if f not in ringing]
    got = replay("machine_5", rest + ringing)
    assert not any(isinstance(e, ev.CallRinging) for e in got)


def test_amd_from_varset_pair_alone_and_from_userevent_alone() -> None:
    frames = frames_of("machine_5")
    no_user = [f for f in frames if f.name != "UserEvent"]
    no_varset = [f for f in frames if not (f.name == "VarSet"
                                           and f.get("Variable") in ("AMDSTATUS", "AMDCAUSE"))]
    for variant, at in ((no_user, 1795862450.648072), (no_varset, 1795862450.648580)):
        amd = [e for e in replay("machine_5", variant) if isinstance(e, ev.AmdVerdict)]
        assert amd == [ev.AmdVerdict(at, M5, status="MACHINE", cause="MAXWORDS-3-2")]


def test_amd_userevent_first_then_varset_gives_one_verdict() -> None:
    frames = frames_of("human_1")
    user = next(f for f in frames if f.name == "UserEvent")
    got = replay("human_1", [user, *frames])
    amd = [e for e in got if isinstance(e, ev.AmdVerdict)]
    assert amd == [ev.AmdVerdict(1795862402.651484, H1, status="HUMAN", cause="HUMAN-800-800")]


def test_unknown_amd_status_becomes_notsure() -> None:
    tr = AmiTranslator()
    tr.register_originate("c1")
    f = Frame.from_pairs([("Event", "UserEvent"), ("UserEvent", "DialerAMD"), ("Uniqueid", "c1"),
                          ("Status", "WEIRD"), ("Cause", "X-1"), ("CallID", "c1")])
    got = [e for e in tr.translate(f, 5.0) if isinstance(e, ev.AmdVerdict)]
    assert got == [ev.AmdVerdict(5.0, "c1", status="NOTSURE", cause="WEIRD:X-1")]
    assert tr.stats["invalid_amd_status"] == 1


# --- queue results, rejections, agents ---------------------------------------------------

@pytest.mark.parametrize(("status", "reason"), [
    ("TIMEOUT", "timeout"), ("FULL", "full"), ("JOINEMPTY", "joinempty"),
    ("LEAVEEMPTY", "leaveempty"), ("JOINUNAVAIL", "joinunavail"),
    ("LEAVEUNAVAIL", "leaveunavail"), ("CONTINUE", None), ("", None),
])
def test_dialer_queue_result(status: str, reason: str | None) -> None:
    tr = AmiTranslator()
    tr.register_originate("c7")
    f = Frame.from_pairs([("Event", "UserEvent"), ("Timestamp", "100.5"), ("Channel", "Local/1;1"),
                          ("Uniqueid", "1.1"), ("UserEvent", "DialerQueueResult"),
                          ("QueueStatus", status), ("CallID", "c7")])
    got = [e for e in tr.translate(f, 1.0) if isinstance(e, ev.QueueGaveUp)]
    assert got == ([ev.QueueGaveUp(100.5, "c7", reason=reason)] if reason else [])
    assert [e for e in tr.translate(f, 1.0) if isinstance(e, ev.QueueGaveUp)] == []


def test_originate_rejected_by_the_pbx() -> None:
    tr = AmiTranslator()
    tr.register_originate("c9", "c9")
    err = Frame.from_pairs([("Response", "Error"), ("ActionID", "c9"),
                            ("Message", "Originate failed")])
    assert tr.translate(err, 3.0) == [ev.OriginateRejected(3.0, "c9", message="Originate failed")]
    assert tr.translate(err, 3.0) == []


def test_queue_status_in_actions_recording_gives_agent_status() -> None:
    tr = registered("actions", "main")
    got = run(tr, frames_of("actions", "main"))
    agents = [e for e in got if isinstance(e, ev.AgentStatus)]
    assert agents[0] == ev.AgentStatus(RECV, "agent99", queue="agents", device_status=1,
                                       paused=True, wrapup_s=None)
    assert agents[1] == ev.AgentStatus(RECV, "agent1", queue="agents", device_status=2,
                                       paused=False, wrapup_s=None)
    assert [a.agent for a in agents[1:]] == [f"agent{i}" for i in range(1, 11)]
    assert all(a.device_status == 1 and a.paused is False for a in agents[2:])
    others = [e for e in got if not isinstance(e, ev.AgentStatus)]
    assert others == [ev.OriginateQueued(RECV, "act")]
    # CoreShowChannels lists our call by the ChannelId we sent: resync can find it.
    assert tr.call_for_uniqueid("act-1") == "act" and tr.call_for_uniqueid("act-2") == "act"
    assert tr.call_for_uniqueid("1795863186.8963") is None


def test_membership_events() -> None:
    tr = AmiTranslator()
    base = [("Queue", "agents"), ("MemberName", "agent3"), ("Interface", "Local/agent3@agents")]
    added = Frame.from_pairs([("Event", "QueueMemberAdded"), *base, ("Status", "1"),
                              ("Paused", "0")])
    status = Frame.from_pairs([("Event", "QueueMemberStatus"), ("Timestamp", "7.0"), *base,
                               ("Status", "6"), ("Paused", "1"), ("Wrapuptime", "15")])
    pause = Frame.from_pairs([("Event", "QueueMemberPause"), *base, ("Paused", "1"),
                              ("PausedReason", "lunch")])
    unpause = Frame.from_pairs([("Event", "QueueMemberPause"), *base, ("Paused", "0")])
    removed = Frame.from_pairs([("Event", "QueueMemberRemoved"), *base])
    assert tr.translate(added, 1.0) == [ev.AgentStatus(1.0, "agent3", queue="agents",
                                                       device_status=1, paused=False)]
    assert tr.translate(status, 1.0) == [ev.AgentStatus(
        7.0, "agent3", queue="agents", device_status=6, paused=True, wrapup_s=15.0)]
    assert tr.translate(pause, 2.0) == [ev.AgentPaused(2.0, "agent3", queue="agents", paused=True,
                                                       reason="lunch")]
    assert tr.translate(unpause, 2.0) == [ev.AgentPaused(2.0, "agent3", queue="agents",
                                                         paused=False)]
    assert tr.translate(removed, 3.0) == [ev.AgentRemoved(3.0, "agent3", queue="agents")]


def test_agent_missed() -> None:
    tr = AmiTranslator()
    tr.register_originate("c5")
    f = Frame.from_pairs([("Event", "AgentRingNoAnswer"), ("Timestamp", "9.0"), ("Uniqueid", "c5"),
                          ("Queue", "agents"), ("MemberName", "agent2"), ("RingTime", "15")])
    assert tr.translate(f, 1.0) == [ev.AgentMissed(9.0, "c5", agent="agent2")]


# --- robustness -----------------------------------------------------------------------------

def test_other_calls_and_irrelevant_frames_produce_nothing() -> None:
    tr = AmiTranslator()  # nothing registered: every call in the recording is someone else's
    assert run(tr, frames_of("human_1")) == [
        e for e in EXPECTED["human_1"] if isinstance(e, ev.AgentStatus)]
    assert tr.stats["foreign"] > 0 and tr.stats["ignored"] > 0


def test_malformed_and_bad_values_are_counted_not_raised() -> None:
    tr = AmiTranslator()
    tr.register_originate("c1")
    assert tr.translate(MalformedFrame("garbage", 10), 1.0) == []
    assert tr.translate(MalformedFrame("unknown", 10, ("Foo",)), 1.0) == []
    bad = [
        Frame.from_pairs([("Event", "Hangup"), ("Uniqueid", "c1"), ("Cause", "abc"),
                          ("Timestamp", "not-a-time")]),
        Frame.from_pairs([("Event", "OriginateResponse"), ("ActionID", "c1"),
                          ("Response", "Failure"), ("Reason", "x"), ("Uniqueid", "<unknown>")]),
        Frame.from_pairs([("Event", "QueueMemberStatus"), ("Queue", "q"), ("Status", "?")]),
        Frame.from_pairs([("Event", "AgentComplete"), ("Uniqueid", "c1"), ("TalkTime", "long")]),
    ]
    got = [e for f in bad for e in tr.translate(f, 2.0)]
    assert got == [
        ev.CallHungUp(2.0, "c1", leg=1, cause=None, cause_txt=""),
        ev.CallFailed(2.0, "c1", reason=0, cause=None),
        ev.CallCompleted(2.0, "c1", agent="", talk_s=None, reason=""),
    ]
    s = tr.stats
    assert s["malformed"] == 2 and s["malformed_garbage"] == 1 and s["bad_timestamp"] == 1
    assert s["invalid"] >= 4  # cause, reason, agent-less status (rejected by the core), talk time


def test_forget_frees_the_call() -> None:
    tr = registered("noanswer_8")
    frames = frames_of("noanswer_8")
    run(tr, frames[:20])
    tr.forget(N8)
    assert run(tr, frames[20:]) == []
    assert tr.call_for_uniqueid("1795862455.8") is None


def test_memory_is_bounded() -> None:
    tr = AmiTranslator(max_calls=10, max_parked=5)
    for i in range(100):
        tr.register_originate(f"c{i}")
        tr.translate(Frame.from_pairs([("Event", "Newchannel"), ("Uniqueid", f"x{i}")]), 1.0)
    assert len(tr._calls) == 10 and len(tr._parked) == 5 and len(tr._by_action) == 10
    assert tr.stats["calls_evicted"] == 90


def test_timestamp_far_from_receive_time_is_replaced_by_receive_time():
    from dialer.ami.codec import parse_buffer

    frames, _ = parse_buffer(
        b"Event: QueueMemberStatus\r\nTimestamp: 1000.0\r\nQueue: agents\r\n"
        b"MemberName: agent1\r\nInterface: Local/agent1@agents\r\nStatus: 1\r\nPaused: 0\r\n\r\n"
    )
    trusting = AmiTranslator()
    guarded = AmiTranslator(max_skew_s=2.0)
    assert trusting.translate(frames[0], 5000.0)[0].at == 1000.0
    assert guarded.translate(frames[0], 5000.0)[0].at == 5000.0
    assert guarded.translate(frames[0], 1001.5)[0].at == 1000.0
    assert guarded.stats["clock_skew"] == 1


def test_member_wrapuptime_zero_means_the_queue_default():
    from dialer.ami.codec import parse_buffer

    frames, _ = parse_buffer(
        b"Event: QueueMember\r\nQueue: agents\r\nName: agent1\r\nStatus: 1\r\nPaused: 0\r\n"
        b"Wrapuptime: 0\r\n\r\nEvent: QueueMember\r\nQueue: agents\r\nName: agent2\r\n"
        b"Status: 1\r\nPaused: 0\r\nWrapuptime: 15\r\n\r\n"
    )
    tr = AmiTranslator()
    a1, a2 = (tr.translate(f, 1.0)[0] for f in frames)
    assert a1.wrapup_s is None and a2.wrapup_s == 15.0


def test_caller_abandon_then_queue_timeout_gives_both_in_order():
    from dialer.ami.codec import parse_buffer

    tr = AmiTranslator()
    tr.register_originate("c9", "c9")
    frames, _ = parse_buffer(
        b"Event: Newchannel\r\nChannel: Local/1@callees-00000001;1\r\nUniqueid: c9\r\n\r\n"
        b"Event: QueueCallerAbandon\r\nChannel: Local/1@callees-00000001;1\r\nUniqueid: c9\r\n"
        b"Queue: agents\r\nPosition: 1\r\nHoldTime: 1\r\n\r\n"
        b"Event: UserEvent\r\nUserEvent: DialerQueueResult\r\nChannel: Local/1@callees-00000001;1\r\n"
        b"Uniqueid: c9\r\nQueueStatus: TIMEOUT\r\nCallID: c9\r\n\r\n"
        b"Event: UserEvent\r\nUserEvent: DialerQueueResult\r\nChannel: Local/1@callees-00000001;1\r\n"
        b"Uniqueid: c9\r\nQueueStatus: TIMEOUT\r\nCallID: c9\r\n\r\n"
    )
    got = [e for f in frames for e in tr.translate(f, 1.0) if isinstance(e, ev.QueueGaveUp)]
    assert [e.reason for e in got] == ["caller", "timeout"]


# --- bot-first campaigns ---------------------------------------------------------------------


def test_bot_escalation_from_the_bots_ami_session_has_only_a_call_id() -> None:
    tr = AmiTranslator()
    tr.register_originate("r1-000001")
    # What `Action: UserEvent` from the bot's AMI user produces: no channel, no Uniqueid.
    esc = Frame.from_pairs([("Event", "UserEvent"), ("Privilege", "user,all"), ("Timestamp", "1795000010.5"),
                            ("UserEvent", "DialerEscalate"), ("CallID", "r1-000001")])
    assert tr.translate(esc, RECV) == [ev.BotEscalated(1795000010.5, "r1-000001")]
    assert tr.translate(esc, RECV) == []  # a bot asking twice moves the call once
    other = Frame.from_pairs([("Event", "UserEvent"), ("UserEvent", "DialerEscalate"), ("CallID", "not-ours")])
    assert tr.translate(other, RECV) == []
    assert tr.stats["foreign"] == 1


def test_bot_dial_result_from_the_dialplan() -> None:
    tr = AmiTranslator()
    tr.register_originate("r1-000002")
    res = Frame.from_pairs([("Event", "UserEvent"), ("Channel", "PJSIP/carrier-00000001"),
                            ("Uniqueid", "r1-000002"), ("UserEvent", "DialerBotResult"),
                            ("DialStatus", "chanunavail"), ("CallID", "r1-000002")])
    events = tr.translate(res, RECV)
    assert events[-1] == ev.BotResult(RECV, "r1-000002", dial_status="CHANUNAVAIL")
    assert [e for e in tr.translate(res, RECV) if isinstance(e, ev.BotResult)] == []
