"""The PBX model in virtual time: ground truth, the one-call-per-agent invariant, and every
path of the dialplan (including the shapes that are inferred from Asterisk's source rather
than recorded: congestion, invalid number, hang-ups by AMI, queue timeout, non-Local channels).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter

import pytest

from dialer.sim.behaviour import CalleePlan
from dialer.sim.clock import VirtualScheduler
from dialer.sim.pbx import (
    DISPOSITIONS,
    OriginateError,
    OriginateRequest,
    PBXModel,
    get_header,
    parse_callerid,
)
from dialer.sim.scenario import Dist, Scenario

FAST = Scenario.load().with_changes(agent_answer_s=0.3, agent_wrapup_s=10.0)


def make(agents: int = 2, scenario: Scenario = FAST, **kw) -> tuple[VirtualScheduler, PBXModel]:
    s = VirtualScheduler()
    return s, PBXModel(s, scenario, agents=agents, record_events=True, **kw)


def originate(
    model: PBXModel,
    number: str = "5550000001",
    *,
    n: int = 1,
    channel: str | None = None,
    channel_id: str = "",
    variables: tuple[tuple[str, str], ...] = (),
    is_async: bool = True,
    timeout_ms: int = 30000,
    on_result=None,
) -> OriginateRequest:
    req = OriginateRequest(
        channel=channel or f"Local/{number}@callees",
        context="dialer-amd",
        exten="s",
        priority="1",
        timeout_ms=timeout_ms,
        caller_id='"Dialer" <5551230000>',
        is_async=is_async,
        action_id=f"act-{n}",
        channel_id=channel_id,
        variables=(("DIALER_CALL_ID", f"call-{n}"), *variables),
    )
    model.originate(req, on_result)
    return req


def events(model: PBXModel, name: str | None = None) -> list:
    assert model.events is not None
    return [f for f in model.events if name is None or get_header(f, "Event") == name]


def names(model: PBXModel) -> list[str]:
    return [get_header(f, "Event") for f in events(model)]


def h(frame, key: str) -> str:
    return get_header(frame, key)


# --------------------------------------------------------------------------- a busy day


def busy_run(seed: int = 11) -> tuple[PBXModel, float]:
    scenario = Scenario.load("service_day").with_changes(talk_s=Dist.lognormal(30, 0.5), seed=seed)
    s = VirtualScheduler()
    model = PBXModel(s, scenario, agents=5, record_events=True)
    for i in range(200):
        s.call_at(s.now() + 4.0 * i, lambda i=i: originate(model, f"55512{i:05d}", n=i))
    t0 = time.perf_counter()
    s.run()
    return model, time.perf_counter() - t0


@pytest.fixture(scope="module")
def day() -> PBXModel:
    model, elapsed = busy_run()
    assert elapsed < 5.0
    return model


def test_busy_run_every_call_has_a_final_disposition(day: PBXModel) -> None:
    truth = day.ground_truth()
    assert len(truth) == 200 and day.counters["originates"] == 200
    assert all(t.disposition in DISPOSITIONS and t.ended_at is not None for t in truth)
    assert day.active_calls == 0
    assert day.core_show_channels() == []
    assert [f for f in day.queue_status() if h(f, "Event") == "QueueEntry"] == []
    dispositions = Counter(t.disposition for t in truth)
    # the load is chosen so that both outcomes that matter to pacing happen
    assert dispositions["connected"] > 20 and dispositions["abandoned"] > 5


def test_busy_run_no_agent_is_ever_on_two_calls(day: PBXModel) -> None:
    assert day.agent_overlap_violations == []
    # independently, from the event stream alone
    busy: dict[str, bool] = {}
    for f in events(day):
        name = h(f, "Event")
        if name == "AgentCalled":
            member = h(f, "MemberName")
            assert not busy.get(member), f"{member} rung while busy at {h(f, 'Timestamp')}"
            busy[member] = True
        elif name == "QueueMemberStatus" and h(f, "Status") == "1":
            busy[h(f, "MemberName")] = False
    # and a connected agent gets no new call during its wrap-up
    per_agent: dict[str, list] = {}
    for t in day.ground_truth():
        if t.agent:
            per_agent.setdefault(t.agent, []).append(t)
    for calls in per_agent.values():
        calls.sort(key=lambda t: t.connected_at)
        for a, b in itertools.pairwise(calls):
            assert b.connected_at >= a.ended_at + 10.0 - 1e-6


def test_busy_run_truth_agrees_with_the_events(day: PBXModel) -> None:
    truth = day.ground_truth()
    by = Counter(t.disposition for t in truth)
    assert len(events(day, "AgentConnect")) == by["connected"]
    machine_verdicts = [f for f in events(day, "UserEvent") if h(f, "Status") == "MACHINE"]
    assert len(machine_verdicts) == by["machine"]
    failures = Counter(
        h(f, "Reason") for f in events(day, "OriginateResponse") if h(f, "Response") == "Failure"
    )
    assert failures["5"] == by["busy"]
    assert failures["3"] == by["no_answer"]
    assert failures["8"] == by["congestion"]
    assert failures["0"] == by["invalid_number"]
    timeouts = [f for f in events(day, "UserEvent") if h(f, "QueueStatus") == "TIMEOUT"]
    assert len(timeouts) == sum(1 for t in truth if t.queue_result == "TIMEOUT")
    # Asterisk sends QueueCallerAbandon on a queue timeout too, not only on a hang-up on hold
    assert len(events(day, "QueueCallerAbandon")) == sum(
        1 for t in truth if t.queue_result in ("ABANDON", "TIMEOUT")
    )
    for t in truth:
        if t.disposition == "connected":
            assert t.agent and t.answered and t.queued and t.amd_status in ("HUMAN", "NOTSURE")
        if t.queue_result == "TIMEOUT":
            assert t.hold_s == pytest.approx(1.0)  # int(2 - 0.8) whole seconds
            assert t.disposition == "abandoned"
        if t.true_kind in ("busy", "congestion", "invalid"):
            assert not t.answered
    # a Newchannel for every channel, a Hangup for every Newchannel
    assert len(events(day, "Newchannel")) == len(events(day, "Hangup"))


def test_busy_run_is_deterministic_for_a_seed() -> None:
    a, _ = busy_run(seed=5)
    b, _ = busy_run(seed=5)
    assert a.ground_truth() == b.ground_truth()
    c, _ = busy_run(seed=6)
    assert [t.disposition for t in a.ground_truth()] != [t.disposition for t in c.ground_truth()]


def test_overlap_violation_is_recorded() -> None:
    s, model = make(agents=1)
    model.force_plans(CalleePlan.person(1.0, talk_s=100), CalleePlan.person(1.0, talk_s=100))
    originate(model, n=1)
    s.run_until(s.now() + 10)
    member = model.queues["agents"].members["Local/agent1@agents"]
    busy_call = member.call
    assert busy_call is not None
    # Ring the busy member for another call behind the model's back.
    originate(model, n=2)
    s.run_until(s.now() + 3.5)
    other = next(c for c in model._active if c is not busy_call)
    model._agent_claim(member, other, s.now())
    assert len(model.agent_overlap_violations) == 1
    assert "agent1" in model.agent_overlap_violations[0]


# --------------------------------------------------------------------------- paths


def test_person_connected_truth_and_timing() -> None:
    s, model = make()
    start = s.now()
    model.force_plans(CalleePlan.person(3.0, amd_delay_s=2.0, talk_s=30.0))
    originate(model)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.agent, t.queue_result, t.ended_by, t.hangup_cause) == (
        "connected",
        "agent1",
        "CONNECTED",
        "callee",
        16,
    )
    assert t.answered_at - start == pytest.approx(3.0)
    assert t.queued_at - t.answered_at == pytest.approx(2.0)
    assert t.connected_at - t.queued_at == pytest.approx(0.3)
    assert t.ended_at - t.connected_at == pytest.approx(30.0)
    complete = events(model, "AgentComplete")[0]
    assert (h(complete, "Reason"), h(complete, "TalkTime")) == ("caller", "30")
    status = events(model, "QueueMemberStatus")
    assert [h(f, "Status") for f in status] == ["2", "1"]
    assert h(status[-1], "CallsTaken") == "1"


def test_notsure_goes_to_the_queue_after_the_total_analysis_time() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(2.0, amd_status="NOTSURE", amd_delay_s=5.0, talk_s=10))
    originate(model)
    s.run()
    amd = events(model, "UserEvent")[0]
    assert (h(amd, "Status"), h(amd, "Cause")) == ("NOTSURE", "TOOLONG-5000")
    assert model.ground_truth()[0].disposition == "connected"


def test_queue_timeout_follows_the_shipped_dialplan_then_identification_message() -> None:
    s, model = make(agents=0)
    model.force_plans(CalleePlan.person(1.0, patience_s=60))
    originate(model, variables=(("DIALER_ABANDON_S", "5"),))
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.queue_result, t.abandon_s, t.queue_timeout_s, t.ended_by) == (
        "abandoned",
        "TIMEOUT",
        5.0,
        4.0,  # [dialer-queue]: int(5 - 0.8)
        "pbx",
    )
    assert t.hold_s == pytest.approx(4.0)
    assert t.ended_at - t.queued_at == pytest.approx(4.0 + 3.0)  # the message lasts 3 s
    # as on Asterisk 22: QueueCallerAbandon, QueueCallerLeave, then our DialerQueueResult
    assert names(model)[-6:] == [
        "MusicOnHoldStop",
        "QueueCallerAbandon",
        "QueueCallerLeave",
        "UserEvent",
        "Hangup",
        "Hangup",
    ]
    abandon = events(model, "QueueCallerAbandon")[0]
    assert (h(abandon, "Position"), h(abandon, "OriginalPosition"), h(abandon, "HoldTime")) == (
        "1",
        "1",
        "4",
    )
    result = next(f for f in events(model, "UserEvent") if h(f, "UserEvent") == "DialerQueueResult")
    assert (h(result, "QueueStatus"), h(result, "CallID")) == ("TIMEOUT", "call-1")
    hangups = events(model, "Hangup")
    assert [h(f, "Channel")[-2:] for f in hangups] == [";1", ";2"]


def test_default_abandon_threshold_of_two_seconds_queues_for_one() -> None:
    s, model = make(agents=0)
    model.force_plans(CalleePlan.person(1.0, patience_s=60))
    originate(model)
    s.run()
    (t,) = model.ground_truth()
    assert (t.abandon_s, t.queue_timeout_s) == (2.0, 1.0)
    assert t.hold_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ((("DIALER_ABANDON_S", "2"),), 1.0),
        ((("DIALER_ABANDON_S", "1.5"),), 1.0),  # int(0.7) = 0, floored to 1 s
        ((("DIALER_ABANDON_S", "3.9"),), 3.0),  # int(3.1): whole seconds, truncated
        ((("DIALER_ABANDON_S", "4"), ("DIALER_ABANDON_MARGIN_S", "0")), 4.0),
        ((("DIALER_ABANDON_S", "2"), ("DIALER_QUEUE_TIMEOUT_S", "7")), 7.0),
        ((("DIALER_QUEUE_TIMEOUT_S", "2.9"),), 2.0),  # atoi
        ((("DIALER_QUEUE_TIMEOUT_S", "0"),), 1.0),  # 0 would be "forever": the floor
    ],
)
def test_queue_timeout_is_computed_like_dialer_queue(
    variables: tuple[tuple[str, str], ...], expected: float
) -> None:
    s, model = make(agents=0)
    model.force_plans(CalleePlan.person(1.0, patience_s=60))
    originate(model, variables=variables)
    s.run()
    (t,) = model.ground_truth()
    assert t.queue_timeout_s == expected
    assert t.hold_s == pytest.approx(expected)


def test_amd_off_sends_the_answer_straight_to_the_queue() -> None:
    s, model = make(agents=1)
    model.force_plans(CalleePlan.person(2.0, amd_delay_s=2.0, talk_s=20.0))
    originate(model, variables=(("DIALER_AMD", "0"),))
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.amd_status, t.agent) == ("connected", "", "agent1")
    assert t.queued_at == pytest.approx(t.answered_at)  # no AMD() delay
    # no AMD(): neither the AMDSTATUS/AMDCAUSE VarSets nor the DialerAMD UserEvent
    assert events(model, "UserEvent") == []
    assert not [f for f in events(model, "VarSet") if h(f, "Variable").startswith("AMD")]
    seq = names(model)
    assert seq.index("OriginateResponse") < seq.index("QueueCallerJoin")


def test_amd_off_sends_a_machine_to_the_agents_too() -> None:
    s, model = make(agents=1)
    model.force_plans(CalleePlan.machine(2.0, line_s=12.0))
    originate(model, variables=(("DIALER_AMD", "0"),))
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.true_kind, t.amd_status) == ("connected", "machine", "")
    assert t.ended_at - t.answered_at == pytest.approx(12.0)


def test_person_hangs_up_on_hold() -> None:
    s, model = make(agents=0, default_abandon_s=30.0)
    model.force_plans(
        CalleePlan.person(1.0, patience_s=8.0), CalleePlan.person(1.0, patience_s=1.0)
    )
    originate(model, n=1)
    originate(model, n=2)
    s.run()
    t1, t2 = model.ground_truth()
    assert (t1.disposition, t1.queue_result, t1.ended_by) == ("abandoned", "ABANDON", "callee")
    # hung up before the legal threshold: the dialer was in time
    assert (t2.disposition, t2.queue_result) == ("human_hangup", "ABANDON")
    abandon = events(model, "QueueCallerAbandon")
    assert [h(f, "OriginalPosition") for f in abandon] == ["2", "1"]


def test_waiting_caller_gets_an_agent_freed_later() -> None:
    s, model = make(
        agents=1, scenario=FAST.with_changes(agent_wrapup_s=0.0), default_abandon_s=30.0
    )
    model.force_plans(
        CalleePlan.person(1.0, talk_s=5.0), CalleePlan.person(1.0, talk_s=5.0, patience_s=60)
    )
    originate(model, n=1)
    s.run_until(s.now() + 0.5)
    originate(model, n=2)
    s.run()
    t1, t2 = model.ground_truth()
    assert t1.disposition == t2.disposition == "connected"
    # the second caller notices the free agent at its next retry tick (queues.conf retry=1)
    assert 0 <= t2.connected_at - t1.ended_at <= 1.0 + 0.3 + 1e-6


def test_wrapup_keeps_an_agent_out_of_the_queue() -> None:
    s, model = make(agents=1, default_abandon_s=5.0)
    model.force_plans(CalleePlan.person(1.0, talk_s=5.0), CalleePlan.person(1.0, patience_s=60))
    originate(model, n=1)
    s.run_until(s.now() + 7.0)
    originate(model, n=2)  # queued ~3 s later, within agent1's 10 s wrap-up
    s.run()
    t1, t2 = model.ground_truth()
    assert t1.disposition == "connected"
    assert (t2.disposition, t2.queue_result) == ("abandoned", "TIMEOUT")


def test_machine_hung_up_after_machine_verdict() -> None:
    s, model = make()
    model.force_plans(CalleePlan.machine(2.0, amd_delay_s=1.9))
    originate(model)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.true_kind, t.amd_status, t.ended_by) == (
        "machine",
        "machine",
        "MACHINE",
        "pbx",
    )
    assert "QueueCallerJoin" not in names(model)


def test_machine_misread_as_human_reaches_an_agent_until_the_recording_ends() -> None:
    s, model = make()
    model.force_plans(CalleePlan.machine(2.0, amd_status="HUMAN", amd_delay_s=2.0, line_s=16.0))
    originate(model)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.true_kind, t.agent) == ("connected", "machine", "agent1")
    assert t.ended_at - t.answered_at == pytest.approx(16.0)


def test_person_misread_as_machine() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(2.0, amd_status="MACHINE"))
    originate(model)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.true_kind, t.amd_cause) == (
        "machine",
        "person",
        "LONGGREETING-1500-1500",
    )


def test_originate_timeout_shorter_than_the_ring() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(12.0))
    originate(model, timeout_ms=8000)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.true_kind, t.originate_reason, t.hangup_cause) == (
        "no_answer",
        "person",
        3,
        19,
    )
    assert t.ended_at - t.started_at == pytest.approx(8.0)


def test_congestion_shape() -> None:
    s, model = make()
    model.force_plans(CalleePlan.failing("congestion", 0.5))
    originate(model)
    s.run()
    tail = [
        (
            h(f, "Event"),
            h(f, "Channel")[-2:],
            h(f, "ChannelStateDesc"),
            h(f, "Reason"),
            h(f, "DialStatus"),
            h(f, "Cause"),
        )
        for f in events(model)[5:]
    ]
    assert tail == [
        ("Newstate", ";2", "Busy", "", "", ""),
        ("OriginateResponse", "es", "", "8", "", ""),
        ("DialEnd", "", "", "", "CONGESTION", ""),
        ("Hangup", ";2", "Busy", "", "", "34"),
        ("Hangup", ";1", "Down", "", "", "0"),
    ]
    assert h(events(model, "Hangup")[0], "Cause-txt") == "Circuit/channel congestion"
    assert model.ground_truth()[0].disposition == "congestion"


def test_invalid_number_shape() -> None:
    s, model = make()
    model.force_plans(CalleePlan.failing("invalid", 0.2))
    originate(model)
    s.run()
    tail = [
        (h(f, "Event"), h(f, "Channel")[-2:], h(f, "Reason"), h(f, "DialStatus"), h(f, "Cause"))
        for f in events(model)[5:]
    ]
    assert tail == [
        ("Hangup", ";2", "", "", "1"),
        ("DialEnd", "", "", "NOANSWER", ""),
        ("Hangup", ";1", "", "", "1"),
        ("OriginateResponse", "es", "0", "", ""),
    ]
    assert h(events(model, "Hangup")[0], "Cause-txt") == "Unallocated (unassigned) number"
    (t,) = model.ground_truth()
    assert (t.disposition, t.hangup_cause, t.originate_reason) == ("invalid_number", 1, 0)


def test_ami_hangup_while_ringing() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(10.0))
    originate(model, channel_id="cid-1")
    s.run_until(s.now() + 3)
    assert model.hangup("cid-1") is True  # by uniqueid, as ast_channel_get_by_name allows
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.ended_by, t.originate_reason) == ("failed", "ami", 0)
    resp = events(model, "OriginateResponse")[0]
    assert (h(resp, "Response"), h(resp, "Uniqueid")) == ("Failure", "cid-1")
    assert model.hangup("cid-1") is False


def test_ami_hangup_during_amd() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(1.0, amd_delay_s=2.0))
    originate(model)
    s.run_until(s.now() + 2.0)
    chan = h(events(model, "Newchannel")[0], "Channel")
    assert model.hangup(chan)
    s.run()
    amd = [
        (h(f, "Variable"), h(f, "Value"))
        for f in events(model, "VarSet")
        if h(f, "Variable").startswith("AMD")
    ]
    assert amd == [("AMDSTATUS", "HANGUP"), ("AMDCAUSE", "")]
    assert events(model, "UserEvent") == []
    assert model.ground_truth()[0].disposition == "human_hangup"


def test_ami_hangup_in_queue_and_when_connected() -> None:
    s, model = make(agents=1, default_abandon_s=30)
    model.force_plans(CalleePlan.person(1.0, talk_s=100), CalleePlan.person(1.0, patience_s=100))
    originate(model, n=1)
    originate(model, n=2)
    s.run_until(s.now() + 10)
    c1 = [
        h(f, "Channel")
        for f in events(model, "Newchannel")
        if h(f, "Channel").endswith(";1") and "callees" in h(f, "Channel")
    ]
    assert model.hangup(c1[1], 16)  # the one on hold
    assert model.hangup(c1[0])  # the one with the agent
    s.run()
    t1, t2 = model.ground_truth()
    assert (t1.disposition, t1.ended_by) == ("connected", "ami")
    assert (t2.disposition, t2.queue_result) == ("abandoned", "ABANDON")
    assert h(events(model, "AgentComplete")[0], "Reason") == "caller"


def test_agent_hangs_up_via_ami() -> None:
    s, model = make(agents=1)
    model.force_plans(CalleePlan.person(1.0, talk_s=100))
    originate(model)
    s.run_until(s.now() + 10)
    agent_leg = next(
        h(f, "Channel") for f in events(model, "Newchannel") if "agent1" in h(f, "Channel")
    )
    assert model.hangup(agent_leg)
    s.run()
    assert h(events(model, "AgentComplete")[0], "Reason") == "agent"
    t = model.ground_truth()[0]
    assert (t.disposition, t.ended_by) == ("connected", "agent")
    assert model.core_show_channels() == []


def test_channel_id_already_in_use_is_refused_without_dialling_twice() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(5.0), CalleePlan.person(5.0))
    originate(model, n=1, channel_id="same-1")
    s.run_until(s.now() + 1)
    originate(model, n=2, channel_id="same-1")  # e.g. an AMI client re-sending after a reconnect
    s.run()
    t1, t2 = model.ground_truth()
    assert t1.disposition == "connected"
    assert (t2.disposition, t2.ended_by, t2.uniqueid) == ("failed", "conflict", "")
    resp = next(f for f in events(model, "OriginateResponse") if h(f, "ActionID") == "act-2")
    assert (h(resp, "Response"), h(resp, "Reason"), h(resp, "Uniqueid")) == (
        "Failure",
        "0",
        "same-1",
    )
    assert len([f for f in events(model, "Newchannel") if "callees" in h(f, "Channel")]) == 2


def test_channel_id_without_other_channel_id() -> None:
    s, model = make()
    model.force_plans(CalleePlan.failing("busy"))
    originate(model, channel_id="only-1")
    s.run()
    assert [h(f, "Uniqueid") for f in events(model, "Newchannel")] == ["only-1", "only-1;2"]


def test_variables_are_set_on_both_halves_in_order() -> None:
    s, model = make()
    model.force_plans(CalleePlan.failing("busy"))
    originate(model, variables=(("A", "1"), ("B", "x=y")))
    s.run()
    sets = [
        (h(f, "Channel")[-2:], h(f, "Variable"), h(f, "Value")) for f in events(model, "VarSet")
    ]
    assert sets == [
        (";1", "DIALER_CALL_ID", "call-1"),
        (";1", "A", "1"),
        (";1", "B", "x=y"),
        (";2", "DIALER_CALL_ID", "call-1"),
        (";2", "A", "1"),
        (";2", "B", "x=y"),
    ]


def test_unknown_queue() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(1.0))
    originate(model, variables=(("DIALER_QUEUE", "nosuch"),))
    s.run()
    (t,) = model.ground_truth()
    assert (t.queue_result, t.disposition, t.queued) == ("UNKNOWN", "abandoned", False)
    result = next(f for f in events(model, "UserEvent") if h(f, "UserEvent") == "DialerQueueResult")
    assert h(result, "QueueStatus") == "UNKNOWN"


def test_paused_members_get_no_calls_until_unpaused() -> None:
    s, model = make(agents=2, default_abandon_s=20)
    assert model.queue_pause("Local/agent1@agents", True, "agents", "lunch")
    assert model.queue_pause("agent2", True)  # by member name, all queues
    assert not model.queue_pause("Local/agent9@agents", True)
    pauses = events(model, "QueueMemberPause")
    assert [(h(f, "MemberName"), h(f, "Paused"), h(f, "PausedReason")) for f in pauses] == [
        ("agent1", "1", "lunch"),
        ("agent2", "1", ""),
    ]
    model.force_plans(CalleePlan.person(1.0, patience_s=100, talk_s=5))
    originate(model)
    s.run_until(s.now() + 6)
    assert events(model, "AgentCalled") == []
    model.queue_pause("Local/agent2@agents", False)
    s.run()
    t = model.ground_truth()[0]
    assert (t.disposition, t.agent) == ("connected", "agent2")
    assert t.connected_at - t.queued_at < 3 + 1.0 + 0.3 + 1e-6


def test_dynamic_members() -> None:
    s, model = make(agents=0)
    assert model.queue_add("agents", "Local/agent99@agents", "agent99") == "ok"
    assert model.queue_add("agents", "Local/agent99@agents", "agent99") == "exists"
    assert model.queue_add("nosuch", "Local/x@agents") == "no_queue"
    added = events(model, "QueueMemberAdded")[0]
    assert (h(added, "MemberName"), h(added, "Membership"), h(added, "Status")) == (
        "agent99",
        "dynamic",
        "1",
    )
    model.force_plans(CalleePlan.person(1.0, talk_s=3))
    originate(model)
    s.run()
    assert model.ground_truth()[0].agent == "agent99"
    assert model.queue_remove("agents", "Local/agent99@agents") == "ok"
    assert model.queue_remove("agents", "Local/agent99@agents") == "not_there"
    assert events(model, "QueueMemberRemoved")
    _s2, static = make(agents=1)
    assert static.queue_remove("agents", "Local/agent1@agents") == "not_dynamic"


def test_leastrecent_strategy_spreads_calls() -> None:
    s, model = make(
        agents=3, strategy="leastrecent", scenario=FAST.with_changes(agent_wrapup_s=0.0)
    )
    for i in range(6):
        model.force_plans(CalleePlan.person(1.0, talk_s=2.0))
        s.call_at(s.now() + 10 * i, lambda i=i: originate(model, n=i))
    s.run()
    assert [t.agent for t in model.ground_truth()] == [
        "agent1",
        "agent2",
        "agent3",
        "agent1",
        "agent2",
        "agent3",
    ]


def test_rrmemory_strategy_rotates() -> None:
    s, model = make(agents=3, scenario=FAST.with_changes(agent_wrapup_s=0.0))
    for i in range(4):
        model.force_plans(CalleePlan.person(1.0, talk_s=2.0))
        s.call_at(s.now() + 10 * i, lambda i=i: originate(model, n=i))
    s.run()
    assert [t.agent for t in model.ground_truth()] == ["agent1", "agent2", "agent3", "agent1"]


def test_synchronous_originate_reports_at_answer_or_failure() -> None:
    s, model = make()
    results: list[tuple[float, bool]] = []
    model.force_plans(CalleePlan.person(4.0, talk_s=1), CalleePlan.failing("busy", 0.5))
    start = s.now()
    originate(
        model, n=1, is_async=False, on_result=lambda ok: results.append((s.now() - start, ok))
    )
    originate(
        model, n=2, is_async=False, on_result=lambda ok: results.append((s.now() - start, ok))
    )
    s.run()
    assert results == [(pytest.approx(0.5), False), (pytest.approx(4.0), True)]
    assert events(model, "OriginateResponse") == []


def test_other_technologies_use_one_channel() -> None:
    s, model = make()
    model.force_plans(CalleePlan.failing("busy", 0.3), CalleePlan.person(2.0, talk_s=3))
    originate(model, n=1, channel="PJSIP/13800138000@carrier")
    originate(model, n=2, channel="PJSIP/13800138001@carrier", channel_id="p-2")
    s.run()
    chans = [h(f, "Channel") for f in events(model, "Newchannel") if "PJSIP" in h(f, "Channel")]
    assert chans == ["PJSIP/carrier-00000000", "PJSIP/carrier-00000001"]
    t1, t2 = model.ground_truth()
    assert (t1.number, t1.disposition, t1.hangup_cause) == ("13800138000", "busy", 17)
    assert (t2.disposition, t2.uniqueid) == ("connected", "p-2")
    fail = next(f for f in events(model, "OriginateResponse") if h(f, "Response") == "Failure")
    assert (h(fail, "Channel"), h(fail, "Reason")) == ("PJSIP/13800138000@carrier", "5")


def test_originate_validation_messages() -> None:
    _s, model = make()
    base = {"channel": "Local/1@callees", "context": "dialer-amd", "exten": "s", "priority": "1"}
    with pytest.raises(OriginateError, match=r"^Extension does not exist\.$"):
        model.originate(OriginateRequest(**{**base, "context": "from-internal"}))
    with pytest.raises(OriginateError, match="Application"):
        model.originate(OriginateRequest(**base, application="Playback"))
    with pytest.raises(OriginateError, match=r"^Channel not specified$"):
        OriginateRequest.from_frame([("Action", "Originate")])
    with pytest.raises(OriginateError, match=r"^Invalid channel$"):
        OriginateRequest.from_frame([("Channel", "nonsense")])
    with pytest.raises(OriginateError, match=r"^Invalid timeout$"):
        OriginateRequest.from_frame([("Channel", "Local/1@x"), ("Timeout", "soon")])
    with pytest.raises(OriginateError, match="Uniqueid length exceeds maximum of 149"):
        OriginateRequest.from_frame([("Channel", "Local/1@x"), ("ChannelId", "x" * 150)])
    assert model.counters["originate_rejected"] == 2
    assert model.ground_truth() == []


def test_originate_frame_parsing() -> None:
    req = OriginateRequest.from_frame(
        [
            ("Action", "Originate"),
            ("channel", "Local/5@callees"),
            ("Async", "yes"),
            ("Variable", "A=1,B=2"),
            ("Variable", "C=3"),
            ("Timeout", "15000"),
            ("CallerID", "Dialer <555>"),
        ]
    )
    assert req.variables == (("A", "1"), ("B", "2"), ("C", "3"))
    assert req.is_async and req.timeout_ms == 15000 and req.priority == ""
    assert parse_callerid('"Dialer" <5551230000>') == ("Dialer", "5551230000")
    assert parse_callerid("555-123 0000") == ("", "5551230000")
    assert parse_callerid("Dialer") == ("Dialer", "")


def test_reset_is_a_restart() -> None:
    s, model = make(agents=2)
    model.queue_add("agents", "Local/agent99@agents", "agent99")
    model.queue_pause("Local/agent1@agents", True)
    model.force_plans(CalleePlan.person(1.0, talk_s=100), CalleePlan.person(20.0))
    originate(model, n=1)
    originate(model, n=2)
    s.run_until(s.now() + 10)
    assert model.active_calls == 2
    before = len(events(model))
    model.reset()
    assert len(events(model)) == before  # channels vanish without events
    t1, t2 = model.ground_truth()
    assert (t1.disposition, t1.ended_by) == ("connected", "restart")
    assert (t2.disposition, t2.ended_by) == ("lost", "restart")
    assert model.core_show_channels() == []
    members = [h(f, "Name") for f in model.queue_status() if h(f, "Event") == "QueueMember"]
    assert members == ["agent1", "agent2"]
    assert all(
        h(f, "Paused") == "0" for f in model.queue_status() if h(f, "Event") == "QueueMember"
    )
    model.force_plans(CalleePlan.failing("busy"))
    originate(model, n=3)
    s.run()
    assert h(events(model, "Newchannel")[-1], "Channel") == "Local/5550000001@callees-00000000;2"
    assert model.counters["restarts"] == 1
    assert model.agent_overlap_violations == []


def test_list_views() -> None:
    s, model = make(agents=1, default_abandon_s=30)
    model.force_plans(CalleePlan.person(1.0, talk_s=100), CalleePlan.person(1.0, patience_s=100))
    originate(model, n=1)
    originate(model, n=2)
    s.run_until(s.now() + 5)
    chans = model.core_show_channels("x")
    assert len(chans) == 6  # 2 x callee halves + the agent's two halves
    assert all(h(f, "ActionID") == "x" for f in chans)
    apps = {h(f, "Channel")[-2:] + h(f, "Context"): h(f, "Application") for f in chans}
    assert "Queue" in apps.values() and "AppQueue" in apps.values()
    status = model.queue_status("agents", action_id="q")
    kinds = [h(f, "Event") for f in status]
    assert kinds == ["QueueParams", "QueueMember", "QueueEntry"]
    assert (
        h(status[0], "Calls") == "1"
        and h(status[1], "InCall") == "1"
        and h(status[1], "Status") == "2"
    )
    summary = model.queue_summary()
    assert (h(summary[0], "LoggedIn"), h(summary[0], "Available"), h(summary[0], "Callers")) == (
        "1",
        "0",
        "1",
    )


def test_last_digit_scenario_in_the_model() -> None:
    s, model = make(agents=2, scenario=Scenario.load("verification"))
    for i, number in enumerate(
        ["5550000001", "5550000005", "5550000007", "5550000008", "5550000009", "5550000099"]
    ):
        originate(model, number, n=i)
    s.run()
    assert [t.disposition for t in model.ground_truth()] == [
        "connected",
        "machine",
        "busy",
        "no_answer",
        "congestion",
        "invalid_number",
    ]


def test_every_event_has_the_common_header() -> None:
    s, model = make()
    model.force_plans(CalleePlan.person(1.0, talk_s=3))
    originate(model)
    s.run()
    for f in events(model):
        assert [k for k, _ in f[:3]] == ["Event", "Privilege", "Timestamp"]
        float(h(f, "Timestamp"))
    stamps = [float(h(f, "Timestamp")) for f in events(model)]
    assert stamps == sorted(stamps)
    assert not math.isnan(stamps[0])


# --------------------------------------------------------------------------- bot-first


BOT = (("DIALER_BOT_ENDPOINT", "PJSIP/voicebot"),)


def bot_model(share: float, channels: int = 5, **kw) -> tuple[VirtualScheduler, PBXModel]:
    sc = FAST.with_changes(bot_channels=channels, bot_escalate_share=share,
                           bot_escalate_after_s=Dist.fixed(10.0), bot_talk_s=Dist.fixed(40.0))
    return make(agents=1, scenario=sc, **kw)


def test_bot_answers_the_person_and_escalates_then_redirect_joins_the_queue() -> None:
    s, model = bot_model(1.0)
    model.force_plans(CalleePlan.person(1.0, talk_s=30.0))
    originate(model, variables=BOT)
    s.run_until(s.now() + 13.5)  # answer 1, AMD 2, escalation at +10
    (esc,) = [f for f in events(model, "UserEvent") if h(f, "UserEvent") == "DialerEscalate"]
    assert [k for k, _ in esc][3:] == ["UserEvent", "CallID"] and h(esc, "CallID") == "call-1"
    assert model.redirect("call-1", "dialer-escalate") == "Channel not found"  # no ChannelId used
    c1 = next(h(f, "Channel") for f in events(model, "Newchannel") if h(f, "Channel").endswith(";1"))
    assert model.redirect(c1, "elsewhere") is not None
    assert model.redirect(c1, "dialer-escalate") is None
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.handled_by, t.agent, t.queue_timeout_s) == ("connected", "agent", "agent1", 60.0)
    assert t.escalated_at - t.bot_at == pytest.approx(10.0)
    bot_hangups = [f for f in events(model, "Hangup") if h(f, "Channel").startswith("PJSIP/voicebot-")]
    assert len(bot_hangups) == 1 and model.bot_in_use == 0


def test_bot_finishes_the_conversation_itself() -> None:
    s, model = bot_model(0.0)
    model.force_plans(CalleePlan.person(1.0, talk_s=300.0))
    originate(model, variables=BOT)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.handled_by, t.escalated_at, t.queued) == ("connected", "bot", None, False)
    result = next(f for f in events(model, "UserEvent") if h(f, "UserEvent") == "DialerBotResult")
    assert (h(result, "DialStatus"), h(result, "CallID")) == ("ANSWER", "call-1")
    assert t.ended_at - t.bot_at == pytest.approx(40.0)


def test_bot_without_a_free_channel_leaves_the_person_with_the_message() -> None:
    s, model = bot_model(0.0, channels=1)
    model.force_plans(CalleePlan.person(1.0), CalleePlan.person(1.0))
    originate(model, n=1, variables=BOT)
    originate(model, n=2, variables=BOT)
    s.run()
    t1, t2 = model.ground_truth()
    assert (t1.disposition, t2.disposition, t2.handled_by) == ("connected", "abandoned", None)
    statuses = [h(f, "DialStatus") for f in events(model, "UserEvent") if h(f, "UserEvent") == "DialerBotResult"]
    assert sorted(statuses) == ["ANSWER", "CHANUNAVAIL"]


def test_escalation_nobody_redirects_ends_with_the_bot() -> None:
    s, model = bot_model(1.0)
    model.force_plans(CalleePlan.person(1.0))
    originate(model, variables=BOT)
    s.run()
    (t,) = model.ground_truth()
    assert (t.disposition, t.handled_by, t.redirected_at) == ("connected", "bot", None)
    assert t.ended_at - t.escalated_at == pytest.approx(model.bot_redirect_wait_s)
