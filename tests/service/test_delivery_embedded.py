"""The service with dialer.delivery wired in (tests/sinks/harness.py), no broker: the
`--outcomes` JSON-lines file is fed through the outbox, one line per placed call."""

from __future__ import annotations

import asyncio
import json

from dialer.config import DEMO_CALLER_ID, RunConfig
from dialer.core.model import CampaignConfig
from tests.sinks.harness import DeliveringService
from tests.sinks.helpers import validate


def test_every_call_has_one_v2_outcome_line_through_the_outbox(tmp_path):
    out = tmp_path / "out.jsonl"
    cfg = RunConfig(
        campaign=CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID, wrapup_s=10.0), agents=10,
        duration_s=60.0, speed=50.0, seed=5, outcomes_path=str(out), metrics=None, progress=False,
        drain_timeout_s=600.0, ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    )

    async def go():
        svc = DeliveringService(cfg)
        await svc.start()
        try:
            summary = await svc.run()
        finally:
            await svc.close()
        return svc, summary

    svc, summary = asyncio.run(go())
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert summary.placed > 10 and len(lines) == summary.placed == summary.outcomes
    assert len({x["attempt_id"] for x in lines}) == len(lines)
    for x in lines:
        validate(x, "outcome.v2.json")
        assert x["compliance_rules"] and x["compliance_rules"][0].startswith("cn:")
    assert svc.delivery.outbox_depth == 0 and svc.delivery.transport.name.startswith("jsonl:")
    assert (tmp_path / "ledger.outbox.sqlite3").exists()  # next to the SQLite ledger
    assert isinstance(svc.metrics.state().outbox_depth, int)  # wired into MetricsState
