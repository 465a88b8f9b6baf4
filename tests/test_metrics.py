"""Per-PBX figures in the Prometheus exposition, read back from a fresh registry."""

from __future__ import annotations

from prometheus_client import generate_latest

from dialer.core import CampaignConfig, Dialer, Lead
from dialer.core import commands as cmd
from dialer.core import events as ev
from dialer.core.pool import PbxPool
from dialer.metrics import AmiFigures, DialerMetrics, MetricsState


def test_pool_gauges_per_pbx():
    d = Dialer([CampaignConfig(name="c1")], run_id="m1", pool=PbxPool([("a", 10), ("b", 11)], grace_s=5.0))
    for pbx in ("a", "b"):
        d.handle(ev.AgentStatus(0.0, f"{pbx}:agent1", pbx=pbx, queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "c1", tuple(Lead(f"b{i}", f"+8613800000{i:03d}") for i in range(5))))
    reserved = [c for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    for c in reserved:
        d.handle(ev.AttemptApproved(1.0, c.call_id))
        d.handle(ev.OriginateQueued(1.0, c.call_id))
    d.handle(ev.PbxLinkChanged(2.0, up=False, pbx="a"))
    d.handle(ev.Drain(2.0))
    d.handle(ev.Tick(7.0))  # a is lost: its call ends
    m = DialerMetrics()
    m.publish(MetricsState(snapshot=d.snapshot(), ami=(AmiFigures("a", connected=False),
                                                       AmiFigures("b", connected=True))))
    value = m.registry.get_sample_value
    assert value("dialer_pbx_channels_in_use", {"pbx": "a"}) == 0
    assert value("dialer_pbx_channels_in_use", {"pbx": "b"}) == 1
    assert value("dialer_pbx_channel_limit", {"pbx": "b"}) == 11
    assert value("dialer_pbx_lost", {"pbx": "a"}) == 1
    assert value("dialer_pbx_lost", {"pbx": "b"}) == 0
    assert value("dialer_ami_connected", {"pbx": "a"}) == 0
    assert value("dialer_ami_connected", {"pbx": "b"}) == 1
    assert value("dialer_dialing_paused", {"reason": "pbx_down"}) == 0  # b still dials


def _bot_first_dialer() -> tuple[Dialer, list[str]]:
    """A bot-first campaign with three people at the bot and one agent: the first escalates
    and an agent takes them 12 s later, the second escalates and nobody comes, the third is
    still with the bot; a plain campaign runs beside it."""
    bot = CampaignConfig(name="bot1", queue="agents", bot_first=True, bot_endpoint="PJSIP/voicebot",
                         bot_capacity=3)
    d = Dialer([bot, CampaignConfig(name="plain", queue="other")], run_id="m2")
    d.handle(ev.AgentStatus(0.0, "agent1", queue="agents", device_status=1, paused=False))
    d.handle(ev.LeadsAdded(0.0, "bot1", tuple(Lead(f"b{i}", f"+8613800000{i:03d}") for i in range(5))))
    ids = [c.call_id for c in d.handle(ev.Tick(1.0)) if isinstance(c, cmd.ReserveAttempt)]
    assert len(ids) == 3  # the bot's channels
    for cid in ids:
        d.handle(ev.AttemptApproved(1.0, cid))
        d.handle(ev.CallAnswered(3.0, cid))
        d.handle(ev.AmdVerdict(5.0, cid, status="HUMAN"))
    first, second, _third = ids
    d.handle(ev.BotEscalated(30.0, first))
    d.handle(ev.CallQueued(30.2, first, queue="agents"))
    d.handle(ev.CallConnected(42.0, first, agent="agent1"))
    d.handle(ev.CallCompleted(100.0, first, agent="agent1"))
    d.handle(ev.CallHungUp(100.0, first, leg=1, cause=16))
    d.handle(ev.BotEscalated(50.0, second))
    return d, ids


def test_bot_first_figures_per_campaign():
    d, (_first, second, _third) = _bot_first_dialer()
    m = DialerMetrics()
    m.publish(MetricsState(snapshot=d.snapshot(60.0)))
    value = m.registry.get_sample_value
    c = {"campaign": "bot1"}
    assert value("dialer_bot_capacity", c) == 3
    assert value("dialer_bot_calls", c) == 1  # the third; the second waits for an agent
    assert value("dialer_escalations_waiting", c) == 1
    assert value("dialer_escalations_total", c) == 2
    assert value("dialer_escalations_unanswered_total", c) == 0
    assert value("dialer_escalation_wait_seconds_count", c) == 1
    assert value("dialer_escalation_wait_seconds_sum", c) == 12.0
    assert value("dialer_escalation_wait_seconds_bucket", {**c, "le": "10.0"}) == 0
    assert value("dialer_escalation_wait_seconds_bucket", {**c, "le": "15.0"}) == 1
    assert value("dialer_escalation_wait_seconds_bucket", {**c, "le": "+Inf"}) == 1
    # A plain campaign has no bot series at all (not zeros that would read as an idle bot).
    assert value("dialer_bot_capacity", {"campaign": "plain"}) is None
    assert value("dialer_escalations_total", {"campaign": "plain"}) is None

    d.handle(ev.QueueGaveUp(110.0, second, reason="timeout"))
    d.handle(ev.CallHungUp(120.0, second, leg=1, cause=16))
    m.publish(MetricsState(snapshot=d.snapshot(120.0)))
    assert value("dialer_escalations_unanswered_total", c) == 1
    assert value("dialer_escalations_waiting", c) == 0
    assert value("dialer_calls_handled_by_bot_total", c) == 1
    assert value("dialer_calls_abandoned_total", c) == 0  # not a legal abandonment
    assert value("dialer_escalation_wait_seconds_count", c) == 1


def test_bot_figures_carry_no_phone_number_or_call_id():
    d, ids = _bot_first_dialer()
    m = DialerMetrics()
    m.publish(MetricsState(snapshot=d.snapshot(60.0)))
    text = generate_latest(m.registry).decode()
    bot_lines = [x for x in text.splitlines() if ("bot" in x or "escalat" in x) and not x.startswith("#")]
    assert bot_lines
    for line in bot_lines:
        assert "+86" not in line and "13800000" not in line
        assert not any(cid in line for cid in ids)
