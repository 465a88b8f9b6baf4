"""Per-PBX figures in the Prometheus exposition, read back from a fresh registry."""

from __future__ import annotations

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
