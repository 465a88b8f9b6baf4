"""Pure-Python twin of the compiled pacing kernel `dialer._ext.pacing` (source: `ext/pacing.pyx`).

Both modules run the same algorithm, operation for operation, so they agree to a few ulps (the
tests hold them to a relative 1e-9). Keep them in step: a change here is a change to
`ext/pacing.pyx`, and the other way round.

What the kernels answer, at one pacing decision ("now"), for a horizon of t seconds:

* how many of the calls in flight will need an agent by now + t. Each dialing call has its own
  probability, from its elapsed ring time e: P(a person, needing an agent by e + t | still not
  answered at e) = (L(e + t') - L(e)) / S(e), where L(u) = P(live answer at or before u) and
  S(u) = P(not answered, not failed by u) are tables of the time since the Originate (the
  estimators build them) and t' = t minus the AMD delay (a call needs an agent once AMD has said
  HUMAN, not at the answer). `answer_probabilities`.
* how many busy agents will be free by now + t + grace. An agent e seconds into a call is free
  once its talk ends and its wrap-up w has passed: P(T <= e + t + grace - w | T > e) =
  1 - S_T(e + h) / S_T(e), S_T the talk-time survival table (lognormal by default, or empirical).
  `release_probabilities`. Beyond the table the tail keeps its last hazard.
* the distribution of a sum of independent Bernoulli variables with different probabilities
  (Poisson-binomial), by the O(n·k) dynamic programme: exact over the whole support
  (`poisson_binomial_pmf`/`_cdf`), or over a window of k values that follows the running mean
  (`poisson_binomial_window`), folding the far tails into the edge bins so that no mass is lost.
  The window is 2·(7·sigma + 6) + 1 wide, so what is folded is < 1e-11 of the mass.
* the dial-count optimiser (`dial_count`, and `PacingModel.decide` which does the whole decision
  from the raw elapsed times). At horizon t_k the net demand is X_k = (people who will need an
  agent by t_k) - (agents free by t_k + grace), over the calls in flight, the people waiting and
  the ready, busy and wrapping-up agents. One more call that needs an agent at t_k costs an
  abandonment (its own, or that of a call it takes the agent from) when the net demand reaches 0
  at t_k or at any later time before the calls in flight have all been answered: with several
  horizons t_1 < ... < t_K (the last ones past the time new calls need an agent), its cost is
  taken as max_{j >= k} P(X_j + Bin(m - 1, q_j) >= 0), the other m - 1 new calls needing an agent
  by t_j with probability q_j each. Averaged over when a new call needs an agent (w_k: the
  probability that it is a person needing one in stratum k; 0 for the far horizons):
      M(m) = sum_k w_k · max_{j >= k} P(X_j + Bin(m - 1, q_j) >= 0),
  the expected abandonments the m-th new call adds. M grows with m, so the first n calls add at
  most n·M(n). The optimiser returns the largest n <= n_max with
      M(n) <= rate · sum_k w_k   and   n · M(n) <= budget,
  i.e. the last call's abandonment probability (per live answer) is at most `rate` (a threshold
  on the marginal cost: the Lagrangian policy, the pacer steers `rate` so that the realised
  rate meets its target), and the expected abandonments the batch adds stay within the absolute
  budget the pacer can afford. Small problems use the exact distributions, adding one new call
  at a time (its Bernoulli is added to each horizon's pmf below 0 in O(k), P(X + B >= 0) follows
  in O(1)); when the work (items × window) of any horizon would pass `work_limit`, every horizon
  uses a normal approximation of X + B with a skewness (Edgeworth) term and a continuity
  correction, O(1) per horizon and n, and n is found by exponential and binary search.
* `PacingModel` tabulates, once per model (the estimators change slowly), every horizon's
  conditional answer and release probabilities on the tables' grids; `decide` then reads each
  call and agent at the grid point nearest to its elapsed time: one table read per item and
  horizon.

Inputs are validated by the public functions; the decision itself never raises on odd numbers
(NaN elapsed times count as 0). Everything here is pure: no IO, no clock, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PacingModel",
    "answer_probabilities",
    "dial_count",
    "poisson_binomial_cdf",
    "poisson_binomial_pmf",
    "poisson_binomial_window",
    "release_probabilities",
]

# Items this close to 0 or 1 are taken as certain (skipped, or counted as a sure success).
_EPS = 1e-14
# A survival below this is "never seen that long": no probability is formed from it.
_TINY = 1e-12
# The window of the Poisson-binomial DP: running mean ± (_WINDOW_Z·sigma + _WINDOW_C).
_WINDOW_Z = 7.0
_WINDOW_C = 6.0
# Above this many new calls, the exact scan stops (the caller caps n_max far below it anyway).
_SCAN_CAP = 100_000
_SQRT1_2 = 0.707106781186547524400844362104849039
_INV_SQRT_2PI = 0.398942280401432677939946059934381868
DEFAULT_WORK_LIMIT = 20_000


# --------------------------------------------------------------------------- helpers


def _floats(name: str, values: Any) -> list[float]:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
        return values.astype(np.float64, copy=False).tolist()
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        try:
            shape = np.array(values, dtype=np.float64).shape
        except (TypeError, ValueError):
            shape = None
        if shape is not None and len(shape) > 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {shape}") from None
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None


def _probabilities(name: str, values: Any) -> list[float]:
    out = _floats(name, values)
    for v in out:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must hold probabilities in [0, 1], got {v!r}")
    return out


def _table(name: str, values: Any) -> list[float]:
    out = _floats(name, values)
    if not out:
        raise ValueError(f"{name} must not be empty")
    for v in out:
        if not (0.0 <= v < math.inf):
            raise ValueError(f"{name} must hold finite numbers >= 0, got {v!r}")
    return out


def _step(name: str, dt: Any) -> float:
    v = float(dt)
    if not 0.0 < v < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


def _finite(name: str, v: Any) -> float:
    x = float(v)
    if not -math.inf < x < math.inf:
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return x


def _interp(table: list[float], n_last: int, dt: float, t: float) -> float:
    """Linear interpolation on the grid 0, dt, 2·dt, ... (n_last = len - 1); flat outside."""
    if not t > 0.0:  # also NaN
        return table[0]
    x = t / dt
    if x >= n_last:
        return table[n_last]
    i = int(x)
    frac = x - i
    return table[i] + (table[i + 1] - table[i]) * frac


def _answer_p(live: list[float], surv: list[float], n_last: int, dt: float, e: float, h: float) -> float:
    if not e > 0.0:
        e = 0.0
    if not h > 0.0:
        return 0.0
    s = _interp(surv, n_last, dt, e)
    if not s > _TINY:
        return 0.0
    p = (_interp(live, n_last, dt, e + h) - _interp(live, n_last, dt, e)) / s
    if p < 0.0:
        return 0.0
    if p > 1.0:
        return 1.0
    return p


def _release_p(surv: list[float], n_last: int, dt: float, e: float, h: float) -> float:
    if not e > 0.0:
        e = 0.0
    if not h > 0.0:
        return 0.0
    end = n_last * dt
    if e + h > end:  # beyond the table: the tail keeps the hazard of its last stretch
        e = end - h
        if e < 0.0:
            e = 0.0
    s = _interp(surv, n_last, dt, e)
    if not s > _TINY:
        return 0.0
    p = 1.0 - _interp(surv, n_last, dt, e + h) / s
    if p < 0.0:
        return 0.0
    if p > 1.0:
        return 1.0
    return p


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _SQRT1_2)


def _norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


# ------------------------------------------------------------------- Poisson-binomial


def _pb_full(p: list[float]) -> list[float]:
    n = len(p)
    a = [0.0] * (n + 1)
    a[0] = 1.0
    for i in range(n):
        r = p[i]
        s = 1.0 - r
        a[i + 1] = a[i] * r
        for k in range(i, 0, -1):
            a[k] = a[k] * s + a[k - 1] * r
        a[0] = a[0] * s
    return a


def _half_width(var: float) -> int:
    return math.ceil(_WINDOW_Z * math.sqrt(var) + _WINDOW_C)


def _pb_window(r: list[float], hw: int) -> tuple[int, list[float]]:
    """Sliding-window DP over the items `r` (none of them certain); returns (lo, pmf[lo..hi])."""
    n = len(r)
    width = 2 * hw + 1
    if n + 1 <= width:
        return 0, _pb_full(r)
    b = [0.0] * (n + 1)
    b[0] = 1.0
    lo = 0
    hi = 0
    mean = 0.0
    for i in range(n):
        x = r[i]
        s = 1.0 - x
        if hi - lo + 1 < width:  # the window grows with the support
            b[hi + 1] = b[hi] * x
            for k in range(hi, lo, -1):
                b[k] = b[k] * s + b[k - 1] * x
            b[lo] = b[lo] * s
            hi += 1
        elif hi > lo:  # full: the top bin holds P(>= hi) and keeps what climbs into it
            b[hi] = b[hi] + b[hi - 1] * x
            for k in range(hi - 1, lo, -1):
                b[k] = b[k] * s + b[k - 1] * x
            b[lo] = b[lo] * s
        mean += x
        want = math.floor(mean) - hw
        while lo < want:  # follow the mean: fold the bottom bin into the next
            if lo == hi:  # a window one value wide moves as a whole
                hi += 1
            b[lo + 1] = b[lo + 1] + b[lo]
            b[lo] = 0.0
            lo += 1
    return lo, b[lo : hi + 1]


def poisson_binomial_pmf(p: ArrayLike) -> NDArray[np.float64]:
    """P(S = k), k = 0..n, for S a sum of independent Bernoulli(p_i): exact O(n^2) DP."""
    return np.array(_pb_full(_probabilities("p", p)), dtype=np.float64)


def poisson_binomial_cdf(p: ArrayLike) -> NDArray[np.float64]:
    """P(S <= k), k = 0..n (the last value is 1 up to rounding)."""
    pmf = _pb_full(_probabilities("p", p))
    out = [0.0] * len(pmf)
    acc = 0.0
    for k in range(len(pmf)):
        acc += pmf[k]
        out[k] = acc
    return np.array(out, dtype=np.float64)


def poisson_binomial_window(p: ArrayLike, half_width: int | None = None) -> tuple[int, NDArray[np.float64]]:
    """(lo, pmf) with pmf[j] = P(S = lo + j) over a window that follows the running mean.

    Items with p < 1e-14 are skipped and those with p > 1 - 1e-14 counted as sure successes.
    `half_width` defaults to ceil(7·sigma + 6); the window is 2·half_width + 1 values wide, the
    whole support when that is smaller. The bottom bin holds P(S <= lo), the top one P(S >= hi).
    """
    probs = _probabilities("p", p)
    r: list[float] = []
    sure = 0
    var = 0.0
    for x in probs:
        if x < _EPS:
            continue
        if x > 1.0 - _EPS:
            sure += 1
            continue
        r.append(x)
        var += x * (1.0 - x)
    if half_width is None:
        hw = _half_width(var)
    else:
        hw = int(half_width)
        if hw < 0:
            raise ValueError(f"half_width must be >= 0, got {hw}")
    lo, pmf = _pb_window(r, hw)
    return lo + sure, np.array(pmf, dtype=np.float64)


# -------------------------------------------------------------- conditional probabilities


def answer_probabilities(
    elapsed: ArrayLike, horizon: float, live_cdf: ArrayLike, pre_survival: ArrayLike, dt: float
) -> NDArray[np.float64]:
    """For each dialing call `elapsed` seconds after its Originate: P(live answer within the next
    `horizon` seconds | not answered and not failed yet) = (L(e + h) - L(e)) / S(e), with
    L = `live_cdf` and S = `pre_survival` tabulated at 0, dt, 2·dt, ... (linear in between,
    flat beyond the end). 0 where S(e) < 1e-12 or horizon <= 0."""
    e = _floats("elapsed", elapsed)
    live = _table("live_cdf", live_cdf)
    surv = _table("pre_survival", pre_survival)
    if len(live) != len(surv):
        raise ValueError(f"live_cdf and pre_survival must have the same length, got {len(live)} and {len(surv)}")
    step = _step("dt", dt)
    h = _finite("horizon", horizon)
    n_last = len(live) - 1
    return np.array([_answer_p(live, surv, n_last, step, x, h) for x in e], dtype=np.float64)


def release_probabilities(elapsed: ArrayLike, horizon: float, survival: ArrayLike, dt: float) -> NDArray[np.float64]:
    """For each busy agent `elapsed` seconds into a call: P(T <= e + h | T > e) =
    1 - S(e + h)/S(e), S = `survival` tabulated at 0, dt, 2·dt, ... Past the table's end the
    last stretch's hazard is kept (e is moved back so that e + h is the end). 0 where
    S(e) < 1e-12 or horizon <= 0."""
    e = _floats("elapsed", elapsed)
    surv = _table("survival", survival)
    step = _step("dt", dt)
    h = _finite("horizon", horizon)
    n_last = len(surv) - 1
    return np.array([_release_p(surv, n_last, step, x, h) for x in e], dtype=np.float64)


# ------------------------------------------------------------------------- optimiser


class _Horizon:
    """The net demand X = sum Bern(demand) - sum Bern(supply) + offset at one horizon."""

    __slots__ = ("base", "below", "k1", "k2", "k3", "r", "sure", "tail0")

    def __init__(self) -> None:
        self.r: list[float] = []  # demand p and supply (1 - f), uncertain ones only
        self.sure = 0.0  # offset + sure demand - number of supply items (an integer, as a float)
        self.k1 = 0.0
        self.k2 = 0.0
        self.k3 = 0.0
        self.base = 0  # X = base + j for pmf index j
        self.below: list[float] = []  # P(X = v) for v = base..-1 (exact mode)
        self.tail0 = 0.0  # P(X >= 0) (exact mode)

    def add_demand(self, p: float) -> None:
        if p < _EPS:
            return
        if p > 1.0 - _EPS:
            self.sure += 1.0
            self.k1 += 1.0
            return
        q = 1.0 - p
        self.r.append(p)
        self.k1 += p
        self.k2 += p * q
        self.k3 += p * q * (q - p)

    def add_supply(self, f: float) -> None:
        # -Bern(f) = Bern(1 - f) - 1
        self.sure -= 1.0
        if f < _EPS:
            self.sure += 1.0
            return
        if f > 1.0 - _EPS:
            self.k1 -= 1.0
            return
        g = 1.0 - f
        self.r.append(g)
        self.k1 -= f
        self.k2 += f * g
        self.k3 -= f * g * (g - f)

    def work(self) -> int:
        n = len(self.r)
        width = 2 * _half_width(self.k2) + 1
        return n * (n + 1 if n + 1 <= width else width)

    def prepare_exact(self) -> None:
        lo, pmf = _pb_window(self.r, _half_width(self.k2))
        base = lo + math.floor(self.sure + 0.5)
        self.base = base
        tail = 0.0
        below = [0.0] * (-base if base < 0 else 0)  # P(X = v) for v = base .. -1
        for j in range(len(pmf)):
            if base + j >= 0:
                tail += pmf[j]
            else:
                below[j] = pmf[j]
        self.tail0 = tail
        self.below = below

    # --- approximate mode: Edgeworth-corrected normal, continuity-corrected

    def p_nonneg(self, n: int, q: float) -> float:
        """P(X + Bin(n, q) >= 0)."""
        mu = self.k1 + n * q
        var = self.k2 + n * q * (1.0 - q)
        if var <= 0.0:
            return 1.0 if mu > -0.5 else 0.0
        sd = math.sqrt(var)
        g = (self.k3 + n * q * (1.0 - q) * (1.0 - 2.0 * q)) / (var * sd)
        z = (-0.5 - mu) / sd
        p = _norm_cdf(-z) + g / 6.0 * (z * z - 1.0) * _norm_pdf(z)
        if p < 0.0:
            return 0.0
        if p > 1.0:
            return 1.0
        return p

    def e_plus(self, n: int, q: float) -> float:
        """E[(X + Bin(n, q))^+]."""
        mu = self.k1 + n * q
        var = self.k2 + n * q * (1.0 - q)
        m0 = mu - 0.5
        if var <= 0.0:
            return mu if mu > 0.0 else 0.0
        sd = math.sqrt(var)
        g = (self.k3 + n * q * (1.0 - q) * (1.0 - 2.0 * q)) / (var * sd)
        m = m0 / sd
        e = m0 * _norm_cdf(m) + sd * _norm_pdf(m) * (1.0 - g * m / 6.0)
        if e < mu:
            e = mu
        if e < 0.0:
            e = 0.0
        return e


def _feasible(m: float, n: int, budget: float, rate: float, wsum: float) -> bool:
    """n new calls, the last one's marginal m: within the rate and the budget?"""
    if wsum > 0.0 and m > rate * wsum:
        return False
    return n * m <= budget


def _marginal_exact(tails: list[float], weight: list[float], kk: int) -> float:
    m = 0.0
    run = 0.0
    for k in range(kk - 1, -1, -1):  # a call needing an agent at t_k competes until the end
        if tails[k] > run:
            run = tails[k]
        m += weight[k] * run
    return m


def _marginal_approx(hs: list[_Horizon], weight: list[float], q_new: list[float], kk: int, n: int,
                     pk: list[float]) -> float:
    for k in range(kk):
        pk[k] = hs[k].p_nonneg(n, q_new[k])
    m = 0.0
    run = 0.0
    for k in range(kk - 1, -1, -1):
        if pk[k] > run:
            run = pk[k]
        m += weight[k] * run
    return m


def _optimise(
    hs: list[_Horizon],
    weight: list[float],
    q_new: list[float],
    n_max: int,
    budget: float,
    rate: float,
    work_limit: int,
) -> tuple[int, float, float, float]:
    """Largest n <= n_max with M(n) <= rate·sum(w) and n·M(n) <= budget; returns
    (n, n·M(n), M(1)/sum(w), E0): n·M(n) bounds the expected abandonments the n calls add (M
    grows with n), M(1)/sum(w) is the abandonment probability of a first new live call, E0 the
    largest E[X_j^+] over the horizons (the in-flight forecast)."""
    kk = len(hs)
    wsum = 0.0
    for k in range(kk):
        wsum += weight[k]
    exact = True
    for k in range(kk):
        if hs[k].work() > work_limit:
            exact = False
            break
    tails = [0.0] * kk
    belows: list[list[float]] = []
    e0 = 0.0
    for k in range(kk):
        h = hs[k]
        if exact:
            h.prepare_exact()
            tails[k] = h.tail0
            neg = 0.0  # E[X^+] = E[X] - E[X; X < 0]
            below = h.below
            for j in range(len(below)):
                neg += (h.base + j) * below[j]
            ek = h.k1 - neg
            belows.append(below)
        else:
            ek = h.e_plus(0, 0.0)
        if ek > e0:
            e0 = ek
    cap = n_max if n_max < _SCAN_CAP else _SCAN_CAP
    pk = [0.0] * kk
    if exact:
        m = _marginal_exact(tails, weight, kk)
        first = m / wsum if wsum > 0.0 else 0.0
        n = 0
        last = 0.0
        while n < cap and _feasible(m, n + 1, budget, rate, wsum):
            n += 1
            last = m
            for k in range(kk):  # one more new call needing an agent by horizon k w.p. q_k
                q = q_new[k]
                bl = belows[k]
                nb = len(bl)
                if nb == 0 or q <= 0.0:
                    continue
                s = 1.0 - q
                tails[k] += q * bl[nb - 1]
                for j in range(nb - 1, 0, -1):
                    bl[j] = bl[j] * s + bl[j - 1] * q
                bl[0] = bl[0] * s
            m = _marginal_exact(tails, weight, kk)
        return n, n * last, first, e0
    # approximate mode: M(n) in closed form, both limits monotone in n: search
    m1 = _marginal_approx(hs, weight, q_new, kk, 0, pk)
    first = m1 / wsum if wsum > 0.0 else 0.0
    if cap < 1 or not _feasible(m1, 1, budget, rate, wsum):
        return 0, 0.0, first, e0
    lo = 1
    m_lo = m1
    hi = -1
    probe = 2
    while probe <= cap:
        mp = _marginal_approx(hs, weight, q_new, kk, probe - 1, pk)
        if not _feasible(mp, probe, budget, rate, wsum):
            hi = probe
            break
        lo = probe
        m_lo = mp
        probe = 2 * probe
    if hi < 0:
        if lo == cap:
            return lo, lo * m_lo, first, e0
        mp = _marginal_approx(hs, weight, q_new, kk, cap - 1, pk)
        if _feasible(mp, cap, budget, rate, wsum):
            return cap, cap * mp, first, e0
        hi = cap
    while hi - lo > 1:
        mid = (lo + hi) // 2
        mp = _marginal_approx(hs, weight, q_new, kk, mid - 1, pk)
        if _feasible(mp, mid, budget, rate, wsum):
            lo = mid
            m_lo = mp
        else:
            hi = mid
    return lo, lo * m_lo, first, e0


def _vector(name: str, values: Any, k: int) -> list[float]:
    out = _floats(name, values)
    if len(out) != k:
        raise ValueError(f"{name} must have one value per horizon ({k}), got {len(out)}")
    return out


def _check_budget(n_max: Any, budget: Any, rate: Any, work_limit: Any) -> tuple[int, float, float, int]:
    n = int(n_max)
    b = float(budget)
    r = float(rate)
    w = int(work_limit)
    if math.isnan(b) or math.isnan(r) or r < 0.0:  # inf is allowed: no limit
        raise ValueError(f"budget must be a number and rate a number >= 0, got {b!r} and {r!r}")
    if w < 0:
        raise ValueError(f"work_limit must be >= 0, got {w}")
    return n, b, r, w


def dial_count(
    demand: ArrayLike,
    supply: ArrayLike,
    offset: ArrayLike,
    weight: ArrayLike,
    q_new: ArrayLike,
    n_max: int,
    budget: float,
    rate: float,
    work_limit: int = DEFAULT_WORK_LIMIT,
) -> tuple[int, float, float, float]:
    """The dial-count optimiser on per-horizon probabilities.

    demand[k]: P(each call in flight needs an agent by horizon k); supply[k]: P(each busy agent
    is free by then); offset[k]: sure demand minus sure supply (people waiting - ready agents
    - agents whose wrap-up ends in time); weight[k]: P(a new call is a live answer needing an
    agent in stratum k); q_new[k]: P(a new call needs an agent by horizon k).
    Returns (n, A(n), p1, e0): the largest n <= n_max whose added expected abandonments A(n) stay
    within `budget` and within rate·n·sum(weight); p1 the abandonment probability of a first new live call;
    e0 the weight-averaged E[(net demand)^+] of what is already in flight.
    """
    d = np.asarray(demand, dtype=np.float64)
    s = np.asarray(supply, dtype=np.float64)
    if d.ndim != 2 or s.ndim != 2 or d.shape[0] != s.shape[0]:
        raise ValueError(f"demand and supply must be 2-D with one row per horizon, got {d.shape} and {s.shape}")
    kk = d.shape[0]
    off = _vector("offset", offset, kk)
    for v in off:
        if not (-math.inf < v < math.inf and v == math.floor(v)):
            raise ValueError(f"offset must hold whole numbers (sure demand - sure supply), got {v!r}")
    w = _vector("weight", weight, kk)
    q = _vector("q_new", q_new, kk)
    for name, vec in (("weight", w), ("q_new", q)):
        for v in vec:
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must hold probabilities in [0, 1], got {v!r}")
    n, b, r, wl = _check_budget(n_max, budget, rate, work_limit)
    hs: list[_Horizon] = []
    for k in range(kk):
        h = _Horizon()
        h.sure = off[k]
        h.k1 = off[k]
        for p in _probabilities("demand", d[k]):
            h.add_demand(p)
        for f in _probabilities("supply", s[k]):
            h.add_supply(f)
        hs.append(h)
    return _optimise(hs, w, q, n, b, r, wl)


# ----------------------------------------------------------------------- the decision


def _grid_index(e: float, dt: float, n_last: int) -> int:
    """The grid point nearest to e >= 0 (NaN and negatives: 0; beyond the table: the last)."""
    if not e > 0.0:
        return 0
    x = e / dt + 0.5
    if x >= n_last:
        return n_last
    return int(x)


class PacingModel:
    """Everything a pacing decision needs that changes slowly (the estimators' tables), so a
    decision only passes the view's elapsed times.

    live_cdf, pre_survival, answer_dt: L(u) and S(u) of the time since the Originate (see
        `answer_probabilities`).
    talk_survival, talk_dt: survival of the talk time (see `release_probabilities`).
    p_live_answered: P(live | answered), for calls whose AMD is still running.
    amd_delay: seconds from answer to the AMD verdict of live calls (0 without AMD).
    wrapup: seconds of wrap-up after each call. grace: seconds a person may wait for an agent
        (the legal threshold minus the agent's answer lag).
    horizons, weight, q_new: the horizons (seconds from now) and, per horizon, P(a new call is
        a live answer needing an agent in that stratum) and P(it needs one by that horizon).

    At construction every horizon's conditional answer probability is tabulated at the answer
    grid's points (0, answer_dt, ...) and its conditional release probability at the talk grid's
    (0, talk_dt, ...); a decision looks each call and agent up at the grid point nearest to its
    elapsed time. That is the model's resolution (answer_dt, talk_dt), and it makes an item cost
    one table read per horizon.
    """

    def __init__(
        self,
        live_cdf: ArrayLike,
        pre_survival: ArrayLike,
        answer_dt: float,
        talk_survival: ArrayLike,
        talk_dt: float,
        p_live_answered: float,
        amd_delay: float,
        wrapup: float,
        grace: float,
        horizons: ArrayLike,
        weight: ArrayLike,
        q_new: ArrayLike,
        work_limit: int = DEFAULT_WORK_LIMIT,
    ) -> None:
        live = _table("live_cdf", live_cdf)
        pre = _table("pre_survival", pre_survival)
        if len(live) != len(pre):
            raise ValueError(f"live_cdf and pre_survival must have the same length, got {len(live)} and {len(pre)}")
        self._adt = _step("answer_dt", answer_dt)
        talk = _table("talk_survival", talk_survival)
        self._tdt = _step("talk_dt", talk_dt)
        self._pla = _probabilities("p_live_answered", [p_live_answered])[0]
        self._amd = _finite("amd_delay", amd_delay)
        self._wrap = _finite("wrapup", wrapup)
        self._grace = _finite("grace", grace)
        self._h = _floats("horizons", horizons)
        kk = len(self._h)
        if kk == 0:
            raise ValueError("horizons must not be empty")
        for v in self._h:
            if not -math.inf < v < math.inf:
                raise ValueError(f"horizons must be finite, got {v!r}")
        self._w = _probabilities("weight", _vector("weight", weight, kk))
        self._q = _probabilities("q_new", _vector("q_new", q_new, kk))
        self._work_limit = int(work_limit)
        if self._work_limit < 0:
            raise ValueError(f"work_limit must be >= 0, got {self._work_limit}")
        self._a_last = len(live) - 1
        self._t_last = len(talk) - 1
        h_ans = [t - self._amd for t in self._h]
        h_sup = [t + self._grace for t in self._h]
        h_rel = [t - self._wrap for t in h_sup]
        adt, tdt = self._adt, self._tdt
        # rows: grid point b -> [probability at each horizon]
        self._ans_tab = [
            [_answer_p(live, pre, self._a_last, adt, b * adt, h_ans[k]) for k in range(kk)]
            for b in range(self._a_last + 1)
        ]
        self._rel_tab = [
            [_release_p(talk, self._t_last, tdt, b * tdt, h_rel[k]) for k in range(kk)]
            for b in range(self._t_last + 1)
        ]
        self._h_sup = h_sup

    def decide(
        self,
        talk_elapsed: Sequence[float],
        wrap_remaining: Sequence[float],
        dialing_elapsed: Sequence[float],
        answered_elapsed: Sequence[float],
        ready: int,
        ringing: int,
        waiting: int,
        dialing: int,
        n_max: int,
        budget: float,
        rate: float,
    ) -> tuple[int, float, float, float]:
        """One pacing decision: (n, n·M(n), p1, e0) as `dial_count` defines them.

        talk_elapsed: seconds into the call of each agent on a call; wrap_remaining: seconds of
        wrap-up left of each agent wrapping up; dialing_elapsed: seconds since the Originate of
        each dialing call (`dialing` counts them, plus any not originated yet, taken as just
        dialled); answered_elapsed: seconds since the answer of each call whose AMD is running;
        ready, ringing: agents idle, and offered a call not yet connected; waiting: people
        waiting for an agent (those an agent is ringing for included).
        """
        talk = _floats("talk_elapsed", talk_elapsed)
        wrap = _floats("wrap_remaining", wrap_remaining)
        dial = _floats("dialing_elapsed", dialing_elapsed)
        ans = _floats("answered_elapsed", answered_elapsed)
        n, b, r, _ = _check_budget(n_max, budget, rate, 0)
        unstarted = int(dialing) - len(dial)
        if unstarted < 0:
            unstarted = 0
        sure_wait = int(waiting) - int(ringing)
        if sure_wait < 0:
            sure_wait = 0
        n_ringing = int(ringing)
        dial_rows = [self._ans_tab[_grid_index(x, self._adt, self._a_last)] for x in dial]
        talk_rows = [self._rel_tab[_grid_index(x, self._tdt, self._t_last)] for x in talk]
        a0 = self._ans_tab[0]
        t0 = self._rel_tab[0]
        hs: list[_Horizon] = []
        for k in range(len(self._h)):
            t = self._h[k]
            h = _Horizon()
            off = float(sure_wait) - float(ready)
            for x in wrap:
                if x <= self._h_sup[k]:  # NaN: not free in time
                    off -= 1.0
            h.sure = off
            h.k1 = off
            for x in ans:
                if self._amd - x <= t:
                    h.add_demand(self._pla)
            for row in dial_rows:
                h.add_demand(row[k])
            for _ in range(unstarted):
                h.add_demand(a0[k])
            for row in talk_rows:
                h.add_supply(row[k])
            for _ in range(n_ringing):
                h.add_supply(t0[k])
            hs.append(h)
        return _optimise(hs, self._w, self._q, n, b, r, self._work_limit)
