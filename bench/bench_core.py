"""Throughput of the core's single entry point, `Dialer.handle(event)`.

A stream of 1,000 complete calls (the event shapes of the real recordings: connected,
machine, busy, no answer; 10 to 15 events each), interleaved with ticks, through a fresh
engine with 50 agents. Reported as events per second.

    python -m pytest bench/bench_core.py --benchmark-enable
"""

from __future__ import annotations

from dialer.core import CampaignConfig, Dialer, Lead
from dialer.core import commands as cmd
from dialer.core import events as ev

CALLS = 1000
AGENTS = 50


def call_events(cid: str, t: float, kind: int, agent: str) -> list[ev.Event]:
    head: list[ev.Event] = [
        ev.AttemptApproved(t, cid), ev.OriginateQueued(t + 0.001, cid),
        ev.CallLegCreated(t + 0.001, cid, leg=1), ev.CallLegCreated(t + 0.001, cid, leg=2),
        ev.CallRinging(t + 0.002, cid),
    ]
    if kind == 0:  # person, connected to an agent
        return head + [
            ev.CallAnswered(t + 2, cid), ev.AmdVerdict(t + 4.2, cid, status="HUMAN", cause="HUMAN-800-800"),
            ev.CallQueued(t + 4.2, cid, queue="agents"), ev.AgentOffered(t + 4.2, cid, agent=agent),
            ev.CallConnected(t + 4.3, cid, agent=agent),
            ev.CallCompleted(t + 40, cid, agent=agent, talk_s=36, reason="caller"),
            ev.CallHungUp(t + 40, cid, leg=2, cause=16), ev.CallHungUp(t + 40, cid, leg=1, cause=16),
        ]
    if kind == 1:  # machine
        return head + [
            ev.CallAnswered(t + 2, cid), ev.AmdVerdict(t + 3.9, cid, status="MACHINE", cause="MAXWORDS-3-2"),
            ev.CallHungUp(t + 3.9, cid, leg=1, cause=16), ev.CallHungUp(t + 3.9, cid, leg=2, cause=16),
        ]
    if kind == 2:  # busy
        return head[:4] + [
            ev.CallFailed(t + 0.003, cid, reason=5), ev.CallHungUp(t + 0.003, cid, leg=2, cause=17),
            ev.CallHungUp(t + 0.003, cid, leg=1, cause=0),
        ]
    return head + [  # no answer
        ev.CallFailed(t + 30, cid, reason=3), ev.CallHungUp(t + 30, cid, leg=1, cause=19),
        ev.CallHungUp(t + 30, cid, leg=2, cause=19),
    ]


def build() -> tuple[Dialer, list[ev.Event]]:
    """An engine that has reserved CALLS attempts, and the events that complete them."""
    d = Dialer([CampaignConfig(name="bench", max_lines=CALLS * 2)], run_id="bench")
    for i in range(AGENTS):
        d.handle(ev.AgentStatus(0.0, f"agent{i}", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "bench", tuple(Lead(f"b{i}", f"+86138{i:08d}") for i in range(CALLS))))
    # Reserve every lead in one go (progressive would only take AGENTS at a time).
    camp = d.campaigns["bench"]
    from dialer.core.calls import Call
    from dialer.core.model import CallRecord

    ids = []
    while (popped := camp.hopper.pop(0.0)) is not None:
        lead, n = popped
        cid = f"bench-{len(ids):06d}"
        d.calls[cid] = Call(CallRecord(cid, "bench", lead, n, 0.0), amd=True, abandon_after_s=2.0)
        ids.append(cid)
    stream: list[ev.Event] = []
    for i, cid in enumerate(ids):
        stream += call_events(cid, 1.0 + i * 0.05, i % 4, f"agent{i % AGENTS}")
    stream.sort(key=lambda e: e.at)
    ticks = [ev.Tick(1.0 + k * 0.1) for k in range(int(stream[-1].at * 10) + 20)]
    merged = sorted(stream + ticks, key=lambda e: e.at)
    return d, merged


def run(d: Dialer, events: list[ev.Event]) -> int:
    outcomes = 0
    for e in events:
        for c in d.handle(e):
            if isinstance(c, cmd.EmitOutcome):
                outcomes += 1
    return outcomes


def test_handle_events_per_second(benchmark):
    n_events = len(build()[1])
    result = benchmark.pedantic(lambda d, e: run(d, e), setup=lambda: (build(), {}), rounds=5, iterations=1)
    assert result == CALLS
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["events"] = n_events
    benchmark.extra_info["events_per_s"] = round(n_events / mean)
