"""The embedded PBX of `dialer run` without --ami: a SimulatedPBX fitted to the campaign.

The campaign and the simulated queue must agree on the agents' wrap-up, or the pacer
would count agents as ready while the queue still holds them in wrap-up (and the PBX
reports no wrap-up state over AMI, exactly like Asterisk). So the embedded PBX takes the
campaign's wrap-up time; against a real Asterisk, set --wrapup to the queue's wrapuptime.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from .runner import SimulatedPBX
from .scenario import Dist, Scenario

#: The simulated world's clock starts at this local time on the current date, in the demo
#: leads' zone, so the demo always dials in office hours and the compliance gate can apply
#: the real quiet-hours rules instead of being switched off for the demo.
DEMO_START = dt.time(10, 0)
DEMO_ZONE = "Asia/Shanghai"


def demo_epoch(today: dt.date | None = None) -> float:
    zone = zoneinfo.ZoneInfo(DEMO_ZONE)
    day = today or dt.datetime.now(zone).date()
    return dt.datetime.combine(day, DEMO_START, tzinfo=zone).timestamp()


async def start_embedded_pbx(*, agents: int, scenario: str | None, seed: int, speed: float,
                             username: str, secret: str, queue: str, wrapup_s: float,
                             abandon_after_s: float) -> SimulatedPBX:
    sc = Scenario.load(scenario).with_changes(agent_wrapup_s=Dist.fixed(wrapup_s))
    pbx = SimulatedPBX(sc, agents=agents, username=username, secret=secret, speed=speed,
                       seed=seed, queue=queue, default_abandon_s=abandon_after_s,
                       legal_abandon_s=abandon_after_s, epoch=demo_epoch())
    await pbx.start()
    return pbx
