# cython: language_level=3
"""Compiled Erlang B, Erlang C, M/M/c waiting and Erlang-A (M/M/n+M) kernels.

Twin of dialer/core/kernels/erlang_py.py: the same algorithms, operation for operation
(read that module's docstring for why each one is written the way it is). Keep them in step.
Import the selector `dialer.core.kernels`, not this module.
"""

from libc.math cimport exp, fabs, lgamma, log, INFINITY

import numpy as np

__all__ = [
    "erlang_a",
    "erlang_b",
    "erlang_b_array",
    "erlang_c",
    "erlang_c_array",
    "mmc_asa",
    "mmc_wait_probability",
]

cdef double _SERIES_TOL = 1e-17
cdef double _CF_TOL = 2e-16
cdef double _CF_TINY = 1e-300
cdef Py_ssize_t _CF_MAX_ITER = 1000000
cdef double _HALF_LOG_2PI = 0.918938533204672741780329736406
cdef double _TWO_PI = 6.283185307179586476925286766559


# --------------------------------------------------------------------------- validation

cdef inline Py_ssize_t _servers(Py_ssize_t n) except -1:
    if n < 0:
        raise ValueError(f"servers must be >= 0, got {n}")
    return n


cdef inline double _non_negative(str name, double v) except? -1.0:
    if not (0.0 <= v < INFINITY):
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


cdef inline double _positive(str name, double v) except? -1.0:
    if not (0.0 < v < INFINITY):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


cdef inline double _wait_time(double v) except? -1.0:
    if not v >= 0.0:
        raise ValueError(f"t must be >= 0, got {v!r}")
    return v


# ----------------------------------------------------------------- Erlang B and C kernels

cdef inline double _inv_erlang_b(Py_ssize_t servers, double load) noexcept nogil:
    cdef double r = 1.0
    cdef Py_ssize_t k
    for k in range(1, servers + 1):
        r = 1.0 + r * (<double>k / load)
        if r == INFINITY:
            break
    return r


cdef double c_erlang_b(Py_ssize_t servers, double load) noexcept nogil:
    if load == 0.0:
        return 1.0 if servers == 0 else 0.0
    return 1.0 / _inv_erlang_b(servers, load)


cdef inline double _erlang_c_from_b(Py_ssize_t servers, double load, double b) noexcept nogil:
    if load >= servers:
        return 1.0
    return servers * b / ((servers - load) + load * b)


cdef double c_erlang_c(Py_ssize_t servers, double load) noexcept nogil:
    if load >= servers:
        return 1.0
    return _erlang_c_from_b(servers, load, c_erlang_b(servers, load))


def erlang_b(Py_ssize_t servers, double load):
    """Blocking probability of M/M/c/c with `servers` servers and `load` Erlangs offered."""
    return c_erlang_b(_servers(servers), _non_negative("load", load))


def erlang_c(Py_ssize_t servers, double load):
    """P(wait > 0) in M/M/c with `servers` servers and `load` Erlangs offered (1 if load >= c)."""
    return c_erlang_c(_servers(servers), _non_negative("load", load))


cdef void _b_table(double[::1] table, double load) noexcept nogil:
    """B(k, load) for k = 0..len(table)-1 from one run of the recurrence."""
    cdef Py_ssize_t cmax = table.shape[0] - 1
    cdef Py_ssize_t k
    cdef double r = 1.0
    table[0] = 1.0
    for k in range(1, cmax + 1):
        table[k] = 0.0
    if load == 0.0:
        return
    for k in range(1, cmax + 1):
        r = 1.0 + r * (<double>k / load)
        if r == INFINITY:
            break
        table[k] = 1.0 / r


cdef object _servers_array(object servers):
    s = np.asarray(servers)
    if s.dtype.kind not in "iu":
        raise TypeError(f"servers must be an array of integers, got dtype {s.dtype}")
    s = s.astype(np.int64, copy=False)
    if s.size and int(s.min()) < 0:
        raise ValueError(f"servers must be >= 0, got {int(s.min())}")
    return s


cdef object _erlang_array(object servers, double load, bint want_c):
    s = _servers_array(servers)
    cdef double a = _non_negative("load", load)
    out = np.empty(s.shape, dtype=np.float64)
    if s.size == 0:
        return out
    cdef const Py_ssize_t[::1] sv = np.ascontiguousarray(s.reshape(-1), dtype=np.intp)
    cdef double[::1] ov = out.reshape(-1)
    cdef double[::1] table = np.empty(int(s.max()) + 1, dtype=np.float64)
    cdef Py_ssize_t i, c
    with nogil:
        _b_table(table, a)
        if want_c:
            for i in range(sv.shape[0]):
                c = sv[i]
                ov[i] = _erlang_c_from_b(c, a, table[c])
        else:
            for i in range(sv.shape[0]):
                ov[i] = table[sv[i]]
    return out


def erlang_b_array(servers, double load):
    """Erlang B for every server count in `servers` (any shape), one recurrence up to the max."""
    return _erlang_array(servers, load, False)


def erlang_c_array(servers, double load):
    """Erlang C for every server count in `servers` (any shape), one recurrence up to the max."""
    return _erlang_array(servers, load, True)


# ------------------------------------------------------------------------ M/M/c waiting

cdef double c_mmc_wait_probability(Py_ssize_t servers, double arrival_rate,
                                   double service_rate, double t) noexcept nogil:
    cdef double load = arrival_rate / service_rate
    cdef double p_wait
    if load >= servers:
        return 1.0
    p_wait = c_erlang_c(servers, load)
    if t == 0.0:
        return p_wait
    return p_wait * exp(-((servers - load) * service_rate) * t)


cdef double c_mmc_asa(Py_ssize_t servers, double arrival_rate,
                      double service_rate) noexcept nogil:
    cdef double load = arrival_rate / service_rate
    if load >= servers:
        return INFINITY
    return c_erlang_c(servers, load) / ((servers - load) * service_rate)


def mmc_wait_probability(Py_ssize_t servers, double arrival_rate, double service_rate,
                         double t):
    """P(W > t) in M/M/c: C·exp(-(c·mu - lambda)·t); 1 when the queue is unstable."""
    _servers(servers)
    _non_negative("arrival_rate", arrival_rate)
    _positive("service_rate", service_rate)
    _wait_time(t)
    return c_mmc_wait_probability(servers, arrival_rate, service_rate, t)


def mmc_asa(Py_ssize_t servers, double arrival_rate, double service_rate):
    """Average speed of answer (mean wait of all callers) in M/M/c: C/(c·mu - lambda); inf
    when the queue is unstable."""
    _servers(servers)
    _non_negative("arrival_rate", arrival_rate)
    _positive("service_rate", service_rate)
    return c_mmc_asa(servers, arrival_rate, service_rate)


# ------------------------------------------------------------------------------ Erlang-A

cdef inline double _stirlerr(double x) noexcept nogil:
    cdef double xx
    if x <= 15.0:
        return lgamma(x) - ((x - 0.5) * log(x) - x + _HALF_LOG_2PI)
    xx = x * x
    return (
        1.0 / 12.0
        - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - (1.0 / 1188.0) / xx) / xx) / xx) / xx
    ) / x


cdef inline double _bd0(double x, double m) noexcept nogil:
    cdef double d = x - m
    cdef double v, s, s1, ej
    cdef Py_ssize_t j
    if fabs(d) < 0.1 * (x + m):
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
    return x * log(x / m) + m - x


cdef inline void _tail_series(double x, double y, double* inv_a,
                              double* p_ab_given_wait) noexcept nogil:
    cdef double s0 = 1.0, s1 = 0.0, t = 1.0
    cdef double nxt, one_minus_r, tail0, tail1
    cdef Py_ssize_t j = 0
    if y == 0.0:
        inv_a[0] = 1.0
        p_ab_given_wait[0] = 1.0 / (x + 1.0)
        return
    while True:
        j += 1
        t *= y / (x + j)
        s0 += t
        s1 += j * t
        nxt = x + (j + 1)
        one_minus_r = (nxt - y) / nxt
        if one_minus_r > 0.0:
            tail0 = t * (y / nxt) / one_minus_r
            tail1 = tail0 * (j + 1.0 / one_minus_r)
            if tail0 <= _SERIES_TOL * s0 and tail1 <= _SERIES_TOL * s1:
                break
    inv_a[0] = 1.0 / s0
    p_ab_given_wait[0] = s1 / (y * s0)


cdef inline double _upper_gamma_scaled(double x, double y) noexcept nogil:
    cdef double b = y + 1.0 - x
    cdef double c = 1.0 / _CF_TINY
    cdef double d = 1.0 / b
    cdef double h = d
    cdef double an, delta
    cdef Py_ssize_t i = 1
    while i <= _CF_MAX_ITER:
        an = -i * (i - x)
        b += 2.0
        d = an * d + b
        if fabs(d) < _CF_TINY:
            d = _CF_TINY
        c = b + an / c
        if fabs(c) < _CF_TINY:
            c = _CF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if fabs(delta - 1.0) < _CF_TOL:
            break
        i += 1
    return h


cdef inline void _tail_gamma(double x, double y, double* inv_a,
                             double* p_ab_given_wait) noexcept nogil:
    cdef double h = _upper_gamma_scaled(x, y)
    cdef double log_g = _bd0(x, y) + 0.5 * log(_TWO_PI / x) + _stirlerr(x)
    cdef double g_inv = exp(-log_g)
    cdef double ia = g_inv / (x * (1.0 - h * g_inv))
    inv_a[0] = ia
    p_ab_given_wait[0] = ia + ((y - x) / y) * (1.0 - ia)


cdef erlang_a_result c_erlang_a(Py_ssize_t servers, double arrival_rate, double service_rate,
                                double abandon_rate) noexcept nogil:
    cdef erlang_a_result res
    cdef Py_ssize_t n = servers
    cdef double lam = arrival_rate, mu = service_rate, theta = abandon_rate
    cdef double load = lam / mu
    cdef double x = INFINITY, y = INFINITY
    cdef double inv_a, p_ab_given_wait, e
    if theta > 0.0:
        x = n * mu / theta
        y = lam / theta
    if theta == 0.0 or x == INFINITY or y == INFINITY:
        if load >= n:
            res.p_wait = 1.0
            res.p_abandon = 0.0
            res.mean_wait = INFINITY
        else:
            res.p_wait = c_erlang_c(n, load)
            res.p_abandon = 0.0
            res.mean_wait = res.p_wait / ((n - load) * mu)
        return res
    if n == 0:
        res.p_wait = 1.0
        res.p_abandon = 1.0
        res.mean_wait = 1.0 / theta
        return res
    if lam == 0.0:
        res.p_wait = 0.0
        res.p_abandon = 0.0
        res.mean_wait = 0.0
        return res
    if y < x + 1.0:
        _tail_series(x, y, &inv_a, &p_ab_given_wait)
    else:
        _tail_gamma(x, y, &inv_a, &p_ab_given_wait)
    e = c_erlang_b(n, load)
    res.p_wait = e / (e + (1.0 - e) * inv_a)
    res.p_abandon = res.p_wait * p_ab_given_wait
    res.mean_wait = res.p_abandon / theta
    return res


def erlang_a(Py_ssize_t servers, double arrival_rate, double service_rate,
             double abandon_rate):
    """(P(W>0), P(Ab), E[W]) for M/M/n+M: `servers` agents, Poisson arrivals at
    `arrival_rate`, exponential handling at `service_rate` (1/AHT), exponential patience at
    `abandon_rate` (1/mean patience). E[W] is the mean time in queue over all callers, those
    who abandon included. abandon_rate = 0 is infinite patience: the Erlang C queue, whose
    answer is (1, 0, inf) when it is unstable. Rates share one time unit, the answer uses it."""
    _servers(servers)
    _non_negative("arrival_rate", arrival_rate)
    _positive("service_rate", service_rate)
    _non_negative("abandon_rate", abandon_rate)
    cdef erlang_a_result res
    with nogil:
        res = c_erlang_a(servers, arrival_rate, service_rate, abandon_rate)
    return (res.p_wait, res.p_abandon, res.mean_wait)
