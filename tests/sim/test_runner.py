from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from dialer.sim.runner import SimulatedPBX
from dialer.sim.scenario import Scenario, ScenarioError

from .rawami import RawAMI, get


async def test_verification_day_over_tcp_matches_ground_truth() -> None:
    """The quick-start path: numbers whose last digit decides the outcome, dialled over AMI."""
    numbers = [
        "5550000001",
        "5550000005",
        "5550000007",
        "5550000008",
        "5550000009",
        "5550000099",
        "5550000002",
        "5550000003",
    ]
    async with SimulatedPBX("verification", agents=2, speed=100.0) as pbx:
        c = await RawAMI.connect(pbx.port)
        await c.login()
        for i, number in enumerate(numbers):
            await c.send(
                ("Action", "Originate"),
                ("ActionID", f"o{i}"),
                ("Channel", f"Local/{number}@callees"),
                ("Context", "dialer-amd"),
                ("Exten", "s"),
                ("Priority", "1"),
                ("Timeout", "30000"),
                ("Async", "true"),
                ("ChannelId", f"c{i}-1"),
                ("OtherChannelId", f"c{i}-2"),
                ("Variable", f"DIALER_CALL_ID=c{i},DIALER_ABANDON_S=2"),
            )
        assert await pbx.wait_idle(timeout_sim_s=300)
        responses = Counter()
        events = []
        while True:
            try:
                f = await c.frame(timeout=0.3)
            except TimeoutError:
                break
            events.append(f)
            if get(f, "Event") == "OriginateResponse":
                responses[(get(f, "Response"), get(f, "Reason"))] += 1
        truth = {t.call_id: t for t in pbx.ground_truth()}
        assert [truth[f"c{i}"].disposition for i in range(6)] == [
            "connected",
            "machine",
            "busy",
            "no_answer",
            "congestion",
            "invalid_number",
        ]
        assert responses[("Success", "4")] == sum(t.answered for t in truth.values())
        assert pbx.agent_overlap_violations == []
        assert pbx.counters["originates"] == len(numbers)
        # every event belongs to a channel the PBX announced, and is CRLF-framed
        assert b"\r\n\r\n" in c.raw and b"\n\n" not in c.raw.replace(b"\r\n", b"")
        await c.close()


async def test_speed_shrinks_time() -> None:
    async with SimulatedPBX(agents=1, speed=200.0, epoch=1_000_000.0) as pbx:
        loop = asyncio.get_running_loop()
        t0, s0 = loop.time(), pbx.now()
        assert 1_000_000.0 <= s0 < 1_000_000.0 + 200.0  # less than 1 s real since start
        await pbx.sleep(20.0)  # 0.1 s real
        t1, s1 = loop.time(), pbx.now()
        assert s1 - s0 == pytest.approx((t1 - t0) * 200.0, abs=0.4)  # 2 ms real of slack
        assert s1 - s0 >= 20.0 - 1e-6


async def test_many_calls_over_ami_keep_the_invariant() -> None:
    scenario = Scenario.load("service_day").with_changes(talk_s=10.0, agent_wrapup_s=2.0)
    async with SimulatedPBX(scenario, agents=3, speed=200.0, seed=3) as pbx:
        c = await RawAMI.connect(pbx.port)
        await c.login(events="off")
        for i in range(40):
            resp, _ = await c.action(
                "Originate",
                f"o{i}",
                Channel=f"Local/55511{i:05d}@callees",
                Context="dialer-amd",
                Exten="s",
                Priority="1",
                Async="true",
                Variable=f"DIALER_CALL_ID=k{i}",
            )
            assert get(resp, "Response") == "Success"
            await pbx.sleep(1.0)
        assert await pbx.wait_idle(timeout_sim_s=600)
        truth = pbx.ground_truth()
        assert len(truth) == 40 and all(t.disposition for t in truth)
        assert pbx.agent_overlap_violations == []
        assert sum(t.disposition == "connected" for t in truth) > 0
        await c.close()


async def test_bad_scenario_name_fails_early() -> None:
    with pytest.raises(ScenarioError):
        SimulatedPBX("no_such_scenario")
    with pytest.raises(ValueError, match="speed"):
        SimulatedPBX(speed=0)


async def test_custom_credentials() -> None:
    async with SimulatedPBX(username="u1", secret="s1", speed=100.0) as pbx:
        c = await RawAMI.connect(pbx.port)
        resp = await c.login("u1", "s1")
        assert get(resp, "Message") == "Authentication accepted"
        await c.close()
        d = await RawAMI.connect(pbx.port)
        resp = await d.login("dialer", "dialerpass")
        assert get(resp, "Message") == "Authentication failed"


async def test_kill_cuts_every_session_without_asyncio_noise(caplog: pytest.LogCaptureFixture) -> None:
    """A killed PBX cancels its session tasks; none of them may surface as an asyncio
    "Exception in callback ... CancelledError" (the noise a coroutine handed to
    start_server produced on Python 3.11 when it was cancelled)."""
    pbx = await SimulatedPBX(speed=1.0).start()
    idle = await RawAMI.connect(pbx.port)
    resp = await idle.login("dialer", "dialerpass")
    assert get(resp, "Message") == "Authentication accepted"
    waiting = await RawAMI.connect(pbx.port)  # a session parked in the failed-login delay
    await waiting.send(Action="Login", Username="dialer", Secret="wrong", ActionID="bad")
    frozen = await RawAMI.connect(pbx.port)  # and one whose action waits for a thaw
    pbx.freeze()
    await frozen.send(Action="Ping", ActionID="p")
    await asyncio.sleep(0.05)  # let the server take up both actions
    server = pbx.server
    assert server is not None and len(server.sessions) == 3
    with caplog.at_level("DEBUG", logger="asyncio"):
        await pbx.kill()
        for _ in range(10):  # done-callbacks of the cancelled tasks run on later loop turns
            await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno >= 30] == []
    assert server.sessions == set() and server._tasks == set()
    for c in (idle, waiting, frozen):
        while (await c.frame()) is not None:  # whatever was in flight, then the end of stream
            pass
        await c.close()
