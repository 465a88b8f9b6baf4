"""Event delivery: the one object the service talks to for everything that leaves the dialer.

    delivery = Delivery(DeliverySettings.for_run(cfg), run_id=..., campaigns=[...], ...)
    await delivery.start()                   # outbox open, broker connected (or buffering)
    await delivery.recover(gate.ledger)      # outcomes for attempts a killed run left open
    await delivery.emit_outcome(outcome)     # durable in the outbox on return; never waits for the broker
    delivery.tick(now, snapshot_fn)          # campaign.stats every N s, due warm-up SMS requests
    await delivery.close()                   # publish what is pending (bounded wait), close

Guarantees (docs/events.md): an outcome is written to the local outbox (SQLite, fsynced)
before `emit_outcome` returns; a background relay publishes it to RabbitMQ with publisher
confirms (or appends it to the JSON-lines file) and marks it confirmed; whatever is not
confirmed is published again after a reconnect or a restart. Delivery is at-least-once with
the attempt id as the AMQP message id, so consumers that dedupe (dialer.sinks.consumer) see
each outcome exactly once. When the backlog reaches `max_backlog` the dialer is asked to stop
originating (`on_backpressure(True)`) and is released when it drains to `resume_backlog`.

Order in the service's call path: `emit_outcome` first, then the ledger's `complete`. A kill
between the two leaves an open attempt whose outcome is already in the outbox, and
`recover` completes it with the real result; a kill before both leaves an open attempt with
no outcome, and `recover` writes a `lost` outcome for it and completes it as `unknown` (the
ledger keeps counting it: fail closed). Runs are told apart by the attempt id prefix
(`<run_id>-<seq>`, dialer.core.engine) and the outbox's `runs` table: only runs that used
this outbox are recovered, so two dialers sharing a PostgreSQL ledger never close each
other's live calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import RunConfig, Secret
from .core.compliance import result_for_disposition
from .core.engine import DialerSnapshot
from .core.messaging import SmsRequest, SmsRules, after_agent_code, after_outcome
from .core.model import CampaignConfig, Disposition, Outcome
from .core.privacy import mask_phone, pseudonymise
from .errors import ConfigError, DialerIOError, InputError
from .sinks.amqp import AmqpTransport, ConsumerSpec, amqp_url_from
from .sinks.events import (
    AgentDisposition,
    OutcomeLabels,
    disposition_message,
    outcome_body,
    outcome_message,
    parse_agent_disposition,
    phone_ref,
    sms_message,
    stats_messages,
)
from .sinks.jsonl import JsonLinesTransport, NullTransport
from .sinks.outbox import AttemptRef, Message, Outbox
from .sinks.relay import Relay, Transport

__all__ = [
    "CampaignEvents",
    "Delivery",
    "DeliverySettings",
    "EventsConfig",
    "RecoveryReport",
    "add_delivery_arguments",
    "default_outbox_path",
    "delivery_settings",
    "open_attempts",
]

log = logging.getLogger("dialer.delivery")

DISPOSITIONS_QUEUE = "dialer.agent-dispositions"


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignEvents:
    labels: OutcomeLabels = field(default_factory=OutcomeLabels)
    sms: SmsRules = field(default_factory=SmsRules)


@dataclass(frozen=True, slots=True)
class EventsConfig:
    """Per-campaign outcome labels and SMS rules (`--events-config FILE`, JSON):

        {"campaigns": {"demo": {"strategy": "early", "segment": "B1", "script_variant": "v2",
                                "recording": "rec/{date}/{attempt_id}.wav",
                                "sms": {"warmup": {"before_s": 600},
                                        "link": {"after_codes": ["promise_to_pay"]}}}},
         "default": {...same keys, for campaigns not listed...}}
    """

    campaigns: Mapping[str, CampaignEvents] = field(default_factory=dict)
    default: CampaignEvents = field(default_factory=CampaignEvents)

    def for_campaign(self, name: str) -> CampaignEvents:
        return self.campaigns.get(name, self.default)

    @property
    def sms_enabled(self) -> bool:
        return any(c.sms.warmup or c.sms.link for c in (*self.campaigns.values(), self.default))

    @classmethod
    def load(cls, path: str | None) -> EventsConfig:
        if not path:
            return cls()
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as exc:
            raise ConfigError(f"--events-config: cannot read {path!r}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--events-config {path}: not JSON: line {exc.lineno}: {exc.msg}") from None
        return cls.from_json(data, path)

    @classmethod
    def from_json(cls, data: Any, where: str = "events config") -> EventsConfig:
        if not isinstance(data, dict) or set(data) - {"campaigns", "default"}:
            raise ConfigError(f"{where}: expected an object with 'campaigns' and/or 'default'")
        camps = data.get("campaigns") or {}
        if not isinstance(camps, dict):
            raise ConfigError(f"{where}: campaigns: expected an object keyed by campaign name")
        return cls(
            campaigns={name: _campaign_events(v, f"{where}: campaigns.{name}") for name, v in camps.items()},
            default=_campaign_events(data.get("default") or {}, f"{where}: default"),
        )


def _campaign_events(v: Any, where: str) -> CampaignEvents:
    keys = {"strategy", "segment", "script_variant", "recording", "sms"}
    if not isinstance(v, dict) or set(v) - keys:
        raise ConfigError(f"{where}: expected an object with keys among {sorted(keys)}")
    for k in keys - {"sms"}:
        if v.get(k) is not None and (not isinstance(v[k], str) or len(v[k]) > 200):
            raise ConfigError(f"{where}.{k}: expected a string of at most 200 characters")
    rec = v.get("recording")
    if rec:
        try:
            rec.format(attempt_id="x", campaign="c", date="2000-01-01")
        except (KeyError, IndexError, ValueError):
            raise ConfigError(
                f"{where}.recording: only {{attempt_id}}, {{campaign}} and {{date}} may be used"
            ) from None
    labels = OutcomeLabels(v.get("strategy"), v.get("segment"), v.get("script_variant"), (), rec)
    return CampaignEvents(labels, SmsRules.from_json(v.get("sms"), f"{where}.sms"))


@dataclass(slots=True)
class DeliverySettings:
    outbox_path: str
    amqp_url: Secret | None = None  # None: JSON-lines file (outcomes_path) or the null sink
    outcomes_path: str | None = None
    max_backlog: int = 100_000
    resume_backlog: int | None = None  # default: half of max_backlog
    window: int = 1000
    stats_interval_s: float = 60.0  # service-clock seconds; 0 switches campaign.stats off
    dispositions_queue: str | None = DISPOSITIONS_QUEUE
    events: EventsConfig = field(default_factory=EventsConfig)
    drain_timeout_s: float = 10.0  # at close, real seconds
    keep_confirmed_s: float = 86400.0
    connect_timeout_s: float = 5.0
    confirm_timeout_s: float = 30.0  # publishes in flight and no confirm for this long: reconnect
    backoff_max_s: float = 30.0  # reconnect backoff cap
    tmpdir: str | None = None  # removed at close (the demo's temporary outbox)

    def __post_init__(self) -> None:
        if self.max_backlog < 1:
            raise ConfigError(f"--outbox-max: expected at least 1, got {self.max_backlog}")
        if self.resume_backlog is None:
            self.resume_backlog = self.max_backlog // 2
        if not 0 <= self.resume_backlog < self.max_backlog:
            raise ConfigError(
                f"--outbox-resume: expected 0 <= N < --outbox-max ({self.max_backlog}), got {self.resume_backlog}"
            )
        if self.stats_interval_s < 0:
            raise ConfigError(f"--stats-interval: expected seconds >= 0, got {self.stats_interval_s}")

    @classmethod
    def for_run(cls, cfg: RunConfig, env: Mapping[str, str] | None = None, **overrides: Any) -> DeliverySettings:
        """Defaults for a run: broker from DIALER_AMQP_URL(_FILE), the run's --outcomes file, an outbox
        next to the ledger (a temporary one for the embedded demo without --ledger)."""
        if "outbox_path" not in overrides:
            overrides["outbox_path"], overrides["tmpdir"] = default_outbox_path(cfg)
        if "amqp_url" not in overrides:
            overrides["amqp_url"] = amqp_url_from(None, env)
        overrides.setdefault("outcomes_path", cfg.outcomes_path)
        return cls(**overrides)


def default_outbox_path(cfg: RunConfig) -> tuple[str, str | None]:
    """Where the outbox lives when --outcomes-outbox is not given, and a temp dir to remove.

    Next to a SQLite ledger (they must survive together: recovery reads both); in the working
    directory with a real PBX; a fresh temporary file for the embedded demo, whose ledger is
    temporary too.
    """
    url = cfg.ledger_url or ""
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        path = url[len("sqlite:///"):]
        stem = path[:-8] if path.endswith(".sqlite3") else path
        return stem + ".outbox.sqlite3", None
    if not cfg.embedded or url:
        return os.path.abspath("dialer-outbox.sqlite3"), None
    tmp = tempfile.mkdtemp(prefix="dialer-demo-outbox-")
    return os.path.join(tmp, "outbox.sqlite3"), tmp


def add_delivery_arguments(p: argparse.ArgumentParser) -> None:
    """The run command's event-delivery options (`--outcomes FILE` stays where it is)."""
    g = p.add_argument_group("event delivery")
    g.add_argument(
        "--amqp-url", metavar="env:NAME|file:PATH",
        help="where the RabbitMQ URL is: an environment variable (env:NAME) or a file (file:PATH),"
        " never the URL itself (default: DIALER_AMQP_URL or DIALER_AMQP_URL_FILE; neither set:"
        " outcomes go to --outcomes)",
    )
    g.add_argument("--outcomes-outbox", metavar="PATH",
                   help="the outbox SQLite file (default: next to a SQLite --ledger, else ./dialer-outbox.sqlite3;"
                   " a temporary file for the embedded demo)")
    g.add_argument("--outbox-max", type=int, default=100_000, metavar="N",
                   help="pause new calls when this many events wait for the broker (default: 100000)")
    g.add_argument("--outbox-resume", type=int, default=None, metavar="N",
                   help="resume calling when the backlog is down to N (default: half of --outbox-max)")
    g.add_argument("--events-config", metavar="FILE",
                   help="per-campaign outcome labels (strategy, segment, script variant, recording) and"
                   " SMS request rules, JSON (see docs/events.md)")
    g.add_argument("--stats-interval", type=float, default=60.0, metavar="SECONDS",
                   help="publish campaign.stats every SECONDS of dialer time; 0: never (default: 60)")
    g.add_argument("--dispositions-queue", default=DISPOSITIONS_QUEUE, metavar="NAME",
                   help="queue the dialer consumes agent.disposition events from; 'off': none"
                   f" (default: {DISPOSITIONS_QUEUE})")


def delivery_settings(a: argparse.Namespace, cfg: RunConfig, env: Mapping[str, str] | None = None) -> DeliverySettings:
    """DeliverySettings from the options of add_delivery_arguments."""
    over: dict[str, Any] = {
        "amqp_url": amqp_url_from(a.amqp_url, env),
        "max_backlog": a.outbox_max,
        "resume_backlog": a.outbox_resume,
        "events": EventsConfig.load(a.events_config),
        "stats_interval_s": a.stats_interval,
        "dispositions_queue": None if a.dispositions_queue in ("off", "") else a.dispositions_queue,
    }
    if a.outcomes_outbox:
        over["outbox_path"] = a.outcomes_outbox
    return DeliverySettings.for_run(cfg, env, **over)


# --- the ledger's open attempts --------------------------------------------------------------


async def open_attempts(ledger: Any, run_ids: Sequence[str]) -> list[Any]:
    """Attempts reserved by these runs and never completed (dialer.core.compliance.Attempt).

    Uses `ledger.open_attempts(prefixes)` when the ledger has it; otherwise reads the two
    known backends' `attempts` tables directly (same columns as the ledger's own queries).
    """
    prefixes = [f"{r}-" for r in run_ids]
    if not prefixes:
        return []
    fn = getattr(ledger, "open_attempts", None)
    if fn is not None:
        return list(await fn(prefixes))
    from .store._base import ATTEMPT_COLUMNS, row_to_attempt
    from .store.postgres import PostgresLedger
    from .store.sqlite import SqliteLedger

    cols = ", ".join(ATTEMPT_COLUMNS)
    rows: list[Any] = []
    if isinstance(ledger, SqliteLedger):
        def q(conn: Any) -> list[Any]:
            out: list[Any] = []
            for p in prefixes:
                out.extend(conn.execute(
                    f"SELECT {cols} FROM attempts WHERE result IS NULL AND substr(attempt_id, 1, ?) = ?",
                    (len(p), p),
                ))
            return out

        rows = await ledger._run(q)
    elif isinstance(ledger, PostgresLedger):
        for p in prefixes:
            rows.extend(tuple(r) for r in await ledger._fetch(
                f"SELECT {cols} FROM {ledger.schema}.attempts WHERE result IS NULL AND left(attempt_id, $1) = $2",
                len(p), p,
            ))
    else:
        raise TypeError(f"cannot list open attempts of {type(ledger).__name__}: give it open_attempts(prefixes)")
    return sorted((row_to_attempt(r) for r in rows), key=lambda a: a.at)


# --- the integration object ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    runs: tuple[str, ...] = ()
    lost: int = 0  # open attempts with no outcome: a `lost` outcome was written
    completed: int = 0  # open attempts whose outcome was already in the outbox
    failed: int = 0


class Delivery:
    def __init__(
        self,
        settings: DeliverySettings,
        *,
        run_id: str,
        campaigns: Sequence[CampaignConfig],
        pseudonym_key: bytes,
        now: Callable[[], float] = time.time,
        on_backpressure: Callable[[bool], None] | None = None,
        on_disposition: Callable[[AgentDisposition, AttemptRef], None] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.campaigns = {c.name: c for c in campaigns}
        self._key = pseudonym_key
        self._now = now
        self.on_backpressure = on_backpressure
        self.on_disposition = on_disposition
        self.outbox = Outbox(settings.outbox_path, keep_confirmed_s=settings.keep_confirmed_s)
        self.transport = transport or self._make_transport()
        self.relay = Relay(self.outbox, self.transport, window=settings.window,
                           backoff_max_s=settings.backoff_max_s, stall_timeout_s=settings.confirm_timeout_s)
        self.outbox.on_change = self._on_outbox_change
        self.backpressure = False
        self.compliance_rules: tuple[str, ...] = ()
        self.dispositions_received = 0
        self.dispositions_rejected = 0
        self.dispositions_parked = 0
        self.sms_requested = 0
        self.sms_expired = 0
        self._sms_last: dict[str, dict[str, float]] = {}
        self._parked_possible = False
        self._sms_any = settings.events.sms_enabled
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stats_seq = 0
        self._last_stats: float | None = None
        self._busy: set[str] = set()
        self._last_release_wall = 0.0
        self._last_prune_wall = time.monotonic()
        self.errors: list[str] = []
        self._started = False

    def _make_transport(self) -> Transport:
        s = self.settings
        if s.amqp_url is not None:
            consumers = []
            if s.dispositions_queue:
                consumers.append(
                    ConsumerSpec(s.dispositions_queue, ("agent.disposition.#",), self._on_disposition_message)
                )
            return AmqpTransport(s.amqp_url, connect_timeout_s=s.connect_timeout_s, consumers=consumers)
        if s.outcomes_path:
            return JsonLinesTransport(s.outcomes_path)
        return NullTransport()

    # --- figures for the metrics (MetricsState.outbox_depth / publish_failures) ----------------

    @property
    def outbox_depth(self) -> int:
        return self.outbox.depth

    @property
    def publish_failures(self) -> int:
        return self.relay.publish_failures + self.relay.connect_failures

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, compliance_rules: Sequence[str] = ()) -> None:
        """Open the outbox, register this run, connect (ConfigError for a bad URL or password;
        an unreachable broker is logged and retried), start publishing."""
        self.compliance_rules = tuple(compliance_rules)
        await self.outbox.start()
        await self.outbox.register_run(self.run_id, time.time())
        self._parked_possible = await self.outbox.has_parked()
        if self.settings.amqp_url is None and self.settings.events.sms_enabled:
            log.warning("SMS request rules are configured but no broker: sms.request events are dropped")
        if self.outbox.depth:
            log.warning("outbox %s holds %d unconfirmed event(s) from an earlier run: publishing them again",
                        self.outbox.path, self.outbox.depth)
        try:
            await self.relay.start()
        except BaseException:
            await self.outbox.close()
            raise
        self._started = True
        self._on_outbox_change()

    async def close(self) -> None:
        """Publish what is pending (up to drain_timeout_s), then close. Safe after a failed or
        missing start()."""
        if not self._started:
            with contextlib.suppress(Exception):
                await self.transport.close()
            await self.outbox.close()
            if self.settings.tmpdir:
                shutil.rmtree(self.settings.tmpdir, ignore_errors=True)
            return
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        drained = await self.relay.close(self.settings.drain_timeout_s)
        if not drained:
            log.warning("%d event(s) not confirmed by %s yet: they stay in the outbox %s and are published"
                        " at the next start", self.outbox.depth, self.transport.name, self.outbox.path)
        await self.outbox.close()
        if self.settings.tmpdir:
            shutil.rmtree(self.settings.tmpdir, ignore_errors=True)

    def _spawn(self, aw: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(aw)
        self._tasks.add(t)
        t.add_done_callback(self._done)

    def _done(self, t: asyncio.Task[Any]) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            exc = t.exception()
            self.errors.append(f"{type(exc).__name__}: {exc}")
            log.error("event delivery task failed: %s: %s", type(exc).__name__, exc)

    # --- back-pressure ------------------------------------------------------------------------

    def _on_outbox_change(self) -> None:
        self.relay.wake()
        depth = self.outbox.depth
        s = self.settings
        if not self.backpressure and depth >= s.max_backlog:
            self.backpressure = True
            log.warning("outbox backlog %d reached the bound %d (%s not keeping up): new calls paused until it"
                        " drains to %d", depth, s.max_backlog, self.transport.name, s.resume_backlog)
            if self.on_backpressure is not None:
                self.on_backpressure(True)
        elif self.backpressure and depth <= (s.resume_backlog or 0):
            self.backpressure = False
            log.warning("outbox backlog down to %d: new calls resume", depth)
            if self.on_backpressure is not None:
                self.on_backpressure(False)

    # --- outcomes -------------------------------------------------------------------------------

    def _labels(self, campaign: str) -> OutcomeLabels:
        lab = self.settings.events.for_campaign(campaign).labels
        if self.compliance_rules and not lab.compliance_rules:
            lab = OutcomeLabels(lab.strategy, lab.segment, lab.script_variant, self.compliance_rules, lab.recording)
        return lab

    def _ref(self, o: Outcome, body: Mapping[str, Any] | None = None) -> AttemptRef:
        borrower = body["borrower"] if body else pseudonymise(o.borrower_id, self._key)
        masked = body["phone"] if body else mask_phone(o.phone)
        # The phone reference only serves SMS requests after a disposition: no HMAC without rules.
        pref = phone_ref(o.phone, self._key) if self._sms_any else ""
        return AttemptRef(
            attempt_id=o.attempt_id, campaign=o.campaign, borrower=borrower,
            phone_ref=pref, phone_masked=masked, agent=o.agent,
            disposition=o.disposition.value, result=result_for_disposition(o.disposition), ended_at=o.ended_at,
        )

    async def emit_outcome(self, outcome: Outcome, *, recovered: bool = False) -> None:
        """Write the outcome (and the SMS requests it causes) durably; never waits for the broker.

        Idempotent: the same attempt written twice is stored and published once.
        """
        body = outcome_body(outcome, self._key, self._labels(outcome.campaign), recovered=recovered)
        msg = outcome_message(outcome, self._key, OutcomeLabels(), body=body)
        ref = self._ref(outcome, body)
        now_msgs: list[Message] = [msg]
        scheduled: list[tuple[Message, float, float | None]] = []
        sms: list[tuple[str, str, float]] = []
        rules = self.settings.events.for_campaign(outcome.campaign).sms
        if (rules.warmup or rules.link) and not recovered:
            now = self._now()
            last = await self._sms_last_for(ref.borrower)
            camp = self.campaigns.get(outcome.campaign)
            retry = camp.retry if camp is not None else None
            if retry is not None:
                reqs = after_outcome(rules, outcome, retry, now=now, last_sent=last)
                self._queue_sms(reqs, ref.borrower, now, now_msgs, scheduled, sms)
        await self.outbox.put(now_msgs, scheduled=scheduled, ref=ref, sms=sms)
        if self._parked_possible:
            self._spawn(self._unpark(outcome.attempt_id))

    def _queue_sms(self, reqs: Sequence[SmsRequest], borrower: str, now: float, now_msgs: list[Message],
                   scheduled: list[tuple[Message, float, float | None]], sms: list[tuple[str, str, float]],
                   *, refs: tuple[str, str, str] | None = None) -> None:
        for r in reqs:
            m = sms_message(r, self._key, now, refs=refs)
            if r.send_at > now:
                scheduled.append((m, r.send_at, r.expires_at))
            else:
                now_msgs.append(m)
            sms.append((borrower, r.kind, r.send_at))
            self._sms_last.setdefault(borrower, {})[r.kind] = r.send_at
            self.sms_requested += 1

    async def _sms_last_for(self, borrower: str) -> dict[str, float]:
        last = self._sms_last.get(borrower)
        if last is None:
            last = self._sms_last[borrower] = await self.outbox.sms_last(borrower)
        return last

    # --- periodic work (the service's loop calls tick) ---------------------------------------------

    def tick(self, now: float, snapshot: Callable[[], DialerSnapshot], *, force_stats: bool = False) -> None:
        """Cheap when nothing is due: campaign.stats every stats_interval_s (service clock),
        scheduled SMS requests released about once a second, old confirmed rows pruned hourly."""
        interval = self.settings.stats_interval_s
        if interval > 0 and (force_stats or self._last_stats is None or now - self._last_stats >= interval):
            self._last_stats = now
            self._stats_seq += 1
            self._spawn(self.outbox.put(stats_messages(self.run_id, self._stats_seq, now, snapshot())))
        wall = time.monotonic()
        if wall - self._last_release_wall >= 1.0 and "release" not in self._busy:
            self._last_release_wall = wall
            self._spawn(self._guarded("release", self._release(now)))
        if wall - self._last_prune_wall >= 3600.0 and "prune" not in self._busy:
            self._last_prune_wall = wall
            self._spawn(self._guarded("prune", self.outbox.prune()))

    async def _guarded(self, name: str, aw: Awaitable[Any]) -> None:
        self._busy.add(name)
        try:
            await aw
        finally:
            self._busy.discard(name)

    async def _release(self, now: float) -> None:
        _released, expired = await self.outbox.release_due(now)
        if expired:
            self.sms_expired += expired
            log.info("%d warm-up SMS request(s) expired before they could be asked (call time passed)", expired)

    async def schedule_call(self, *, campaign: str, borrower_id: str, phone: str, call_at: float) -> bool:
        """A call planned from outside (a callback the borrower asked for): warm-up by the rules."""
        from .core.messaging import before_call

        rules = self.settings.events.for_campaign(campaign).sms
        borrower = pseudonymise(borrower_id, self._key)
        now = self._now()
        r = before_call(rules, campaign=campaign, borrower_id=borrower_id, phone=phone, call_at=call_at, now=now,
                        last_sent=await self._sms_last_for(borrower))
        if r is None:
            return False
        msgs: list[Message] = []
        scheduled: list[tuple[Message, float, float | None]] = []
        sms: list[tuple[str, str, float]] = []
        self._queue_sms([r], borrower, now, msgs, scheduled, sms)
        await self.outbox.put(msgs, scheduled=scheduled, sms=sms)
        return True

    # --- agent dispositions (consumed from the broker) ------------------------------------------

    async def _on_disposition_message(self, body: bytes, routing_key: str, message_id: str | None) -> bool:
        try:
            d = parse_agent_disposition(body, routing_key, message_id)
        except InputError as exc:
            self.dispositions_rejected += 1
            log.warning("rejected an agent.disposition message: %s", exc)
            return False
        self.dispositions_received += 1
        return await self.attach_disposition(d)

    async def attach_disposition(self, d: AgentDisposition) -> bool:
        """Attach a wrap-up code to its attempt: an outcome.disposition event keyed by the attempt,
        and the SMS link its code asks for. Parked (durably) when the outcome is not written yet."""
        ref = await self.outbox.attempt(d.attempt_id)
        if ref is None:
            payload = json.dumps({"attempt_id": d.attempt_id, "code": d.code, "note": d.note, "agent": d.agent,
                                  "at": d.at, "campaign": d.campaign, "source_id": d.source_id})
            if await self.outbox.park(d.dedupe_key(), d.attempt_id, payload):
                self.dispositions_parked += 1
            self._parked_possible = True
            return True
        await self._attach(d, ref)
        return True

    async def _attach(self, d: AgentDisposition, ref: AttemptRef, *, unpark: str | None = None) -> None:
        now = self._now()
        msgs = [disposition_message(d, campaign=ref.campaign, received_at=now, call_disposition=ref.disposition,
                                    borrower=ref.borrower, agent=ref.agent)]
        scheduled: list[tuple[Message, float, float | None]] = []
        sms: list[tuple[str, str, float]] = []
        rules = self.settings.events.for_campaign(ref.campaign).sms
        if rules.link is not None:
            r = after_agent_code(rules, code=d.code, campaign=ref.campaign, borrower_id=ref.borrower,
                                 phone=ref.phone_masked, attempt_id=d.attempt_id, now=now,
                                 last_sent=await self._sms_last_for(ref.borrower))
            if r is not None:
                self._queue_sms([r], ref.borrower, now, msgs, scheduled, sms,
                                refs=(ref.borrower, ref.phone_masked, ref.phone_ref))
        await self.outbox.put(msgs, scheduled=scheduled, sms=sms, unpark=unpark)
        if self.on_disposition is not None:
            try:
                self.on_disposition(d, ref)
            except Exception:
                log.exception("on_disposition callback failed")

    async def _unpark(self, attempt_id: str) -> None:
        parked = await self.outbox.parked_for(attempt_id)
        if not parked:
            return
        ref = await self.outbox.attempt(attempt_id)
        if ref is None:
            return
        for mid, payload in parked:
            p = json.loads(payload)
            d = AgentDisposition(**p)
            await self._attach(d, ref, unpark=mid)

    # --- recovery after a crash -----------------------------------------------------------------------

    async def recover(self, ledger: Any) -> RecoveryReport:
        """Give every attempt an earlier run of this dialer left open its one outcome.

        Earlier runs = the run ids registered in this outbox, other than ours, not yet
        recovered. Their open attempts (prefix `<run_id>-`) either have their outcome in the
        outbox already (killed between the outbox and the ledger: complete the ledger with the
        real result) or have none (killed before the call ended: write a `lost` outcome,
        complete the ledger as `unknown`, which keeps counting against every cap).
        """
        runs = await self.outbox.unrecovered_runs(self.run_id)
        if not runs:
            return RecoveryReport()
        try:
            attempts = await open_attempts(ledger, runs)
        except DialerIOError as exc:
            log.error("recovery: cannot read the ledger (%s); earlier runs are recovered at the next start", exc)
            return RecoveryReport(tuple(runs), failed=1)
        refs = await self.outbox.attempts(a.attempt_id for a in attempts)
        now = self._now()
        lost = completed = failed = 0

        async def one(a: Any) -> str:
            ref = refs.get(a.attempt_id)
            if ref is not None:
                await ledger.complete(a.attempt_id, ref.result, ref.ended_at,
                                      {"disposition": ref.disposition, "recovered": True})
                return "completed"
            outcome = Outcome(
                attempt_id=a.attempt_id, campaign=a.campaign, borrower_id=a.borrower, phone=a.phone,
                attempt_no=await self._attempt_no(ledger, a), disposition=Disposition.LOST, abandoned=False,
                amd_status=None, amd_cause=None, hangup_cause=None,
                hangup_cause_txt="dialer restarted: no outcome was recorded for this attempt", agent=None,
                originate_at=None, answer_at=None, amd_at=None, connect_at=None, hangup_at=None,
                ended_at=max(now, a.at),
            )
            await self.emit_outcome(outcome, recovered=True)
            await ledger.complete(a.attempt_id, result_for_disposition(Disposition.LOST), outcome.ended_at,
                                  {"disposition": "lost", "recovered": True})
            return "lost"

        results = await asyncio.gather(*(one(a) for a in attempts), return_exceptions=True)
        for a, r in zip(attempts, results, strict=True):
            if r == "lost":
                lost += 1
            elif r == "completed":
                completed += 1
            else:
                failed += 1
                log.error("recovery of attempt %s failed: %s", a.attempt_id, type(r).__name__)
        if not failed:
            await self.outbox.mark_recovered(runs)
        if attempts:
            log.warning("recovered %d attempt(s) left open by earlier run(s) %s: %d lost outcome(s) written,"
                        " %d completed from the outbox, %d failed", len(attempts), ",".join(runs), lost,
                        completed, failed)
        return RecoveryReport(tuple(runs), lost, completed, failed)

    @staticmethod
    async def _attempt_no(ledger: Any, a: Any) -> int:
        with contextlib.suppress(Exception):
            hist = await ledger.history(a.borrower, 0.0)
            n = sum(1 for h in hist if h.campaign == a.campaign and h.at <= a.at)
            return max(1, n)
        return 1

