"""Prometheus exposition. Gauges and counters are computed at scrape time from the latest
snapshot the service published (a custom Collector), so the event path does no metric
work beyond one histogram observation per pacing decision.

Labels are bounded: campaign, disposition, state, status, rule, reason, pbx. Never a phone number,
borrower id or call id. The HTTP server runs in prometheus_client's own thread and reads
an immutable snapshot reference, so a slow scrape cannot stall the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.registry import Collector

from . import __version__
from .core.engine import CampaignSnapshot, DialerSnapshot
from .core.events import AMD_STATUSES
from .core.model import Disposition
from .core.stats import ESCALATION_WAIT_BUCKETS_S

DISPOSITIONS = tuple(d.value for d in Disposition)
#: Reasons the gate could not decide (dialer/gate.py); other reasons appear when they happen.
GATE_ERROR_REASONS = ("ledger_unavailable", "corrupt_record")


@dataclass(frozen=True, slots=True)
class AmiFigures:
    pbx: str = "default"
    connected: bool = False
    frames: int = 0
    malformed: int = 0
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class MetricsState:
    snapshot: DialerSnapshot | None = None
    ami: tuple[AmiFigures, ...] = ()
    abandon_cap: float = 0.03
    kernel: str = "unknown"
    outbox_depth: int = 0
    publish_failures: int = 0
    gate_errors: dict[str, int] = field(default_factory=dict)


#: Per bot-first campaign: (family, name, help, value from the campaign's snapshot).
_BOT_SERIES: tuple[tuple[type[GaugeMetricFamily] | type[CounterMetricFamily], str, str,
                         Callable[[CampaignSnapshot], float]], ...] = (
    (GaugeMetricFamily, "dialer_bot_calls", "People talking to the bot now.",
     lambda c: c.calls.get("bot", 0)),
    (GaugeMetricFamily, "dialer_bot_capacity", "People the bot can talk to at once (--bot-capacity).",
     lambda c: c.bot_capacity or 0),
    (CounterMetricFamily, "dialer_calls_handled_by_bot", "Calls ended with the bot and no agent (escalated or not).",
     lambda c: c.stats.handled_by_bot),
    (CounterMetricFamily, "dialer_escalations", "Escalations the bot asked for (counted when it asks).",
     lambda c: c.stats.escalations),
    (GaugeMetricFamily, "dialer_escalations_waiting", "Escalated people waiting for an agent now.",
     lambda c: c.calls.get("escalated", 0)),
    (CounterMetricFamily, "dialer_escalations_unanswered", "Escalated calls that ended with no agent ever taking them.",
     lambda c: c.stats.escalation_abandoned),
)


class SnapshotCollector(Collector):
    def __init__(self, state: Callable[[], MetricsState]) -> None:
        self._state = state

    def collect(
        self,
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily | HistogramMetricFamily]:
        st = self._state()
        info = InfoMetricFamily("dialer_build", "Build information and the loaded pacing kernel.")
        info.add_metric([], {"version": __version__, "kernel": st.kernel})
        yield info

        ami_up = GaugeMetricFamily("dialer_ami_connected", "1 while the AMI link is logged in.", labels=["pbx"])
        ami_frames = CounterMetricFamily("dialer_ami_frames", "AMI frames received.", labels=["pbx"])
        ami_bad = CounterMetricFamily(
            "dialer_ami_frames_malformed", "AMI frames rejected as malformed.", labels=["pbx"]
        )
        ami_rc = CounterMetricFamily("dialer_ami_reconnects", "AMI reconnections after a lost link.", labels=["pbx"])
        for a in st.ami:
            ami_up.add_metric([a.pbx], 1.0 if a.connected else 0.0)
            ami_frames.add_metric([a.pbx], a.frames)
            ami_bad.add_metric([a.pbx], a.malformed)
            ami_rc.add_metric([a.pbx], a.reconnects)
        yield from (ami_up, ami_frames, ami_bad, ami_rc)
        yield from self._pool(st.snapshot)

        outbox = GaugeMetricFamily("dialer_outbox_depth", "Outcome events written but not yet confirmed by the sink.")
        outbox.add_metric([], st.outbox_depth)
        yield outbox
        pub = CounterMetricFamily("dialer_outcome_publish_failures", "Failed attempts to deliver outcome events.")
        pub.add_metric([], st.publish_failures)
        yield pub
        gate = CounterMetricFamily(
            "dialer_compliance_gate_errors", "Gate could not decide (fails closed).", labels=["reason"]
        )
        # Known reasons start at 0 so rate()/increase() see the first error.
        for reason, n in sorted(({r: 0 for r in GATE_ERROR_REASONS} | st.gate_errors).items()):
            gate.add_metric([reason], n)
        yield gate

        snap = st.snapshot
        if snap is None:
            return
        originated = CounterMetricFamily("dialer_calls_originated", "Originate actions sent.", labels=["campaign"])
        outcomes = CounterMetricFamily(
            "dialer_call_outcomes", "Calls ended, by final disposition.", labels=["campaign", "disposition"]
        )
        answered = CounterMetricFamily(
            "dialer_calls_answered_human",
            "Calls a person answered (denominator of the abandon rate).",
            labels=["campaign"],
        )
        abandoned = CounterMetricFamily(
            "dialer_calls_abandoned",
            "Calls abandoned in the legal sense (no agent within the threshold).",
            labels=["campaign"],
        )
        amd = CounterMetricFamily("dialer_amd_verdicts", "AMD verdicts.", labels=["campaign", "status"])
        refusals = CounterMetricFamily(
            "dialer_compliance_refusals", "Attempts the compliance gate refused, by rule.", labels=["campaign", "rule"]
        )
        decisions = CounterMetricFamily("dialer_pacing_decisions", "Pacing decisions taken.", labels=["campaign"])
        reserved = CounterMetricFamily(
            "dialer_attempts_reserved", "Attempts sent to the compliance gate.", labels=["campaign"]
        )
        busy_s = CounterMetricFamily(
            "dialer_agent_busy_seconds",
            "Agent seconds spent ringing, talking or in wrap-up (rolling occupancy: rate of this over "
            "rate of dialer_agent_available_seconds_total).",
            labels=["campaign"],
        )
        avail_s = CounterMetricFamily(
            "dialer_agent_available_seconds",
            "Agent seconds logged in and not paused (ready plus busy).",
            labels=["campaign"],
        )
        agents = GaugeMetricFamily("dialer_agents", "Agents by state.", labels=["campaign", "state"])
        in_flight = GaugeMetricFamily(
            "dialer_calls_in_flight", "Calls originated and not yet with an agent or ended.", labels=["campaign"]
        )
        ratio = GaugeMetricFamily("dialer_dial_ratio", "Calls in flight per staffed agent.", labels=["campaign"])
        rate = GaugeMetricFamily(
            "dialer_abandon_rate", "Abandoned / answered by a person, this run.", labels=["campaign"]
        )
        cap = GaugeMetricFamily(
            "dialer_abandon_rate_cap", "The legal abandonment cap the pacer steers under.", labels=["campaign"]
        )
        occ = GaugeMetricFamily(
            "dialer_agent_occupancy_ratio",
            "Talk+wrap-up time over available agent time, this run.",
            labels=["campaign"],
        )
        leads = GaugeMetricFamily(
            "dialer_leads_pending", "Leads waiting to be dialled (now or later).", labels=["campaign"]
        )
        paused = GaugeMetricFamily(
            "dialer_dialing_paused", "1 while origination is paused, by reason.", labels=["reason"]
        )
        paused.add_metric(["pbx_down"], 0.0 if snap.pbx_up else 1.0)
        paused.add_metric(["backpressure"], 1.0 if snap.backpressure else 0.0)
        for c in snap.campaigns:
            s = c.stats
            originated.add_metric([c.name], s.placed)
            # Every disposition and AMD status is exported from 0, so the first one counts.
            for disp in DISPOSITIONS:
                outcomes.add_metric([c.name, disp], s.dispositions.get(disp, 0))
            answered.add_metric([c.name], s.answered_human)
            abandoned.add_metric([c.name], s.abandoned)
            for status in sorted(set(AMD_STATUSES) | set(s.amd)):
                amd.add_metric([c.name, status], s.amd.get(status, 0))
            for rule, n in sorted(s.refused_by_rule.items()):
                refusals.add_metric([c.name, rule], n)
            decisions.add_metric([c.name], s.pacing_decisions)
            reserved.add_metric([c.name], s.reserved)
            busy_s.add_metric([c.name], c.talk_wrap_s)
            avail_s.add_metric([c.name], c.available_s)
            for state, n in c.agents.items():
                agents.add_metric([c.name, state], n)
            in_flight.add_metric(
                [c.name], sum(n for k, n in c.calls.items() if k not in ("queued", "connected", "ending"))
            )
            ratio.add_metric([c.name], c.dial_ratio)
            rate.add_metric([c.name], s.abandon_rate)
            cap.add_metric([c.name], st.abandon_cap)
            occ.add_metric([c.name], c.occupancy)
            leads.add_metric([c.name], c.leads_pending)
        yield from (
            originated,
            outcomes,
            answered,
            abandoned,
            amd,
            refusals,
            decisions,
            reserved,
            busy_s,
            avail_s,
            agents,
            in_flight,
            ratio,
            rate,
            cap,
            occ,
            leads,
            paused,
        )
        yield from self._bot(snap)

    @staticmethod
    def _bot(snap: DialerSnapshot) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        """Bot-first campaigns only (AI筛选 + 人工攻坚): the bot's load and the escalations to
        the agents. An unanswered escalation (no agent ever came) is not a legal abandonment
        (the bot had answered), so it is counted here and not in dialer_calls_abandoned_total."""
        bot = [c for c in snap.campaigns if c.bot_capacity is not None]
        for kind, name, text, value in _BOT_SERIES:
            family = kind(name, text, labels=["campaign"])
            for c in bot:
                family.add_metric([c.name], value(c))
            yield family
        wait = HistogramMetricFamily(
            "dialer_escalation_wait_seconds", "From the bot's escalation to an agent taking the call.",
            labels=["campaign"],
        )
        bounds = [*(repr(b) for b in ESCALATION_WAIT_BUCKETS_S), "+Inf"]
        for c in bot:
            s = c.stats
            wait.add_metric([c.name], list(zip(bounds, accumulate(s.escalation_wait_counts), strict=True)),
                            sum_value=s.escalation_wait_s_total)
        yield wait

    @staticmethod
    def _pool(snap: DialerSnapshot | None) -> Iterator[GaugeMetricFamily]:
        """Per PBX of the pool: the calls the dialer keeps on it, its limit, and whether it
        is lost (link down past --pbx-grace: its calls were ended, it gets no new ones)."""
        in_use = GaugeMetricFamily(
            "dialer_pbx_channels_in_use", "Calls the dialer has on this PBX (reserved to ended).", labels=["pbx"]
        )
        limit = GaugeMetricFamily(
            "dialer_pbx_channel_limit", "The PBX's channel limit (--pbx channels=).", labels=["pbx"]
        )
        lost = GaugeMetricFamily(
            "dialer_pbx_lost", "1 once the PBX's link has been down longer than --pbx-grace.", labels=["pbx"]
        )
        for p in snap.pbxs if snap is not None else ():
            in_use.add_metric([p.name], p.in_use)
            limit.add_metric([p.name], p.limit)
            lost.add_metric([p.name], 1.0 if p.lost else 0.0)
        yield from (in_use, limit, lost)


class DialerMetrics:
    """The registry, the decision-latency histogram, and the state the collector reads."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._state = MetricsState()
        self._lock = threading.Lock()
        self.decision_seconds = Histogram(
            "dialer_pacing_decision_seconds",
            "Time to run one pacing tick through the core.",
            buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1),
            registry=self.registry,
        )
        self.registry.register(SnapshotCollector(self.state))

    def state(self) -> MetricsState:
        with self._lock:
            return self._state

    def publish(self, state: MetricsState) -> None:
        with self._lock:
            self._state = state

    def serve(self, host: str, port: int) -> tuple[object, threading.Thread]:
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return server, thread
