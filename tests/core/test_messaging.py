"""The SMS request policy (pure): what the dialer asks for, when, and how often."""

from __future__ import annotations

import pytest

from dialer.core.messaging import (
    LinkRule,
    SmsRequest,
    SmsRules,
    WarmupRule,
    after_agent_code,
    after_outcome,
    before_call,
    next_call_at,
)
from dialer.core.model import Disposition, Outcome, RetryPolicy
from dialer.errors import ConfigError

NOW = 1_800_000_000.0
RETRY = RetryPolicy()  # no_answer -> 3600 s, 3 attempts
RULES = SmsRules(warmup=WarmupRule(before_s=600), link=LinkRule())


def ended(disposition: Disposition, attempt_no: int = 1) -> Outcome:
    return Outcome(
        attempt_id="r1-000001", campaign="demo", borrower_id="B-1", phone="+8613812345678",
        attempt_no=attempt_no, disposition=disposition, abandoned=False, amd_status=None, amd_cause=None,
        hangup_cause=None, hangup_cause_txt="", agent=None, originate_at=NOW - 40, answer_at=None,
        amd_at=None, connect_at=None, hangup_at=NOW, ended_at=NOW,
    )


def test_next_call_follows_the_retry_policy():
    assert next_call_at(ended(Disposition.NO_ANSWER), RETRY) == NOW + 3600
    assert next_call_at(ended(Disposition.NO_ANSWER, attempt_no=3), RETRY) is None
    assert next_call_at(ended(Disposition.CONNECTED), RETRY) is None
    assert next_call_at(ended(Disposition.INVALID_NUMBER), RETRY) is None


def test_failed_contact_asks_a_link_now_and_a_warmup_before_the_retry():
    reqs = after_outcome(RULES, ended(Disposition.NO_ANSWER), RETRY, now=NOW, last_sent={})
    by_kind = {r.kind: r for r in reqs}
    link, warm = by_kind["post_call_link"], by_kind["pre_call_warmup"]
    assert link.send_at == NOW and link.reason == "no_answer" and link.expires_at is None
    assert warm.call_at == NOW + 3600 and warm.send_at == NOW + 3000 and warm.expires_at == NOW + 3600
    assert warm.reason == "retry"


def test_a_connected_call_asks_nothing():
    assert after_outcome(RULES, ended(Disposition.CONNECTED), RETRY, now=NOW, last_sent={}) == []


def test_rules_off_ask_nothing():
    assert after_outcome(SmsRules(), ended(Disposition.NO_ANSWER), RETRY, now=NOW, last_sent={}) == []


def test_at_most_one_of_a_kind_per_interval():
    last = {"post_call_link": NOW - 3600, "pre_call_warmup": NOW - 60}
    assert after_outcome(RULES, ended(Disposition.NO_ANSWER), RETRY, now=NOW, last_sent=last) == []
    last = {"post_call_link": NOW - 86400, "pre_call_warmup": NOW + 3000 - 86400}
    assert {r.kind for r in after_outcome(RULES, ended(Disposition.NO_ANSWER), RETRY, now=NOW, last_sent=last)} == {
        "post_call_link", "pre_call_warmup"}


def test_warmup_needs_notice_and_is_never_after_the_call():
    kw = dict(campaign="demo", borrower_id="B", phone="+8613812345678", now=NOW, last_sent={})
    assert before_call(RULES, call_at=NOW + 30, **kw) is None  # under min_notice_s
    soon = before_call(RULES, call_at=NOW + 300, **kw)
    assert soon is not None and soon.send_at == NOW and soon.expires_at == NOW + 300


def test_agent_codes_ask_a_link_by_rule():
    kw = dict(campaign="demo", borrower_id="B", phone="+86138", attempt_id="r1-1", now=NOW, last_sent={})
    r = after_agent_code(RULES, code="promise_to_pay", **kw)
    assert r is not None and r.reason == "promise_to_pay" and r.key == "post_call_link:promise_to_pay:r1-1"
    assert after_agent_code(RULES, code="dispute", **kw) is None


def test_rules_from_json_and_their_errors():
    r = SmsRules.from_json({"warmup": {"before_s": 900}, "link": {"after_codes": ["promise_to_pay", "hardship"]}})
    assert r.warmup == WarmupRule(before_s=900) and r.link is not None and "hardship" in r.link.after_codes
    assert SmsRules.from_json({"warmup": True}).warmup == WarmupRule()
    for bad, msg in [({"wamrup": {}}, "unknown key"), ({"warmup": {"before_s": -1}}, "before_s"),
                     ({"link": {"after_codes": ["happy"]}}, "after_codes"),
                     ({"link": {"after_dispositions": ["nope"]}}, "after_dispositions"),
                     ({"warmup": {"before_s": "10"}}, "seconds")]:
        with pytest.raises(ConfigError, match=msg):
            SmsRules.from_json(bad)


def test_request_kind_is_checked():
    with pytest.raises(ValueError):
        SmsRequest(kind="spam", campaign="c", borrower_id="b", phone="p", attempt_id=None, reason="x",
                   template="t", send_at=0)
