from __future__ import annotations

import json
import pathlib

import jsonschema

from dialer.core.model import Disposition, Outcome
from dialer.outcomes import iso, outcome_event
from dialer.sinks.events import OutcomeLabels, fast_iso, outcome_body

SCHEMAS = pathlib.Path(__file__).parents[2] / "dialer" / "schemas"
V1 = json.loads((SCHEMAS / "outcome.v1.json").read_text())
V2 = json.loads((SCHEMAS / "outcome.v2.json").read_text())


def sample(**kw) -> Outcome:
    base = dict(
        attempt_id="r1-000001", campaign="demo", borrower_id="B-123", phone="+8613812345678",
        attempt_no=1, disposition=Disposition.CONNECTED, abandoned=False, amd_status="HUMAN",
        amd_cause="HUMAN-800-800", hangup_cause=16, hangup_cause_txt="Normal Clearing",
        agent="agent1", originate_at=1795862398.0, answer_at=1795862400.0,
        amd_at=1795862402.2, connect_at=1795862402.3, hangup_at=1795862437.0,
        ended_at=1795862437.1,
    )
    base.update(kw)
    return Outcome(**base)


def test_event_is_masked_and_pseudonymised():
    for e in (outcome_event(sample(), pseudonym_key=b"k"), outcome_body(sample(), b"k", OutcomeLabels())):
        text = json.dumps(e)
        assert "+8613812345678" not in text and "B-123" not in text
        assert e["phone"] == "+86138****5678"
        assert e["borrower"].startswith("b_")
        assert e["timestamps"]["answer"] == "2026-11-28T10:40:00.000Z"


def test_v1_and_v2_events_validate_against_their_schemas():
    for disp in Disposition:
        o = sample(disposition=disp, agent=None, connect_at=None)
        jsonschema.validate(outcome_event(o, pseudonym_key=b"k"), V1)
        jsonschema.validate(outcome_body(o, b"k", OutcomeLabels(compliance_rules=("cn:abc",))), V2)
    assert set(V1["properties"]["disposition"]["enum"]) == {d.value for d in Disposition}


def test_fast_timestamps_equal_the_reference_format():
    for ts in (0.0, 1795862398.0, 1795862398.4567, 1795862399.9996, 951782400.5):
        assert fast_iso(ts) == iso(ts)
