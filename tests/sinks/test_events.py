from __future__ import annotations

import json

import pytest

from dialer.core.engine import Dialer
from dialer.core.messaging import SmsRequest
from dialer.core.model import CampaignConfig, Disposition
from dialer.errors import InputError
from dialer.sinks.events import (
    OutcomeLabels,
    disposition_message,
    dumps,
    dumps_outcome,
    outcome_body,
    outcome_message,
    parse_agent_disposition,
    sms_message,
    stats_messages,
)

from .helpers import outcome, schema, validate

KEY = b"test-key"


def test_outcome_v2_validates_and_routes_by_campaign_and_disposition():
    labels = OutcomeLabels("early", "B1", "v2", ("cn:abc",), "rec/{date}/{attempt_id}.wav")
    m = outcome_message(outcome(7, connected=True), KEY, labels)
    body = json.loads(m.body)
    validate(body, "outcome.v2.json")
    assert m.message_id == body["attempt_id"] == "r1-000007"
    assert m.routing_key == "outcome.demo.connected" and m.kind == "outcome"
    assert body["strategy"] == "early" and body["script_variant"] == "v2" and body["compliance_rules"] == ["cn:abc"]
    assert body["recording"] == "rec/2026-11-28/r1-000007.wav"
    assert body["recovered"] is False


def test_outcome_v2_has_no_recording_without_an_agent_and_no_personal_data():
    m = outcome_message(outcome(8), KEY, OutcomeLabels(recording="{attempt_id}.wav"))
    body = json.loads(m.body)
    validate(body, "outcome.v2.json")
    assert body["recording"] is None and body["strategy"] is None
    text = m.body.decode()
    assert "+8613800000008" not in text and "B-8" not in text


def test_outcome_v2_is_v1_plus_the_new_fields():
    v1, v2 = schema("outcome.v1.json"), schema("outcome.v2.json")
    added = set(v2["properties"]) - set(v1["properties"])
    bot = {"handled_by", "escalated", "escalated_at"}  # optional: bot-first calls only
    assert added == {"strategy", "segment", "script_variant", "compliance_rules", "recording", "recovered"} | bot
    assert not bot & set(v2["required"])
    assert set(v2["properties"]["disposition"]["enum"]) == {d.value for d in Disposition}


def test_bot_fields_only_on_bot_calls_and_they_validate():
    from dataclasses import replace

    from dialer.outcomes import outcome_event

    labels = OutcomeLabels()
    plain = json.loads(outcome_message(outcome(7, connected=True), KEY, labels).body)
    assert not {"handled_by", "escalated", "escalated_at"} & set(plain)
    o = replace(outcome(8, connected=True), handled_by="agent", escalated=True, escalated_at=1_795_862_370.0)
    body = json.loads(outcome_message(o, KEY, labels).body)
    validate(body, "outcome.v2.json")
    assert (body["handled_by"], body["escalated"], body["escalated_at"]) == ("agent", True, "2026-11-28T10:39:30.000Z")
    bot_only = replace(outcome(9, connected=True), agent=None, connect_at=None, handled_by="bot")
    validate(json.loads(outcome_message(bot_only, KEY, labels).body), "outcome.v2.json")
    v1 = outcome_event(o, pseudonym_key=KEY)
    validate(v1, "outcome.v1.json")
    assert "escalated" not in v1


def test_sms_request_validates_and_carries_references_not_numbers():
    r = SmsRequest(kind="pre_call_warmup", campaign="demo", borrower_id="B-1", phone="+8613812345678",
                   attempt_id="r1-000001", reason="retry", template="warmup", send_at=1e9, expires_at=1e9 + 600,
                   call_at=1e9 + 600)
    m = sms_message(r, KEY, 1e9 - 5)
    body = json.loads(m.body)
    validate(body, "sms_request.v1.json")
    assert m.routing_key == "sms.request.demo" and m.message_id == "sms:pre_call_warmup:retry:r1-000001"
    assert "+8613812345678" not in m.body.decode() and body["phone_ref"].startswith("p_")


def test_campaign_stats_validate_and_hold_only_aggregates():
    core = Dialer([CampaignConfig(name="demo")], run_id="r1")
    snap = core.snapshot(1e9)
    [m] = stats_messages("r1", 3, 1e9, snap)
    body = json.loads(m.body)
    validate(body, "campaign_stats.v1.json")
    assert m.routing_key == "campaign.stats.demo" and m.message_id == "stats:r1:demo:3"


def test_agent_disposition_is_parsed_validated_and_scrubbed():
    body = json.dumps({"attempt_id": "r1-000001", "code": "promise_to_pay", "note": "call back on 13812345678",
                       "agent": "agent7", "at": "2026-11-28T10:00:00+08:00"}).encode()
    validate(json.loads(body), "agent_disposition.v1.json")
    d = parse_agent_disposition(body, "agent.disposition.demo", "desk-42")
    assert d.campaign == "demo" and d.code == "promise_to_pay" and "12345678" not in d.note
    assert d.dedupe_key().startswith("disp:r1-000001:")
    again = parse_agent_disposition(body, "agent.disposition.demo", "another-random-id")
    assert again.dedupe_key() == d.dedupe_key()  # a resend is the same disposition
    fixed = parse_agent_disposition(body.replace(b"promise_to_pay", b"hardship"), "agent.disposition.demo")
    assert fixed.dedupe_key() != d.dedupe_key()  # a corrected code is a new one
    m = disposition_message(d, campaign="demo", received_at=1e9, call_disposition="connected",
                            borrower="b_" + "a" * 32, agent=None)
    out = json.loads(m.body)
    validate(out, "outcome_disposition.v1.json")
    assert m.routing_key == "disposition.demo.promise_to_pay" and out["agent"] == "agent7"


@pytest.mark.parametrize("body, field", [
    (b"not json", "not JSON"),
    (b"[]", "object"),
    (b'{"code": "dispute"}', "attempt_id"),
    (b'{"attempt_id": "r1-1", "code": "happy"}', "code"),
    (b'{"attempt_id": "r1-1", "code": "other", "at": "yesterday"}', "at"),
    (b'{"attempt_id": "r1-1", "code": "other", "schema": "x/9"}', "schema"),
])
def test_bad_agent_dispositions_say_what_is_wrong(body, field):
    with pytest.raises(InputError, match=field):
        parse_agent_disposition(body)


def test_same_body_without_message_id_dedupes_to_the_same_key():
    body = b'{"attempt_id": "r1-1", "code": "other"}'
    assert parse_agent_disposition(body).dedupe_key() == parse_agent_disposition(body).dedupe_key()


@pytest.mark.parametrize("labels", [
    OutcomeLabels(),
    OutcomeLabels("早期催收", "B1 \"quoted\" \\ back", "v2\u2028\u2029\x7f", ("cn:早", "cn:\x01"),
                  "rec/{attempt_id}.wav"),
])
def test_outcome_bytes_are_exactly_what_json_dumps_gives(labels):
    """The outcome is encoded with orjson for speed; consumers and the outbox see json.dumps's bytes."""
    for i, connected in ((1, True), (2, False)):
        body = outcome_body(outcome(i, connected=connected), KEY, labels)
        assert dumps_outcome(body) == dumps(body)
        assert outcome_message(outcome(i, connected=connected), KEY, labels).body == dumps(body)
