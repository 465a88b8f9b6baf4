"""The compliance gate adapter: ReserveAttempt in, AttemptApproved/AttemptRefused out.

The decision itself is pure (dialer.core.compliance.decide); the ledger makes it atomic
and durable (check and reserve in one transaction) and keeps the audit trail. Anything
that goes wrong here refuses the call: the gate fails closed, the reason is counted
(`dialer_compliance_gate_errors_total`) and logged.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable

from .compliance import load_rules
from .config import DEMO_CALLER_ID, RunConfig
from .core import commands as cmd
from .core import events as ev
from .core.compliance import Rules, check_campaign
from .core.model import Outcome
from .errors import ConfigError, DialerError
from .store import AttemptLedger, complete_outcome, open_ledger, reserve_event
from .store.batching import ReserveBatcher

log = logging.getLogger("dialer.gate")


def default_ledger_url(cfg: RunConfig) -> tuple[str, str | None]:
    """The ledger to use when --ledger is not given, and a temp dir to remove afterwards.

    With a real PBX the ledger must outlive the process (a restart must not forget who was
    called), so it is a file in the working directory. The embedded demo runs in simulated
    time and gets a fresh ledger per run, so one demo cannot cap the next.
    """
    if cfg.ledger_url:
        return cfg.ledger_url, None
    if not cfg.embedded:
        return "sqlite:///" + os.path.abspath("dialer-ledger.sqlite3"), None
    tmp = tempfile.mkdtemp(prefix="dialer-demo-ledger-")
    return "sqlite:///" + os.path.join(tmp, "ledger.sqlite3"), tmp


def campaign_rules(cfg: RunConfig) -> Rules:
    """The preset, the campaign's overrides, and a start-up check of the campaign itself.

    A caller ID outside the campaign's allowed list (白名单) or a ring time below the legal
    minimum would have every call refused one by one; that is a configuration error, so it
    is reported once, at start. The embedded demo allows its own demo caller ID.
    """
    if not cfg.campaign.caller_id:
        raise ConfigError("--caller-id is required: the official number the campaign presents, "
                          "which must be in its allowed list (白名单) in the --rules file")
    if cfg.compliance_rules is None and cfg.embedded:
        demo = {"rules": {"all.caller_id": {"allowed": {cfg.campaign.name: [DEMO_CALLER_ID]}}}}
        rules = load_rules(cfg.compliance_preset, demo)
    else:
        rules = load_rules(cfg.compliance_preset, cfg.compliance_rules)
    problems = check_campaign(cfg.campaign, rules)
    if problems:
        raise ConfigError("campaign breaks the compliance rules: " + "; ".join(
            f"{rule}: {reason}" for rule, reason in problems)
            + " (set the allowed caller IDs in a --rules file: "
            '{"rules": {"all.caller_id": {"allowed": {"CAMPAIGN": ["+86..."]}}}})')
    return rules


class Gate:
    def __init__(self, ledger: AttemptLedger, rules: Rules, now: Callable[[], float],
                 tmpdir: str | None = None, ring_s: float | None = None) -> None:
        self.ledger = ledger
        # Concurrent reserves are coalesced into one transaction: one commit per call
        # would cap a PostgreSQL ledger below 1,000 originates/s (bench/RESULTS.md).
        self.batcher = ReserveBatcher(ledger)
        self.rules = rules
        self.ring_s = ring_s
        self._now = now
        self._tmpdir = tmpdir
        self.errors: Counter[str] = Counter()

    @classmethod
    async def open(cls, cfg: RunConfig, now: Callable[[], float]) -> Gate:
        rules = campaign_rules(cfg)
        url, tmpdir = default_ledger_url(cfg)
        ledger = open_ledger(url)
        await ledger.start()
        return cls(ledger, rules, now, tmpdir, ring_s=cfg.campaign.originate_timeout_s)

    async def reserve(self, c: cmd.ReserveAttempt) -> ev.AttemptApproved | ev.AttemptRefused:
        try:
            return await reserve_event(self.batcher, c, self.rules, ring_s=self.ring_s)
        except (DialerError, OSError) as exc:
            reason = type(exc).__name__
        except Exception as exc:
            reason = "unexpected_" + type(exc).__name__
            log.exception("gate failed unexpectedly; refusing the call")
        self.errors[reason] += 1
        log.error("gate could not decide (%s); call %s refused (fail closed)", reason, c.call_id,
                  extra={"call_id": c.call_id})
        return ev.AttemptRefused(at=c.at, call_id=c.call_id, rules=("gate.error",),
                                 reasons=(f"the gate could not decide: {reason}",),
                                 next_allowed_at=c.at + 60.0)

    async def complete(self, outcome: Outcome) -> None:
        try:
            await complete_outcome(self.ledger, outcome)
        except (DialerError, OSError) as exc:
            # The attempt stays reserved: it still counts against every cap (fail closed).
            self.errors["complete_" + type(exc).__name__] += 1
            log.error("could not record the result of %s: %s", outcome.attempt_id, type(exc).__name__,
                      extra={"call_id": outcome.attempt_id})

    def error_counts(self) -> dict[str, int]:
        """Why the gate could not decide, by reason (refusals by rule are counted by the core)."""
        counts = dict(self.errors)
        c = getattr(self.ledger, "counters", None)
        if c is not None:
            for reason in ("ledger_unavailable", "corrupt_record"):
                if getattr(c, reason, 0):
                    counts[reason] = counts.get(reason, 0) + getattr(c, reason)
        return counts

    async def close(self) -> None:
        await self.batcher.close()
        await self.ledger.close()
        if self._tmpdir:
            import shutil

            shutil.rmtree(self._tmpdir, ignore_errors=True)
