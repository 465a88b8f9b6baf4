"""The PBX pool: routing by free channels, PBX loss, and the engine driving several PBXs."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core import Dialer, Disposition
from dialer.core import commands as cmd
from dialer.core import events as ev
from dialer.core.agents import AgentState
from dialer.core.pool import DEFAULT_PBX, PbxPool, from_pbx

from .conftest import campaign, make_lead

# --- routing ------------------------------------------------------------------------------


def test_equal_pbxs_take_turns():
    pool = PbxPool([("a", 10), ("b", 10), ("c", 10)])
    assert [pool.assign(f"k{i}") for i in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_the_pbx_with_most_free_channels_wins_and_ties_go_round_robin():
    pool = PbxPool([("a", 2), ("b", 4)])
    picks = [pool.assign(f"k{i}") for i in range(7)]
    # b 4>2, b 3>2, tie 2:2 -> a (after b), b 2>1, tie 1:1 -> a, b 1>0, then nothing free.
    assert picks == ["b", "b", "a", "b", "a", "b", None]
    assert pool.free() == 0
    assert [(s.name, s.in_use, s.limit) for s in pool.snapshot()] == [("a", 2, 2), ("b", 4, 4)]


def test_a_released_channel_is_free_again():
    pool = PbxPool([("a", 1), ("b", 1)])
    assert pool.assign("k1") == "a" and pool.assign("k2") == "b"
    assert pool.assign("k3") is None
    assert pool.release("k1") == "a"
    assert pool.release("k1") is None
    assert pool.owner("k1") is None
    assert pool.assign("k3") == "a"


def test_a_down_pbx_gets_nothing_and_its_channels_are_not_free():
    pool = PbxPool([("a", 5), ("b", 5)])
    pool.link_changed("a", False, 10.0)
    assert pool.free() == 5
    assert not pool.usable("a") and pool.usable("b") and pool.any_up()
    assert {pool.assign(f"k{i}") for i in range(5)} == {"b"}
    assert pool.assign("k9") is None
    pool.link_changed("b", False, 11.0)
    assert not pool.any_up() and pool.free() == 0
    pool.link_changed("a", True, 12.0)
    assert pool.assign("k10") == "a"


def test_staffed_pbxs_are_preferred_and_unstaffed_ones_are_the_fallback():
    pool = PbxPool([("a", 1), ("b", 5)])
    assert pool.assign("k1", prefer={"a"}) == "a"  # fewer free channels, but agents there
    assert pool.assign("k2", prefer={"a"}) == "b"  # a is full: the unstaffed one rather than nothing
    assert pool.assign("k3", prefer=()) == "b"


def test_reroute_moves_only_calls_whose_pbx_is_down():
    pool = PbxPool([("a", 5), ("b", 5)])
    assert pool.assign("k1") == "a"
    assert pool.reroute("k1") == "a"  # a is up: stays
    pool.link_changed("a", False, 1.0)
    assert pool.reroute("k1") == "b"
    assert pool.calls_on("a") == set() and pool.calls_on("b") == {"k1"}
    pool.link_changed("b", False, 1.0)
    assert pool.reroute("k1") == "b"  # nothing else up: stays (the service finds the link down)
    assert pool.reroute("k-new") is None


def test_reroute_of_an_unassigned_call_assigns_it():
    pool = PbxPool([("a", 5)])
    assert pool.reroute("k1") == "a"
    assert pool.owner("k1") == "a"


def test_a_pbx_down_past_its_grace_is_lost_once_with_its_calls():
    pool = PbxPool([("a", 5), ("b", 5)], grace_s=30.0)
    pool.assign("k1")
    pool.assign("k2")
    pool.assign("k3")
    pool.link_changed("a", False, 100.0)
    pool.link_changed("a", False, 110.0)  # a repeated "down" does not restart the grace
    assert pool.expire(129.9) == []
    assert pool.expire(130.0) == [("a", ["k1", "k3"])]
    assert pool.expire(500.0) == []
    assert [s.lost for s in pool.snapshot()] == [True, False]
    # Back: an ordinary member again, and it can be lost again later.
    pool.link_changed("a", True, 600.0)
    assert [s.lost for s in pool.snapshot()] == [False, False]
    pool.link_changed("a", False, 700.0)
    assert pool.expire(729.0) == []
    assert pool.expire(730.0) == [("a", ["k1", "k3"])]


def test_a_link_back_within_the_grace_loses_nothing():
    pool = PbxPool([("a", 5)], grace_s=30.0)
    pool.assign("k1")
    pool.link_changed("a", False, 100.0)
    pool.link_changed("a", True, 120.0)
    assert pool.expire(1000.0) == []


@pytest.mark.parametrize(("limits", "grace", "message"), [
    ([], 30.0, "empty"),
    ([("a", 1), ("a", 2)], 30.0, "twice"),
    ([("a", 0)], 30.0, "channel limit"),
    ([("", 1)], 30.0, "name"),
    ([("a", 1)], 0.0, "grace_s"),
])
def test_bad_pool_configuration_is_refused(limits, grace, message):
    with pytest.raises(ValueError, match=message):
        PbxPool(limits, grace_s=grace)


def test_an_unknown_pbx_is_an_adapter_bug():
    with pytest.raises(ValueError, match="unknown PBX 'x'"):
        PbxPool().link_changed("x", False, 0.0)


def test_the_default_pool_is_one_unlimited_pbx():
    pool = PbxPool()
    assert pool.names == (DEFAULT_PBX,)
    assert all(pool.assign(f"k{i}") == DEFAULT_PBX for i in range(2000))


OPS = st.lists(st.one_of(
    st.tuples(st.just("assign"), st.integers(0, 30), st.frozensets(st.sampled_from("abc"))),
    st.tuples(st.just("release"), st.integers(0, 30), st.just(frozenset())),
    st.tuples(st.just("down"), st.sampled_from("abc"), st.just(frozenset())),
    st.tuples(st.just("up"), st.sampled_from("abc"), st.just(frozenset())),
    st.tuples(st.just("reroute"), st.integers(0, 30), st.frozensets(st.sampled_from("abc"))),
), max_size=80)


@settings(max_examples=400, deadline=None)
@given(limits=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)), ops=OPS)
def test_routing_invariants_hold_for_any_sequence(limits, ops):
    pool = PbxPool(zip("abc", limits, strict=True))
    t = 0.0
    for op, arg, prefer in ops:
        t += 1.0
        if op == "assign":
            key = f"k{arg}"
            if pool.owner(key) is not None:
                continue
            before = {s.name: (s.limit - s.in_use if s.up else 0) for s in pool.snapshot()}
            got = pool.assign(key, prefer)
            if got is None:
                assert sum(before.values()) == 0
            else:
                # Never a down or full PBX; the most free channels among the preferred
                # PBXs that have any, else among all.
                assert before[got] > 0
                pool_ = {n: f for n, f in before.items() if f > 0 and n in prefer} or \
                    {n: f for n, f in before.items() if f > 0}
                assert before[got] == max(pool_.values()) and got in pool_
        elif op == "release":
            pool.release(f"k{arg}")
        elif op == "down":
            pool.link_changed(str(arg), False, t)
        elif op == "up":
            pool.link_changed(str(arg), True, t)
        else:
            key = f"k{arg}"
            was = pool.owner(key)
            got = pool.reroute(key, prefer)
            if was is not None and pool.usable(was):
                assert got == was
        snap = pool.snapshot()
        owners = Counter(pool.owner(f"k{i}") for i in range(31))
        for s in snap:
            assert s.in_use == owners[s.name]  # every call on exactly one PBX
            assert s.in_use == len(pool.calls_on(s.name))
        assert pool.free() == sum(max(0, s.limit - s.in_use) for s in snap if s.up)


# --- events from a PBX ------------------------------------------------------------------------


def test_events_from_a_pool_member_carry_its_name_and_namespace_its_agents():
    status = ev.AgentStatus(1.0, "agent1", queue="agents", device_status=1)
    assert from_pbx(status, "pbx-b", namespace=True) == ev.AgentStatus(
        1.0, "pbx-b:agent1", pbx="pbx-b", queue="agents", device_status=1)
    connected = ev.CallConnected(2.0, "c-1", agent="agent1")
    assert from_pbx(connected, "pbx-b", namespace=True) == ev.CallConnected(2.0, "c-1", agent="pbx-b:agent1")
    answered = ev.CallAnswered(2.0, "c-1")
    assert from_pbx(answered, "pbx-b", namespace=True) is answered


def test_a_pool_of_one_keeps_the_pbxs_agent_names():
    removed = ev.AgentRemoved(1.0, "agent1", queue="agents")
    assert from_pbx(removed, "default", namespace=False) == removed
    assert from_pbx(removed, "main", namespace=False) == ev.AgentRemoved(1.0, "agent1", pbx="main", queue="agents")


# --- the engine with a pool ---------------------------------------------------------------


def _leads(n: int) -> tuple:
    return tuple(make_lead(i) for i in range(1, n + 1))


def _dialer(limits, *, grace_s: float = 30.0, agents_per_pbx: int = 3, leads: int = 20) -> Dialer:
    pool = PbxPool(limits, grace_s=grace_s)
    d = Dialer([campaign()], run_id="p1", pool=pool)
    for name, _ in limits:
        for i in range(1, agents_per_pbx + 1):
            d.handle(ev.AgentStatus(0.0, f"{name}:agent{i}", pbx=name, queue="agents",
                                    device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", _leads(leads)))
    return d


def _approve_all(d: Dialer, out: list[cmd.Command], at: float) -> list[cmd.Originate]:
    originates = []
    for c in out:
        if isinstance(c, cmd.ReserveAttempt):
            originates += [o for o in d.handle(ev.AttemptApproved(at, c.call_id)) if isinstance(o, cmd.Originate)]
    return originates


def _place(d: Dialer, at: float, *, answer: bool = True) -> list[cmd.Originate]:
    originates = _approve_all(d, d.handle(ev.Tick(at)), at)
    for o in originates:
        d.handle(ev.OriginateQueued(at, o.call_id))
        d.handle(ev.CallLegCreated(at, o.call_id, leg=1))
        if answer:
            d.handle(ev.CallAnswered(at + 1, o.call_id))
    return originates


def test_pacing_is_capped_by_the_pools_free_channels_and_spread_over_it():
    d = _dialer([("a", 1), ("b", 2)], agents_per_pbx=5)  # 10 ready agents, 3 channels
    originates = _place(d, 1.0)
    assert Counter(o.pbx for o in originates) == {"a": 1, "b": 2}
    assert d.pacing_view(d.campaigns["c1"], 2.0).lines_free == 0
    assert _place(d, 2.0) == []


def test_agents_on_a_pbx_whose_link_is_down_do_not_count_and_it_gets_no_calls():
    d = _dialer([("a", 50), ("b", 50)], agents_per_pbx=2)
    d.handle(ev.PbxLinkChanged(0.5, up=False, pbx="a"))
    view = d.pacing_view(d.campaigns["c1"], 1.0)
    assert view.agents_ready == 2
    originates = _place(d, 1.0)
    assert len(originates) == 2 and {o.pbx for o in originates} == {"b"}
    assert d.pbx_up  # one PBX up is enough to dial


def test_calls_reserved_for_a_pbx_that_went_down_are_originated_elsewhere():
    d = _dialer([("a", 50), ("b", 50)], agents_per_pbx=2)
    reserved = [c for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    assert Counter(d.pool.owner(c.call_id) for c in reserved) == {"a": 2, "b": 2}
    d.handle(ev.PbxLinkChanged(1.1, up=False, pbx="a"))
    originates = _approve_all(d, reserved, 1.2)
    assert {o.pbx for o in originates} == {"b"}


def test_a_lost_pbxs_calls_end_as_lost_exactly_once_and_its_agents_leave():
    d = _dialer([("a", 50), ("b", 50)], agents_per_pbx=2, grace_s=30.0)
    originates = _place(d, 1.0)
    on_a = sorted(o.call_id for o in originates if o.pbx == "a")
    on_b = sorted(o.call_id for o in originates if o.pbx == "b")
    assert len(on_a) == 2 and len(on_b) == 2
    # One of a's calls reaches an agent before the PBX dies.
    d.handle(ev.AmdVerdict(2.0, on_a[0], status="HUMAN"))
    d.handle(ev.CallQueued(2.0, on_a[0], queue="agents"))
    d.handle(ev.AgentOffered(2.1, on_a[0], agent="a:agent1"))
    d.handle(ev.CallConnected(2.2, on_a[0], agent="a:agent1"))
    d.handle(ev.PbxLinkChanged(10.0, up=False, pbx="a"))
    d.handle(ev.Drain(10.0))  # no new calls: this test counts outcomes only
    outcomes: list[cmd.EmitOutcome] = []
    for t in (20.0, 39.9):
        outcomes += [c for c in d.handle(ev.Tick(t)) if isinstance(c, cmd.EmitOutcome)]
    assert outcomes == []  # still within the grace
    outcomes = [c for c in d.handle(ev.Tick(40.0)) if isinstance(c, cmd.EmitOutcome)]
    assert sorted(o.outcome.attempt_id for o in outcomes) == on_a
    # The one an agent was talking to keeps what is known of it (a person talked to an
    # agent); the other ends as lost.
    assert {o.outcome.attempt_id: o.outcome.disposition for o in outcomes} == {
        on_a[0]: Disposition.CONNECTED, on_a[1]: Disposition.LOST}
    # Nothing more for them, whatever comes late; b's calls are untouched.
    d.handle(ev.CallHungUp(41.0, on_a[1], leg=1, cause=16))
    later = [c for t in (41.0, 100.0, 500.0) for c in d.handle(ev.Tick(t)) if isinstance(c, cmd.EmitOutcome)]
    assert later == []
    assert d.late_events == 1
    assert set(d.calls) == set(on_b)
    states = {name: a.state for name, a in d.agents.items()}
    assert states["a:agent1"] is AgentState.LOGGED_OUT and states["a:agent2"] is AgentState.LOGGED_OUT
    assert states["b:agent1"] is not AgentState.LOGGED_OUT
    assert d.snapshot().campaigns[0].agents["ready"] == 2
    assert [(s.name, s.lost, s.in_use) for s in d.snapshot().pbxs] == [("a", True, 0), ("b", False, 2)]


def test_a_lost_pbx_that_comes_back_gets_its_agents_and_calls_again():
    d = _dialer([("a", 50), ("b", 50)], agents_per_pbx=1, leads=40)
    d.handle(ev.PbxLinkChanged(1.0, up=False, pbx="a"))
    assert [o.pbx for o in _place(d, 40.0)] == ["b"]  # b's one agent; a is lost now
    assert d.agents["a:agent1"].state is AgentState.LOGGED_OUT
    assert _place(d, 45.0) == []
    d.handle(ev.PbxLinkChanged(50.0, up=True, pbx="a"))
    d.handle(ev.AgentStatus(50.0, "a:agent1", pbx="a", queue="agents", device_status=1, paused=False))
    assert d.agents["a:agent1"].state is AgentState.READY
    assert [o.pbx for o in _place(d, 51.0)] == ["a"]


def test_agents_first_seen_through_a_call_belong_to_the_calls_pbx():
    d = _dialer([("a", 50), ("b", 50)], agents_per_pbx=1)
    originates = _place(d, 1.0)
    call = next(o for o in originates if o.pbx == "b")
    d.handle(ev.AmdVerdict(2.0, call.call_id, status="HUMAN"))
    d.handle(ev.CallQueued(2.0, call.call_id, queue="agents"))
    d.handle(ev.AgentOffered(2.1, call.call_id, agent="b:stranger"))
    assert d.agents["b:stranger"].pbx == "b"


def test_a_single_pbx_dialer_routes_everything_to_the_default_pbx():
    d = Dialer([campaign()], run_id="p2")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", _leads(3)))
    originates = _place(d, 1.0)
    assert [o.pbx for o in originates] == [DEFAULT_PBX]
    assert d.agents["agent1"].pbx == DEFAULT_PBX
