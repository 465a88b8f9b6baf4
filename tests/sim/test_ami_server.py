"""The AMI server over real TCP on 127.0.0.1, driven by a raw-socket client.

Expected texts are the ones in the `actions` recording (and manager.c / app_queue.c for the
error paths the recording does not show). The PBX runs 50x faster than real time.
"""

from __future__ import annotations

import asyncio

import pytest

from dialer.sim.ami_server import ALL_EVENTS, EVENT_CLASSES, event_mask
from dialer.sim.behaviour import CalleePlan
from dialer.sim.runner import SimulatedPBX

from .rawami import RawAMI, get

SPEED = 50.0


@pytest.fixture
async def pbx():
    async with SimulatedPBX(agents=2, speed=SPEED, seed=1) as p:
        yield p


async def client(pbx: SimulatedPBX, events: str = "on") -> RawAMI:
    c = await RawAMI.connect(pbx.port)
    resp = await c.login(events=events)
    assert get(resp, "Message") == "Authentication accepted"
    return c


def originate_fields(n: str = "1", number: str = "5550000001", **extra: str) -> dict[str, str]:
    return {
        "Channel": f"Local/{number}@callees",
        "Context": "dialer-amd",
        "Exten": "s",
        "Priority": "1",
        "Timeout": "30000",
        "CallerID": '"Dialer" <5551230000>',
        "Async": "true",
        "Variable": f"DIALER_CALL_ID=call-{n}",
        **extra,
    }


async def test_banner_and_port(pbx: SimulatedPBX) -> None:
    assert pbx.port > 0
    c = await RawAMI.connect(pbx.port)
    assert c.banner == "Asterisk Call Manager/11.0.0\r\n"
    await c.close()


async def test_login_sends_fully_booted_and_successful_auth(pbx: SimulatedPBX) -> None:
    c = await RawAMI.connect(pbx.port)
    resp = await c.login()
    assert resp == [
        ("Response", "Success"),
        ("ActionID", "login"),
        ("Message", "Authentication accepted"),
    ]
    booted = await c.frame()
    assert [k for k, _ in booted] == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    assert get(booted, "Status") == "Fully Booted" and get(booted, "Privilege") == "system,all"
    auth = await c.frame()
    assert get(auth, "Event") == "SuccessfulAuth" and get(auth, "AccountID") == "dialer"
    await c.close()


async def test_events_off_gets_no_events(pbx: SimulatedPBX) -> None:
    c = await client(pbx, events="off")
    pbx.force_plans(CalleePlan.failing("busy"))
    resp, before = await c.action("Originate", "o1", **originate_fields())
    assert get(resp, "Message") == "Originate successfully queued" and before == []
    resp, before = await c.action("Ping", "p1")
    await asyncio.sleep(0.05)
    resp, before = await c.action("Ping", "p2")
    assert before == []
    await c.close()


async def test_event_classes_filter(pbx: SimulatedPBX) -> None:
    c = await client(pbx, events="user,agent")
    pbx.force_plans(CalleePlan.person(1.0, amd_delay_s=1.0, talk_s=2.0))
    await c.action("Originate", "o1", **originate_fields())
    _, seen = await c.until(lambda f: get(f, "Event") == "AgentComplete", timeout=5)
    kinds = {get(f, "Event") for f in seen}
    assert "UserEvent" in kinds and "AgentConnect" in kinds
    assert not kinds & {"Newchannel", "Hangup", "VarSet", "FullyBooted", "SuccessfulAuth"}
    await c.close()


async def test_bad_login_waits_then_closes(pbx: SimulatedPBX) -> None:
    c = await RawAMI.connect(pbx.port)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await c.send(
        ("Action", "Login"), ("ActionID", "b1"), ("Username", "dialer"), ("Secret", "wrong")
    )
    resp = await c.frame()
    assert resp == [("Response", "Error"), ("ActionID", "b1"), ("Message", "Authentication failed")]
    assert loop.time() - t0 >= 0.8 / SPEED  # Asterisk sleeps one second first
    assert await c.closed(timeout=2)


async def test_actions_before_login_are_refused(pbx: SimulatedPBX) -> None:
    c = await RawAMI.connect(pbx.port)
    resp, _ = await c.action("Ping", "p0")
    assert get(resp, "Message") == "Permission denied"
    await c.send(("ActionID", "x"))
    resp = await c.frame()
    assert get(resp, "Message") == "Missing action in request"
    await c.close()


async def test_ping_and_logoff(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    resp, _ = await c.action("Ping", "a2")
    assert [k for k, _ in resp] == ["Response", "ActionID", "Ping", "Timestamp"]
    assert get(resp, "Ping") == "Pong"
    assert float(get(resp, "Timestamp")) == pytest.approx(pbx.now(), abs=5)
    resp, _ = await c.action("Logoff", "a18")
    assert resp == [
        ("Response", "Goodbye"),
        ("ActionID", "a18"),
        ("Message", "Thanks for all the fish."),
    ]
    assert await c.closed(timeout=2)


async def test_unknown_action_text_is_asterisks(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    resp, _ = await c.action("NoSuchAction", "a17")
    assert resp == [
        ("Response", "Error"),
        ("ActionID", "a17"),
        (
            "Message",
            "Invalid/unknown command: NoSuchAction. "
            "Use Action: ListCommands to show available commands.",
        ),
    ]
    await c.close()


async def test_originate_with_channel_id_and_events(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    pbx.force_plans(CalleePlan.person(1.0, amd_delay_s=2.0, talk_s=3.0))
    fields = originate_fields(ChannelId="call-1-a", OtherChannelId="call-1-b")
    resp, _ = await c.action("Originate", "o1", **fields)
    assert resp == [
        ("Response", "Success"),
        ("ActionID", "o1"),
        ("Message", "Originate successfully queued"),
    ]
    _, seen = await c.until(
        lambda f: get(f, "Event") == "QueueMemberStatus" and get(f, "Status") == "1", timeout=5
    )
    names = [get(f, "Event") for f in seen]
    assert names[:7] == [
        "Newchannel",
        "Newchannel",
        "VarSet",
        "VarSet",
        "DialBegin",
        "Newstate",
        "DialState",
    ]
    new = [f for f in seen if get(f, "Event") == "Newchannel" and "callees" in get(f, "Channel")]
    assert [(get(f, "Channel")[-2:], get(f, "Uniqueid")) for f in new] == [
        (";1", "call-1-a"),
        (";2", "call-1-b"),
    ]
    ok = next(f for f in seen if get(f, "Event") == "OriginateResponse")
    assert (get(ok, "ActionID"), get(ok, "Response"), get(ok, "Reason"), get(ok, "Uniqueid")) == (
        "o1",
        "Success",
        "4",
        "call-1-a",
    )
    amd = next(f for f in seen if get(f, "Event") == "UserEvent")
    assert (get(amd, "UserEvent"), get(amd, "Status"), get(amd, "CallID")) == (
        "DialerAMD",
        "HUMAN",
        "call-1",
    )
    assert "AgentConnect" in names and "AgentComplete" in names
    (truth,) = pbx.ground_truth()
    assert (truth.channel_id, truth.call_id, truth.disposition) == (
        "call-1-a",
        "call-1",
        "connected",
    )
    await c.close()


async def test_failed_originate_with_channel_id(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    pbx.force_plans(CalleePlan.failing("busy"))
    await c.action(
        "Originate",
        "o7",
        **originate_fields(number="5550000007", ChannelId="b-1", OtherChannelId="b-2"),
    )
    fail, _ = await c.until(lambda f: get(f, "Event") == "OriginateResponse")
    assert (
        get(fail, "Response"),
        get(fail, "Reason"),
        get(fail, "Uniqueid"),
        get(fail, "Channel"),
    ) == ("Failure", "5", "b-1", "Local/5550000007@callees")
    await c.close()


async def test_originate_errors(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    resp, _ = await c.action("Originate", "e1", Context="dialer-amd")
    assert get(resp, "Message") == "Channel not specified"
    resp, _ = await c.action("Originate", "e2", **originate_fields(Context="from-internal"))
    assert (get(resp, "Response"), get(resp, "Message")) == ("Error", "Extension does not exist.")
    await c.close()


async def test_synchronous_originate_answers_late_and_holds_events(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    pbx.force_plans(CalleePlan.person(3.0, talk_s=1.0), CalleePlan.failing("busy", 0.5))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    resp, before = await c.action("Originate", "s1", **originate_fields(Async="false"))
    assert get(resp, "Message") == "Originate successfully queued"
    assert loop.time() - t0 >= 2.5 / SPEED
    # the session was blocked: the call's events come after the response
    assert [get(f, "Event") for f in before] == ["FullyBooted", "SuccessfulAuth"]
    resp, seen = await c.action("Originate", "s2", **originate_fields(n="2", Async="no"))
    assert (get(resp, "Response"), get(resp, "Message")) == ("Error", "Originate failed")
    assert "Newchannel" in [get(f, "Event") for f in seen]  # the first call's, after s1
    assert all(get(f, "Event") != "OriginateResponse" for f in seen)
    await c.close()


async def test_hangup_and_getvar(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    pbx.force_plans(CalleePlan.person(1.0, amd_delay_s=1.0, talk_s=100.0))
    await c.action("Originate", "o1", **originate_fields(ChannelId="g-1"))
    await c.until(lambda f: get(f, "Event") == "AgentConnect", timeout=5)
    resp, _ = await c.action("Getvar", "a14", Channel="g-1", Variable="AMDSTATUS")
    assert resp == [
        ("Response", "Success"),
        ("ActionID", "a14"),
        ("Variable", "AMDSTATUS"),
        ("Value", "HUMAN"),
    ]
    resp, _ = await c.action(
        "Getvar", "a13", Channel="Local/nope@callees-00000000;1", Variable="AMDSTATUS"
    )
    assert (get(resp, "Response"), get(resp, "Message")) == ("Error", "No such channel")
    resp, _ = await c.action("Hangup", "a16", Channel="g-1", Cause="16")
    assert resp == [("Response", "Success"), ("ActionID", "a16"), ("Message", "Channel Hungup")]
    done, _ = await c.until(lambda f: get(f, "Event") == "AgentComplete")
    assert get(done, "Reason") == "caller"
    resp, _ = await c.action("Hangup", "a19", Channel="g-1")
    assert get(resp, "Message") == "No such channel"
    resp, _ = await c.action("Hangup", "a20")
    assert get(resp, "Message") == "No channel specified"
    await c.close()


async def test_core_show_channels_during_a_call(pbx: SimulatedPBX) -> None:
    c = await client(pbx, events="off")
    pbx.force_plans(CalleePlan.person(1.0, amd_delay_s=1.0, talk_s=100.0))
    await c.action("Originate", "o1", **originate_fields(ChannelId="act-1", OtherChannelId="act-2"))
    await pbx.sleep(3.0)
    resp, items, done = await c.list_items("CoreShowChannels", "a11")
    assert resp == [
        ("Response", "Success"),
        ("ActionID", "a11"),
        ("EventList", "start"),
        ("Message", "Channels will follow"),
    ]
    assert len(items) == 4
    assert [k for k, _ in items[0]][:3] == ["Event", "ActionID", "Channel"]
    assert {get(f, "Linkedid") for f in items} == {"act-1"}
    assert done == [
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", "a11"),
        ("EventList", "Complete"),
        ("ListItems", "4"),
    ]
    await c.close()


async def test_queue_actions_as_recorded(pbx: SimulatedPBX) -> None:
    c = await client(pbx, events="agent")
    resp, items, done = await c.list_items("QueueSummary", "a5", Queue="agents")
    assert get(resp, "Message") == "Queue summary will follow"
    assert [(get(f, "Event"), get(f, "LoggedIn"), get(f, "Available")) for f in items] == [
        ("QueueSummary", "2", "2")
    ]
    assert [k for k, _ in items[0]][-1] == "ActionID"
    assert (get(done, "Event"), get(done, "ListItems")) == ("QueueSummaryComplete", "1")

    resp, _ = await c.action(
        "QueueAdd",
        "a6",
        Queue="agents",
        Interface="Local/agent99@agents",
        MemberName="agent99",
        Penalty="0",
        Paused="false",
    )
    assert get(resp, "Message") == "Added interface to queue"
    added, _ = await c.until(lambda f: get(f, "Event") == "QueueMemberAdded")
    assert get(added, "MemberName") == "agent99"
    resp, _ = await c.action("QueueAdd", "a6b", Queue="agents", Interface="Local/agent99@agents")
    assert get(resp, "Message") == "Unable to add interface: Already there"
    resp, _ = await c.action(
        "QueuePause",
        "a7",
        Queue="agents",
        Interface="Local/agent99@agents",
        Paused="true",
        Reason="break",
    )
    assert get(resp, "Message") == "Interface paused successfully"
    pause, _ = await c.until(lambda f: get(f, "Event") == "QueueMemberPause")
    assert (get(pause, "Paused"), get(pause, "PausedReason")) == ("1", "break")

    resp, items, done = await c.list_items(
        "QueueStatus", "a8", Queue="agents", Member="Local/agent99@agents"
    )
    assert get(resp, "Message") == "Queue status will follow"
    assert [get(f, "Event") for f in items] == ["QueueParams", "QueueMember"]
    member = items[1]
    assert (
        get(member, "Name"),
        get(member, "Membership"),
        get(member, "Paused"),
        get(member, "PausedReason"),
    ) == ("agent99", "dynamic", "1", "break")
    assert get(items[0], "Strategy") == "rrmemory"
    assert (get(done, "Event"), get(done, "ListItems")) == ("QueueStatusComplete", "2")

    resp, _ = await c.action("QueuePause", "a7b", Interface="Local/agent99@agents", Paused="false")
    assert get(resp, "Message") == "Interface unpaused successfully"
    resp, _ = await c.action("QueuePause", "a7c", Interface="Local/agent77@agents", Paused="true")
    assert get(resp, "Message") == "Interface not found"
    resp, _ = await c.action("QueueRemove", "a9", Queue="agents", Interface="Local/agent99@agents")
    assert get(resp, "Message") == "Removed interface from queue"
    resp, _ = await c.action("QueueRemove", "a9b", Queue="agents", Interface="Local/agent1@agents")
    assert get(resp, "Message") == "Member not dynamic"
    resp, _ = await c.action("QueueRemove", "a9c", Queue="nosuch", Interface="Local/agent1@agents")
    assert get(resp, "Message") == "Unable to remove interface from queue: No such queue"
    await c.close()


async def test_drop_connections(pbx: SimulatedPBX) -> None:
    a = await client(pbx)
    b = await client(pbx)
    assert pbx.drop_connections() == 2
    assert await a.closed(timeout=2) and await b.closed(timeout=2)
    c = await client(pbx)  # the PBX itself is still up
    resp, _ = await c.action("Ping", "p")
    assert get(resp, "Ping") == "Pong"
    await c.close()


async def test_restart(pbx: SimulatedPBX) -> None:
    c = await client(pbx)
    pbx.force_plans(CalleePlan.person(1.0, amd_delay_s=1.0, talk_s=100.0))
    await c.action("Originate", "o1", **originate_fields())
    await c.until(lambda f: get(f, "Event") == "AgentConnect", timeout=5)
    task = asyncio.create_task(pbx.restart(down_for=40.0))  # 0.8 s real
    shutdown, _ = await c.until(lambda f: get(f, "Event") == "Shutdown", timeout=2)
    assert (get(shutdown, "Shutdown"), get(shutdown, "Restart"), get(shutdown, "Privilege")) == (
        "Uncleanly",
        "True",
        "system,all",
    )
    assert await c.closed(timeout=2)
    await asyncio.sleep(0.05)
    with pytest.raises(OSError):
        await RawAMI.connect(pbx.port, timeout=1)
    await task
    d = await client(pbx)
    _resp, items, _ = await d.list_items("CoreShowChannels", "c")
    assert items == []
    (truth,) = pbx.ground_truth()
    assert (truth.disposition, truth.ended_by) == ("connected", "restart")
    await d.close()


async def test_freeze_and_response_delay(pbx: SimulatedPBX) -> None:
    c = await client(pbx, events="off")
    pbx.freeze()
    await c.send(("Action", "Ping"), ("ActionID", "f1"))
    with pytest.raises(TimeoutError):
        await c.frame(timeout=0.2)
    pbx.thaw()
    resp = await c.frame()
    assert get(resp, "ActionID") == "f1"
    pbx.delay_responses(10.0)  # 0.2 s real
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await c.action("Ping", "f2")
    assert loop.time() - t0 >= 0.18
    pbx.delay_responses(0)
    await c.close()


def test_event_mask_parsing() -> None:
    assert event_mask("") is None
    assert event_mask("on") == ALL_EVENTS == event_mask("all")
    assert event_mask("off") == 0
    assert event_mask("call,agent") == EVENT_CLASSES["call"] | EVENT_CLASSES["agent"]
    assert event_mask("3") == 3
