"""When the dialer asks for an SMS (`sms.request`): pure policy, time is an input.

The dialer never sends an SMS. It asks the SMS service, over the event bus, for two kinds of
message, by campaign rules:

- `pre_call_warmup` (预热短信, "a specialist will call you"): N minutes before a scheduled
  call. The calls the dialer knows in advance are its own retries (the campaign's
  RetryPolicy fixes when a lead comes back, see `next_call_at`) and calls scheduled from
  outside (a callback the borrower asked for). A predictive dialer cannot promise the exact
  minute, so the request carries `call_at` and expires then: a warm-up that could not be
  asked for before the call (broker down) is dropped, never sent after the fact.
- `post_call_link` (a repayment link): after a failed contact (the call's disposition is in
  the rule's `after_dispositions`, e.g. no_answer, busy, machine) or after an agent's
  wrap-up code (e.g. promise_to_pay).

A borrower gets at most one message of a kind per `min_interval_s` (a day by default), so
three retries do not become three warm-ups. Quiet hours, content and consent are the SMS
service's job; `send_at` is the earliest time, not an order to send at that instant.

Everything here is a function of its arguments: the adapter (dialer.delivery) keeps the
"last asked" times and the clock, and turns the returned `SmsRequest`s into events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .model import Disposition, Outcome, RetryPolicy

__all__ = [
    "AGENT_CODES",
    "FAILED_CONTACT",
    "LinkRule",
    "SmsRequest",
    "SmsRules",
    "WarmupRule",
    "after_agent_code",
    "after_outcome",
    "before_call",
    "next_call_at",
]

WARMUP = "pre_call_warmup"
LINK = "post_call_link"
KINDS = (WARMUP, LINK)

#: Wrap-up codes an agent desktop may send (agent.disposition).
AGENT_CODES = frozenset(
    {"promise_to_pay", "dispute", "wrong_number", "hardship", "callback", "refused", "other"}
)

#: Dispositions that are a failed contact: nobody from the borrower's side talked to an agent.
FAILED_CONTACT = frozenset(
    {
        Disposition.NO_ANSWER.value,
        Disposition.BUSY.value,
        Disposition.MACHINE.value,
        Disposition.HUMAN_HANGUP.value,
        Disposition.ABANDONED.value,
        Disposition.CONGESTION.value,
    }
)


@dataclass(frozen=True, slots=True)
class WarmupRule:
    before_s: float = 600.0  # ask this long before the call
    min_notice_s: float = 60.0  # a call sooner than this after the decision gets no warm-up
    min_interval_s: float = 86400.0
    template: str = "pre_call_warmup"

    def __post_init__(self) -> None:
        _positive(self.before_s, "before_s")
        _non_negative(self.min_notice_s, "min_notice_s")
        _non_negative(self.min_interval_s, "min_interval_s")
        _template(self.template, "template")


@dataclass(frozen=True, slots=True)
class LinkRule:
    after_dispositions: frozenset[str] = frozenset({"no_answer", "busy", "machine"})
    after_codes: frozenset[str] = frozenset({"promise_to_pay"})
    delay_s: float = 0.0
    min_interval_s: float = 86400.0
    template: str = "repayment_link"

    def __post_init__(self) -> None:
        unknown = set(self.after_dispositions) - {d.value for d in Disposition}
        if unknown:
            raise ConfigError(f"after_dispositions: unknown disposition(s) {sorted(unknown)}")
        unknown = set(self.after_codes) - AGENT_CODES
        if unknown:
            raise ConfigError(
                f"after_codes: unknown code(s) {sorted(unknown)}; expected {sorted(AGENT_CODES)}"
            )
        _non_negative(self.delay_s, "delay_s")
        _non_negative(self.min_interval_s, "min_interval_s")
        _template(self.template, "template")


@dataclass(frozen=True, slots=True)
class SmsRules:
    """One campaign's rules; None switches a kind off."""

    warmup: WarmupRule | None = None
    link: LinkRule | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, where: str = "sms") -> SmsRules:
        """`{"warmup": {"before_s": 600}, "link": {"after_codes": ["promise_to_pay"]}}`."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected an object")
        extra = set(data) - {"warmup", "link"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}; expected warmup, link")
        return cls(
            warmup=_build(WarmupRule, data.get("warmup"), f"{where}.warmup"),
            link=_build(LinkRule, data.get("link"), f"{where}.link"),
        )


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One request for the SMS service (raw identity: the adapter pseudonymises it)."""

    kind: str
    campaign: str
    borrower_id: str
    phone: str
    attempt_id: str | None
    reason: str  # the disposition, the agent's code, or "scheduled_call"/"retry"
    template: str
    send_at: float
    expires_at: float | None = None
    call_at: float | None = None
    key: str = field(default="")  # stable idempotency key

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"sms kind must be one of {KINDS}, got {self.kind!r}")
        if not self.key:
            anchor = self.attempt_id or f"{self.campaign}:{self.call_at}"
            object.__setattr__(self, "key", f"{self.kind}:{self.reason}:{anchor}")


def next_call_at(outcome: Outcome, retry: RetryPolicy) -> float | None:
    """When the hopper brings this lead back, or None: the same rule as Hopper.finished."""
    d = outcome.disposition
    delay = retry.delay_for(d)
    if d in (Disposition.CONNECTED, Disposition.INVALID_NUMBER) or delay is None:
        return None
    if outcome.attempt_no >= retry.max_attempts:
        return None
    return outcome.ended_at + delay


def _due(last: float | None, now: float, min_interval_s: float) -> bool:
    return last is None or now - last >= min_interval_s


def before_call(
    rules: SmsRules,
    *,
    campaign: str,
    borrower_id: str,
    phone: str,
    call_at: float,
    now: float,
    last_sent: Mapping[str, float],
    attempt_id: str | None = None,
    reason: str = "scheduled_call",
) -> SmsRequest | None:
    """A warm-up for a call planned at `call_at`, or None (off, too late, sent recently)."""
    w = rules.warmup
    if w is None or call_at - now < w.min_notice_s:
        return None
    send_at = max(now, call_at - w.before_s)
    if not _due(last_sent.get(WARMUP), send_at, w.min_interval_s):
        return None
    return SmsRequest(
        kind=WARMUP, campaign=campaign, borrower_id=borrower_id, phone=phone,
        attempt_id=attempt_id, reason=reason, template=w.template, send_at=send_at,
        expires_at=call_at, call_at=call_at,
    )


def after_outcome(
    rules: SmsRules, outcome: Outcome, retry: RetryPolicy, *, now: float, last_sent: Mapping[str, float]
) -> list[SmsRequest]:
    """Requests caused by a call's end: a link after a failed contact, a warm-up for the retry."""
    out: list[SmsRequest] = []
    link = rules.link
    if link is not None and outcome.disposition.value in link.after_dispositions:
        send_at = now + link.delay_s
        if _due(last_sent.get(LINK), send_at, link.min_interval_s):
            out.append(
                SmsRequest(
                    kind=LINK, campaign=outcome.campaign, borrower_id=outcome.borrower_id,
                    phone=outcome.phone, attempt_id=outcome.attempt_id,
                    reason=outcome.disposition.value, template=link.template, send_at=send_at,
                )
            )
    call_at = next_call_at(outcome, retry)
    if call_at is not None:
        w = before_call(
            rules, campaign=outcome.campaign, borrower_id=outcome.borrower_id, phone=outcome.phone,
            call_at=call_at, now=now, last_sent=last_sent, attempt_id=outcome.attempt_id, reason="retry",
        )
        if w is not None:
            out.append(w)
    return out


def after_agent_code(
    rules: SmsRules,
    *,
    code: str,
    campaign: str,
    borrower_id: str,
    phone: str,
    attempt_id: str,
    now: float,
    last_sent: Mapping[str, float],
) -> SmsRequest | None:
    """A link after an agent's wrap-up code (e.g. promise_to_pay), or None."""
    link = rules.link
    if link is None or code not in link.after_codes:
        return None
    send_at = now + link.delay_s
    if not _due(last_sent.get(LINK), send_at, link.min_interval_s):
        return None
    return SmsRequest(
        kind=LINK, campaign=campaign, borrower_id=borrower_id, phone=phone, attempt_id=attempt_id,
        reason=code, template=link.template, send_at=send_at,
    )


# --- validation helpers -----------------------------------------------------------------------


def _build(cls: Any, data: Any, where: str) -> Any:
    if data is None or data is False:
        return None
    if data is True:
        return cls()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected an object, true or false")
    names = set(cls.__dataclass_fields__)
    extra = set(data) - names
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}; expected {sorted(names)}")
    kw = dict(data)
    for k in ("after_dispositions", "after_codes"):
        if k in kw:
            if not isinstance(kw[k], list) or not all(isinstance(x, str) for x in kw[k]):
                raise ConfigError(f"{where}.{k}: expected a list of strings")
            kw[k] = frozenset(kw[k])
    for k, v in kw.items():
        if k.endswith("_s") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"{where}.{k}: expected seconds (a number), got {v!r}")
    try:
        return cls(**kw)
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _positive(v: float, where: str) -> None:
    if not v > 0:
        raise ConfigError(f"{where}: expected seconds > 0, got {v!r}")


def _non_negative(v: float, where: str) -> None:
    if not v >= 0:
        raise ConfigError(f"{where}: expected seconds >= 0, got {v!r}")


def _template(v: str, where: str) -> None:
    if not isinstance(v, str) or not v or len(v) > 100:
        raise ConfigError(f"{where}: expected a template name of 1-100 characters")
