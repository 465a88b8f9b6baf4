"""`SimulatedPBX`: the PBX model on a real-time (optionally sped-up) clock behind a real AMI port.

    async with SimulatedPBX("collections_day", agents=5, speed=10.0, seed=1) as pbx:
        ... connect an AMI client to 127.0.0.1:pbx.port, user pbx.username / pbx.secret ...
        truth = pbx.ground_truth()

With `speed=10`, ten simulated seconds pass per real second: ring times, AMD delays, talk
times, wrap-up, the Originate Timeout and the queue timeout all shrink by that factor, and
Timestamp/Ping values are simulated epoch seconds. The dialer under test must run its clock
with the same factor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .ami_server import AMIServer
from .behaviour import CalleePlan
from .clock import RealTimeScheduler
from .pbx import OriginateRequest, PBXModel, TruthRecord
from .scenario import Scenario

__all__ = ["SimulatedPBX"]


class SimulatedPBX:
    """A simulated Asterisk on 127.0.0.1 (port 0 = a free port, see `.port` after start)."""

    def __init__(
        self,
        scenario: Scenario | str | Path | Mapping[str, Any] | None = None,
        *,
        agents: int = 5,
        username: str = "dialer",
        secret: str = "dialerpass",
        speed: float = 1.0,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        queue: str = "agents",
        strategy: str = "rrmemory",
        amd_context: str = "dialer-amd",
        default_abandon_s: float = 2.0,
        legal_abandon_s: float = 2.0,
        id_message_s: float = 3.0,
        epoch: float | None = None,
        record_events: bool = False,
        plan_provider: Callable[[OriginateRequest, str], CalleePlan | None] | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected a positive factor, got {speed!r}")
        self.scenario = Scenario.load(scenario)
        self.agents = agents
        self.username = username
        self.secret = secret
        self.speed = float(speed)
        self.seed = seed
        self.host = host
        self._port = port
        self._model_kwargs: dict[str, Any] = dict(
            agents=agents,
            seed=seed,
            queue=queue,
            strategy=strategy,
            amd_context=amd_context,
            default_abandon_s=default_abandon_s,
            legal_abandon_s=legal_abandon_s,
            id_message_s=id_message_s,
            record_events=record_events,
            plan_provider=plan_provider,
        )
        self.epoch = epoch
        self.scheduler: RealTimeScheduler | None = None
        self.model: PBXModel | None = None
        self.server: AMIServer | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> SimulatedPBX:
        self.scheduler = RealTimeScheduler(asyncio.get_running_loop(), self.speed, self.epoch)
        self.model = PBXModel(self.scheduler, self.scenario, **self._model_kwargs)
        self.server = AMIServer(
            self.model,
            host=self.host,
            port=self._port,
            username=self.username,
            secret=self.secret,
            speed=self.speed,
        )
        await self.server.start()
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def __aenter__(self) -> SimulatedPBX:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ accessors

    def _m(self) -> PBXModel:
        if self.model is None:
            raise RuntimeError("SimulatedPBX is not started")
        return self.model

    def _s(self) -> AMIServer:
        if self.server is None:
            raise RuntimeError("SimulatedPBX is not started")
        return self.server

    @property
    def port(self) -> int:
        return self._s().port

    def now(self) -> float:
        """Simulated epoch seconds (what the PBX writes in Timestamp)."""
        return self._m().now()

    def ground_truth(self) -> list[TruthRecord]:
        return self._m().ground_truth()

    @property
    def counters(self) -> dict[str, int]:
        return dict(self._m().counters)

    @property
    def agent_overlap_violations(self) -> list[str]:
        return self._m().agent_overlap_violations

    @property
    def active_calls(self) -> int:
        return self._m().active_calls

    def force_plans(self, *plans: CalleePlan) -> None:
        self._m().force_plans(*plans)

    # ------------------------------------------------------------------ fault injection

    def drop_connections(self) -> int:
        return self._s().drop_connections()

    async def restart(self, down_for: float = 0.5) -> None:
        """`down_for` is in simulated seconds (scaled by `speed`)."""
        await self._s().restart(down_for / self.speed)

    async def kill(self) -> None:
        """The PBX dies and stays dead: every AMI session cut, its port closed, every
        channel gone without an event (in the ground truth, calls still up end as lost,
        or connected if an agent was talking)."""
        await self._s().close()
        self._m().reset()

    def freeze(self) -> None:
        self._s().freeze()

    def thaw(self) -> None:
        self._s().thaw()

    def delay_responses(self, sim_seconds: float) -> None:
        """Handle every following action `sim_seconds` (simulated) after it arrives; 0 = off."""
        self._s().response_delay = max(0.0, sim_seconds) / self.speed

    # ------------------------------------------------------------------ waiting

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)

    async def wait_idle(self, timeout_sim_s: float = 600.0, poll_sim_s: float = 0.5) -> bool:
        """Wait until no call is in progress; False on timeout."""
        waited = 0.0
        while self._m().active_calls:
            if waited >= timeout_sim_s:
                return False
            await self.sleep(poll_sim_s)
            waited += poll_sim_s
        return True
