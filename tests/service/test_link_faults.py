"""The AMI link cut at the worst moment: after the PBX started the call, before our
Originate got its response. The call must not be dialled twice and must still end in
exactly one outcome."""

from __future__ import annotations

import asyncio
import json

from dialer.ami.errors import ActionLost
from dialer.config import DEMO_CALLER_ID, RunConfig
from dialer.core.model import CampaignConfig
from dialer.service import DialerService
from dialer.sim import ami_server


def _run(tmp_path, monkeypatch, cut_on_originates: int, leads: int = 6) -> tuple:
    cfg = RunConfig(
        campaign=CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID, wrapup_s=5.0),
        agents=3, duration_s=60.0, speed=10.0, seed=5, demo_leads=leads,
        outcomes_path=str(tmp_path / "out.jsonl"), metrics=None, progress=False,
        drain_timeout_s=600.0,
    )

    async def go():
        svc = DialerService(cfg)
        await svc.start()
        cuts: list[str] = []
        real_respond = ami_server._Session.respond

        def respond(session, frame):
            d = dict(frame)
            # The PBX accepted our Originate (the call is being dialled) and is about to say
            # so: cut the connection instead, so the response never reaches the dialer.
            if d.get("Response") == "Success" and d.get("ActionID", "").startswith(svc.run_id) \
                    and len(cuts) < cut_on_originates:
                cuts.append(d["ActionID"])
                session.abort()
                return
            real_respond(session, frame)

        monkeypatch.setattr(ami_server._Session, "respond", respond)
        real_originate = svc.link.originate
        unanswered: list[str] = []

        async def originate(c):
            try:
                return await real_originate(c)
            except ActionLost:
                unanswered.append(c.call_id)
                raise

        svc.link.originate = originate
        try:
            summary = await svc.run()
            return svc, summary, svc.pbx.ground_truth(), cuts, unanswered
        finally:
            await svc.close()

    svc, summary, truth, cuts, unanswered = asyncio.run(go())
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    return svc, summary, truth, cuts, unanswered, lines


def test_cut_between_originate_and_response_no_second_dial_one_outcome(tmp_path, monkeypatch):
    svc, summary, truth, cuts, unanswered, lines = _run(tmp_path, monkeypatch, cut_on_originates=3)
    assert len(cuts) == 3
    assert svc.link is not None and svc.link.reconnects >= 3
    # Each attempt id was dialled exactly once by the PBX...
    dialled = [t.channel_id for t in truth]
    assert len(dialled) == len(set(dialled))
    # ...and every originated call, the cut ones included, has exactly one outcome.
    ids = [x["attempt_id"] for x in lines]
    assert len(ids) == len(set(ids)) == summary.placed == summary.outcomes
    assert set(dialled) <= set(ids) and set(cuts) <= set(ids)
    assert set(cuts) <= set(unanswered)
    assert set(cuts) <= set(dialled)  # the PBX really dialled them, once
    # An Originate whose response was lost may or may not have been dialled, and its call
    # may have ended while we were away: "lost" is then the honest answer (the ledger keeps
    # counting it). Every other outcome matches what really happened.
    truth = {t.channel_id: t.disposition for t in truth}
    for x in lines:
        if x["disposition"] == "lost":
            assert x["attempt_id"] in unanswered or x["attempt_id"] not in truth, x
        else:
            assert x["disposition"] == truth[x["attempt_id"]], x
