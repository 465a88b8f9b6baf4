"""Virtual-time simulation: the real dialer core driven through a whole calling day in seconds.

    from dialer.vsim import SimConfig, simulate

    r = simulate(SimConfig(pacer="progressive", agents=25, hours=8.0, seed=1, answer_rate=0.25,
                           machine_rate=0.20, talk_mean_s=180.0, wrap_s=10.0, amd=True,
                           abandon_target=0.03, scenario=None))
    r.summary      # the keys of `dialer run --json` + calls_per_agent_hour, agent_idle_mean_s,
                   # abandon_rate_worst_hour
    r.series       # per hour: abandon rate (and cumulative), occupancy, calls in flight, ...
    r.timeline     # the same per five minutes (a `Series`; .to_json(agents) for plain lists)
    r.metrics()    # summary + calls_in_flight_mean, lines_in_use_mean, ... (what bench/ reports)
    r.check()      # [] when the engine's figures equal the simulator's ground truth

No sockets, no asyncio, no clock: a heap of scheduled happenings (callee and agent behaviour
from `dialer.sim.behaviour`, seeded) feeds `dialer.core.Dialer` the events the AMI translator
would, and ticks it every `tick_s`. Same seed, same day: call i meets the same callee whatever
the pacer does (common random numbers), so pacers are compared on the same traffic.
"""

from __future__ import annotations

from .config import SimConfig, build_scenario
from .result import GroundTruth, HourlySeries, Series, SimResult
from .sim import VirtualDay, simulate

__all__ = [
    "GroundTruth", "HourlySeries", "Series", "SimConfig", "SimResult", "VirtualDay", "build_scenario", "simulate",
]
