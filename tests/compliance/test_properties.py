"""Property tests: the engine against an independent, brute-force reading of the rules.

`violations()` below re-reads the rule data and the raw history with its own simple code
(local dates by brute force, the new call appended to the history) and lists every rule the
call would break. For random histories, clocks and candidates:

- the engine's refusing rule ids are exactly the rules the checker sees broken (so an
  allowed call breaks no active rule, and no refusal is invented);
- `next_allowed_at` is allowed (by both), and sampled earlier instants are refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_tz

from dialer.compliance import load_preset
from dialer.core.compliance import Attempt, Candidate, History, OptOut, Rules, decide

PHONES = [
    "+8613800138000",
    "+8613900139000",
    "+12085550100",
    "+12125550100",
    "+442071234567",
    "+447700900123",
]
RESULTS = [
    "no_connect",
    "no_answer",
    "voicemail",
    "machine",
    "abandoned",
    "conversation",
    "refused_by_party",
    "invalid_number",
    "unknown",
    None,
]
BASES = [
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
]
CONNECTED = {"abandoned", "conversation", "refused_by_party"}
FAILED = {"no_connect", "no_answer", "voicemail", "machine", "invalid_number"}


# --- the independent checker ---------------------------------------------------------------------


def zones_of(c: Candidate) -> tuple[list[ZoneInfo], bool]:
    names = set(pn_tz.time_zones_for_number(phonenumbers.parse(c.phone))) - {"Etc/Unknown"}
    ok = True
    for z in c.zones:
        try:
            ZoneInfo(z)
            names.add(z)
        except Exception:
            ok = False
    return [ZoneInfo(n) for n in sorted(names)], ok and bool(names)


def in_scope(scope: str, a: Attempt, c: Candidate) -> bool:
    if scope == "borrower":
        return a.borrower == c.borrower
    if scope == "borrower_debt":
        return a.borrower == c.borrower and a.debt == c.debt
    if scope == "number":
        return a.phone == c.phone
    return (
        a.borrower == c.borrower
        and a.party == "third_party"
        and (a.contact or a.phone) == (c.contact or c.phone)
    )


def counted(f: dict, a: Attempt) -> bool:
    if "party" in f and a.party not in f["party"]:
        return False
    if "purpose" in f and a.purpose not in f["purpose"]:
        return False
    unknown = a.result is None or a.result == "unknown"
    return unknown or a.result in f["results"]


def local_day(ts: float, z: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, z).date()


def violations(
    c: Candidate, history: list[Attempt], optouts: list[OptOut], t: float, rules: Rules
) -> set[str]:
    zones, zones_ok = zones_of(c)
    new = Attempt(
        at=t,
        borrower=c.borrower,
        phone=c.phone,
        party=c.party,
        purpose=c.purpose,
        result=None,
        campaign=c.campaign,
        debt=c.debt,
        contact=c.contact,
    )
    after = [*history, new]  # what the history would be if the call were placed
    out: set[str] = set() if zones_ok else {"gate.unknown_timezone"}
    for s in rules.active:
        a_to = s.applies_to
        if ("party" in a_to and c.party not in a_to["party"]) or (
            "purpose" in a_to and c.purpose not in a_to["purpose"]
        ):
            continue
        p = s.params
        if (
            s.kind in ("local_hours", "holidays", "calendar_window_cap", "cooldown_days")
            and not zones_ok
        ):
            continue
        if s.kind == "local_hours":
            for z in zones:
                wall = datetime.fromtimestamp(t, z).time()
                if wall < p["allowed_from"] or wall >= p["allowed_until"]:
                    out.add(s.id)
        elif s.kind == "holidays":
            if any(local_day(t, z) in p["dates"] for z in zones):
                out.add(s.id)
        elif s.kind == "calendar_window_cap":
            for z in zones:
                today = local_day(t, z)
                window = {today - timedelta(days=k) for k in range(p["days"])}
                n = sum(
                    1
                    for a in after
                    if in_scope(p["scope"], a, c)
                    and counted(p["count"], a)
                    and local_day(min(a.at, t), z) in window
                )
                if n > p["max"]:
                    out.add(s.id)
        elif s.kind == "cooldown_days":
            for z in zones:
                today = local_day(t, z)
                for a in history:
                    if (
                        in_scope(p["scope"], a, c)
                        and counted(p["count"], a)
                        and (today - local_day(min(a.at, t), z)).days < p["days"]
                    ):
                        out.add(s.id)
        elif s.kind == "cooldown_hours":
            if not (p["unless_agent_reserved"] and c.agent_reserved) and any(
                in_scope(p["scope"], a, c)
                and counted(p["count"], a)
                and t - a.at < p["hours"] * 3600
                for a in history
            ):
                out.add(s.id)
        elif s.kind == "once":
            if any(in_scope(p["scope"], a, c) and counted(p["count"], a) for a in history):
                out.add(s.id)
        elif s.kind == "forbid":
            out.add(s.id)
        elif s.kind == "debtor_unreachable":
            debtor = sorted(
                (a for a in history if a.borrower == c.borrower and a.party == "debtor"),
                key=lambda a: a.at,
            )
            contacts = [
                a.at
                for a in debtor
                if a.result is None or a.result == "unknown" or a.result in CONNECTED
            ]
            last = max(contacts) if contacts else float("-inf")
            fails = [a for a in debtor if a.result in FAILED and last < a.at <= t]
            ok = (
                (p["invalid_number"] and any(a.result == "invalid_number" for a in fails))
                or len(fails) >= p["consecutive_failures"]
                or (bool(fails) and t - fails[0].at >= p["days_without_contact"] * 86400)
            )
            if not ok:
                out.add(s.id)
        elif s.kind == "dnc":
            for e in [*p["entries"], *optouts]:
                if (
                    e.borrower in (None, c.borrower)
                    and e.phone in (None, c.phone)
                    and e.purpose in (None, c.purpose)
                ):
                    out.add(
                        s.id
                        + "."
                        + ("purpose" if e.purpose else "borrower" if e.borrower else "number")
                    )
        elif s.kind == "caller_id":
            if c.caller_id is not None:
                lst = p["allowed"].get(c.campaign, p["allowed"].get("*"))
                if not c.caller_id or lst is None or c.caller_id not in lst:
                    out.add(s.id)
        elif s.kind == "borrower_busy":
            if any(
                a.result is None
                and (a.borrower == c.borrower or a.phone == c.phone)
                and t < a.at + p["max_call_s"]
                for a in history
            ):
                out.add(s.id)
        elif s.kind == "abandonment_rate":
            if not (p["unless_agent_reserved"] and c.agent_reserved):
                fp = p["amd_false_positive_rate"]
                win = [
                    a
                    for a in history
                    if a.campaign == c.campaign
                    and a.result not in (None, "unknown")
                    and a.at > t - p["window_hours"] * 3600
                ]
                answered = sum(a.result in CONNECTED for a in win) + fp * sum(
                    a.result == "machine" for a in win
                )
                abandoned = sum(a.result == "abandoned" for a in win) + fp * sum(
                    a.result == "machine" for a in win
                )
                if answered > 0 and abandoned / answered >= p["max_rate"]:
                    out.add(s.id)
        elif s.kind == "min_ring" and c.ring_s is not None and c.ring_s < p["min_s"]:
            out.add(s.id)
    return out


# --- strategies -------------------------------------------------------------------------------


def _rules(name: str, caps: int, hours: float, days: int) -> Rules:
    o: dict = {
        "all.caller_id": {"allowed": {"c1": ["+10000000001"], "c2": ["+10000000001"]}},
        "all.max_attempts_per_number_per_day": {"max": caps + 2},
        "all.holidays": {"dates": ["2026-03-09", "2026-11-02", "2026-06-16"]},
    }
    if name == "cn":
        o |= {
            "cn.conversations_per_day": {"max": caps},
            "cn.notice_per_day": {"max": caps},
            "cn.unanswered_per_number": {"max": caps + 1},
            "cn.third_party.contact_period": {"hours": hours},
            "cn.third_party.only_when_unreachable": {"days_without_contact": days},
        }
    elif name == "us":
        o |= {
            "us.reg_f.7in7": {"max": caps + 1, "days": days + 1},
            "us.reg_f.cooldown_after_conversation": {"days": days},
        }
    else:
        o |= {
            "uk.ofcom.abandoned_72h": {"hours": hours},
            "uk.ofcom.abandonment_rate": {"max_rate": 0.2},
        }
    return load_preset(name).with_overrides({"rules": o})


RULES = {
    (n, caps, h, d): _rules(n, caps, h, d)
    for n in ("cn", "us", "uk")
    for caps in (1, 2, 3)
    for h in (5.0, 30.0)
    for d in (1, 3)
}


@st.composite
def scenario(draw: st.DrawFn) -> tuple:
    base = draw(st.sampled_from(BASES)).timestamp()
    now = base + draw(st.floats(-2 * 86400, 2 * 86400))
    key = (
        draw(st.sampled_from(["cn", "us", "uk"])),
        draw(st.sampled_from([1, 2, 3])),
        draw(st.sampled_from([5.0, 30.0])),
        draw(st.sampled_from([1, 3])),
    )
    rules = RULES[key]
    party = draw(st.sampled_from(["debtor"] * 4 + ["third_party"]))
    purposes = (
        ["collection", "collection", "notice"]
        if party == "debtor"
        else ["location", "verification", "collection"]
    )
    c = Candidate(
        borrower=draw(st.sampled_from(["b1", "b2"])),
        phone=draw(st.sampled_from(PHONES[:5] * 4 + PHONES[5:])),
        party=party,
        purpose=draw(st.sampled_from(purposes)),
        campaign=draw(st.sampled_from(["c1", "c2"])),
        debt=draw(st.sampled_from(["d1", "d2"])),
        contact=draw(st.sampled_from(["k1", "k2", ""])) if party == "third_party" else "",
        zones=draw(
            st.sampled_from(
                [
                    (),
                    (),
                    (),
                    (),
                    ("America/Chicago",),
                    ("Asia/Shanghai",),
                    ("Europe/London", "America/Chicago"),
                ]
                * 3
                + [("Nowhere/Land",)]
            )
        ),
        agent_reserved=draw(st.booleans()),
        caller_id=draw(st.sampled_from([None] * 6 + ["+10000000001"] * 2 + ["+10000000002", ""])),
        ring_s=draw(st.sampled_from([None] * 8 + [10.0, 20.0])),
    )
    n = draw(st.integers(0, 20))
    history = []
    for i in range(n):
        a_party = draw(st.sampled_from(["debtor"] * 3 + ["third_party"]))
        history.append(
            Attempt(
                at=now + draw(st.floats(-9 * 86400, 3600)),
                borrower=draw(st.sampled_from(["b1", "b1", "b2"])),
                phone=draw(st.sampled_from(PHONES[:5])),
                party=a_party,
                purpose=draw(st.sampled_from(["collection", "notice", "location", "verification"])),
                result=draw(st.sampled_from(RESULTS)),
                campaign=draw(st.sampled_from(["c1", "c2"])),
                debt=draw(st.sampled_from(["d1", "d2"])),
                contact=draw(st.sampled_from(["k1", "k2", ""])) if a_party == "third_party" else "",
                attempt_id=f"a{i}",
            )
        )
    optouts = draw(
        st.sampled_from(
            [[]] * 12
            + [
                [OptOut(borrower="b2")],
                [OptOut(phone="+12125550100")],
                [OptOut(borrower="b1", purpose="notice")],
                [OptOut(purpose="verification")],
            ]
        )
    )
    return c, history, optouts, now, rules


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario())
def test_refusing_rules_are_exactly_the_violated_ones(s: tuple) -> None:
    c, history, optouts, now, rules = s
    d = decide(c, History(tuple(history), tuple(optouts)), now, rules)
    expected = violations(c, history, optouts, now, rules)
    assert set(d.rules) == expected, (d.reasons, expected)
    if d.allowed:
        assert not expected


@SETTINGS
@given(scenario(), st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_next_allowed_at_is_allowed_and_nothing_earlier_is(
    s: tuple, fractions: list[float]
) -> None:
    c, history, optouts, now, rules = s
    view = History(tuple(history), tuple(optouts))
    d = decide(c, view, now, rules)
    if d.allowed:
        return
    if d.next_allowed_at is None:
        for k in (1, 7, 30):
            t = now + k * 86400 + fractions[0] * 3600
            assert violations(c, history, optouts, t, rules), "never, yet allowed later"
        return
    nxt = d.next_allowed_ts
    assert nxt is not None and nxt > now
    assert decide(c, view, nxt, rules).allowed
    assert not violations(c, history, optouts, nxt, rules)
    for t in [now + f * (nxt - now) for f in fractions] + [nxt - 1e-3]:
        if now <= t < nxt:
            assert violations(c, history, optouts, t, rules), (t, nxt)
            assert not decide(c, view, t, rules).allowed
