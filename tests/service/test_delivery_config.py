"""Bad broker configuration fails at start-up, clearly; a broker that is down does not."""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

import pytest

from dialer.cli import add_run_parser, build_run_config
from dialer.config import DEMO_CALLER_ID, RunConfig, Secret
from dialer.core.model import CampaignConfig
from dialer.delivery import Delivery, DeliverySettings, EventsConfig, delivery_settings
from dialer.errors import ConfigError
from tests.sinks.broker import free_port, require_broker
from tests.sinks.harness import DeliveringService
from tests.sinks.helpers import outcome

CAMPAIGN = CampaignConfig(name="demo", caller_id=DEMO_CALLER_ID)


def delivery(tmp_path, url: str | None, **kw) -> Delivery:
    s = DeliverySettings(outbox_path=str(tmp_path / "outbox.sqlite3"), amqp_url=url and Secret(url), **kw)
    return Delivery(s, run_id="r1", campaigns=[CAMPAIGN], pseudonym_key=b"k")


@pytest.mark.integration
async def test_wrong_credentials_stop_start_up_with_a_clear_error(tmp_path):
    require_broker()
    d = delivery(tmp_path, "amqp://guest:Secr3t-wrong@127.0.0.1:5672/")
    with pytest.raises(ConfigError) as info:
        await d.start()
    msg = str(info.value)
    assert "login refused" in msg and "DIALER_AMQP_URL" in msg and "Secr3t-wrong" not in msg
    t = time.monotonic()
    await d.close()  # after a failed start: no drain wait
    assert time.monotonic() - t < 1


@pytest.mark.integration
async def test_the_service_does_not_start_with_wrong_credentials(tmp_path, caplog):
    require_broker()
    cfg = RunConfig(campaign=CAMPAIGN, agents=2, duration_s=10, speed=20, metrics=None, progress=False)
    settings = DeliverySettings.for_run(cfg, amqp_url=Secret("amqp://guest:Secr3t-wrong@127.0.0.1:5672/"))
    svc = DeliveringService(cfg, delivery=settings)
    try:
        with pytest.raises(ConfigError, match="login refused"):
            await svc.start()
        assert svc.core.snapshot().campaigns[0].stats.placed == 0
    finally:
        await svc.close()
    assert "Secr3t-wrong" not in caplog.text


def test_malformed_url_and_secret_on_the_command_line_are_refused(tmp_path):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_run_parser(sub)

    def settings(*argv: str, env: dict[str, str]) -> DeliverySettings:
        a = p.parse_args(["run", *argv])
        return delivery_settings(a, build_run_config(a, env), env)

    with pytest.raises(ConfigError, match="not the URL itself"):
        settings("--amqp-url", "amqp://guest:guest@127.0.0.1/", env={})
    with pytest.raises(ConfigError, match="scheme 'http'"):
        settings(env={"DIALER_AMQP_URL": "http://guest:pw@host/"})
    with pytest.raises(ConfigError, match="--outbox-resume"):
        settings("--outbox-max", "10", "--outbox-resume", "10", env={})
    s = settings("--amqp-url", "env:MQ", "--outcomes-outbox", str(tmp_path / "ob"), "--outbox-max", "10",
                 "--dispositions-queue", "off", env={"MQ": "amqp://u:p@h/"})
    assert s.amqp_url is not None and s.max_backlog == 10 and s.resume_backlog == 5
    assert s.dispositions_queue is None and s.outbox_path == str(tmp_path / "ob")
    assert settings(env={}).amqp_url is None  # no broker: the --outcomes file or the null sink


def test_events_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"campaigns\.demo\.sms\.warmup\.before_s"):
        EventsConfig.from_json({"campaigns": {"demo": {"sms": {"warmup": {"before_s": 0}}}}})
    with pytest.raises(ConfigError, match="recording"):
        EventsConfig.from_json({"default": {"recording": "{phone}.wav"}})
    f = tmp_path / "ev.json"
    f.write_text('{"campaigns": {"demo": {"strategy": "early", "sms": {"link": true}}}}')
    ev = EventsConfig.load(str(f))
    assert ev.for_campaign("demo").labels.strategy == "early" and ev.sms_enabled
    assert ev.for_campaign("other").labels.strategy is None


async def test_broker_down_at_start_starts_buffers_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, "dialer.delivery")
    d = delivery(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/", connect_timeout_s=1, drain_timeout_s=0.3)
    await d.start()
    try:
        assert "unreachable at start" in caplog.text and "buffers events in the outbox" in caplog.text
        latencies = []
        for i in range(200):
            t = time.perf_counter()
            await d.emit_outcome(outcome(i))
            latencies.append(time.perf_counter() - t)
        assert d.outbox_depth == 200 and d.publish_failures >= 1
        # The call path writes to disk and goes on: it never waits for the broker.
        assert statistics.median(latencies) < 0.05
    finally:
        await d.close()
    assert "stay in the outbox" in caplog.text


async def test_backpressure_engages_at_the_bound_and_releases_at_the_low_mark(tmp_path):
    from tests.sinks.helpers import FakeTransport

    t = FakeTransport(up=False)
    s = DeliverySettings(outbox_path=str(tmp_path / "ob.sqlite3"), max_backlog=20, resume_backlog=5)
    changes: list[bool] = []
    d = Delivery(s, run_id="r1", campaigns=[CAMPAIGN], pseudonym_key=b"k", transport=t,
                 on_backpressure=changes.append)
    d.relay.backoff_min_s = d.relay.backoff_max_s = 0.02
    await d.start()
    try:
        await asyncio.gather(*(d.emit_outcome(outcome(i)) for i in range(30)))
        assert changes == [True] and d.backpressure
        t.up = True
        for _ in range(200):
            if not d.backpressure:
                break
            await asyncio.sleep(0.01)
        assert changes == [True, False]
        assert await d.relay.wait_drained(5)
    finally:
        await d.close()
