from __future__ import annotations

import json

import pytest

from dialer.errors import ConfigError
from dialer.sinks.jsonl import JsonLinesTransport, NullTransport
from dialer.sinks.outbox import Message, Outbox
from dialer.sinks.relay import Relay


async def test_file_gets_outcome_lines_through_the_outbox_and_other_kinds_are_dropped(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    await ob.start()
    t = JsonLinesTransport(str(tmp_path / "out.jsonl"))
    r = Relay(ob, t, confirm_every_s=0.005, idle_poll_s=0.05)
    ob.on_change = r.wake
    await r.start()
    await ob.put([Message(f"a{i}", "outcome", "outcome.demo.busy", json.dumps({"attempt_id": f"a{i}"}).encode())
                  for i in range(100)])
    await ob.put([Message("s1", "campaign.stats", "campaign.stats.demo", b"{}")])
    assert await r.close(5)
    await ob.close()
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["attempt_id"] for x in lines] == [f"a{i}" for i in range(100)]
    assert t.dropped == 1 and t.fsyncs < 100  # lines of one loop iteration share an fsync


async def test_unwritable_file_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot open"):
        await JsonLinesTransport("/nonexistent/dir/out.jsonl").connect()


async def test_null_transport_confirms_everything():
    t = NullTransport()
    await t.connect()
    await t.publish(None)  # type: ignore[arg-type]
    assert t.connected and t.dropped == 1
