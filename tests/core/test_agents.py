from __future__ import annotations

import pytest

from dialer.core.agents import Agent, AgentState


def ready_agent(at: float = 0.0) -> Agent:
    a = Agent("agent1", since=at)
    a.status(at, "agents", device_status=1, paused=False, wrapup_s=None)
    return a


def test_login_makes_ready_and_paused_member_paused():
    assert ready_agent().state is AgentState.READY
    b = Agent("agent2")
    b.status(0.0, "agents", device_status=1, paused=True, wrapup_s=None)
    assert b.state is AgentState.PAUSED


def test_full_call_cycle_with_wrapup():
    a = ready_agent()
    a.offered(10.0, "c1")
    assert a.state is AgentState.RINGING
    assert a.connected(10.3, "c1")
    a.status(10.3, "agents", device_status=2, paused=None, wrapup_s=None)  # in use: no change
    assert a.state is AgentState.ON_CALL
    a.call_ended(70.0, "c1", default_wrapup_s=5.0)
    assert a.state is AgentState.WRAP_UP
    a.status(70.01, "agents", device_status=1, paused=None, wrapup_s=None)  # PBX says idle
    assert a.state is AgentState.WRAP_UP  # but wrap-up is ours to time
    a.tick(74.9)
    assert a.state is AgentState.WRAP_UP
    a.tick(75.2)
    assert a.state is AgentState.READY
    assert a.time_in_state(AgentState.WRAP_UP, 80.0) == pytest.approx(5.0)
    assert a.time_in_state(AgentState.ON_CALL, 80.0) == pytest.approx(59.7)
    assert a.time_in_state(AgentState.READY, 80.0) == pytest.approx(10.0 + 5.0)  # wrap-up ended at 75, not at the tick


def test_queue_reported_wrapup_overrides_default():
    a = Agent("agent1")
    a.status(0.0, "agents", device_status=1, paused=False, wrapup_s=2.0)
    a.offered(1.0, "c1")
    a.connected(1.0, "c1")
    a.call_ended(5.0, "c1", default_wrapup_s=30.0)
    a.tick(7.0)
    assert a.state is AgentState.READY


def test_pause_during_a_call_takes_effect_after_wrapup():
    a = ready_agent()
    a.offered(1.0, "c1")
    a.connected(1.0, "c1")
    a.pause(2.0, True)
    assert a.state is AgentState.ON_CALL
    a.call_ended(3.0, "c1", default_wrapup_s=1.0)
    assert a.state is AgentState.WRAP_UP
    a.tick(4.5)
    assert a.state is AgentState.PAUSED
    a.pause(5.0, False)
    assert a.state is AgentState.READY


def test_missed_offer_returns_to_ready():
    a = ready_agent()
    a.offered(1.0, "c1")
    a.missed(11.0, "c1")
    assert a.state is AgentState.READY and a.call_id is None


def test_second_call_while_on_call_is_reported_as_conflict():
    a = ready_agent()
    a.connected(1.0, "c1")
    assert not a.connected(2.0, "c2")


def test_external_call_and_logout():
    a = ready_agent()
    a.status(1.0, "agents", device_status=2, paused=None, wrapup_s=None)
    assert a.state is AgentState.ON_CALL and a.external
    a.status(2.0, "agents", device_status=1, paused=None, wrapup_s=None)
    assert a.state is AgentState.READY
    a.status(3.0, "agents", device_status=5, paused=None, wrapup_s=None)
    assert a.state is AgentState.LOGGED_OUT
    a.status(4.0, "agents", device_status=1, paused=None, wrapup_s=None)
    a.remove(5.0, "agents")
    assert a.state is AgentState.LOGGED_OUT


def test_offer_right_after_wrapup_counts_the_gap_as_ready_not_wrapup():
    a = ready_agent()
    a.offered(1.0, "c1")
    a.connected(1.0, "c1")
    a.call_ended(10.0, "c1", default_wrapup_s=5.0)
    # No tick between the end of the wrap-up (15.0) and the next offer (15.4).
    a.offered(15.4, "c2")
    assert a.time_in_state(AgentState.WRAP_UP, 16.0) == pytest.approx(5.0)
    assert a.time_in_state(AgentState.READY, 16.0) == pytest.approx(1.0 + 0.4)
