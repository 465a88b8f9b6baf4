"""What a campaign's traffic looks like, learnt from its outcomes: the predictive pacer's inputs.

Per campaign, from every ended call (`Estimators.observe(outcome)`):

- live-answer probability (a person answered, the legal denominator), and the probability that a
  call ends up needing an agent (AMD said HUMAN/NOTSURE, or an agent was connected, or it was
  abandoned: what the pacer must staff for); machine share (AMD said MACHINE);
- time to answer: histograms (0.5 s bins) of the time from the Originate to the answer of the
  calls that needed an agent, and of how long every call stayed unanswered (answered, failed or
  rang out), from which `answer_tables` gives L(u) = P(needs an agent, answered by u) and
  S(u) = P(still unanswered at u): the pacer's conditional answer probability of a call that
  has rung e seconds is (L(e + h) - L(e)) / S(e);
- AMD delay: mean seconds from the answer to the verdict of the calls that needed an agent
  (0 without AMD);
- talk time: an empirical histogram (1 s bins) of ended talks, and the weighted mean and variance
  of log T; `talk_survival` adds the talks still running (right-censored) and tabulates the
  Kaplan-Meier curve, or a lognormal through its quartiles;
- agent answer lag: mean seconds from "needs an agent" to the agent's connect, for connected
  calls (the part of the legal threshold the agent's phone eats);
- wrap-up: the PBX reports it (queue wrapuptime) and the engine passes it in the pacing view;
  `observe_wrapup` keeps the latest value.

Forgetting: every observation weighs 2^((t - t_ref)/half_life) at its end time t, so an
observation one half-life older than another counts half as much. The weights grow instead of the
old ones shrinking, which keeps an update O(1) (no pass over the histograms); when they get
large, everything is rescaled once (amortised O(1)). half_life_s = inf: no forgetting.

Legal abandonment counters (`RollingCounter`), kept apart from the forgetting statistics because
the law counts calls, not weights: per minute bucket, live answers, abandoned calls and AMD
MACHINE verdicts, over the last 24 hours and the last 30 days. A window of N minutes covers the
current minute and the N - 1 before it, so an outcome at minute m counts until the clock reaches
minute m + N. US (TSR/TCPA): abandoned / live answers over 30 days. UK (Ofcom): over 24 hours,
with the estimated AMD false positives (MACHINE verdicts × the false-positive rate, people AMD
hung up on) added to the abandoned calls and to the live answers.

Warm start: `to_state()` is a JSON-able dict, `Estimators.from_state(d)` rebuilds the exact
estimators (statistics and legal counters), e.g. from yesterday's run; `warm_start(outcomes)`
replays historic outcomes. Pure: time is always an argument (`at`, or the outcome's times).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Disposition, Outcome
from ..stats import is_live_answer

__all__ = [
    "AbandonFigures",
    "Estimators",
    "RollingCounter",
    "lognormal_survival_table",
    "needs_agent",
]

STATE_VERSION = 1
_RESCALE_EXP = 200.0  # rescale the growing weights once 2^exponent passes 2^200
_MIN_TALK_S = 0.5


def needs_agent(o: Outcome) -> bool:
    """The call needed an agent: AMD let it through to the queue, or an agent took it, or it was
    abandoned. (A person who hung up during AMD never asked for one.)"""
    if o.disposition in (Disposition.CONNECTED, Disposition.ABANDONED):
        return True
    return o.amd_status in ("HUMAN", "NOTSURE") and o.disposition is not Disposition.HUMAN_HANGUP


# --------------------------------------------------------------------- legal counters


@dataclass(frozen=True, slots=True)
class AbandonFigures:
    live: int
    abandoned: int
    machine: int

    def rate(self, false_positive_rate: float = 0.0) -> float:
        fp = self.machine * false_positive_rate
        denominator = self.live + fp
        return (self.abandoned + fp) / denominator if denominator > 0 else 0.0


class RollingCounter:
    """Live answers, abandoned calls and MACHINE verdicts over a sliding window of whole minutes.

    O(1) amortised per outcome: one bucket per minute that saw an outcome, dropped as the window
    passes it; memory is bounded by the window's minutes.
    """

    __slots__ = ("_buckets", "abandoned", "bucket_s", "live", "machine", "minutes")

    def __init__(self, window_s: float, bucket_s: float = 60.0) -> None:
        if not bucket_s > 0 or not window_s >= bucket_s:
            raise ValueError(f"window_s must be >= bucket_s > 0, got {window_s!r} and {bucket_s!r}")
        self.bucket_s = float(bucket_s)
        self.minutes = round(window_s / bucket_s)
        self._buckets: deque[list[int]] = deque()  # [bucket, live, abandoned, machine]
        self.live = 0
        self.abandoned = 0
        self.machine = 0

    def _bucket(self, at: float) -> int:
        return math.floor(at / self.bucket_s)

    def _expire(self, now_bucket: int) -> None:
        oldest = now_bucket - self.minutes + 1
        b = self._buckets
        while b and b[0][0] < oldest:
            _, live, ab, ma = b.popleft()
            self.live -= live
            self.abandoned -= ab
            self.machine -= ma

    def add(self, at: float, live: bool, abandoned: bool, machine: bool) -> None:
        m = self._bucket(at)
        b = self._buckets
        if b and b[-1][0] == m:
            row = b[-1]
        elif not b or b[-1][0] < m:
            row = [m, 0, 0, 0]
            b.append(row)
        else:  # a late outcome: find (or make) its bucket; rare, so linear from the right
            i = len(b) - 1
            while i >= 0 and b[i][0] > m:
                i -= 1
            if i >= 0 and b[i][0] == m:
                row = b[i]
            else:
                if m < b[-1][0] - self.minutes + 1:
                    return  # already outside the window
                row = [m, 0, 0, 0]
                b.insert(i + 1, row)
        row[1] += int(live)
        row[2] += int(abandoned)
        row[3] += int(machine)
        self.live += int(live)
        self.abandoned += int(abandoned)
        self.machine += int(machine)
        self._expire(b[-1][0])

    def figures(self, now: float) -> AbandonFigures:
        self._expire(self._bucket(now))
        return AbandonFigures(self.live, self.abandoned, self.machine)

    def totals(self, now: float) -> tuple[int, int, int]:
        """(live, abandoned, machine) as `figures`, without building an object (the pacer's
        per-tick path)."""
        b = self._buckets
        if b and b[0][0] < math.floor(now / self.bucket_s) - self.minutes + 1:
            self._expire(self._bucket(now))
        return self.live, self.abandoned, self.machine

    def to_state(self) -> dict[str, Any]:
        return {"bucket_s": self.bucket_s, "minutes": self.minutes, "buckets": [list(r) for r in self._buckets]}

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> RollingCounter:
        c = cls(float(d["minutes"]) * float(d["bucket_s"]), float(d["bucket_s"]))
        for row in d["buckets"]:
            m, live, ab, ma = (int(x) for x in row)
            c._buckets.append([m, live, ab, ma])
            c.live += live
            c.abandoned += ab
            c.machine += ma
        return c


# ------------------------------------------------------------------------ distributions


def lognormal_survival_table(mu: float, sigma: float, dt: float, n: int) -> list[float]:
    """S(j·dt) = P(T > j·dt) for T lognormal(mu, sigma), j = 0..n."""
    out = [1.0] * (n + 1)
    if sigma <= 0.0:
        edge = math.exp(mu)
        for j in range(1, n + 1):
            out[j] = 1.0 if j * dt < edge else 0.0
        return out
    scale = 1.0 / (sigma * math.sqrt(2.0))
    for j in range(1, n + 1):
        out[j] = 0.5 * math.erfc((math.log(j * dt) - mu) * scale)
    return out


class _Weights:
    """Exponential forgetting by growing weights: w(t) = 2^((t - ref)/half_life)."""

    __slots__ = ("half_life", "ref")

    def __init__(self, half_life: float, ref: float | None = None) -> None:
        self.half_life = half_life
        self.ref = ref

    def exponent(self, at: float) -> float:
        if self.ref is None:
            self.ref = at
        if math.isinf(self.half_life):
            return 0.0
        return (at - self.ref) / self.half_life


_SCALARS = (
    "n_calls", "n_live", "n_need", "n_answered", "n_need_answered", "n_machine",
    "amd_sum", "amd_n", "talk_n", "talk_log", "talk_log2", "lag_sum", "lag_n",
)


class Estimators:
    """One campaign's traffic estimates. See the module docstring."""

    def __init__(
        self,
        *,
        half_life_s: float = 3600.0,
        answer_dt: float = 0.5,
        answer_bins: int = 240,
        talk_dt: float = 1.0,
        talk_bins: int = 3600,
        amd_false_positive_rate: float = 0.05,
    ) -> None:
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0 (inf: no forgetting), got {half_life_s!r}")
        if not (answer_dt > 0 and talk_dt > 0 and answer_bins >= 1 and talk_bins >= 1):
            raise ValueError("answer_dt, talk_dt must be > 0 and answer_bins, talk_bins >= 1")
        if not 0.0 <= amd_false_positive_rate <= 1.0:
            raise ValueError(f"amd_false_positive_rate must be in [0, 1], got {amd_false_positive_rate!r}")
        self.half_life_s = float(half_life_s)
        self.answer_dt = float(answer_dt)
        self.answer_bins = int(answer_bins)
        self.talk_dt = float(talk_dt)
        self.talk_bins = int(talk_bins)
        self.amd_false_positive_rate = float(amd_false_positive_rate)
        self._w = _Weights(self.half_life_s)
        # weighted sums (see _SCALARS)
        self.n_calls = self.n_live = self.n_need = self.n_answered = 0.0
        self.n_need_answered = self.n_machine = 0.0
        self.amd_sum = self.amd_n = 0.0
        self.talk_n = self.talk_log = self.talk_log2 = 0.0
        self.lag_sum = self.lag_n = 0.0
        # histograms; the last bin of each holds everything beyond
        self.h_pre = [0.0] * (self.answer_bins + 1)  # how long each call stayed unanswered
        self.h_need = [0.0] * (self.answer_bins + 1)  # answer time of calls that needed an agent
        self.h_talk = [0.0] * (self.talk_bins + 1)
        # plain counts (for warm-up decisions, never forgotten)
        self.count_calls = 0
        self.count_need = 0
        self.count_talk = 0
        self.wrapup_s: float | None = None
        self.last_at: float | None = None
        self.version = 0  # bumped by every observation (tables are rebuilt from it)
        self.day = RollingCounter(24 * 3600.0)
        self.month = RollingCounter(30 * 24 * 3600.0)

    # --- feeding ----------------------------------------------------------------------------

    def _weight_now(self, at: float | None) -> float:
        """The weight an observation at `at` would carry (0 before any observation, or without a
        time): what the calls still going on weigh when they complete a sample."""
        if at is None or self._w.ref is None:
            return 0.0
        return 2.0 ** min(self._w.exponent(at), _RESCALE_EXP)

    def _weight(self, at: float) -> float:
        x = self._w.exponent(at)
        if x > _RESCALE_EXP:
            self._rescale(2.0 ** (-x))
            self._w.ref = at
            x = 0.0
        return 2.0**x

    def _rescale(self, f: float) -> None:
        for name in _SCALARS:
            setattr(self, name, getattr(self, name) * f)
        for h in (self.h_pre, self.h_need, self.h_talk):
            for i in range(len(h)):
                h[i] *= f

    def observe(self, o: Outcome) -> None:
        """Learn from one ended call. O(1) (amortised)."""
        at = o.ended_at
        live = is_live_answer(o)
        machine = o.amd_status == "MACHINE"
        self.day.add(at, live, o.abandoned, machine)
        self.month.add(at, live, o.abandoned, machine)
        if o.originate_at is None:
            return  # never dialled: nothing about the traffic
        self.version += 1
        self.last_at = at if self.last_at is None or at > self.last_at else self.last_at
        w = self._weight(at)
        need = needs_agent(o)
        self.count_calls += 1
        self.n_calls += w
        if live:
            self.n_live += w
        if machine:
            self.n_machine += w
        # time unanswered (answer, or the end of a call that never answered)
        if o.answer_at is not None:
            self.n_answered += w
            pre = o.answer_at - o.originate_at
        else:
            end = o.hangup_at if o.hangup_at is not None else o.ended_at
            pre = end - o.originate_at
        self.h_pre[self._answer_bin(pre)] += w
        if need and o.answer_at is not None:
            self.count_need += 1
            self.n_need += w
            self.n_need_answered += w
            self.h_need[self._answer_bin(pre)] += w
            start = o.answer_at
            if o.amd_at is not None and o.amd_at >= o.answer_at:
                start = o.amd_at
                self.amd_sum += w * (o.amd_at - o.answer_at)
            self.amd_n += w
            if o.connect_at is not None:
                lag = o.connect_at - start
                if lag >= 0.0:
                    self.lag_sum += w * lag
                    self.lag_n += w
        elif need:
            self.n_need += w  # needed an agent but the answer time was missed
        if o.disposition is Disposition.CONNECTED and o.connect_at is not None:
            end = o.hangup_at if o.hangup_at is not None else o.ended_at
            talk = end - o.connect_at
            if talk >= 0.0:
                self.count_talk += 1
                x = math.log(max(talk, _MIN_TALK_S))
                self.talk_n += w
                self.talk_log += w * x
                self.talk_log2 += w * x * x
                j = int(talk / self.talk_dt)
                self.h_talk[j if j < self.talk_bins else self.talk_bins] += w

    def _answer_bin(self, seconds: float) -> int:
        if not seconds > 0.0:
            return 0
        j = int(seconds / self.answer_dt)
        return j if j < self.answer_bins else self.answer_bins

    def observe_wrapup(self, seconds: float | None) -> None:
        if seconds is not None and seconds >= 0.0:
            self.wrapup_s = float(seconds)

    def warm_start(self, outcomes: Iterable[Outcome]) -> None:
        """Replay historic outcomes (oldest first), e.g. the campaign's last day."""
        for o in outcomes:
            self.observe(o)

    # --- estimates --------------------------------------------------------------------------

    @property
    def live_answer_probability(self) -> float:
        return self.n_live / self.n_calls if self.n_calls > 0 else 0.0

    @property
    def need_probability(self) -> float:
        """P(a dialled call ends up needing an agent)."""
        return self.n_need / self.n_calls if self.n_calls > 0 else 0.0

    @property
    def machine_share(self) -> float:
        """Share of dialled calls AMD called MACHINE."""
        return self.n_machine / self.n_calls if self.n_calls > 0 else 0.0

    @property
    def p_need_given_answered(self) -> float:
        return self.n_need_answered / self.n_answered if self.n_answered > 0 else 0.0

    @property
    def longest_ring_s(self) -> float:
        """The longest time an ended call stayed unanswered (to the answer grid): the answer
        curve says nothing about calls that have rung longer."""
        h = self.h_pre
        for j in range(len(h) - 1, -1, -1):
            if h[j] > 0.0:
                return j * self.answer_dt
        return 0.0

    @property
    def amd_delay_s(self) -> float:
        return self.amd_sum / self.amd_n if self.amd_n > 0 else 0.0

    @property
    def agent_lag_s(self) -> float:
        return self.lag_sum / self.lag_n if self.lag_n > 0 else 0.0

    @property
    def talk_lognormal(self) -> tuple[float, float]:
        """(mu, sigma) of log talk time."""
        if self.talk_n <= 0:
            return math.log(120.0), 0.5
        mu = self.talk_log / self.talk_n
        var = self.talk_log2 / self.talk_n - mu * mu
        return mu, math.sqrt(var) if var > 0 else 0.0

    @property
    def talk_mean_s(self) -> float:
        mu, sigma = self.talk_lognormal
        return math.exp(mu + 0.5 * sigma * sigma)

    def answer_tables(
        self, dialing_elapsed: Iterable[float] = (), pending_need: float = 0.0, at: float | None = None,
        pending_ring: Iterable[float] | None = None,
    ) -> tuple[list[float], list[float], float]:
        """(L, S, dt): L[j] = P(needs an agent and answered by j·dt), S[j] = P(still unanswered
        at j·dt), per dialled call, j = 0..answer_bins.

        An outcome is only seen when the call ends, minutes after its answer when a person
        talks to an agent, so early in a day the ended calls are mostly failures and machines.
        The calls still going on complete the sample, each weighing what an observation at `at`
        weighs: `dialing_elapsed` (the calls not answered yet, right-censored at their elapsed
        ring time) and `pending_need` (calls answered and known to need an agent, waiting or
        talking: they are spread over the answer times of the calls that needed one, or, given
        `pending_ring`, their own ring times, which also tell the answer times before any
        person's call has ended). The curves are then the Aalen-Johansen estimate of the two
        competing ends of ringing (answered by someone needing an agent, anything else), grouped
        in answer_dt bins.
        """
        n = self.answer_bins
        wc = self._weight_now(at)
        need = list(self.h_need)
        pre = list(self.h_pre)
        need_total = 0.0
        for x in need:
            need_total += x
        extra = 0.0
        if pending_ring is not None:
            if wc > 0.0:
                for r in pending_ring:
                    j = self._answer_bin(r)
                    need[j] += wc
                    pre[j] += wc
                    extra += wc
        elif need_total > 0.0:
            extra = wc * pending_need
            if extra > 0.0:
                for k in range(n + 1):
                    share = extra * need[k] / need_total
                    need[k] += share
                    pre[k] += share
        cens = [0.0] * (n + 1)
        total = self.n_calls + extra
        if wc > 0.0:
            for e in dialing_elapsed:
                if e >= 0.0:
                    cens[self._answer_bin(e)] += wc
                    total += wc
        live = [0.0] * (n + 1)
        surv = [1.0] * (n + 1)
        if total <= 0.0:
            return live, surv, self.answer_dt
        at_risk = total
        s = 1.0
        acc = 0.0
        for j in range(n):
            exposed = at_risk - 0.5 * cens[j]
            if exposed > 0.0:
                acc += s * need[j] / exposed
                s *= max(0.0, 1.0 - pre[j] / exposed)
            live[j + 1] = acc
            surv[j + 1] = s
            at_risk -= pre[j] + cens[j]
        return live, surv, self.answer_dt

    def p_need_given_answered_with(self, pending_need: float = 0.0, at: float | None = None) -> float:
        """P(needs an agent | answered), counting `pending_need` answered calls still going on."""
        wc = self._weight_now(at)
        num = self.n_need_answered + wc * pending_need
        den = self.n_answered + wc * pending_need
        return num / den if den > 0 else 0.0

    def talk_survival(
        self, model: str = "empirical", censored: Iterable[float] = (), at: float | None = None
    ) -> tuple[list[float], float]:
        """(S, dt): S[j] = P(talk > j·dt).

        `censored` are the elapsed talk times of the calls still going on (the busy agents' in
        the pacing view), at time `at`: without them the first talks to end, the short ones,
        would make talks look short all morning. With them, the estimate is the Kaplan-Meier
        (actuarial, 1 s bins) of ended and running talks, each running talk weighing what an
        observation ending at `at` weighs.

        model: "empirical" (that Kaplan-Meier curve, to talk_bins·talk_dt) or "lognormal" (a
        lognormal through its median and upper quartile, or the fit of the ended talks when the
        curve does not reach them, over a power-of-two grid past its 99.99th percentile).
        """
        km = self._kaplan_meier(censored, at)
        if model == "empirical":
            return km, self.talk_dt
        if model == "lognormal":
            mu, sigma = self._lognormal_from(km)
            end = math.exp(mu + 4.5 * sigma)
            n = 2048
            # a power of two: the compiled kernel multiplies by its exact reciprocal
            dt = 2.0 ** max(-2, math.ceil(math.log2(max(end / n, 1e-9))))
            return lognormal_survival_table(mu, sigma, dt, n), dt
        raise ValueError(f"talk model must be 'lognormal' or 'empirical', got {model!r}")

    def _kaplan_meier(self, censored: Iterable[float], at: float | None) -> list[float]:
        n = self.talk_bins
        cens = [0.0] * (n + 1)
        wc = self._weight_now(at)
        total = 0.0
        if wc > 0.0:
            for e in censored:
                if e >= 0.0:
                    j = int(e / self.talk_dt)
                    cens[j if j < n else n] += wc
                    total += wc
        ended = self.h_talk
        for j in range(n + 1):
            total += ended[j]
        out = [1.0] * (n + 1)
        if total <= 0.0:
            return out
        at_risk = total
        s = 1.0
        for j in range(n):
            d = ended[j]
            c = cens[j]
            exposed = at_risk - 0.5 * c
            if d > 0.0 and exposed > 0.0:
                s *= max(0.0, 1.0 - d / exposed)
            out[j + 1] = s
            at_risk -= d + c
        return out

    def _lognormal_from(self, km: list[float]) -> tuple[float, float]:
        q50 = q75 = None
        for j in range(1, len(km)):
            if q50 is None and km[j] <= 0.5:
                q50 = self._crossing(km, j, 0.5)
            if km[j] <= 0.25:
                q75 = self._crossing(km, j, 0.25)
                break
        if q50 is not None and q75 is not None and q75 > q50 > 0.0:
            return math.log(q50), (math.log(q75) - math.log(q50)) / 0.6744897501960817
        mu, sigma = self.talk_lognormal
        if q50 is not None and q50 > 0.0:
            mu = max(mu, math.log(q50))
        return mu, sigma

    def _crossing(self, km: list[float], j: int, level: float) -> float:
        a, b = km[j - 1], km[j]
        frac = (a - level) / (a - b) if a > b else 1.0
        return (j - 1 + frac) * self.talk_dt

    def need_time_quantile(self, u: float, pending_ring: Iterable[float] = (), at: float | None = None) -> float:
        """The u-quantile (0 < u < 1) of the answer time of calls that need an agent (with the
        ring times of such calls still going on, weighing what an observation at `at` weighs)."""
        return self.need_time_quantiles((u,), pending_ring, at)[0]

    def need_time_quantiles(
        self, us: Iterable[float], pending_ring: Iterable[float] = (), at: float | None = None
    ) -> list[float]:
        """`need_time_quantile` for several u, from one pass over the histogram."""
        h = self.h_need
        wc = self._weight_now(at)
        if wc > 0.0:
            h = list(h)
            for r in pending_ring:
                h[self._answer_bin(r)] += wc
        total = 0.0
        for x in h:
            total += x
        return [self._quantile(h, total, u) for u in us]

    def _quantile(self, h: list[float], total: float, u: float) -> float:
        if total <= 0:
            return 0.0
        target = u * total
        acc = 0.0
        for j, x in enumerate(h):
            if x > 0 and acc + x >= target:
                return (j + (target - acc) / x) * self.answer_dt
            acc += x
        return len(h) * self.answer_dt

    # --- legal figures ----------------------------------------------------------------------

    def abandon_24h(self, now: float) -> AbandonFigures:
        return self.day.figures(now)

    def abandon_30d(self, now: float) -> AbandonFigures:
        return self.month.figures(now)

    def abandon_rate(self, now: float, mode: str = "us") -> float:
        """The legal abandonment rate: "us" over 30 days; "uk" over 24 h with the estimated AMD
        false positives counted as abandoned live answers."""
        if mode == "us":
            return self.month.figures(now).rate()
        if mode == "uk":
            return self.day.figures(now).rate(self.amd_false_positive_rate)
        raise ValueError(f"mode must be 'us' or 'uk', got {mode!r}")

    # --- warm start -------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything, as plain JSON types."""
        return {
            "version": STATE_VERSION,
            "config": {
                "half_life_s": self.half_life_s if math.isfinite(self.half_life_s) else "inf",
                "answer_dt": self.answer_dt,
                "answer_bins": self.answer_bins,
                "talk_dt": self.talk_dt,
                "talk_bins": self.talk_bins,
                "amd_false_positive_rate": self.amd_false_positive_rate,
            },
            "ref": self._w.ref,
            "scalars": {name: getattr(self, name) for name in _SCALARS},
            "h_pre": list(self.h_pre),
            "h_need": list(self.h_need),
            "h_talk": list(self.h_talk),
            "counts": [self.count_calls, self.count_need, self.count_talk],
            "wrapup_s": self.wrapup_s,
            "last_at": self.last_at,
            "day": self.day.to_state(),
            "month": self.month.to_state(),
        }

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Estimators:
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"estimator state version {d.get('version')!r}, expected {STATE_VERSION}")
        cfg = dict(d["config"])
        cfg["half_life_s"] = float(cfg["half_life_s"])
        e = cls(**cfg)
        e._w.ref = d["ref"]
        for name in _SCALARS:
            setattr(e, name, float(d["scalars"][name]))
        for name in ("h_pre", "h_need", "h_talk"):
            values = [float(x) for x in d[name]]
            if len(values) != len(getattr(e, name)):
                raise ValueError(f"estimator state: {name} has {len(values)} bins, expected {len(getattr(e, name))}")
            setattr(e, name, values)
        e.count_calls, e.count_need, e.count_talk = (int(x) for x in d["counts"])
        e.wrapup_s = d["wrapup_s"]
        e.last_at = d["last_at"]
        e.day = RollingCounter.from_state(d["day"])
        e.month = RollingCounter.from_state(d["month"])
        e.version = 1
        return e
