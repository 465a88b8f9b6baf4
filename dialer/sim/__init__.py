"""The simulated PBX: an in-process stand-in for Asterisk 22 that the dialer drives over real AMI.

Layers, each usable alone:

- `scenario`   validated, immutable description of callees and agents (JSON or dict)
- `behaviour`  pure sampling of per-call plans from a scenario and a seeded generator
- `clock`      `VirtualScheduler` (heap, `run_until`) and `RealTimeScheduler` (asyncio, speed)
- `pbx`        the clock-agnostic PBX model: channels, dialplan, queue, agents, AMI frames,
               ground truth and the no-agent-on-two-calls invariant
- `ami_server` the AMI TCP server on loopback, with fault injection
- `runner`     `SimulatedPBX`, the real-time runner used by the demo and the tests

See README.md in this directory for the event shapes and what the dialer must know.
"""

from __future__ import annotations

from .ami_server import AMIServer
from .behaviour import Behaviour, CalleePlan, sample_plan
from .clock import RealTimeScheduler, Scheduler, VirtualScheduler
from .pbx import OriginateError, OriginateRequest, PBXModel, TruthRecord
from .runner import SimulatedPBX
from .scenario import Dist, Scenario, ScenarioError, bundled_scenarios

__all__ = [
    "AMIServer",
    "Behaviour",
    "CalleePlan",
    "Dist",
    "OriginateError",
    "OriginateRequest",
    "PBXModel",
    "RealTimeScheduler",
    "Scenario",
    "ScenarioError",
    "Scheduler",
    "SimulatedPBX",
    "TruthRecord",
    "VirtualScheduler",
    "bundled_scenarios",
    "sample_plan",
]
