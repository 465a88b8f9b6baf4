from __future__ import annotations

import json
import pathlib

from dialer.core.model import Disposition, Outcome
from dialer.outcomes import JsonLinesSink, outcome_event

SCHEMA = json.loads((pathlib.Path(__file__).parents[2] / "dialer" / "schemas" / "outcome.v1.json").read_text())


def sample() -> Outcome:
    return Outcome(
        attempt_id="r1-000001", campaign="demo", borrower_id="B-123", phone="+8613812345678",
        attempt_no=1, disposition=Disposition.CONNECTED, abandoned=False, amd_status="HUMAN",
        amd_cause="HUMAN-800-800", hangup_cause=16, hangup_cause_txt="Normal Clearing",
        agent="agent1", originate_at=1795862398.0, answer_at=1795862400.0,
        amd_at=1795862402.2, connect_at=1795862402.3, hangup_at=1795862437.0,
        ended_at=1795862437.1,
    )


def test_event_is_masked_and_pseudonymised():
    e = outcome_event(sample(), pseudonym_key=b"k")
    text = json.dumps(e)
    assert "+8613812345678" not in text and "B-123" not in text
    assert e["phone"] == "+86138****5678"
    assert e["borrower"].startswith("b_")
    assert e["timestamps"]["answer"] == "2026-11-28T10:40:00.000Z"


def test_event_matches_the_published_schema_keys():
    e = outcome_event(sample(), pseudonym_key=b"k")
    assert set(e) <= set(SCHEMA["properties"])
    assert set(SCHEMA["required"]) <= set(e)
    assert set(e["timestamps"]) == set(SCHEMA["properties"]["timestamps"]["properties"])
    assert e["disposition"] in SCHEMA["properties"]["disposition"]["enum"]
    assert set(SCHEMA["properties"]["disposition"]["enum"]) == {d.value for d in Disposition}


async def test_json_lines_sink_appends_one_line_per_event(tmp_path):
    path = tmp_path / "out.jsonl"
    sink = JsonLinesSink(str(path))
    for _ in range(3):
        await sink.write(outcome_event(sample(), pseudonym_key=b"k"))
    await sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["attempt_id"] == "r1-000001" for line in lines)
