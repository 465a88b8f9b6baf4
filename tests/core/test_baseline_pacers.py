"""The baseline pacers: ratio, adaptive (VICIdial's ADAPT, as we read it) and clairvoyant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import pytest

from dialer.core.model import Disposition
from dialer.core.pacing import PACERS, PacingView, ProgressivePacer, make_pacer
from dialer.core.pacing.adaptive import AdaptivePacer, is_drop
from dialer.core.pacing.clairvoyant import Arrival, ClairvoyantPacer, Foresight, OracleMissing
from dialer.core.pacing.ratio import RatioPacer


def view(at: float = 0.0, *, ready: int = 0, ringing: int = 0, on_call: int = 0, wrap: int = 0,
         dialing: int = 0, answered: int = 0, waiting: int = 0, lines_free: int = 1000) -> PacingView:
    return PacingView(
        at=at, campaign="c1", agents_logged_in=ready + ringing + on_call + wrap, agents_ready=ready,
        agents_ringing=ringing, agents_on_call=on_call, agents_wrap_up=wrap, calls_dialing=dialing,
        calls_answered=answered, calls_waiting=waiting, lines_free=lines_free, abandon_target=0.03,
    )


def test_registry_knows_the_baselines():
    for name in ("progressive", "ratio", "adaptive", "clairvoyant"):
        assert name in PACERS
        assert make_pacer(name).name == name


# --- ratio ------------------------------------------------------------------------------------


def test_ratio_keeps_lines_per_ready_agent():
    p = RatioPacer(2.5)
    assert p.calls_to_place(view(ready=4)) == 10
    assert p.calls_to_place(view(ready=4, dialing=6, answered=1, waiting=1)) == 2
    assert p.calls_to_place(view(ready=4, dialing=12)) == 0
    assert p.calls_to_place(view(ready=0, on_call=20)) == 0  # "ready" tally ignores busy agents
    assert p.calls_to_place(view(ready=4, lines_free=3)) == 3


def test_ratio_one_is_progressive():
    r, prog = RatioPacer(1.0), ProgressivePacer()
    for v in (view(ready=3), view(ready=3, dialing=1), view(ready=2, dialing=5), view(on_call=9)):
        assert r.calls_to_place(v) == prog.calls_to_place(v)


def test_ratio_active_tally_counts_talking_agents_and_their_lines():
    p = RatioPacer(1.2, tally="active")
    # 10 talking, nobody ready: 12 lines wanted, 10 in use -> 2 more
    assert p.calls_to_place(view(on_call=10)) == 2
    assert p.calls_to_place(view(on_call=10, dialing=2)) == 0
    # agents in wrap-up do not count
    assert p.calls_to_place(view(on_call=5, wrap=5)) == 1


def test_ratio_default_and_other_values():
    assert RatioPacer().ratio == 2.0
    assert PACERS["ratio"](ratio=3.0).ratio == 3.0  # type: ignore[call-arg]
    for bad in (0.5, 0, float("nan"), "2", True):
        with pytest.raises(ValueError, match="ratio"):
            RatioPacer(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tally"):
        RatioPacer(2.0, tally="everyone")


# --- adaptive -----------------------------------------------------------------------------


def drive(p: AdaptivePacer, start: float, seconds: float, **kw: int) -> int:
    """Decisions every 0.1 s from `start` to `start + seconds`; returns the last decision."""
    n = 0
    steps = round(seconds * 10)
    for i in range(steps + 1):
        n = p.calls_to_place(view(start + i / 10, **kw))
    return n


def test_adaptive_starts_at_one_to_one_and_climbs_while_agents_wait():
    p = AdaptivePacer()
    assert p.level == 1.0
    assert p.calls_to_place(view(0.0, ready=10)) == 10  # level 1, active tally: 10 lines
    drive(p, 0.0, 15.0, ready=10)  # 15 samples of +10 ready: the whole team idle
    assert p.adaptations == 1
    assert p.level == pytest.approx(1.5)  # step 0.5 x gain 1 x idle share 1
    drive(p, 15.1, 60, ready=10)
    assert p.level == 3.0  # capped at max_level


def test_adaptive_comes_down_when_calls_wait():
    p = AdaptivePacer(start_level=2.5)
    drive(p, 0.0, 15.0, ready=0, on_call=10, waiting=5)
    assert p.level == pytest.approx(2.25)  # idle share -0.5 -> -0.25


def test_adaptive_intensity_scales_the_reaction_and_samples_once_a_second():
    calm, keen = AdaptivePacer(intensity=-20), AdaptivePacer(intensity=20)
    drive(calm, 0.0, 15.0, ready=10)
    drive(keen, 0.0, 15.0, ready=10)
    assert calm.level == pytest.approx(1.25) and keen.level == pytest.approx(2.0)
    assert len(calm.samples) == 0  # consumed by the adaptation at 15 s
    drive(calm, 15.1, 5.0, ready=10)
    assert len(calm.samples) == 5  # one per second, not one per decision


def test_adaptive_hard_limit_falls_back_to_one_to_one_for_the_rest_of_the_day():
    p = AdaptivePacer()
    drive(p, 0.0, 45.0, ready=10)
    assert p.level > 2.0
    for i in range(100):
        p.observe_outcome(50.0 + i, answered_human=True, abandoned=i < 4)  # 4% > 3%
    drive(p, 45.1, 15.0, ready=10)
    assert p.latched and p.level == 1.0
    assert p.calls_to_place(view(61.0, ready=2, on_call=8)) == 2  # one line per agent: 10 - 8 in use
    for i in range(1000):  # the rate falls back under the limit: still 1:1 today
        p.observe_outcome(100.0 + i, answered_human=True, abandoned=False)
    drive(p, 61.0, 120.0, ready=10)
    assert p.drop_rate < 0.03 and p.level == 1.0
    # a new (UTC) day starts afresh
    drive(p, 86400.0, 15.0, ready=10)
    assert not p.latched and p.level == pytest.approx(1.5)


def test_adaptive_hard_limit_without_latch_resumes_under_the_limit():
    p = AdaptivePacer(latch=False)
    drive(p, 0.0, 30.0, ready=10)
    for i in range(100):
        p.observe_outcome(31.0, answered_human=True, abandoned=i < 4)
    drive(p, 30.1, 15.0, ready=10)
    assert p.level == 1.0
    for _ in range(100):
        p.observe_outcome(46.0, answered_human=True, abandoned=False)
    drive(p, 45.1, 15.0, ready=10)
    assert p.level == pytest.approx(1.5)


def test_adaptive_average_halves_while_over_the_limit():
    p = AdaptivePacer(mode="ADAPT_AVERAGE", start_level=3.0)
    p.calls_to_place(view(0.0, ready=10))  # the day (and its first 15 s) starts here
    for i in range(10):
        p.observe_outcome(1.0, answered_human=True, abandoned=i == 0)  # 10%
    drive(p, 0.0, 15.0, ready=10)
    assert p.level == pytest.approx(1.5)
    drive(p, 15.1, 15.0, ready=10)
    assert p.level == pytest.approx(1.0)  # never below 1:1
    for _ in range(100):
        p.observe_outcome(31.0, answered_human=True, abandoned=False)
    drive(p, 30.1, 15.0, ready=10)
    assert p.level == pytest.approx(1.5)  # under the limit again: adapts


def test_adaptive_tapered_allows_more_early_in_the_shift():
    early, late = AdaptivePacer(mode="tapered", start_level=2.0), AdaptivePacer(mode="tapered", start_level=2.0)
    for p in (early, late):
        p.calls_to_place(view(0.0, on_call=10))  # the shift starts at the first decision
        for i in range(100):
            p.observe_outcome(1.0, answered_human=True, abandoned=i < 5)  # 5%
    drive(early, 0.0, 15.0, ready=0, on_call=10)  # limit 3% x (1 + ~8/8) ~ 6%: not over
    assert early.level == pytest.approx(2.0)
    late.calls_to_place(view(7.5 * 3600, on_call=10))  # 0.5 h left: limit ~3.19%: over
    assert late.level == pytest.approx(2.0 * 0.03 * (1 + 0.5 / 8) / 0.05)


@dataclass
class FakeOutcome:
    abandoned: bool
    answer_at: float | None = 100.0
    amd_at: float | None = 102.0
    connect_at: float | None = None
    hangup_at: float | None = None
    ended_at: float = 200.0
    disposition: Disposition = Disposition.ABANDONED
    amd_status: str | None = "HUMAN"


def test_adaptive_counts_a_drop_only_after_five_seconds():
    timeout = FakeOutcome(True, hangup_at=102.0 + 2.0 + 3.0)  # queue timeout + id message
    early_hangup = FakeOutcome(True, hangup_at=104.5)  # hung up on hold after 2.5 s
    late_connect = FakeOutcome(True, connect_at=105.0, disposition=Disposition.CONNECTED)  # 3 s: legal abandon
    long_wait = FakeOutcome(True, connect_at=108.0, disposition=Disposition.CONNECTED)
    fine = FakeOutcome(False, connect_at=102.5, disposition=Disposition.CONNECTED)
    assert is_drop(timeout, 5.0) and is_drop(long_wait, 5.0)
    assert not is_drop(early_hangup, 5.0) and not is_drop(late_connect, 5.0) and not is_drop(fine, 5.0)
    assert is_drop(late_connect, 2.0)
    p = AdaptivePacer()
    for o in (timeout, early_hangup, late_connect, long_wait, fine):
        p.observe(o)
        p.observe_outcome(o.ended_at, True, o.abandoned)  # the bare hook is ignored once `observe` is used
    assert p.drop_rate == pytest.approx(2 / 5)
    bare = AdaptivePacer()
    for o in (timeout, early_hangup, late_connect, long_wait, fine):
        bare.observe_outcome(o.ended_at, True, o.abandoned)
    assert bare.drop_rate == pytest.approx(4 / 5)  # no timings: every abandonment is a drop


def test_adaptive_rejects_bad_settings():
    with pytest.raises(ValueError, match="mode"):
        AdaptivePacer(mode="turbo")
    with pytest.raises(ValueError, match="intensity"):
        AdaptivePacer(intensity=50)
    with pytest.raises(ValueError, match="max_level"):
        AdaptivePacer(max_level=0.5)


# --- clairvoyant --------------------------------------------------------------------------------


class FakeOracle:
    def __init__(self, free: list[float], fates: list[Foresight], arrivals: Iterable[Arrival] = ()) -> None:
        self.free, self.fates, self._arrivals = free, fates, list(arrivals)

    def upcoming(self, n: int) -> Iterable[Foresight]:
        return iter(self.fates[:n])

    def agents_free_at(self) -> list[float]:
        return self.free

    def arrivals(self) -> list[Arrival]:
        return self._arrivals


NEVER = Foresight(None)


def person(after: float, hold: float = 100.0, limit: float = 1.4) -> Foresight:
    return Foresight(after, hold, limit)


def test_clairvoyant_refuses_to_run_without_the_simulator():
    with pytest.raises(OracleMissing, match="simulator"):
        ClairvoyantPacer().calls_to_place(view(ready=3))


def test_clairvoyant_dials_every_call_that_needs_no_agent_and_stops_at_the_first_it_cannot_serve():
    p = ClairvoyantPacer()
    # two agents: one free now, one free at t=50
    p.attach_oracle(FakeOracle([0.0, 50.0], [NEVER, person(10), NEVER, NEVER, person(10), person(10), NEVER]))
    # call 2 takes agent A at 10; call 5 would arrive at 10 but agent B frees at 50 -> stop there
    assert p.calls_to_place(view(0.0, ready=1, on_call=1)) == 4


def test_clairvoyant_serves_calls_already_in_flight_first():
    p = ClairvoyantPacer()
    p.attach_oracle(FakeOracle([0.0], [person(8)], arrivals=[Arrival(5.0, 100.0, 6.4)]))
    assert p.calls_to_place(view(0.0, ready=1)) == 0  # the only agent is spoken for until 105
    p.attach_oracle(FakeOracle([0.0], [person(8)], arrivals=[Arrival(5.0, 1.0, 6.4)]))
    assert p.calls_to_place(view(0.0, ready=1)) == 1  # free again at 6, before the call needs it at 8


def test_clairvoyant_waits_as_long_as_the_allowance_permits():
    p = ClairvoyantPacer()
    p.attach_oracle(FakeOracle([11.0], [person(10, limit=1.4)]))
    assert p.calls_to_place(view(0.0, on_call=1)) == 1  # waits 1 s <= 1.4 s
    p.attach_oracle(FakeOracle([12.0], [person(10, limit=1.4)]))
    assert p.calls_to_place(view(0.0, on_call=1)) == 0
    assert p.calls_to_place(replace(view(2.0, on_call=1))) == 1  # two seconds later it fits


def test_clairvoyant_respects_free_lines():
    p = ClairvoyantPacer()
    p.attach_oracle(FakeOracle([0.0], [NEVER] * 50))
    assert p.calls_to_place(view(0.0, ready=1, lines_free=7)) == 7


# --- escalations and bot-first campaigns --------------------------------------------------------


def test_progressive_keeps_agents_for_expected_escalations():
    p = ProgressivePacer()
    assert p.calls_to_place(view(ready=5)) == 5
    # 7 people with the bot at 30%: ceil(2.1) = 3 agents spoken for
    assert p.calls_to_place(replace(view(ready=5), calls_with_bot=7, escalation_rate=0.3)) == 2
    assert p.calls_to_place(replace(view(ready=5), calls_with_bot=7, escalation_rate=0.0)) == 5


def test_progressive_bot_first_limits_by_bot_channels():
    p = ProgressivePacer()
    v = replace(view(ready=0, on_call=10, dialing=2, answered=1), bot_capacity=10, calls_with_bot=4,
                escalation_rate=0.2)
    # bot: 10 - 4 - 3 = 3 (no ready agent needed: people go to the bot)
    assert p.calls_to_place(v) == 3
    assert p.calls_to_place(replace(v, lines_free=1)) == 1
    assert p.calls_to_place(replace(v, calls_with_bot=10)) == 0


def test_progressive_bot_first_limits_by_expected_escalations():
    p = ProgressivePacer()
    # 4 agents, 1 escalated person already waiting: room for 3 escalations; at 50%, the
    # pipeline (4 with the bot + 1 dialing + n) may hold 6 calls: n = 1
    v = replace(view(ready=1, on_call=3, dialing=1, waiting=1), bot_capacity=50, calls_with_bot=4,
                escalation_rate=0.5)
    assert p.calls_to_place(v) == 1
    assert p.calls_to_place(replace(v, escalation_rate=0.0)) == 45


def test_bot_first_calls_needs_a_bot_first_view():
    from dialer.core.pacing.base import bot_first_calls

    with pytest.raises(ValueError, match="bot_capacity"):
        bot_first_calls(view(ready=3))
