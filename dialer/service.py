"""The asyncio service: the only place where the core meets clocks, sockets and files.

It feeds the core events (AMI frames translated, clock ticks, gate answers) and executes
the commands the core returns. Nothing here decides anything about calls: if a behaviour
matters, it lives in dialer/core and is tested there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .ami.client import ActionLost, ActionTimeout, AmiLink
from .ami.codec import Frame
from .ami.translate import AmiTranslator
from .config import RunConfig, Secret
from .core import Dialer
from .core import commands as cmd
from .core import events as ev
from .core.kernels import IMPLEMENTATION as KERNEL
from .core.privacy import mask_phone
from .delivery import Delivery, DeliverySettings, RecoveryReport
from .gate import Gate, campaign_rules
from .leads import demo_leads, load_leads
from .metrics import AmiFigures, DialerMetrics, MetricsState
from .summary import Summary, summarize

log = logging.getLogger("dialer.service")


class Clock:
    """Epoch seconds, optionally running faster than real time (embedded PBX only).

    With the embedded PBX the dialer reads the PBX's own clock, so a test can run a
    two-minute campaign in twelve seconds with every timer in proportion and the
    PBX's Timestamp headers on the same time line as the core's ticks.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, speed: float = 1.0,
                 source: Callable[[], float] | None = None) -> None:
        self.loop = loop
        self.speed = speed
        self._t0 = loop.time()
        self._epoch0 = time.time()
        self._source = source

    def now(self) -> float:
        if self._source is not None:
            return self._source()
        return self._epoch0 + (self.loop.time() - self._t0) * self.speed

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed


@dataclass(slots=True)
class Progress:
    started: float
    last_print: float = 0.0


class DialerService:
    def __init__(self, config: RunConfig, *, metrics: DialerMetrics | None = None,
                 delivery: DeliverySettings | None = None) -> None:
        config.validate()
        self.config = config
        self.metrics = metrics or DialerMetrics()
        self.run_id = secrets.token_hex(4)
        self.core = Dialer([config.campaign], run_id=self.run_id)
        self.translator = AmiTranslator()
        self.pbx: Any = None  # the embedded SimulatedPBX, when used
        self.link: AmiLink | None = None
        self.gate: Gate | None = None
        self.clock: Clock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pseudonym_key = config.pseudonym_key.reveal().encode() or secrets.token_bytes(32)
        # Outcomes and the other events leave through a durable outbox (RabbitMQ, the
        # --outcomes JSON-lines file, or nothing), so the call path never waits for a broker.
        self.delivery = Delivery(
            delivery or DeliverySettings.for_run(config), run_id=self.run_id, campaigns=[config.campaign],
            pseudonym_key=self._pseudonym_key, now=lambda: self._now(), on_backpressure=self._on_backpressure,
        )
        self.recovery: RecoveryReport | None = None
        self.backpressure_changes: list[bool] = []
        self.lead_errors: list[str] = []
        self.leads_loaded = 0
        self.errors: list[str] = []
        self._metrics_server: Any = None
        self._stop_requests = 0

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        self.clock = Clock(loop, cfg.speed)
        rules = campaign_rules(cfg)  # a misconfigured campaign fails before anything starts
        if not cfg.pseudonym_key:
            log.warning("DIALER_PSEUDONYM_KEY not set: borrower pseudonyms are random for this run only")
        # A bad broker URL or password fails here, before the PBX; a broker that is down
        # only means the outbox buffers (and says so).
        await self.delivery.start(compliance_rules=(rules.fingerprint,))
        if cfg.metrics is not None:
            self._metrics_server = self.metrics.serve(*cfg.metrics)
        host, port, user, secret = await self._pbx_endpoint()
        self.gate = await Gate.open(cfg, lambda: self._now())
        # Attempts an earlier run of this outbox reserved and never closed (a crash) get
        # their outcome now; the ledger keeps counting them.
        self.recovery = await self.delivery.recover(self.gate.ledger)
        self.link = AmiLink(host, port, user, secret.reveal(), events=cfg.ami_events,
                            on_frame=self._on_frame, on_link=self._on_link)
        await self.link.start()
        await self._resync(initial=True)
        self._load_leads()

    def _now(self) -> float:
        assert self.clock is not None
        return self.clock.now()

    async def _pbx_endpoint(self) -> tuple[str, int, str, Secret]:
        cfg = self.config
        if cfg.ami is not None:
            assert cfg.ami_secret is not None
            return cfg.ami[0], cfg.ami[1], cfg.ami_user, cfg.ami_secret
        from .sim.embedded import start_embedded_pbx  # imported late: not needed with a real PBX

        assert self.clock is not None
        secret = Secret(secrets.token_urlsafe(16))
        self.pbx = await start_embedded_pbx(
            agents=cfg.agents, scenario=cfg.scenario, seed=cfg.seed, speed=cfg.speed,
            username=cfg.ami_user, secret=secret.reveal(), queue=cfg.campaign.queue,
            wrapup_s=cfg.campaign.wrapup_s, abandon_after_s=cfg.campaign.abandon_after_s,
        )
        self.clock = Clock(self.clock.loop, cfg.speed, source=self.pbx.now)
        return "127.0.0.1", self.pbx.port, cfg.ami_user, secret

    def _load_leads(self) -> None:
        cfg = self.config
        assert self.clock is not None
        if cfg.leads_path:
            result = load_leads(cfg.leads_path, cfg.default_region)
            for err in result.errors:
                self.lead_errors.append(str(err))
                log.warning("lead file %s: %s", cfg.leads_path, err)
            leads = result.leads
        else:
            n = cfg.demo_leads or max(200, int(cfg.agents * cfg.duration_s / 6))
            leads = list(demo_leads(n, seed=cfg.seed))
        self.leads_loaded = len(leads)
        self._dispatch(ev.LeadsAdded(self.clock.now(), cfg.campaign.name, tuple(leads)))

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: the first stops new calls (calls in progress finish), the second
        also hangs up what is still up. Nobody's conversation is cut by a routine stop."""
        self._stop_requests += 1
        log.warning("stop requested (%d): %s", self._stop_requests,
                    "draining: no new calls, waiting for calls in progress" if self._stop_requests == 1
                    else "hanging up the calls still in progress")

    async def run(self) -> Summary:
        """Dial for the configured duration, drain, and return the summary."""
        assert self.clock is not None
        clock = self.clock
        cfg = self.config
        started = clock.now()
        progress = Progress(started)
        stop_at = started + cfg.duration_s
        drain_deadline = stop_at + cfg.drain_timeout_s
        hung_up = False
        draining = False
        # Ticks are cfg.tick_s of simulated time, but never faster than 200 per real second.
        tick_real_s = max(0.005, cfg.tick_s / cfg.speed)
        while True:
            now = clock.now()
            if self._stop_requests and not draining:
                stop_at = min(stop_at, now)
                drain_deadline = stop_at + cfg.drain_timeout_s
            if self._stop_requests > 1:
                drain_deadline = min(drain_deadline, now)
            if not draining and now >= stop_at:
                draining = True
                self._dispatch(ev.Drain(now))
            self._tick(now)
            if draining and self.core.is_idle():
                break
            if draining and now >= drain_deadline and not hung_up:
                hung_up = True
                log.warning("drain timeout: hanging up %d call(s) still up", len(self.core.calls))
                for call_id in self.core.in_flight_call_ids():
                    self._execute([cmd.Hangup(call_id, "drain timeout")])
            if draining and now >= drain_deadline + 60:
                log.error("calls still open 60 s after hang-up; closing them as lost")
                for call_id in list(self.core.calls):
                    self._dispatch(ev.CallVanished(now, call_id, reason="shutdown"))
                self._tick(now + 2)
                break
            self._publish_metrics()
            self.delivery.tick(now, lambda t=now: self.core.snapshot(t))
            self._progress(progress, now)
            await asyncio.sleep(tick_real_s)
        await self._settle()
        self._progress(progress, clock.now(), final=True)
        self._publish_metrics()
        return summarize(self.core.snapshot(clock.now()), duration_s=clock.now() - started,
                         lead_errors=len(self.lead_errors), leads_loaded=self.leads_loaded)

    async def _settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._settle()
        if self.link is not None:
            await self.link.close()
        if self.pbx is not None:
            await self.pbx.stop()
        await self.delivery.close()
        if self.gate is not None:
            await self.gate.close()
        if self._metrics_server is not None:
            server, _thread = self._metrics_server
            server.shutdown()

    # --- events in --------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        t0 = time.perf_counter()
        commands = self.core.handle(ev.Tick(now))
        self.metrics.decision_seconds.observe(time.perf_counter() - t0)
        self._execute(commands)

    def _dispatch(self, event: ev.Event) -> None:
        self._execute(self.core.handle(event))

    def _on_frame(self, frame: Frame, received_at: float) -> None:
        assert self.clock is not None
        for event in self.translator.translate(frame, self.clock.now()):
            self._dispatch(event)

    def _on_link(self, up: bool) -> None:
        assert self.clock is not None
        self._dispatch(ev.PbxLinkChanged(self.clock.now(), up=up))
        if up:
            self._spawn(self._resync(initial=False))

    async def _resync(self, *, initial: bool) -> None:
        """After (re)login: agents from QueueStatus; calls the PBX no longer has end as lost."""
        assert self.link is not None and self.clock is not None
        try:
            for frame in await self.link.queue_status(self.config.campaign.queue):
                for event in self.translator.translate(frame, self.clock.now()):
                    self._dispatch(event)
            if initial:
                return
            live = set()
            for frame in await self.link.core_show_channels():
                uid = frame.get("Uniqueid") or ""
                live.add(uid)
                call = self.translator.call_for_uniqueid(uid)
                if call:
                    live.add(call)
            now = self.clock.now()
            for call_id in self.core.in_flight_call_ids():
                if call_id not in live:
                    self._dispatch(ev.CallVanished(now, call_id, reason="not on PBX after reconnect"))
        except (ActionLost, ActionTimeout) as exc:
            log.warning("resync incomplete (%s); will retry on the next reconnect", type(exc).__name__)

    # --- commands out -----------------------------------------------------------------

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.errors.append(f"{type(exc).__name__}: {exc}")
            log.error("background task failed: %s: %s", type(exc).__name__, exc)

    def _execute(self, commands: list[cmd.Command]) -> None:
        for c in commands:
            match c:
                case cmd.ReserveAttempt():
                    self._spawn(self._reserve(c))
                case cmd.Originate():
                    self.translator.register_originate(c.call_id, c.call_id)
                    self._spawn(self._originate(c))
                case cmd.Hangup():
                    self._spawn(self._hangup(c))
                case cmd.EmitOutcome():
                    self._spawn(self._emit(c))
                case cmd.LeadExhausted():
                    log.debug("lead finished in campaign %s: %s", c.campaign, c.reason)

    async def _reserve(self, c: cmd.ReserveAttempt) -> None:
        assert self.gate is not None
        self._dispatch(await self.gate.reserve(c))

    async def _originate(self, c: cmd.Originate) -> None:
        assert self.link is not None and self.clock is not None
        log.info("originate %s to %s", c.call_id, mask_phone(c.phone), extra={"call_id": c.call_id})
        try:
            await self.link.originate(c)
        except ActionLost:
            # Never re-sent: the PBX may have dialled it. Resync after reconnect, or the
            # core's watchdog, gives the call its outcome.
            log.warning("originate %s: link lost before the PBX answered; not re-sending", c.call_id)
        except ActionTimeout:
            log.warning("originate %s: no response in time; waiting for call events", c.call_id)

    async def _hangup(self, c: cmd.Hangup) -> None:
        assert self.link is not None
        with contextlib.suppress(ActionLost, ActionTimeout):
            await self.link.hangup(c.call_id)

    async def _emit(self, c: cmd.EmitOutcome) -> None:
        """The outcome is durable in the outbox before the ledger is told, so a crash in
        between leaves an open attempt that recovery closes with the real result."""
        assert self.gate is not None
        await self.delivery.emit_outcome(c.outcome)
        await self.gate.complete(c.outcome)

    def _on_backpressure(self, engaged: bool) -> None:
        self.backpressure_changes.append(engaged)
        self._dispatch(ev.OutboxBackpressure(self._now(), engaged=engaged))

    # --- figures ------------------------------------------------------------------------

    def _publish_metrics(self) -> None:
        link = self.link
        stats = self.translator.stats
        self.metrics.publish(MetricsState(
            snapshot=self.core.snapshot(),
            ami=(AmiFigures(pbx="default", connected=bool(link and link.connected),
                            frames=stats.get("frames", 0), malformed=stats.get("malformed", 0),
                            reconnects=link.reconnects if link else 0),),
            abandon_cap=self.core.abandon_target, kernel=KERNEL,
            outbox_depth=self.delivery.outbox_depth, publish_failures=self.delivery.publish_failures,
            gate_errors=self.gate.error_counts() if self.gate else {},
        ))

    def _progress(self, p: Progress, now: float, final: bool = False) -> None:
        if not self.config.progress or (not final and now - p.last_print < 1.0 * self.config.speed):
            return
        p.last_print = now
        from .summary import progress_line

        line = progress_line(self.core.snapshot(now), now - p.started)
        import sys

        end = "\n" if final or not sys.stderr.isatty() else ""
        sys.stderr.write(("\r" if sys.stderr.isatty() else "") + line + end)
        sys.stderr.flush()
