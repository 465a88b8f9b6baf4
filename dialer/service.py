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
from functools import partial
from typing import Any

from .ami.client import ActionFailed, ActionLost, ActionTimeout, AmiAuthError, AmiConnectError, AmiLink, LinkDown
from .ami.codec import Frame, MalformedFrame
from .ami.translate import AmiTranslator
from .config import RunConfig, Secret
from .core import Dialer
from .core import commands as cmd
from .core import events as ev
from .core.kernels import IMPLEMENTATION as KERNEL
from .core.pool import UNLIMITED, PbxPool, from_pbx
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


@dataclass(slots=True)
class PbxEndpoint:
    name: str
    host: str
    port: int
    user: str
    secret: Secret


@dataclass(slots=True)
class PbxMember:
    """One PBX of the pool as the service holds it: its own AMI link and translator
    (a translator knows only the calls originated on its PBX, so frames of one PBX can
    never be matched to a call on another)."""

    name: str
    link: AmiLink
    translator: AmiTranslator


class DialerService:
    def __init__(self, config: RunConfig, *, metrics: DialerMetrics | None = None,
                 delivery: DeliverySettings | None = None) -> None:
        config.validate()
        self.config = config
        self.metrics = metrics or DialerMetrics()
        self.run_id = secrets.token_hex(4)
        names = config.pbx_names()
        limits = [(p.name, p.channels) for p in config.pbxs] or [(n, UNLIMITED) for n in names]
        # The grace is real seconds (links reconnect in real time); the core runs on the
        # PBX clock, which the embedded PBX may run faster.
        pool = PbxPool(limits, grace_s=config.pbx_grace_s * config.speed)
        self.core = Dialer([config.campaign], run_id=self.run_id, pool=pool)
        self.members: dict[str, PbxMember] = {}  # in configuration order
        self.sims: list[Any] = []  # the embedded SimulatedPBXs, when used
        # With several PBXs, agent names are prefixed with their PBX's (agent1 on two PBXs
        # is two people); a pool of one keeps the names the PBX uses.
        self._namespace = len(names) > 1
        self._connectors: set[asyncio.Task[None]] = set()
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
        endpoints = await self._pbx_endpoints()
        self.gate = await Gate.open(cfg, lambda: self._now())
        # Attempts an earlier run of this outbox reserved and never closed (a crash) get
        # their outcome now; the ledger keeps counting them.
        self.recovery = await self.delivery.recover(self.gate.ledger)
        for e in endpoints:
            link = AmiLink(e.host, e.port, e.user, e.secret.reveal(), events=cfg.ami_events,
                           on_frame=partial(self._on_frame, e.name), on_link=partial(self._on_link, e.name))
            self.members[e.name] = PbxMember(e.name, link, AmiTranslator())
        await self._start_links()
        for name, member in self.members.items():
            if member.link.connected:
                await self._resync(name, initial=True)
        self._load_leads()

    # --- the pool -----------------------------------------------------------------------

    @property
    def link(self) -> AmiLink | None:
        """The first PBX's link (the only one in a pool of one)."""
        return next(iter(self.members.values())).link if self.members else None

    @property
    def translator(self) -> AmiTranslator | None:
        return next(iter(self.members.values())).translator if self.members else None

    @property
    def pbx(self) -> Any:
        """The first embedded SimulatedPBX (the only one unless --sim-pbxs)."""
        return self.sims[0] if self.sims else None

    def _link_for_call(self, call_id: str) -> AmiLink | None:
        """The link of the PBX that carries this call: every per-call action (Hangup,
        Redirect, ...) must go there, since no other PBX knows the channel."""
        member = self.members.get(self.core.pool.owner(call_id) or "")
        return member.link if member is not None else None

    async def _start_links(self) -> None:
        """Log in to every PBX. A bad secret is fatal; an unreachable PBX is fatal only if
        no PBX can be reached: the others dial while it keeps being retried."""
        assert self.clock is not None
        failed: list[tuple[PbxMember, AmiConnectError]] = []
        for member in self.members.values():
            try:
                await member.link.start()
            except AmiAuthError:
                raise
            except AmiConnectError as exc:
                failed.append((member, exc))
        if len(failed) == len(self.members):
            raise failed[0][1]
        for member, why in failed:
            log.error("PBX %s: %s; dialling on the others and retrying it", member.name, why)
            self._dispatch(ev.PbxLinkChanged(self.clock.now(), up=False, pbx=member.name))
            task = asyncio.ensure_future(self._keep_connecting(member))
            self._connectors.add(task)
            task.add_done_callback(self._connectors.discard)

    async def _keep_connecting(self, member: PbxMember) -> None:
        link = member.link
        delay = link.reconnect_min
        while True:
            await asyncio.sleep(delay)
            try:
                await link.start()  # on success on_link(True) resyncs it
                return
            except AmiAuthError as exc:
                log.error("PBX %s: %s", member.name, exc)
            except AmiConnectError as exc:
                log.debug("PBX %s: %s", member.name, exc)
            delay = min(link.reconnect_max, delay * 2)

    def _now(self) -> float:
        assert self.clock is not None
        return self.clock.now()

    async def _pbx_endpoints(self) -> list[PbxEndpoint]:
        cfg = self.config
        if cfg.pbxs:
            return [PbxEndpoint(p.name, p.host, p.port, p.user, p.secret) for p in cfg.pbxs]
        if cfg.ami is not None:
            assert cfg.ami_secret is not None
            return [PbxEndpoint(cfg.pbx_names()[0], cfg.ami[0], cfg.ami[1], cfg.ami_user, cfg.ami_secret)]
        from .sim.embedded import start_embedded_pbx  # imported late: not needed with a real PBX

        assert self.clock is not None
        out = []
        for i, name in enumerate(cfg.pbx_names()):
            secret = Secret(secrets.token_urlsafe(16))
            sim = await start_embedded_pbx(
                agents=cfg.agents, scenario=cfg.scenario, seed=cfg.seed + 1000 * i, speed=cfg.speed,
                username=cfg.ami_user, secret=secret.reveal(), queue=cfg.campaign.queue,
                wrapup_s=cfg.campaign.wrapup_s, abandon_after_s=cfg.campaign.abandon_after_s,
            )
            self.sims.append(sim)
            out.append(PbxEndpoint(name, "127.0.0.1", sim.port, cfg.ami_user, secret))
        self.clock = Clock(self.clock.loop, cfg.speed, source=self.sims[0].now)
        return out

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
            agents = cfg.agents * max(1, len(self.sims))
            n = cfg.demo_leads or max(200, int(agents * cfg.duration_s / 6))
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
            self.delivery.tick(now, partial(self.core.snapshot, now))
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
        for task in list(self._connectors):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._settle()
        for member in self.members.values():
            await member.link.close()
        for sim in self.sims:
            await sim.stop()
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

    def _on_frame(self, pbx: str, frame: Frame | MalformedFrame, received_at: float) -> None:
        self._translate(pbx, frame)

    def _translate(self, pbx: str, frame: Frame | MalformedFrame) -> None:
        assert self.clock is not None
        for event in self.members[pbx].translator.translate(frame, self.clock.now()):
            self._dispatch(from_pbx(event, pbx, namespace=self._namespace))

    def _on_link(self, pbx: str, up: bool) -> None:
        assert self.clock is not None
        self._dispatch(ev.PbxLinkChanged(self.clock.now(), up=up, pbx=pbx))
        if up:
            self._spawn(self._resync(pbx, initial=False))

    async def _resync(self, pbx: str, *, initial: bool) -> None:
        """After (re)login to one PBX: its agents from QueueStatus; the calls it carried
        that it no longer has end as lost."""
        assert self.clock is not None
        member = self.members[pbx]
        try:
            for frame in await member.link.queue_status(self.config.campaign.queue):
                self._translate(pbx, frame)
            if initial:
                return
            live = set()
            for frame in await member.link.core_show_channels():
                uid = frame.get("Uniqueid") or ""
                live.add(uid)
                call = member.translator.call_for_uniqueid(uid)
                if call:
                    live.add(call)
            now = self.clock.now()
            for call_id in self.core.in_flight_call_ids(pbx):
                if call_id not in live:
                    self._dispatch(ev.CallVanished(now, call_id, reason="not on PBX after reconnect"))
        except (ActionLost, ActionTimeout) as exc:
            log.warning("PBX %s: resync incomplete (%s); will retry on the next reconnect", pbx,
                        type(exc).__name__)

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
                    self.members[c.pbx].translator.register_originate(c.call_id, c.call_id)
                    self._spawn(self._originate(c))
                case cmd.Hangup():
                    self._spawn(self._hangup(c))
                case cmd.Redirect():
                    self._spawn(self._redirect(c))
                case cmd.EmitOutcome():
                    self._spawn(self._emit(c))
                case cmd.LeadExhausted():
                    log.debug("lead finished in campaign %s: %s", c.campaign, c.reason)

    async def _reserve(self, c: cmd.ReserveAttempt) -> None:
        assert self.gate is not None
        self._dispatch(await self.gate.reserve(c))

    async def _originate(self, c: cmd.Originate) -> None:
        assert self.clock is not None
        log.info("originate %s to %s on %s", c.call_id, mask_phone(c.phone), c.pbx, extra={"call_id": c.call_id})
        try:
            await self.members[c.pbx].link.originate(c)
        except LinkDown:
            # Not written: nothing was dialled, so the attempt ends now (as failed).
            log.warning("originate %s: PBX %s link down; not sent", c.call_id, c.pbx)
            self._dispatch(ev.OriginateRejected(self.clock.now(), c.call_id, message="PBX link down"))
        except ActionLost:
            # Never re-sent: the PBX may have dialled it. Resync after reconnect, or the
            # core's watchdog, gives the call its outcome.
            log.warning("originate %s: link lost before the PBX answered; not re-sending", c.call_id)
        except ActionTimeout:
            log.warning("originate %s: no response in time; waiting for call events", c.call_id)

    async def _hangup(self, c: cmd.Hangup) -> None:
        link = self._link_for_call(c.call_id)
        if link is None:
            return  # the call has already ended
        with contextlib.suppress(ActionLost, ActionTimeout):
            await link.hangup(c.call_id)

    async def _redirect(self, c: cmd.Redirect) -> None:
        """A bot escalation: move the call (its Uniqueid is the call id) to the agents, through
        the PBX that carries it. If it fails the person stays with the bot; the call still
        ends with its one outcome from the events that follow."""
        link = self._link_for_call(c.call_id)
        if link is None:
            return  # the call has already ended
        pairs = [("Channel", c.call_id), ("Context", c.context), ("Exten", c.exten), ("Priority", str(c.priority))]
        try:
            await link.send_action("Redirect", pairs)
        except (ActionFailed, ActionLost, ActionTimeout, LinkDown) as exc:
            log.warning("redirect %s to %s failed: %s", c.call_id, c.context, type(exc).__name__,
                        extra={"call_id": c.call_id})

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
        self.metrics.publish(MetricsState(
            snapshot=self.core.snapshot(),
            ami=tuple(AmiFigures(pbx=m.name, connected=m.link.connected,
                                 frames=m.translator.stats.get("frames", 0),
                                 malformed=m.translator.stats.get("malformed", 0),
                                 reconnects=m.link.reconnects) for m in self.members.values()),
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
