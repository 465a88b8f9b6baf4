"""The run summary and the progress line: bot-first figures for bot-first campaigns only."""

from __future__ import annotations

from dialer.core import CampaignConfig, Dialer
from dialer.core import events as ev
from dialer.summary import format_table, progress_line, summarize

from .test_metrics import _bot_first_dialer


def test_bot_first_summary_has_the_escalation_figures():
    d, (_first, second, _third) = _bot_first_dialer()
    d.handle(ev.QueueGaveUp(110.0, second, reason="timeout"))
    d.handle(ev.CallHungUp(120.0, second, leg=1, cause=16))
    s = summarize(d.snapshot(120.0), duration_s=120.0).to_json()
    assert {k: s[k] for k in ("bot_capacity", "handled_by_bot", "escalations", "escalations_connected",
                              "escalations_unanswered", "escalation_wait_mean_s", "escalation_wait_max_s")} == {
        "bot_capacity": 3, "handled_by_bot": 1, "escalations": 2, "escalations_connected": 1,
        "escalations_unanswered": 1, "escalation_wait_mean_s": 12.0, "escalation_wait_max_s": 12.0}
    assert s["abandoned"] == 0  # the unanswered escalation is not a legal abandonment
    table = format_table(summarize(d.snapshot(120.0), duration_s=120.0))
    assert "  no agent came        1" in table
    assert "escalation wait        mean 12.0 s, max 12.0 s" in table
    assert "bot 1/3  escalations 2" in progress_line(d.snapshot(120.0), 120.0)


def test_plain_summary_keeps_its_keys():
    d = Dialer([CampaignConfig(name="plain")], run_id="s1")
    s = summarize(d.snapshot(10.0), duration_s=10.0)
    assert not [k for k in s.to_json() if "bot" in k or "escalat" in k]
    assert "escalat" not in format_table(s) and "bot" not in progress_line(d.snapshot(10.0), 10.0)
