"""The clairvoyant side channel tells the truth: what it foretells is what the day plays."""

from __future__ import annotations

import pytest

from dialer.core.pacing.clairvoyant import Arrival
from dialer.vsim import SimConfig, VirtualDay


class Recording(VirtualDay):
    def _originate(self, c, now):  # type: ignore[no-untyped-def]
        super()._originate(c, now)
        a = self.arrivals.get(c.call_id) if self.arrivals is not None else None
        if a is not None:
            self.foretold[c.call_id] = a


@pytest.mark.parametrize("amd", [True, False], ids=["amd", "no-amd"])
def test_foretold_arrivals_are_the_calls_that_reach_the_queue_when_foretold(amd: bool):
    day = Recording(SimConfig(pacer="clairvoyant", agents=6, hours=0.5, seed=5, amd=amd), keep_outcomes=True)
    day.foretold: dict[str, Arrival] = {}  # type: ignore[misc]
    r = day.run()
    routed = {o.attempt_id: o for o in r.outcomes if o.disposition.value in ("connected", "abandoned")}
    assert set(day.foretold) == set(routed) and len(routed) > 20
    for cid, a in day.foretold.items():
        o = routed[cid]
        joined = o.amd_at if amd else o.answer_at
        assert joined == pytest.approx(a.needs_agent_at, abs=1e-9)


def test_the_oracle_is_only_attached_to_pacers_that_ask_for_it():
    assert VirtualDay(SimConfig(pacer="ratio", agents=2, hours=0.1)).arrivals is None
    assert VirtualDay(SimConfig(pacer="clairvoyant", agents=2, hours=0.1)).arrivals == {}
