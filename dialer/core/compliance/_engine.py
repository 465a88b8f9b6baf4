"""The decision: `decide(candidate, history, now, rules) -> Decision`. Pure: time is an argument.

How every kind of rule reads the history (the same reading the property tests check):

- Attempts are counted per *scope*: `borrower`, `borrower_debt` (same borrower and debt),
  `number` (same phone, whoever it belonged to), `contact` (same borrower, same third party).
- An attempt whose result is not known (still open, or never completed because a process
  died, or completed as `unknown`) is read by each rule in the way that restricts it most:
  it counts toward every cap and triggers every cool-down whose results it could have had,
  and it is never evidence that a debtor is unreachable. Fail closed.
- An attempt dated after `now` (clock skew between dialer processes) is read as if it
  happened at `now`.
- "Local" and "calendar day" mean the callee's wall clock in *every* zone the callee may be
  in (the number's zones and the address's); a call is allowed only if every zone allows it.

`next_allowed_at` is found by walking forward over the only instants at which some rule can
change its answer (local midnights, the opening of each allowed window and the DST
transitions in every zone; an attempt's time plus each rule's duration), skipping ahead to
the largest lower bound the refusing rules give, and returning the first instant at which
every rule allows. A refusal no time can lift (do-not-call, a forbidden purpose, an unknown
zone, ...) gives None.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..model import CampaignConfig
from ._model import Attempt, Candidate, Decision, History, mask_phone, to_datetime, to_ts
from ._rules import Rules, RuleSpec
from ._time import day_starts, resolve_zones, wall_instants, zone

__all__ = ["ANSWERED", "CONTACT", "FAILED", "check_campaign", "decide", "evaluate"]

FAILED = frozenset({"no_connect", "no_answer", "voicemail", "machine", "invalid_number"})
CONTACT = frozenset({"abandoned", "conversation", "refused_by_party"})
ANSWERED = CONTACT  # answered by a person (the denominator of an abandonment rate)

HORIZON_S = 400 * 86400.0
MAX_STEPS = 20000


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    reason: str
    not_before: float | None  # lower bound of the rule's next allowed instant; None = never
    recheck_at: float | None = None  # aggregate-based: the gate re-checks then, cannot see further


class _Ctx:
    """Per-decision caches: the scoped attempt lists and local day numbers."""

    __slots__ = ("attempts", "cand", "history", "ords", "scoped", "tzs", "zone_names")

    def __init__(self, cand: Candidate, history: History, zone_names: tuple[str, ...]) -> None:
        self.cand = cand
        self.history = history
        self.attempts = history.attempts
        self.zone_names = zone_names
        self.tzs: tuple[ZoneInfo, ...] = tuple(
            z for z in (zone(n) for n in zone_names) if z is not None
        )
        self.scoped: dict[str, list[Attempt]] = {}
        self.ords: dict[tuple[float, int], int] = {}

    def scope(self, name: str) -> list[Attempt]:
        got = self.scoped.get(name)
        if got is None:
            c = self.cand
            if name == "borrower":
                got = [a for a in self.attempts if a.borrower == c.borrower]
            elif name == "borrower_debt":
                got = [a for a in self.attempts if a.borrower == c.borrower and a.debt == c.debt]
            elif name == "number":
                got = [a for a in self.attempts if a.phone == c.phone]
            elif name == "contact":
                key = c.contact_key
                got = [
                    a
                    for a in self.attempts
                    if a.borrower == c.borrower
                    and a.party == "third_party"
                    and a.contact_key == key
                ]
            else:  # pragma: no cover - validated by the rules parser
                raise ValueError(name)
            self.scoped[name] = got
        return got

    def ordinal(self, ts: float, zi: int) -> int:
        key = (ts, zi)
        o = self.ords.get(key)
        if o is None:
            o = datetime.fromtimestamp(ts, self.tzs[zi]).toordinal()
            self.ords[key] = o
        return o


def _counts(spec_count: dict[str, frozenset[str]], a: Attempt) -> bool:
    """Does attempt `a` count for a rule's `count` filter? Unresolved: yes if it could."""
    if "party" in spec_count and a.party not in spec_count["party"]:
        return False
    if "purpose" in spec_count and a.purpose not in spec_count["purpose"]:
        return False
    return (not a.resolved) or a.result in spec_count["results"]


def _fmt_local(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_utc(ts: float) -> str:
    return to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_day_start(ctx: _Ctx, t: float, zi: int, ordinal: int) -> float:
    """First instant after t at which zone zi's local date is past `ordinal`."""
    d = date.fromordinal(ordinal + 1)
    starts = [s for s in day_starts(d, ctx.tzs[zi]) if s > t]
    return min(starts) if starts else t


# --- rule kinds -----------------------------------------------------------------------------

Evaluator = Callable[[RuleSpec, _Ctx, float], list[Refusal]]


def _local_hours(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    lo: time = spec.params["allowed_from"]
    hi: time = spec.params["allowed_until"]
    bad = []
    for tz in ctx.tzs:
        wall = datetime.fromtimestamp(t, tz).time()
        if not (lo <= wall < hi):
            bad.append(f"{wall.strftime('%H:%M:%S')} in {tz.key}")
    if not bad:
        return []
    return [
        Refusal(
            spec.id,
            f"{spec.id}: local time {', '.join(bad)} is outside the allowed "
            f"{lo.strftime('%H:%M')}-{hi.strftime('%H:%M')}",
            t,
        )
    ]


def _holidays(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    dates = spec.params["dates"]
    if not dates:
        return []
    bad = []
    for tz in ctx.tzs:
        d = datetime.fromtimestamp(t, tz).date()
        if d in dates:
            bad.append(f"{d.isoformat()} in {tz.key}")
    if not bad:
        return []
    return [Refusal(spec.id, f"{spec.id}: no calls on holidays ({', '.join(bad)})", t)]


def _window_cap(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    p = spec.params
    n, cap = p["days"], p["max"]
    # Only attempts within the last n local days can count: a local day lasts at most 25 h
    # (a DST change; 24.5 h in Lord Howe), so n * 25 h + a day of slack covers every zone.
    horizon = t - (n * 25 + 24) * 3600.0
    counted = [a for a in ctx.scope(p["scope"]) if a.at >= horizon and _counts(p["count"], a)]
    if cap == 0:
        return [Refusal(spec.id, f"{spec.id}: the cap is 0", None)]
    if len(counted) < cap:
        return []
    worst = None
    nb = t
    for zi in range(len(ctx.tzs)):
        today = ctx.ordinal(t, zi)
        first = today - n + 1
        k = 0
        for a in counted:
            o = ctx.ordinal(min(a.at, t), zi)
            if first <= o <= today:
                k += 1
        if k >= cap:
            worst = worst or (k, zi, first, today)
            nb = max(nb, _next_day_start(ctx, t, zi, today))
    if worst is None:
        return []
    k, zi, first, today = worst
    span = (
        ("on local day " + date.fromordinal(today).isoformat())
        if n == 1
        else (
            f"in the {n} local days "
            f"{date.fromordinal(first).isoformat()}..{date.fromordinal(today).isoformat()}"
        )
    )
    return [
        Refusal(
            spec.id,
            f"{spec.id}: {k} counted attempts {span} ({ctx.tzs[zi].key}); at most {cap} allowed",
            nb,
        )
    ]


def _cooldown_days(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    p = spec.params
    n = p["days"]
    horizon = t - (n * 25 + 24) * 3600.0
    triggers = [a for a in ctx.scope(p["scope"]) if a.at >= horizon and _counts(p["count"], a)]
    if not triggers:
        return []
    nb = None
    what = ""
    for zi, tz in enumerate(ctx.tzs):
        today = ctx.ordinal(t, zi)
        last = max(ctx.ordinal(min(a.at, t), zi) for a in triggers)
        if today <= last + n - 1:
            end = _next_day_start(ctx, t, zi, last + n - 1)
            if nb is None or end > nb:
                nb = end
                what = (
                    f"a counted attempt on local day {date.fromordinal(last).isoformat()} "
                    f"({tz.key}); today is day {today - last + 1} of {n}"
                )
    if nb is None:
        return []
    return [Refusal(spec.id, f"{spec.id}: {what}", nb)]


def _cooldown_hours(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    p = spec.params
    if p["unless_agent_reserved"] and ctx.cand.agent_reserved:
        return []
    span = p["hours"] * 3600.0
    ends = [
        a.at + span for a in ctx.scope(p["scope"]) if _counts(p["count"], a) and t < a.at + span
    ]
    if not ends:
        return []
    end = max(ends)
    return [
        Refusal(
            spec.id,
            f"{spec.id}: within {p['hours']:g} h of a counted attempt (until {_fmt_utc(end)})",
            end,
        )
    ]


def _once(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    p = spec.params
    hits = [a for a in ctx.scope(p["scope"]) if _counts(p["count"], a)]
    if not hits:
        return []
    first = min(a.at for a in hits)
    return [
        Refusal(
            spec.id,
            f"{spec.id}: already reached once (first at {_fmt_utc(first)}); never again",
            None,
        )
    ]


def _forbid(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    c = ctx.cand
    return [Refusal(spec.id, f"{spec.id}: a {c.party} call for {c.purpose} is never allowed", None)]


def _debtor_unreachable(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    p = spec.params
    c = ctx.cand
    debtor = [a for a in ctx.attempts if a.borrower == c.borrower and a.party == "debtor"]
    last_contact = max(
        (a.at for a in debtor if not a.resolved or a.result in CONTACT), default=-math.inf
    )
    failed = sorted(
        a.at for a in debtor if a.resolved and a.result in FAILED and last_contact < a.at <= t
    )
    invalid = p["invalid_number"] and any(
        a.resolved and a.result == "invalid_number" and last_contact < a.at <= t for a in debtor
    )
    window = p["days_without_contact"] * 86400.0
    if invalid or len(failed) >= p["consecutive_failures"] or (failed and t - failed[0] >= window):
        return []
    future = [a.at for a in debtor if a.at > t]
    options = ([failed[0] + window] if failed else []) + future
    nb = min(options) if options else None
    since = (
        "never reached" if last_contact == -math.inf else f"last reached {_fmt_utc(last_contact)}"
    )
    return [
        Refusal(
            spec.id,
            f"{spec.id}: third parties only while the debtor is unreachable "
            f"(失联); debtor {since}, {len(failed)} failed attempts since",
            nb,
        )
    ]


def _dnc(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    c = ctx.cand
    out: list[Refusal] = []
    seen: set[str] = set()
    for e in (*spec.params["entries"], *ctx.history.optouts):
        if e.matches(c):
            rid = f"{spec.id}.{e.rule_suffix}"
            if rid in seen:
                continue
            seen.add(rid)
            what = {
                "borrower": f"borrower {c.borrower} is on the do-not-call list",
                "number": f"number {mask_phone(c.phone)} is on the do-not-call list",
                "purpose": f"opted out of {c.purpose} calls",
            }[e.rule_suffix]
            out.append(Refusal(rid, f"{rid}: {what}", None))
    return out


def _caller_id(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    c = ctx.cand
    if c.caller_id is None:
        return []
    allowed = spec.params["allowed"]
    ids = allowed.get(c.campaign, allowed.get("*"))
    if not c.caller_id:
        why = "no caller ID"
    elif ids is None:
        why = f"campaign {c.campaign!r} has no allowed caller-ID list"
    elif c.caller_id not in ids:
        why = (
            f"caller ID {mask_phone(c.caller_id)} is not in campaign {c.campaign!r}'s allowed list"
        )
    else:
        return []
    return [Refusal(spec.id, f"{spec.id}: {why}", None)]


def _borrower_busy(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    span = spec.params["max_call_s"]
    c = ctx.cand
    live = [
        a
        for a in ctx.attempts
        if a.open and (a.borrower == c.borrower or a.phone == c.phone) and t < a.at + span
    ]
    if not live:
        return []
    end = max(a.at + span for a in live)
    who = (
        "borrower"
        if any(a.borrower == c.borrower for a in live)
        else f"number {mask_phone(c.phone)}"
    )
    return [
        Refusal(
            spec.id,
            f"{spec.id}: the {who} has a live or unfinished attempt "
            f"(held until it completes or {_fmt_utc(end)})",
            end,
        )
    ]


def _abandonment(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    p = spec.params
    c = ctx.cand
    if p["unless_agent_reserved"] and c.agent_reserved:
        return []
    window = p["window_hours"] * 3600.0
    fp = p["amd_false_positive_rate"]
    stats = ctx.history.stats_for(c.campaign, window)
    if stats is not None:
        answered, abandoned, machine = stats.answered, stats.abandoned, stats.machine
    else:
        answered = abandoned = machine = 0
        for a in ctx.attempts:
            if a.campaign != c.campaign or not a.resolved or a.at <= t - window:
                continue
            answered += a.result in ANSWERED
            abandoned += a.result == "abandoned"
            machine += a.result == "machine"
    denom = answered + fp * machine
    if denom <= 0:
        return []
    rate = (abandoned + fp * machine) / denom
    if rate < p["max_rate"]:
        return []
    reason = (
        f"{spec.id}: campaign {c.campaign!r} abandonment rate {rate:.2%} over "
        f"{p['window_hours']:g} h is at or above {p['max_rate']:.0%}; only calls with an "
        "agent reserved"
    )
    if stats is not None:
        again = max(stats.recheck_at, t)
        return [Refusal(spec.id, reason, again, recheck_at=again)]
    return [Refusal(spec.id, reason, t)]


def _min_ring(spec: RuleSpec, ctx: _Ctx, t: float) -> list[Refusal]:
    ring = ctx.cand.ring_s
    if ring is None or ring >= spec.params["min_s"]:
        return []
    return [
        Refusal(
            spec.id, f"{spec.id}: ring time {ring:g} s is below {spec.params['min_s']:g} s", None
        )
    ]


#: kind -> (evaluator, needs the callee's zones)
_KINDS: dict[str, tuple[Evaluator, bool]] = {
    "local_hours": (_local_hours, True),
    "holidays": (_holidays, True),
    "calendar_window_cap": (_window_cap, True),
    "cooldown_days": (_cooldown_days, True),
    "cooldown_hours": (_cooldown_hours, False),
    "once": (_once, False),
    "forbid": (_forbid, False),
    "debtor_unreachable": (_debtor_unreachable, False),
    "dnc": (_dnc, False),
    "caller_id": (_caller_id, False),
    "borrower_busy": (_borrower_busy, False),
    "abandonment_rate": (_abandonment, False),
    "min_ring": (_min_ring, False),
}


@dataclass(frozen=True, slots=True)
class _Compiled:
    rules: tuple[tuple[RuleSpec, Evaluator, bool], ...]
    opens: tuple[time, ...]  # local times at which some window opens (plus midnight)
    durations: tuple[float, ...]  # seconds after an attempt at which some rule may change


def compile_rules(rules: Rules) -> _Compiled:
    compiled = []
    opens = {time(0)}
    durations: set[float] = {0.0}
    for s in rules.active:
        fn, needs_zones = _KINDS[s.kind]
        compiled.append((s, fn, needs_zones))
        p = s.params
        if s.kind == "local_hours":
            opens.add(p["allowed_from"])
        elif s.kind == "cooldown_hours":
            durations.add(p["hours"] * 3600.0)
        elif s.kind == "borrower_busy":
            durations.add(p["max_call_s"])
        elif s.kind == "debtor_unreachable":
            durations.add(p["days_without_contact"] * 86400.0)
        elif s.kind == "abandonment_rate":
            durations.add(p["window_hours"] * 3600.0)
    return _Compiled(tuple(compiled), tuple(sorted(opens)), tuple(sorted(durations)))


# --- the decision ---------------------------------------------------------------------------


def _as_history(history: History | Iterable[Attempt]) -> History:
    if isinstance(history, History):
        return history
    return History(attempts=tuple(history))


def _evaluate(comp: _Compiled, ctx: _Ctx, t: float, zones_ok: bool) -> list[Refusal]:
    out: list[Refusal] = []
    c = ctx.cand
    for spec, fn, needs_zones in comp.rules:
        if spec.applies_to and not spec.applies(c.party, c.purpose):
            continue
        if needs_zones and not zones_ok:
            continue
        out.extend(fn(spec, ctx, t))
    return out


def evaluate(
    candidate: Candidate, history: History | Iterable[Attempt], now: datetime | float, rules: Rules
) -> list[Refusal]:
    """Every refusal at `now`, without searching for the next allowed instant."""
    hist = _as_history(history)
    names, bad = resolve_zones(candidate.phone, candidate.zones)
    ctx = _Ctx(candidate, hist, names)
    zones_ok = bool(names) and not bad
    out = [] if zones_ok else [_unknown_zone(candidate, bad)]
    return out + _evaluate(rules.compiled, ctx, to_ts(now, "now"), zones_ok)


def _unknown_zone(c: Candidate, bad: tuple[str, ...]) -> Refusal:
    if bad:
        why = f"address zone(s) {', '.join(repr(b) for b in bad)} are not IANA time zones"
    else:
        why = f"no time zone is known for number {mask_phone(c.phone)} and the address gives none"
    return Refusal(
        "gate.unknown_timezone", f"gate.unknown_timezone: {why}; refused (fail closed)", None
    )


def decide(
    candidate: Candidate, history: History | Iterable[Attempt], now: datetime | float, rules: Rules
) -> Decision:
    """Allowed or not, which rules refused and why, and the first instant it would be allowed.

    `history` holds the attempts the gate knows of for this borrower and this number (open
    ones included: they are the live calls), with opt-outs and campaign statistics when the
    ledger supplies them. `now` is an aware datetime or seconds since the epoch.
    """
    hist = _as_history(history)
    t = to_ts(now, "now")
    names, bad = resolve_zones(candidate.phone, candidate.zones)
    ctx = _Ctx(candidate, hist, names)
    zones_ok = bool(names) and not bad
    comp: _Compiled = rules.compiled
    refusals = _evaluate(comp, ctx, t, zones_ok)
    if not zones_ok:
        refusals.insert(0, _unknown_zone(candidate, bad))
    if not refusals:
        return Decision(True, zones=names)
    ids: list[str] = []
    for r in refusals:
        if r.rule not in ids:
            ids.append(r.rule)
    nxt = _next_allowed(comp, ctx, t, refusals, zones_ok)
    return Decision(
        False,
        tuple(ids),
        tuple(r.reason for r in refusals),
        None if nxt is None else _ceil_datetime(nxt),
        zones=names,
    )


def _ceil_datetime(ts: float) -> datetime:
    """A datetime (microseconds) never earlier than `ts`: rounding down could name an
    instant a hair before the one that is really allowed."""
    dt = to_datetime(ts)
    return dt + timedelta(microseconds=1) if dt.timestamp() < ts else dt


def _next_allowed(
    comp: _Compiled, ctx: _Ctx, now: float, refusals: list[Refusal], zones_ok: bool
) -> float | None:
    instants = sorted({a.at + d for a in ctx.attempts for d in comp.durations})
    t = now
    for _ in range(MAX_STEPS):
        if any(r.not_before is None for r in refusals):
            return None
        bound = max(r.not_before for r in refusals if r.not_before is not None)
        x = max(bound, math.nextafter(t, math.inf))
        rechecks = [
            r.recheck_at for r in refusals if r.recheck_at is not None and r.recheck_at >= x
        ]
        t = (
            min(_next_instant(comp, ctx, x, instants), *rechecks)
            if rechecks
            else _next_instant(comp, ctx, x, instants)
        )
        if t - now > HORIZON_S:
            return None
        # A refusal based on aggregates is taken as lifted at its re-check time: the gate
        # cannot see further, and the re-check decides again with fresh numbers.
        refusals = [
            r for r in _evaluate(comp, ctx, t, zones_ok) if r.recheck_at is None or r.recheck_at > t
        ]
        if not refusals:
            return t
    return None


def _next_instant(comp: _Compiled, ctx: _Ctx, x: float, instants: Sequence[float]) -> float:
    """The smallest instant >= x at which some rule may change its answer."""
    best = math.inf
    i = bisect.bisect_left(instants, x)
    if i < len(instants):
        best = instants[i]
    for tz in ctx.tzs:
        d0 = datetime.fromtimestamp(x, tz).date()
        for k in (-1, 0, 1, 2):
            d = d0 + timedelta(days=k)
            for s in day_starts(d, tz):
                if x <= s < best:
                    best = s
            for tod in comp.opens:
                for s in wall_instants(d, tod, tz):
                    if x <= s < best:
                        best = s
    if best == math.inf:  # no zones and no attempts: nothing will ever change
        return x + HORIZON_S + 1.0
    return best


def check_campaign(config: CampaignConfig, rules: Rules) -> tuple[tuple[str, str], ...]:
    """Campaign settings that break a rule, as (rule id, reason): ring time below a `min_ring`
    rule, a caller ID outside the allowed list. The service should refuse to start such a
    campaign; the gate also refuses each of its calls."""
    out: list[tuple[str, str]] = []
    for s in rules.active:
        if s.kind == "min_ring" and config.originate_timeout_s < s.params["min_s"]:
            out.append(
                (
                    s.id,
                    f"{s.id}: originate_timeout_s {config.originate_timeout_s:g} s is "
                    f"below the {s.params['min_s']:g} s minimum ring time",
                )
            )
        elif s.kind == "caller_id":
            ids = s.params["allowed"].get(config.name, s.params["allowed"].get("*"))
            if ids is None or config.caller_id not in ids:
                out.append(
                    (
                        s.id,
                        f"{s.id}: caller ID {mask_phone(config.caller_id)} is not in "
                        f"campaign {config.name!r}'s allowed list",
                    )
                )
    return tuple(out)
