"""A bot-first campaign the way an operator starts one: `dialer run --bot-endpoint ...` parsed
by the real command line, run against the embedded simulated PBX over real AMI, its summary
(table and JSON) and its Prometheus /metrics read over HTTP before the run closes."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.request
from datetime import datetime

import pytest

from dialer.cli import build_run_config, make_parser
from dialer.delivery import delivery_settings
from dialer.service import DialerService
from dialer.sim.scenario import Dist, Scenario
from dialer.summary import format_table

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sample(text: str, name: str, labels: str) -> float:
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, flags=re.M)
    assert m, f"{name}{{{labels}}} not in /metrics"
    return float(m.group(1))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("botcli")
    scenario = Scenario.load().with_changes(
        name="bot_cli", bot_channels=5, bot_escalate_share=0.5, bot_escalate_after_s=Dist.fixed(6.0),
        bot_talk_s=Dist.fixed(15.0), talk_s=Dist.fixed(20.0), patience_s=Dist.fixed(200.0),
    )
    (tmp_path / "bot.json").write_text(json.dumps(scenario.to_dict()))
    port = _free_port()
    a = make_parser().parse_args([
        "run", "--bot-endpoint", "PJSIP/voicebot", "--scenario", str(tmp_path / "bot.json"),
        "--agents", "3", "--duration", "150", "--speed", "20", "--seed", "7", "--wrapup", "10",
        "--metrics", f"127.0.0.1:{port}", "--no-progress", "--json", "--drain-timeout", "900",
        "--outcomes", str(tmp_path / "out.jsonl"), "--escalation-rate", "0.4",
    ])
    cfg = build_run_config(a, env={})
    delivery = delivery_settings(a, cfg)

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    async def go():
        svc = DialerService(cfg, delivery=delivery)
        await svc.start()
        try:
            summary = await svc.run()
            return summary, await asyncio.to_thread(scrape)  # before close() stops the server
        finally:
            await svc.close()

    summary, metrics = asyncio.run(go())
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    return cfg, summary, metrics, lines


def test_the_options_make_the_campaign_bot_first(cli_run):
    cfg, *_ = cli_run
    c = cfg.campaign
    assert (c.bot_first, c.bot_endpoint, c.escalate_context) == (True, "PJSIP/voicebot", "dialer-escalate")
    assert c.bot_capacity == 5  # no --bot-capacity: the embedded bot's channels (the scenario's)
    assert c.escalation_rate_prior == 0.4


def test_summary_reports_the_escalations_the_outcomes_show(cli_run):
    _cfg, summary, _metrics, lines = cli_run
    s = summary.to_json()
    assert s["placed"] == s["outcomes"] == len(lines) > 20
    escalated = [x for x in lines if x.get("escalated")]
    to_agent = [x for x in escalated if x["handled_by"] == "agent"]
    assert escalated and to_agent, "the run must escalate, and agents must take some, to prove anything"
    assert s["bot_capacity"] == 5
    assert s["escalations"] == len(escalated)
    assert s["escalations_connected"] == len(to_agent)
    assert s["escalations_unanswered"] == len(escalated) - len(to_agent)
    assert s["handled_by_bot"] == sum(x.get("handled_by") == "bot" for x in lines)
    waits = []
    for x in to_agent:
        ts = x["timestamps"]
        esc = x["escalated_at"]
        assert esc is not None and ts["connect"] is not None
        waits.append((datetime.fromisoformat(ts["connect"]) - datetime.fromisoformat(esc)).total_seconds())
    assert s["escalation_wait_max_s"] == pytest.approx(max(waits), abs=0.002)
    assert s["escalation_wait_mean_s"] == pytest.approx(sum(waits) / len(waits), abs=0.002)
    table = format_table(summary)
    assert re.search(rf"^escalations\s+{len(escalated)}$", table, flags=re.M), table
    assert re.search(rf"^  to an agent\s+{len(to_agent)}$", table, flags=re.M), table
    assert re.search(r"^bot capacity\s+5 channels$", table, flags=re.M), table


def test_metrics_expose_the_same_figures(cli_run):
    _cfg, summary, metrics, _lines = cli_run
    s = summary.to_json()
    c = 'campaign="demo"'
    assert _sample(metrics, "dialer_escalations_total", c) == s["escalations"]
    assert _sample(metrics, "dialer_escalations_unanswered_total", c) == s["escalations_unanswered"]
    assert _sample(metrics, "dialer_calls_handled_by_bot_total", c) == s["handled_by_bot"]
    assert _sample(metrics, "dialer_bot_capacity", c) == 5
    assert _sample(metrics, "dialer_bot_calls", c) == 0  # drained: nobody left with the bot
    assert _sample(metrics, "dialer_escalation_wait_seconds_count", c) == s["escalations_connected"]
    assert _sample(metrics, "dialer_escalation_wait_seconds_bucket", c + ',le="+Inf"') == s["escalations_connected"]
    # never a number, a borrower or a call id in a bot series
    for line in metrics.splitlines():
        if ("bot" in line or "escalat" in line) and not line.startswith("#"):
            assert re.fullmatch(r'dialer_\w+\{campaign="demo"(,le="[^"]+")?\} \S+', line), line
