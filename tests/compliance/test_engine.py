"""Edge cases of the decision: clock edges, caps, cool-downs, DST, zones, third parties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.compliance import (
    AbandonStats,
    Candidate,
    History,
    OptOut,
    check_campaign,
    decide,
    result_for_disposition,
)
from dialer.core.model import CampaignConfig, Disposition

from .helpers import (
    CN_PHONE,
    ID_PHONE,
    LA,
    LONDON,
    NY,
    NY_PHONE,
    SH,
    UK_PHONE,
    att,
    cand,
    local,
    rules,
)

CN = rules("cn")
US = rules("us")
UK = rules("uk")


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


# --- time of day ------------------------------------------------------------------------------


def test_cn_quiet_hours_edges_2159_59_allowed_2200_refused() -> None:
    c = cand()
    assert decide(c, [], local(SH, 2026, 3, 2, 21, 59, 59), CN).allowed
    d = decide(c, [], local(SH, 2026, 3, 2, 22, 0, 0), CN)
    assert not d.allowed and d.rules == ("cn.quiet_hours",)
    assert d.next_allowed_at == local(SH, 2026, 3, 3, 8, 0, 0)
    assert "22:00:00 in Asia/Shanghai" in d.reasons[0]
    d = decide(c, [], local(SH, 2026, 3, 3, 7, 59, 59), CN)
    assert not d.allowed and d.next_allowed_at == local(SH, 2026, 3, 3, 8)
    assert decide(c, [], local(SH, 2026, 3, 3, 8, 0, 0), CN).allowed


def test_plus86_number_is_judged_in_shanghai_time_whatever_the_clock_zone() -> None:
    c = cand()
    now = utc(2026, 3, 2, 13, 59, 59)  # 21:59:59 in Shanghai
    d = decide(c, [], now, CN)
    assert d.allowed and d.zones == ("Asia/Shanghai",)
    assert not decide(c, [], now + timedelta(seconds=1), CN).allowed


def test_us_inconvenient_time_edges() -> None:
    c = cand(NY_PHONE)
    assert decide(c, [], local(NY, 2026, 6, 2, 20, 59, 59), US).allowed
    d = decide(c, [], local(NY, 2026, 6, 2, 21, 0, 0), US)
    assert d.rules == ("us.inconvenient_time",)
    assert d.next_allowed_at == local(NY, 2026, 6, 3, 8)


def test_two_zone_area_code_every_zone_must_allow() -> None:
    c = cand(ID_PHONE)
    # 07:30 in Los Angeles = 08:30 in Boise: LA still closed.
    d = decide(c, [], local(LA, 2026, 6, 2, 7, 30), US)
    assert not d.allowed and set(d.zones) == {"America/Boise", "America/Los_Angeles"}
    assert "America/Los_Angeles" in d.reasons[0] and "America/Boise" not in d.reasons[0]
    assert d.next_allowed_at == local(LA, 2026, 6, 2, 8)
    # 20:30 in LA = 21:30 in Boise: Boise closed; next is 08:00 in LA (09:00 in Boise).
    d = decide(c, [], local(LA, 2026, 6, 2, 20, 30), US)
    assert not d.allowed and "America/Boise" in d.reasons[0]
    assert d.next_allowed_at == local(LA, 2026, 6, 3, 8)
    assert decide(c, [], local(LA, 2026, 6, 2, 19, 59, 59), US).allowed


def test_address_zone_is_added_to_the_number_zones() -> None:
    c = cand(NY_PHONE, zones=("America/Los_Angeles",))
    d = decide(c, [], local(NY, 2026, 6, 2, 8, 30), US)  # 05:30 in LA
    assert not d.allowed and d.next_allowed_at == local(LA, 2026, 6, 2, 8)


def test_unknown_zone_fails_closed() -> None:
    c = cand("+447700900123")  # a range phonenumbers has no zone for
    d = decide(c, [], local(LONDON, 2026, 6, 2, 12), UK)
    assert not d.allowed and d.rules == ("gate.unknown_timezone",) and d.next_allowed_at is None
    assert "+447700900123" not in " ".join(d.reasons)
    assert decide(
        cand("+447700900123", zones=("Europe/London",)), [], local(LONDON, 2026, 6, 2, 12), UK
    ).allowed
    d = decide(cand(UK_PHONE, zones=("Mars/Olympus_Mons",)), [], local(LONDON, 2026, 6, 2, 12), UK)
    assert d.rules == ("gate.unknown_timezone",) and "Mars/Olympus_Mons" in d.reasons[0]


# --- daylight saving ---------------------------------------------------------------------------


def test_us_spring_forward_next_allowed_is_0800_edt() -> None:
    c = cand(NY_PHONE)
    d = decide(c, [], local(NY, 2026, 3, 7, 22, 0), US)  # the night before the change
    assert d.next_allowed_at == local(NY, 2026, 3, 8, 8)
    assert d.next_allowed_at == utc(2026, 3, 8, 12)  # EDT, not EST (13:00Z)
    assert not decide(c, [], utc(2026, 3, 8, 11, 59, 59), US).allowed
    assert decide(c, [], utc(2026, 3, 8, 12), US).allowed


def test_us_fall_back_next_allowed_is_0800_est() -> None:
    c = cand(NY_PHONE)
    d = decide(c, [], local(NY, 2026, 10, 31, 21, 30), US)
    assert d.next_allowed_at == utc(2026, 11, 1, 13)  # 08:00 EST
    assert not decide(c, [], utc(2026, 11, 1, 12, 30), US).allowed  # 07:30 EST (was 08:30 EDT)


def test_calendar_day_cap_on_the_25_hour_day() -> None:
    """Nov 1 2026 lasts 25 h in New York: attempts at its first and last hour share the day."""
    r = rules("us", **{"all.max_attempts_per_number_per_day": {"max": 2}})
    c = cand(NY_PHONE)
    first = local(NY, 2026, 11, 1, 0, 30)  # EDT
    ambiguous = local(NY, 2026, 11, 1, 1, 30, fold=1)  # EST, the repeated hour
    h = [att(first, "no_connect", phone=NY_PHONE), att(ambiguous, "no_connect", phone=NY_PHONE)]
    d = decide(c, h, local(NY, 2026, 11, 1, 20, 59), r)
    assert d.rules == ("all.max_attempts_per_number_per_day",)
    assert d.next_allowed_at == local(NY, 2026, 11, 2, 8)


def test_cooldown_across_spring_forward() -> None:
    c = cand(NY_PHONE)
    h = [att(local(NY, 2026, 3, 5, 10), "conversation", phone=NY_PHONE)]
    d = decide(c, h, local(NY, 2026, 3, 11, 20), US)  # day 7
    assert d.rules == ("us.reg_f.cooldown_after_conversation",)
    assert d.next_allowed_at == local(NY, 2026, 3, 12, 8)  # day 8, 08:00 EDT
    assert d.next_allowed_at == utc(2026, 3, 12, 12)


def test_dst_gap_at_midnight_day_starts_at_the_transition() -> None:
    """America/Havana springs forward at 00:00 (to 01:00): the local day begins at the jump."""
    from datetime import date

    from dialer.core.compliance._time import day_starts, zone

    tz = zone("America/Havana")
    assert tz is not None
    starts = day_starts(date(2026, 3, 8), tz)
    jump = min(s for s in starts if datetime.fromtimestamp(s, tz).date() == date(2026, 3, 8))
    assert datetime.fromtimestamp(jump, tz).hour == 1
    assert datetime.fromtimestamp(jump - 1, tz).date() == date(2026, 3, 7)


# --- Regulation F ---------------------------------------------------------------------------


def _calls(n: int, start: datetime, result: str = "no_answer", **kw: object) -> list:
    return [
        att(start + timedelta(days=i // 2, hours=i % 2), result, phone=NY_PHONE, **kw)
        for i in range(n)
    ]


def test_7th_call_allowed_8th_refused() -> None:
    c = cand(NY_PHONE)
    start = local(NY, 2026, 6, 1, 9)
    now = local(NY, 2026, 6, 5, 12)
    assert decide(c, _calls(6, start), now, US).allowed
    d = decide(c, _calls(7, start), now, US)
    assert d.rules == ("us.reg_f.7in7",)
    # The calls fall on Jun 1,1,2,2,3,3,4: the window Jun 2..8 still holds 5... the cap is
    # lifted on the first day whose 7-day window holds fewer than 7: Jun 8 (Jun 2..8 holds 5).
    assert d.next_allowed_at == local(NY, 2026, 6, 8, 8)
    assert not decide(c, _calls(7, start), local(NY, 2026, 6, 7, 20), US).allowed


def test_calls_that_do_not_connect_are_not_counted_but_voicemails_are() -> None:
    c = cand(NY_PHONE)
    start = local(NY, 2026, 6, 1, 9)
    now = local(NY, 2026, 6, 5, 12)
    r = rules("us", **{"all.max_attempts_per_number_per_day": {"max": 99}})
    assert decide(c, _calls(7, start, "no_connect"), now, r).allowed
    assert decide(c, _calls(7, start, "invalid_number"), now, r).allowed
    assert not decide(c, _calls(7, start, "voicemail"), now, r).allowed


def test_7in7_is_per_debt() -> None:
    c = cand(NY_PHONE, debt="d2")
    assert decide(c, _calls(7, local(NY, 2026, 6, 1, 9)), local(NY, 2026, 6, 5, 12), US).allowed


def test_day_7_refused_day_8_allowed_after_a_conversation() -> None:
    c = cand(NY_PHONE)
    h = [att(local(NY, 2026, 6, 1, 10), "conversation", phone=NY_PHONE)]
    d = decide(c, h, local(NY, 2026, 6, 7, 20, 59, 59), US)  # day 7
    assert d.rules == ("us.reg_f.cooldown_after_conversation",)
    assert "day 7 of 7" in d.reasons[0]
    assert d.next_allowed_at == local(NY, 2026, 6, 8, 8)
    assert decide(c, h, local(NY, 2026, 6, 8, 8), US).allowed  # day 8


def test_conversation_day_is_day_one_even_late_at_night() -> None:
    c = cand(NY_PHONE)
    h = [att(local(NY, 2026, 6, 1, 20, 59), "conversation", phone=NY_PHONE)]
    assert not decide(c, h, local(NY, 2026, 6, 7, 9), US).allowed
    assert decide(c, h, local(NY, 2026, 6, 8, 9), US).allowed


# --- every preset ------------------------------------------------------------------------------


def test_borrower_busy_until_completed_or_expired() -> None:
    c = cand()
    now = local(SH, 2026, 3, 2, 10)
    live = att(now - timedelta(minutes=5), None, attempt_id="a1")
    d = decide(c, [live], now, CN)
    assert d.rules == ("all.borrower_busy",)
    assert d.next_allowed_at == now - timedelta(minutes=5) + timedelta(hours=2)
    # Another campaign, another process: still the same borrower.
    assert not decide(cand(campaign="other"), [live], now, CN).allowed
    # The same number for another borrower is busy too.
    assert decide(cand(borrower="b2"), [live], now, CN).rules == ("all.borrower_busy",)
    # Expired after max_call_s: no longer busy, but it still counts as an attempt.
    later = now + timedelta(hours=2)
    assert decide(c, [live], later, CN).allowed


def test_an_unresolved_attempt_counts_toward_every_cap() -> None:
    c = cand()
    day = local(SH, 2026, 3, 2, 9)
    h = [
        att(day, "conversation"),
        att(day + timedelta(hours=1), "conversation"),
        att(day + timedelta(hours=2), None),
    ]  # crashed: no result, expired later
    d = decide(c, h, day + timedelta(hours=5), CN)
    assert d.rules == ("cn.conversations_per_day",)
    assert d.next_allowed_at == local(SH, 2026, 3, 3, 8)


def test_unanswered_cap_per_number_and_attempt_cap() -> None:
    c = cand()
    day = local(SH, 2026, 3, 2, 8)
    h = [att(day + timedelta(minutes=30 * i), "no_answer") for i in range(6)]
    d = decide(c, h, day + timedelta(hours=6), CN)
    assert d.rules == ("cn.unanswered_per_number",)
    assert decide(c, h[:5], day + timedelta(hours=6), CN).allowed
    # Another borrower on the same number is held by the per-number cap too.
    assert (
        "cn.unanswered_per_number"
        in decide(cand(borrower="b9"), h, day + timedelta(hours=6), CN).rules
    )


def test_notice_calls_capped_only_for_notices() -> None:
    day = local(SH, 2026, 3, 2, 8)
    h = [att(day + timedelta(hours=i), "conversation", purpose="notice") for i in range(3)]
    r = rules("cn", **{"cn.conversations_per_day": {"max": 10}})
    assert decide(cand(purpose="notice"), h, day + timedelta(hours=5), r).rules == (
        "cn.notice_per_day",
    )
    assert decide(cand(purpose="collection"), h, day + timedelta(hours=5), r).allowed


def test_dnc_by_borrower_number_and_purpose() -> None:
    now = local(SH, 2026, 3, 2, 10)
    c = cand()
    for entry, rid in (
        (OptOut(borrower="b1"), "all.dnc.borrower"),
        (OptOut(phone=CN_PHONE), "all.dnc.number"),
        (OptOut(borrower="b1", purpose="collection"), "all.dnc.purpose"),
    ):
        d = decide(c, History((), (entry,)), now, CN)
        assert d.rules == (rid,) and d.next_allowed_at is None
        assert CN_PHONE not in " ".join(d.reasons)
    assert decide(
        cand(purpose="notice"), History((), (OptOut(borrower="b1", purpose="collection"),)), now, CN
    ).allowed
    r = rules(
        "cn", **{"all.dnc": {"entries": [{"phone": CN_PHONE, "note": "asked on 2026-01-01"}]}}
    )
    assert decide(c, [], now, r).rules == ("all.dnc.number",)


def test_holidays() -> None:
    r = rules("cn", **{"all.holidays": {"dates": ["2026-10-01", "2026-10-02"]}})
    d = decide(cand(), [], local(SH, 2026, 10, 1, 10), r)
    assert d.rules == ("all.holidays",) and d.next_allowed_at == local(SH, 2026, 10, 3, 8)


def test_caller_id_must_be_in_the_campaign_list() -> None:
    r = rules(
        "cn", **{"all.caller_id": {"allowed": {"c1": ["+861012345678"], "*": ["+861099999999"]}}}
    )
    now = local(SH, 2026, 3, 2, 10)
    assert decide(cand(caller_id="+861012345678"), [], now, r).allowed
    d = decide(cand(caller_id="+861099999999"), [], now, r)  # "*" does not extend a campaign's list
    assert (
        d.rules == ("all.caller_id",)
        and d.next_allowed_at is None
        and "+861099999999" not in d.reasons[0]
    )
    assert decide(cand(campaign="c2", caller_id="+861099999999"), [], now, r).allowed
    assert decide(cand(caller_id=""), [], now, r).rules == ("all.caller_id",)
    assert decide(cand(caller_id="+861012345678"), [], now, CN).rules == (
        "all.caller_id",
    )  # no list


# --- third parties -----------------------------------------------------------------------------


def _tp(**kw: object) -> Candidate:
    fields: dict = {"party": "third_party", "purpose": "verification", "contact": "k1"} | kw
    return cand("+8613900139000", **fields)


def test_cn_third_party_only_while_debtor_unreachable() -> None:
    day = local(SH, 2026, 3, 2, 9)
    tp = _tp()
    d = decide(tp, [], day, CN)
    assert d.rules == ("cn.third_party.only_when_unreachable",) and d.next_allowed_at is None
    two = [att(day, "no_answer"), att(day + timedelta(hours=1), "no_answer")]
    d = decide(tp, two, day + timedelta(hours=2), CN)
    assert d.next_allowed_at == day + timedelta(days=3)  # 3 days without reaching them
    assert decide(
        tp, [*two, att(day + timedelta(hours=2), "no_connect")], day + timedelta(hours=3), CN
    ).allowed
    assert decide(tp, [att(day, "invalid_number")], day + timedelta(hours=1), CN).allowed
    # A conversation resets it; an unresolved attempt might have been one.
    assert not decide(
        tp, [*two, att(day + timedelta(hours=2), "conversation")], day + timedelta(hours=3), CN
    ).allowed
    assert not decide(
        tp, [*two, att(day + timedelta(hours=2), None)], day + timedelta(hours=5), CN
    ).allowed


def test_cn_third_party_never_for_collection_and_never_after_refusal() -> None:
    day = local(SH, 2026, 3, 2, 9)
    lost = [att(day - timedelta(days=1), "invalid_number")]
    d = decide(_tp(purpose="collection"), lost, day, CN)
    assert d.rules == ("cn.third_party.no_collection",) and d.next_allowed_at is None
    refused = [
        *lost,
        att(
            day - timedelta(hours=20),
            "refused_by_party",
            party="third_party",
            phone="+8613900139000",
            purpose="verification",
            contact="k1",
        ),
    ]
    d = decide(_tp(), refused, day + timedelta(days=30), CN)
    assert "cn.third_party.refused" in d.rules and d.next_allowed_at is None
    # Another contact of the same borrower is not affected.
    assert decide(_tp(contact="k2"), refused, day + timedelta(days=30), CN).allowed


def test_cn_third_party_contact_period_is_a_design_choice() -> None:
    assert CN.spec("cn.third_party.contact_period").design_choice
    day = local(SH, 2026, 3, 2, 9)
    h = [
        att(day - timedelta(days=1), "invalid_number"),
        att(
            day,
            "conversation",
            party="third_party",
            phone="+8613900139000",
            purpose="verification",
            contact="k1",
        ),
    ]
    d = decide(_tp(), h, day + timedelta(days=2), CN)
    assert d.rules == ("cn.third_party.contact_period",)
    assert d.next_allowed_at == day + timedelta(days=7)


def test_us_location_calls_once_per_person_and_only_for_location() -> None:
    now = local(NY, 2026, 6, 2, 10)
    tp = cand("+12125550199", party="third_party", purpose="location", contact="k1")
    assert decide(tp, [], now, US).allowed
    d = decide(
        cand("+12125550199", party="third_party", purpose="collection", contact="k1"), [], now, US
    )
    assert d.rules == ("us.third_party.location_only",)
    h = [
        att(
            now - timedelta(days=40),
            "conversation",
            party="third_party",
            phone="+12125550199",
            purpose="location",
            contact="k1",
        )
    ]
    d = decide(tp, h, now, US)
    assert d.rules == ("us.third_party.location_once",) and d.next_allowed_at is None
    h = [
        att(
            now - timedelta(days=40),
            "no_answer",
            party="third_party",
            phone="+12125550199",
            purpose="location",
            contact="k1",
        )
    ]
    assert decide(tp, h, now, US).allowed


# --- UK -------------------------------------------------------------------------------------


def test_uk_72h_after_abandoned_unless_agent_reserved() -> None:
    now = local(LONDON, 2026, 6, 2, 10)
    h = [att(now - timedelta(hours=71), "abandoned", phone=UK_PHONE)]
    r = rules("uk", **{"uk.ofcom.abandonment_rate": {"enabled": False}})
    d = decide(cand(UK_PHONE), h, now, r)
    assert d.rules == ("uk.ofcom.abandoned_72h",)
    assert d.next_allowed_at == now + timedelta(hours=1)
    assert decide(cand(UK_PHONE, agent_reserved=True), h, now, r).allowed


def test_uk_24h_after_amd_machine() -> None:
    now = local(LONDON, 2026, 6, 2, 10)
    h = [att(now - timedelta(hours=23), "machine", phone=UK_PHONE)]
    d = decide(cand(UK_PHONE), h, now, UK)
    assert "uk.ofcom.amd_24h" in d.rules
    assert decide(cand(UK_PHONE), h, now + timedelta(hours=1), UK).allowed


def test_abandonment_rate_from_history_and_from_ledger_stats() -> None:
    now = local(LONDON, 2026, 6, 2, 12)
    h = [
        att(
            now - timedelta(hours=1, minutes=i),
            "conversation",
            borrower=f"x{i}",
            phone=f"+4420712345{i:02d}",
        )
        for i in range(30)
    ]
    h.append(att(now - timedelta(hours=2), "abandoned", borrower="y", phone="+442071239999"))
    d = decide(cand(UK_PHONE), h, now, UK)  # 1/31 = 3.2%
    assert d.rules == ("uk.ofcom.abandonment_rate",)
    assert d.next_allowed_at == now - timedelta(hours=2) + timedelta(hours=24)
    assert decide(cand(UK_PHONE, agent_reserved=True), h, now, UK).allowed
    stats = ((("c1", 86400.0), AbandonStats(86400.0, 100, 3, 0, now.timestamp() + 5)),)
    d = decide(cand(UK_PHONE), History((), (), stats), now, UK)
    assert d.rules == ("uk.ofcom.abandonment_rate",)
    assert d.next_allowed_at == now + timedelta(seconds=5)  # re-check with fresh numbers
    stats = ((("c1", 86400.0), AbandonStats(86400.0, 100, 2, 0, now.timestamp() + 5)),)
    assert decide(cand(UK_PHONE), History((), (), stats), now, UK).allowed


def test_min_ring_and_campaign_check() -> None:
    now = local(NY, 2026, 6, 2, 10)
    assert decide(cand(NY_PHONE, ring_s=14.0), [], now, US).rules == ("us.min_ring",)
    assert decide(cand(NY_PHONE, ring_s=15.0), [], now, US).allowed
    r = rules("us", **{"all.caller_id": {"allowed": {"c1": ["+12125550000"]}}})
    bad = check_campaign(
        CampaignConfig(name="c1", caller_id="+12125550000", originate_timeout_s=10), r
    )
    assert [rid for rid, _ in bad] == ["us.min_ring"]
    bad = check_campaign(CampaignConfig(name="c1", caller_id="+1999", originate_timeout_s=30), r)
    assert [rid for rid, _ in bad] == ["all.caller_id"]


# --- combined, and the contract ------------------------------------------------------------------


def test_next_allowed_combines_rules() -> None:
    """A conversation cap reached at 21:00 and holidays the next day: the next moment is the
    08:00 after the holiday."""
    r = rules("cn", **{"all.holidays": {"dates": ["2026-03-03"]}})
    day = local(SH, 2026, 3, 2, 9)
    h = [att(day + timedelta(hours=i), "conversation") for i in range(3)]
    d = decide(cand(), h, local(SH, 2026, 3, 2, 21), r)
    assert d.rules == ("cn.conversations_per_day",)
    assert d.next_allowed_at == local(SH, 2026, 3, 4, 8)
    assert decide(cand(), h, d.next_allowed_at, r).allowed


def test_future_dated_attempts_count_as_now() -> None:
    now = local(NY, 2026, 6, 2, 10)
    h = [att(now + timedelta(minutes=3), "conversation", phone=NY_PHONE)]  # another process's clock
    assert decide(cand(NY_PHONE), h, now, US).rules == ("us.reg_f.cooldown_after_conversation",)


def test_result_for_disposition_is_conservative() -> None:
    assert result_for_disposition(Disposition.HUMAN_HANGUP) == "conversation"
    assert result_for_disposition(Disposition.LOST) == "unknown"
    assert result_for_disposition(Disposition.BUSY) == "no_connect"
    assert {result_for_disposition(d) for d in Disposition} <= {
        "no_connect",
        "no_answer",
        "machine",
        "abandoned",
        "conversation",
        "invalid_number",
        "unknown",
    }


def test_decision_json_shape() -> None:
    d = decide(cand(), [], local(SH, 2026, 3, 2, 23), CN)
    out = d.to_json(SH)
    assert set(out) == {"allowed", "rules", "reasons", "next_allowed_at"}
    assert out["next_allowed_at"] == "2026-03-03T08:00:00+08:00"


def test_naive_time_is_misuse() -> None:
    from dialer.errors import InputError

    with pytest.raises(InputError):
        decide(cand(), [], datetime(2026, 3, 2, 10), CN)
