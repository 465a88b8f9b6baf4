"""Predictive pacing: a model-based decision on every tick, with feedback on the abandon budget.

What it forecasts. From the view (ready agents, each busy agent's elapsed talk, each wrapping-up
agent's remaining wrap-up, each dialing call's elapsed ring time, the calls in AMD, the people
waiting) and the estimators, at horizons t_1 < ... < t_K spread over the time a new call takes
to need an agent (the mid-quantiles of K equally likely strata of answer time + AMD delay, and
two far ones for calls in flight that answer late), the net demand
    X_k = (people who will need an agent by t_k) - (agents free by t_k + grace),
every call in flight a Bernoulli with its own conditional answer probability, every busy agent
one with its own conditional release probability (talk-time survival from its elapsed talk, then
the wrap-up); grace is the legal threshold minus the agents' answer lag. A new call that needs
an agent at t_k costs an abandonment when the net demand, with the other new calls, reaches 0
then or later: its marginal cost M(n) averages max_{j>=k} P(X_j + Bin(n-1, q_j) >= 0) over the
strata. The kernel (`dialer.core.kernels.PacingModel.decide`, compiled) returns the largest n
with M(n) <= lambda per live answer and n·M(n) within the absolute budget. Small teams get 10
strata (a second early or late decides an abandonment), teams up to 600 16 (many events per
second between two horizons), larger ones 8 (the decision must stay cheap).

What it learns. The estimators (`estimators.py`) learn answer times, the live-answer rate, AMD
delay, talk times and the agents' answer lag from every ended call, with forgetting, and the
calls still going on complete the sample (calls ringing are censored ring times, calls talking
are censored talks and pending live answers), else the first minutes, when only failures,
machines and short talks have ended, would look like a list nobody answers with very short
talks. Tables are rebuilt from them every `rebuild_s` seconds of view time.

How it spends the budget. lambda is steered so that the abandonments the model predicts for
what it dials, times a calibration factor (realised / predicted abandonments, with a prior),
track `aim` × target: after each decision log lambda moves by eta × (live answers bought × aim -
abandonments predicted) / aim. The prediction is known at once, so the loop needs no abandonment
to happen and spends evenly through the day; the calibration corrects the model's bias from what
really happens. It forgets with a half-life of `calibration_half_life_s` (30 min): a start-up
burst, dialled on the thin estimates of the first seconds, once kept it at its ceiling and the
pacer timid for the rest of a short day. No wind-up: lambda does not rise while a cap, not
lambda, limited the calls.
Budget accounting on the legal counters (US: 30 days; UK: 24 h, AMD false positives counted):
    budget = guard × target × live answers - abandonments - calibrated in-flight forecast - reserve
(live answers: the legal counter's, plus the people talking to an agent now)
(the reserve, half an abandonment, is what keeps a 5-agent team, whose day allows about four,
from spending its first one on credit; a whole one kept such teams progressive for the first
40 minutes of a 10%-live list, behind the hindsight-best ratio)
goes to the kernel as the absolute limit, and tempers lambda linearly once it is thinner than
`slack_min` abandonments (or `slack_share` of the live answers), long before it runs out.

Recovery floor. Lambda never drops below `recovery_share` × target / calibration, and when the
budget is spent the absolute limit is lifted while that floor stays: a call still goes out if the
model, corrected by what really happened, gives it an abandonment risk under a tenth of the target
(by default). Such calls abandon far less than the target share of the live answers they bring,
so the rate over the window falls back under the guard while agents keep working. Without it, a
large team at a low answer rate whose budget an early burst had spent ran progressive, a third of
its occupancy, for the rest of a short day (bench/RESULTS.md, 500 agents, 10% live, AMD). The
floor is off below `recovery_min_agents` (25): there one abandonment moves the day's rate by about
half a point, and with the floor 5-agent teams crossed the cap on some seeds of the grid.

Bot-first campaigns (`view.bot_capacity` set) are paced by `base.bot_first_calls`; in the others
the agents expected to take escalations from calls with a bot are not counted as ready.

When it falls back to progressive (one call per ready agent not already covered by a call in
flight): during warm-up, when the budget is spent (plus
the calls under the recovery floor), and always as a floor (it never dials fewer calls than
progressive would). An evidence cap keeps the calls in flight beyond one per ready agent within
`evidence` × the people seen so far, so that a morning of 500 idle agents does not bet thousands
of calls on a few dozen observations. It never exceeds `lines_free`.

Warm-up: until `warmup_need` (10) people have been seen and the answer curve covers the ring
time. People seen include those waiting or talking now, whose ring times the engine reports
(`need_ring_s`): a person's call ends minutes after the answer, and waiting for 25 ended ones
kept the first three minutes of every day progressive, while the first fill of an idle team
left agents waiting on calls that were ringing out (at 25 agents, 40% live, the first five
minutes at 81% against 95% after). The answer curve covers the ring time once a call has rung
out, or the first calls went out a ring timeout ago: before that the late answers are unseen
and the curve says the calls still ringing never will. Talks need no count of their own: the
talk curve is a Kaplan-Meier of ended and running talks, which predicts no release past the
longest talk seen, so thin data holds calls back rather than sending them.
The budget counts the people talking to an agent now as the live answers they will be when
their calls end (connected: they cannot be abandoned any more).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ..kernels import PacingModel
from ..model import Outcome
from .base import PacingView, agents_for_new_answers, bot_first_calls
from .estimators import Estimators

__all__ = ["PredictivePacer"]

_LN_LAM_MIN = math.log(1e-4)


class PredictivePacer:
    name = "predictive"

    def __init__(
        self,
        *,
        target: float | None = None,
        aim: float = 0.8,
        guard: float = 0.93,
        reserve: float = 0.5,
        slack_min: float = 2.0,
        slack_share: float = 0.005,
        horizons: int | None = None,
        far_quantiles: tuple[float, ...] = (0.95, 0.995),
        lam0: float | None = None,
        eta: float = 0.02,
        calibration_prior: float = 4.0,
        calibration0: float = 1.5,
        calibration_half_life_s: float = 1800.0,
        warmup_need: int = 10,
        warmup_talks: int = 0,
        count_connected: bool = True,
        warmup_s: float = 30.0,
        rebuild_s: float = 20.0,
        half_life_s: float = 3600.0,
        talk_model: str = "empirical",
        legal_mode: str = "us",
        max_in_flight_per_agent: float = 40.0,
        work_limit: int = 20_000,
        evidence: float = 2.0,
        lam_max_share: float = 4.0,
        lam0_share: float = 1.0,
        amd_false_positive_rate: float = 0.05,
        recovery_share: float = 0.1,
        recovery_min_agents: int = 25,
        estimators: Estimators | Mapping[str, Any] | None = None,
        kernel: ModuleType | None = None,
    ) -> None:
        if target is not None and not 0.0 < target < 1.0:
            raise ValueError(f"target must be in (0, 1), got {target!r}")
        if not 0.0 < aim <= 1.0 or not 0.0 < guard <= 1.0:
            raise ValueError(f"aim and guard must be in (0, 1], got {aim!r} and {guard!r}")
        if horizons is not None and horizons < 1:
            raise ValueError(f"horizons must be >= 1 (None: by team size), got {horizons!r}")
        if talk_model not in ("lognormal", "empirical"):
            raise ValueError(f"talk_model must be 'lognormal' or 'empirical', got {talk_model!r}")
        if legal_mode not in ("us", "uk"):
            raise ValueError(f"legal_mode must be 'us' or 'uk', got {legal_mode!r}")
        self.target = target
        self.aim = aim
        self.guard = guard
        self.reserve = reserve
        self.slack_min = slack_min
        self.slack_share = slack_share
        self.n_horizons = horizons
        self.far_quantiles = tuple(far_quantiles)
        self.eta = eta
        self.calibration_prior = calibration_prior
        self.calibration0 = calibration0
        if not calibration_half_life_s > 0:
            raise ValueError(
                f"calibration_half_life_s must be > 0 (inf: no forgetting), got {calibration_half_life_s!r}"
            )
        self.calibration_half_life_s = calibration_half_life_s
        self._cal_at: float | None = None
        self.warmup_need = warmup_need
        self.warmup_talks = warmup_talks
        self.count_connected = count_connected
        self.warmup_s = warmup_s
        self._first_dial_at: float | None = None
        self._ring_covered = False
        self.rebuild_s = rebuild_s
        self.talk_model = talk_model
        self.legal_mode = legal_mode
        self.max_in_flight_per_agent = max_in_flight_per_agent
        self.work_limit = work_limit
        self.evidence = evidence
        self.lam_max_share = lam_max_share
        self.lam0_share = lam0_share
        self.recovery_share = recovery_share
        self.recovery_min_agents = recovery_min_agents
        if isinstance(estimators, Estimators):
            self.est = estimators
        elif estimators is not None:
            self.est = Estimators.from_state(estimators)
        else:
            self.est = Estimators(half_life_s=half_life_s, amd_false_positive_rate=amd_false_positive_rate)
        self.ln_lam: float | None = None if lam0 is None else math.log(lam0)
        # the kernel module (compiled where built); another one (e.g. the pure twin) for tests
        self._model_cls = PacingModel if kernel is None else kernel.PacingModel
        self.model: Any = None
        self._built_at = -math.inf
        self._built_version = -1
        self._w_total = 0.0
        # accounting
        self.predicted = 0.0  # sum of n·M(n) over the decisions (the model's abandonments)
        self.realised = 0.0  # abandonments seen (all of them), both sums forgotten alike
        self.last_e0 = 0.0
        self.mode = "warmup"  # warmup | model | budget
        self.decisions = 0

    # --- feedback ---------------------------------------------------------------------------

    def observe(self, outcome: Outcome) -> None:
        self.est.observe(outcome)
        if outcome.abandoned:
            self.realised += 1

    def observe_outcome(self, at: float, answered_human: bool, abandoned: bool) -> None:
        """Thin feedback (engines that do not pass the whole outcome): counts only."""
        if abandoned:
            self.realised += 1

    # --- the decision -----------------------------------------------------------------------

    def _target(self, view: PacingView) -> float:
        return self.target if self.target is not None else view.abandon_target

    @staticmethod
    def strata_for(agents: int) -> int:
        """How many need-time strata: fine for small teams, where one agent freeing a second
        early or late decides an abandonment; fewer for large ones, where the law of large
        numbers smooths the timing and the decision has to stay cheap (its cost is linear in
        strata × (agents + calls in flight))."""
        if agents <= 50:
            return 10
        if agents <= 600:
            return 16
        return 8

    def calibration(self) -> float:
        """Realised abandonments per abandonment the model predicted for what it dialled, with a
        prior of `calibration_prior` abandonments at `calibration0`."""
        c = self.calibration_prior
        k = (self.realised + c) / (self.predicted + c / self.calibration0)
        return min(6.0, max(0.5, k))

    def people_seen(self, view: PacingView | None = None) -> int:
        """People who needed an agent so far: those whose calls ended, and those waiting or
        talking whose ring times the engine reports in the view (known minutes before their
        calls end)."""
        pending = view.need_ring_s if view is not None else None
        return self.est.count_need + (len(pending) if pending is not None else 0)

    def warmed_up(self, view: PacingView | None = None) -> bool:
        """The warm-up's conditions as `calls_to_place` checks them (the ring time covered by a
        ring-out or, already, by the first calls' age; enough people and talks seen)."""
        timeout = view.ring_timeout_s if view is not None and view.ring_timeout_s is not None else self.warmup_s
        covered = self._ring_covered or self.est.longest_ring_s >= timeout - 1.0
        return covered and self.people_seen(view) >= self.warmup_need and self.est.count_talk >= self.warmup_talks

    def _covers_ring_time(self, view: PacingView) -> bool:
        """Has the answer curve seen the whole time a call may ring? A call may answer until its
        ring timeout; before the first calls have rung that long the late answers are unseen,
        and the curve says the calls still ringing never will: at 100 agents the model, trusted
        5 s into the day, dialled a burst that abandoned 83 people in a minute. Covered once an
        ended call rang that long (a ring-out; or the history of a warm start), or the first
        calls went out that long ago (a list where nobody lets it ring out)."""
        timeout = view.ring_timeout_s if view.ring_timeout_s is not None else self.warmup_s
        if self.est.longest_ring_s >= timeout - 1.0:
            return True
        if self._first_dial_at is None:
            if view.calls_dialing > 0:
                self._first_dial_at = view.at
            return False
        return view.at - self._first_dial_at >= timeout

    def _rebuild(self, view: PacingView) -> None:
        est = self.est
        pending = view.agents_on_call + view.calls_waiting  # answered, needing an agent, not ended
        ring = view.need_ring_s
        live, surv, adt = est.answer_tables(view.dialing_elapsed_s, pending, view.at, ring)
        talk, tdt = est.talk_survival(self.talk_model, view.talk_elapsed_s, view.at)
        a = live[-1]
        amd = est.amd_delay_s
        kk = self.n_horizons or self.strata_for(view.agents_logged_in)
        # the strata of the new calls, then past them: calls in flight answering late
        us = [(k + 0.5) / kk for k in range(kk)] + list(self.far_quantiles)
        horizons = [amd + t for t in est.need_time_quantiles(us, ring or (), view.at)]
        weight = [a / kk] * kk + [0.0] * len(self.far_quantiles)
        q_new = [a * u for u in us]
        lag = est.agent_lag_s
        threshold = view.abandon_after_s
        grace = max(0.0, threshold - lag)
        wrap = view.wrapup_s if view.wrapup_s is not None else (est.wrapup_s or 0.0)
        self.model = self._model_cls(
            live, surv, adt, talk, tdt, est.p_need_given_answered_with(pending, view.at), amd, wrap, grace,
            horizons, weight, q_new,
            self.work_limit,
        )
        self._w_total = a
        self._built_at = view.at
        self._built_version = est.version
        if self.ln_lam is None:  # a marginal threshold: the calls under it average well below it
            self.ln_lam = math.log(self.lam0_share * self.aim * self._target(view))

    def calls_to_place(self, view: PacingView) -> int:
        # the engine calls this on every tick: plain locals, no helper objects
        self.decisions += 1
        if view.bot_capacity is not None:
            # Bot-first: a person needs a bot channel at once and an agent only if escalated,
            # minutes later; the model forecasts agents for people at answer, so it does not
            # apply. Paced on bot channels and expected escalations (base.bot_first_calls).
            self.mode = "bot"
            return bot_first_calls(view)
        committed = view.calls_dialing + view.calls_answered + view.calls_waiting
        ready = agents_for_new_answers(view)  # minus the escalations expected from bot calls
        progressive = ready - committed
        if progressive > view.lines_free:
            progressive = view.lines_free
        if progressive < 0:
            progressive = 0
        est = self.est
        if view.wrapup_s is not None:
            est.wrapup_s = view.wrapup_s
        # the calibration forgets: a bias of the first minutes' thin estimates (a burst before
        # the talks were known) must not hold the pacer back for the rest of the day
        if self._cal_at is None:
            self._cal_at = view.at
        elif view.at - self._cal_at >= 1.0:
            f = 2.0 ** (-(view.at - self._cal_at) / self.calibration_half_life_s)
            self.realised *= f
            self.predicted *= f
            self._cal_at = view.at
        seen = self.people_seen(view)
        if not self._ring_covered:
            self._ring_covered = self._covers_ring_time(view)
        if not self._ring_covered or seen < self.warmup_need or est.count_talk < self.warmup_talks:
            self.mode = "warmup"
            return progressive
        if self.model is None or (view.at - self._built_at >= self.rebuild_s and est.version != self._built_version):
            self._rebuild(view)
        tau = self.target if self.target is not None else view.abandon_target
        if self.legal_mode == "uk":
            live_n, ab_n, machine_n = est.day.totals(view.at)
            fp = machine_n * est.amd_false_positive_rate
            live, abandoned = live_n + fp, ab_n + fp
        else:
            live_n, ab_n, _ = est.month.totals(view.at)
            live, abandoned = float(live_n), float(ab_n)
        if self.count_connected:
            live += view.agents_on_call
        kappa = self.calibration()
        budget = self.guard * tau * live - abandoned - kappa * self.last_e0 - self.reserve
        # evidence cap: the estimates come from a finite sample, and a burst of calls bets on
        # them all at once (with 20% error on the answer rate, 2,000 calls are 50 people too
        # many): the calls in flight beyond one per ready agent stay within a multiple of the
        # people seen so far
        evidence = ready + int(self.evidence * seen) - committed
        n_max = int(self.max_in_flight_per_agent * view.agents_logged_in) - committed
        if view.lines_free < n_max:
            n_max = view.lines_free
        if evidence < n_max:
            n_max = evidence if evidence > progressive else progressive
        if n_max <= 0:
            return progressive
        lam = math.exp(self.ln_lam)  # type: ignore[arg-type]
        # a thin budget tempers lambda smoothly, long before the guard's hard stop, down to the
        # recovery floor: calls whose own abandonment risk is a small share of the target (after
        # calibration) still go out, since each live answer they bring adds tau to the budget and
        # costs far less; a large team at a low answer rate would otherwise fall to progressive,
        # a third of its occupancy, whenever an early burst spent the budget
        slack = self.slack_share * live
        if slack < self.slack_min:
            slack = self.slack_min
        # small teams: one abandonment moves the day's rate by about half a point and the model's
        # per-call risk is coarse there, so the floor stays off and the fallback is progressive
        floor = self.recovery_share * tau / kappa if view.agents_logged_in >= self.recovery_min_agents else 0.0
        if budget < slack:
            lam *= (budget if budget > 0.0 else 0.0) / slack
            if lam < floor:
                lam = floor
        n, added, _p1, e0 = self.model.decide(
            view.talk_elapsed_s,
            view.wrap_remaining_s,
            view.dialing_elapsed_s,
            view.answered_elapsed_s,
            ready,
            view.agents_ringing,
            view.calls_waiting,
            view.calls_dialing,
            n_max,
            budget / kappa if budget > 0.0 else (math.inf if floor > 0.0 else -1.0),
            lam,
        )
        self.last_e0 = e0
        if budget <= 0.0:
            self.mode = "budget"
            self.predicted += added
            return n if n > progressive else progressive
        self.mode = "model"
        if n > 0:
            self.predicted += added
            aim = self.aim * tau / kappa
            step = self.eta * (n * self._w_total * aim - added) / aim
            if step > 0.0 and (budget < slack or n >= n_max):
                step = 0.0  # n was bounded by the guard or a cap, not by lambda: no wind-up
            ln_lam = self.ln_lam + step
            hi = math.log(self.lam_max_share * tau)
            self.ln_lam = hi if ln_lam > hi else (_LN_LAM_MIN if ln_lam < _LN_LAM_MIN else ln_lam)
        return n if n > progressive else progressive

    # --- introspection ----------------------------------------------------------------------

    @property
    def lam(self) -> float:
        return math.exp(self.ln_lam) if self.ln_lam is not None else math.nan
