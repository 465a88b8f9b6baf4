"""Pure-Python twin of the compiled kernel `dialer._ext.erlang` (source: `ext/erlang.pyx`).

Both modules run the same algorithm, operation for operation, so they agree to the last few
ulps (the tests hold them to a relative 1e-9; in practice they differ only where CPython's
`math.lgamma` and the C library's `lgamma` round differently). Keep them in step: a change
here is a change to `ext/erlang.pyx`, and the other way round.

Why these algorithms:

* Erlang B runs the recurrence B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)) in its reciprocal
  form R(k) = 1/B(k) = 1 + (k/A)·R(k-1). It is the same recurrence (no factorials, no
  powers, every term positive, so it is forward stable and valid for 10,000+ servers), but
  the loop-carried dependency is one multiply and one add instead of a multiply, an add and a
  divide, which is what makes c = 1000 cost about a microsecond compiled. R only grows with
  k (Erlang B falls with every server added); once it overflows, B has underflowed to 0 and
  the loop stops.
* Erlang C is c·B / ((c - A) + A·B), which is c·B / (c - A·(1 - B)) rearranged so that no
  two nearly equal numbers are subtracted when A is close to c. C = 1 when A >= c.
* Erlang-A (M/M/n+M, Palm's queue with exponential patience) uses Mandelbaum & Zeltyn's
  closed form in terms of the incomplete gamma function,
      A(x, y) = x·e^y·y^(-x)·gamma_lower(x, y) = sum_{j>=0} y^j / ((x+1)...(x+j)),
      x = n·mu/theta, y = lambda/theta, E = Erlang B(n, lambda/mu),
      P(W>0) = A·E / (1 + (A-1)·E),
      P(Ab | W>0) = 1/(rho·A) + 1 - 1/rho,   rho = lambda/(n·mu),
      P(Ab) = P(Ab | W>0)·P(W>0),  E[W] = P(Ab)/theta (Little's law on the queue).
  A itself overflows for heavy overload (it grows like e^y) and the textbook expression for
  P(Ab | W>0) cancels catastrophically for light load, so we never form either:
  - for y < x + 1 the series above is summed directly (its terms t_j fall from t_0 = 1),
    together with sum_j j·t_j. The t_j are the stationary probabilities of j callers queued
    relative to "all agents busy, nobody queued", so P(Ab | W>0) = sum j·t_j / (y·sum t_j):
    a ratio of positive sums, exact to rounding;
  - for y >= x + 1 the series would need about y - x terms and overflow, so A is taken from
    the upper incomplete gamma function: A = x·(G - H), G = Gamma(x)·e^y·y^(-x) and
    H = Gamma(x, y)·e^y·y^(-x). H comes from the Legendre continued fraction (modified
    Lentz), which converges fast in this region. log G is evaluated as
    bd0(x, y) + log(2·pi/x)/2 + stirlerr(x) (Loader's saddle-point form, as in R's dpois),
    which avoids the cancellation in lgamma(x) + y - x·log(y) when x and y are large, and
    1/A = (1/G) / (x·(1 - H/G)) never overflows. There P(Ab | W>0) =
    1/A + (1 - x/y)·(1 - 1/A), a sum of two non-negative terms since y > x.
  theta = 0 (infinite patience) is the M/M/n (Erlang C) queue.

Everything here is pure: no IO, no clock, no global state.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "erlang_a",
    "erlang_b",
    "erlang_b_array",
    "erlang_c",
    "erlang_c_array",
    "mmc_asa",
    "mmc_wait_probability",
]

_INF = math.inf
# Relative size below which a series tail no longer changes a double (eps/2 is 1.1e-16).
_SERIES_TOL = 1e-17
# Continued fraction convergence: the step factor is within this of 1.
_CF_TOL = 2e-16
_CF_TINY = 1e-300
_CF_MAX_ITER = 1_000_000
_HALF_LOG_2PI = 0.918938533204672741780329736406  # log(2*pi)/2
_TWO_PI = 6.283185307179586476925286766559


# --------------------------------------------------------------------------- validation


def _servers(value: Any) -> int:
    n = operator.index(value)
    if n < 0:
        raise ValueError(f"servers must be >= 0, got {n}")
    return n


def _number(name: str, value: Any) -> float:
    if isinstance(value, str | bytes | bytearray):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    v = _number(name, value)
    if not 0.0 <= v < _INF:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


def _positive(name: str, value: Any) -> float:
    v = _number(name, value)
    if not 0.0 < v < _INF:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


def _wait_time(value: Any) -> float:
    v = _number("t", value)
    if not v >= 0.0:  # rejects NaN too; +inf is allowed (P(W > inf) = 0)
        raise ValueError(f"t must be >= 0, got {v!r}")
    return v


# ----------------------------------------------------------------- Erlang B and C kernels


def _inv_erlang_b(servers: int, load: float) -> float:
    """1/B(servers, load) by the reciprocal recurrence; inf once B underflows. load > 0."""
    r = 1.0
    for k in range(1, servers + 1):
        r = 1.0 + r * (k / load)
        if r == _INF:
            break
    return r


def _erlang_b(servers: int, load: float) -> float:
    if load == 0.0:
        return 1.0 if servers == 0 else 0.0
    return 1.0 / _inv_erlang_b(servers, load)


def _erlang_c_from_b(servers: int, load: float, b: float) -> float:
    if load >= servers:
        return 1.0
    return servers * b / ((servers - load) + load * b)


def _erlang_c(servers: int, load: float) -> float:
    if load >= servers:
        return 1.0
    return _erlang_c_from_b(servers, load, _erlang_b(servers, load))


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/c/c with `servers` servers and `load` Erlangs offered."""
    return _erlang_b(_servers(servers), _non_negative("load", load))


def erlang_c(servers: int, load: float) -> float:
    """P(wait > 0) in M/M/c with `servers` servers and `load` Erlangs offered (1 if load >= c)."""
    return _erlang_c(_servers(servers), _non_negative("load", load))


def _b_table(cmax: int, load: float) -> list[float]:
    """B(k, load) for k = 0..cmax from one run of the recurrence."""
    table = [0.0] * (cmax + 1)
    table[0] = 1.0
    if load == 0.0:
        return table
    r = 1.0
    for k in range(1, cmax + 1):
        r = 1.0 + r * (k / load)
        if r == _INF:
            break  # the rest stays 0.0
        table[k] = 1.0 / r
    return table


def _servers_array(servers: ArrayLike) -> NDArray[np.int64]:
    s = np.asarray(servers)
    if s.dtype.kind not in "iu":
        raise TypeError(f"servers must be an array of integers, got dtype {s.dtype}")
    s = s.astype(np.int64, copy=False)
    if s.size and int(s.min()) < 0:
        raise ValueError(f"servers must be >= 0, got {int(s.min())}")
    return s


def erlang_b_array(servers: ArrayLike, load: float) -> NDArray[np.float64]:
    """Erlang B for every server count in `servers` (any shape), one recurrence up to the max."""
    s = _servers_array(servers)
    a = _non_negative("load", load)
    out = np.empty(s.shape, dtype=np.float64)
    if s.size:
        table = _b_table(int(s.max()), a)
        flat = out.reshape(-1)
        for i, c in enumerate(s.reshape(-1).tolist()):
            flat[i] = table[c]
    return out


def erlang_c_array(servers: ArrayLike, load: float) -> NDArray[np.float64]:
    """Erlang C for every server count in `servers` (any shape), one recurrence up to the max."""
    s = _servers_array(servers)
    a = _non_negative("load", load)
    out = np.empty(s.shape, dtype=np.float64)
    if s.size:
        table = _b_table(int(s.max()), a)
        flat = out.reshape(-1)
        for i, c in enumerate(s.reshape(-1).tolist()):
            flat[i] = _erlang_c_from_b(c, a, table[c])
    return out


# ------------------------------------------------------------------------ M/M/c waiting


def mmc_wait_probability(servers: int, arrival_rate: float, service_rate: float, t: float) -> float:
    """P(W > t) in M/M/c: C·exp(-(c·mu - lambda)·t); 1 when the queue is unstable."""
    c = _servers(servers)
    lam = _non_negative("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    wait = _wait_time(t)
    load = lam / mu
    if load >= c:
        return 1.0
    p_wait = _erlang_c(c, load)
    if wait == 0.0:
        return p_wait
    return p_wait * math.exp(-((c - load) * mu) * wait)


def mmc_asa(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Average speed of answer (mean wait of all callers) in M/M/c: C/(c·mu - lambda); inf
    when the queue is unstable."""
    c = _servers(servers)
    lam = _non_negative("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    load = lam / mu
    if load >= c:
        return _INF
    return _erlang_c(c, load) / ((c - load) * mu)


# ------------------------------------------------------------------------------ Erlang-A


def _stirlerr(x: float) -> float:
    """log(Gamma(x)) - ((x - 1/2)·log(x) - x + log(2·pi)/2), the Stirling remainder."""
    if x <= 15.0:
        return math.lgamma(x) - ((x - 0.5) * math.log(x) - x + _HALF_LOG_2PI)
    xx = x * x
    return (
        1.0 / 12.0
        - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - (1.0 / 1188.0) / xx) / xx) / xx) / xx
    ) / x


def _bd0(x: float, m: float) -> float:
    """x·log(x/m) + m - x, without cancellation when x is close to m (Loader 2000)."""
    d = x - m
    if abs(d) < 0.1 * (x + m):
        v = d / (x + m)
        s = d * v
        ej = 2.0 * x * v
        v = v * v
        j = 1
        while j < 1000:
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
        return s
    return x * math.log(x / m) + m - x


def _tail_series(x: float, y: float) -> tuple[float, float]:
    """(1/A(x, y), P(Ab | W>0)) by the power series. Used for y < x + 1, where it needs
    O(sqrt(x)) terms; correct for any y while A does not overflow, but slow for y >> x."""
    if y == 0.0:  # lambda/theta underflowed: the first-order limit of the ratio below
        return 1.0, 1.0 / (x + 1.0)
    s0 = 1.0
    s1 = 0.0
    t = 1.0
    j = 0
    while True:
        j += 1
        t *= y / (x + j)
        s0 += t
        s1 += j * t
        # Once the ratio r = y/(x+j+1) of the next term is below 1, every later term shrinks
        # by at least r: bound both tails by geometric series and stop when they are lost.
        nxt = x + (j + 1)
        one_minus_r = (nxt - y) / nxt
        if one_minus_r > 0.0:
            tail0 = t * (y / nxt) / one_minus_r
            tail1 = tail0 * (j + 1.0 / one_minus_r)
            if tail0 <= _SERIES_TOL * s0 and tail1 <= _SERIES_TOL * s1:
                break
    return 1.0 / s0, s1 / (y * s0)


def _upper_gamma_scaled(x: float, y: float) -> float:
    """Gamma(x, y)·e^y·y^(-x) by the Legendre continued fraction (modified Lentz); y >= x+1."""
    b = y + 1.0 - x
    c = 1.0 / _CF_TINY
    d = 1.0 / b
    h = d
    i = 1
    while i <= _CF_MAX_ITER:
        an = -i * (i - x)
        b += 2.0
        d = an * d + b
        if abs(d) < _CF_TINY:
            d = _CF_TINY
        c = b + an / c
        if abs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _CF_TOL:
            break
        i += 1
    return h


def _tail_gamma(x: float, y: float) -> tuple[float, float]:
    """(1/A(x, y), P(Ab | W>0)) from the incomplete gamma function; for y >= x + 1."""
    h = _upper_gamma_scaled(x, y)
    log_g = _bd0(x, y) + 0.5 * math.log(_TWO_PI / x) + _stirlerr(x)
    g_inv = math.exp(-log_g)
    inv_a = g_inv / (x * (1.0 - h * g_inv))
    return inv_a, inv_a + ((y - x) / y) * (1.0 - inv_a)


def _erlang_a_tail(x: float, y: float) -> tuple[float, float]:
    if y < x + 1.0:
        return _tail_series(x, y)
    return _tail_gamma(x, y)


def erlang_a(
    servers: int, arrival_rate: float, service_rate: float, abandon_rate: float
) -> tuple[float, float, float]:
    """(P(W>0), P(Ab), E[W]) for M/M/n+M: `servers` agents, Poisson arrivals at
    `arrival_rate`, exponential handling at `service_rate` (1/AHT), exponential patience at
    `abandon_rate` (1/mean patience). E[W] is the mean time in queue over all callers, those
    who abandon included. abandon_rate = 0 is infinite patience: the Erlang C queue, whose
    answer is (1, 0, inf) when it is unstable. Rates share one time unit, the answer uses it."""
    n = _servers(servers)
    lam = _non_negative("arrival_rate", arrival_rate)
    mu = _positive("service_rate", service_rate)
    theta = _non_negative("abandon_rate", abandon_rate)
    load = lam / mu
    x = n * mu / theta if theta > 0.0 else _INF
    y = lam / theta if theta > 0.0 else _INF
    if theta == 0.0 or x == _INF or y == _INF:
        if load >= n:
            return 1.0, 0.0, _INF
        p_wait = _erlang_c(n, load)
        return p_wait, 0.0, p_wait / ((n - load) * mu)
    if n == 0:
        return 1.0, 1.0, 1.0 / theta
    if lam == 0.0:
        return 0.0, 0.0, 0.0
    inv_a, p_ab_given_wait = _erlang_a_tail(x, y)
    e = _erlang_b(n, load)
    p_wait = e / (e + (1.0 - e) * inv_a)
    p_ab = p_wait * p_ab_given_wait
    return p_wait, p_ab, p_ab / theta
