"""A pool whose second PBX is not up when the dialer starts: the dialer starts on the
first, counts the second as down, and takes it in when it comes up."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from dialer.config import DEMO_CALLER_ID, PbxConfig, RunConfig, Secret
from dialer.core.model import CampaignConfig
from dialer.service import DialerService
from dialer.sim.runner import SimulatedPBX

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_pbx_does_not_stop_the_others_and_joins_when_up(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": {"all.caller_id": {"allowed": {"demo": [DEMO_CALLER_ID]}}}}))
    late_port = _free_port()

    async def go():
        first = await SimulatedPBX(agents=2, secret="one", seed=1).start()
        cfg = RunConfig(
            campaign=CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID),
            pbxs=(PbxConfig("a", "127.0.0.1", first.port, "dialer", Secret("one")),
                  PbxConfig("b", "127.0.0.1", late_port, "dialer", Secret("two"))),
            duration_s=5.0, demo_leads=1, metrics=None, progress=False, compliance_rules=str(rules),
            ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        )
        svc = DialerService(cfg)
        late = None
        try:
            await svc.start()
            seen_at_start = {p.name: p.up for p in svc.core.snapshot().pbxs}
            agents_at_start = sorted(svc.core.agents)
            late = await SimulatedPBX(agents=1, secret="two", seed=2, port=late_port).start()
            for _ in range(200):
                if svc.members["b"].link.connected and "b:agent1" in svc.core.agents:
                    break
                await asyncio.sleep(0.05)
            seen_later = {p.name: p.up for p in svc.core.snapshot().pbxs}
            return seen_at_start, agents_at_start, seen_later, sorted(svc.core.agents)
        finally:
            await svc.close()
            await first.stop()
            if late is not None:
                await late.stop()

    seen_at_start, agents_at_start, seen_later, agents_later = asyncio.run(go())
    assert seen_at_start == {"a": True, "b": False}
    assert agents_at_start == ["a:agent1", "a:agent2"]
    assert seen_later == {"a": True, "b": True}
    assert agents_later == ["a:agent1", "a:agent2", "b:agent1"]
