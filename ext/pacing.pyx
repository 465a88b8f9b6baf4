# cython: language_level=3
"""Compiled pacing kernels: conditional answer/release probabilities, Poisson-binomial DP, and the
dial-count optimiser (one fused pacing decision, `PacingModel.decide`).

Twin of dialer/core/kernels/pacing_py.py: the same algorithms, operation for operation (read that
module's docstring for the model and why). Keep them in step. Import the selector
`dialer.core.kernels`, not this module.
"""

from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.math cimport ceil, erfc, exp, floor, frexp, sqrt, INFINITY
from libc.stdlib cimport calloc, free, malloc

import math

import numpy as np

__all__ = [
    "PacingModel",
    "answer_probabilities",
    "dial_count",
    "poisson_binomial_cdf",
    "poisson_binomial_pmf",
    "poisson_binomial_window",
    "release_probabilities",
]

cdef double _EPS = 1e-14
cdef double _TINY = 1e-12
cdef double _WINDOW_Z = 7.0
cdef double _WINDOW_C = 6.0
cdef Py_ssize_t _SCAN_CAP = 100000
cdef double _SQRT1_2 = 0.707106781186547524400844362104849039
cdef double _INV_SQRT_2PI = 0.398942280401432677939946059934381868
DEFAULT_WORK_LIMIT = 20000


# --------------------------------------------------------------------------- helpers

cdef inline double _interp(const double* table, Py_ssize_t n_last, double dt, double t) noexcept nogil:
    cdef double x
    if not t > 0.0:
        return table[0]
    x = t / dt
    return _interp_at(table, n_last, x)


cdef inline double _interp_at(const double* table, Py_ssize_t n_last, double x) noexcept nogil:
    """Interpolate at grid position x = t/dt (t > 0)."""
    cdef double frac
    cdef Py_ssize_t i
    if x >= n_last:
        return table[n_last]
    i = <Py_ssize_t>x
    frac = x - i
    return table[i] + (table[i + 1] - table[i]) * frac


cdef inline double _recip_pow2(double dt) noexcept nogil:
    """1/dt when dt is a power of two (then t·(1/dt) == t/dt exactly), else 0 (divide)."""
    cdef int e
    if frexp(dt, &e) == 0.5:
        return 1.0 / dt
    return 0.0


cdef inline double _interp_fast(const double* table, Py_ssize_t n_last, double dt, double inv,
                                double t) noexcept nogil:
    """_interp, multiplying by the exact reciprocal of a power-of-two step instead of dividing."""
    if not t > 0.0:
        return table[0]
    return _interp_at(table, n_last, t * inv if inv > 0.0 else t / dt)


cdef double c_answer_p(const double* live, const double* surv, Py_ssize_t n_last, double dt,
                       double e, double h) noexcept nogil:
    cdef double s, p
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


cdef double c_release_p(const double* surv, Py_ssize_t n_last, double dt, double e,
                        double h) noexcept nogil:
    cdef double end, s, p
    if not e > 0.0:
        e = 0.0
    if not h > 0.0:
        return 0.0
    end = n_last * dt
    if e + h > end:
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


cdef inline double _norm_cdf(double x) noexcept nogil:
    return 0.5 * erfc(-x * _SQRT1_2)


cdef inline double _norm_pdf(double x) noexcept nogil:
    return _INV_SQRT_2PI * exp(-0.5 * x * x)


# ------------------------------------------------------------------- Poisson-binomial

cdef void c_pb_full(const double* p, Py_ssize_t n, double* a) noexcept nogil:
    cdef Py_ssize_t i, k
    cdef double r, s
    for k in range(n + 1):
        a[k] = 0.0
    a[0] = 1.0
    for i in range(n):
        r = p[i]
        s = 1.0 - r
        a[i + 1] = a[i] * r
        k = i
        while k > 0:
            a[k] = a[k] * s + a[k - 1] * r
            k -= 1
        a[0] = a[0] * s


cdef inline Py_ssize_t _half_width(double var) noexcept nogil:
    return <Py_ssize_t>ceil(_WINDOW_Z * sqrt(var) + _WINDOW_C)


cdef void c_pb_window(const double* r, Py_ssize_t n, Py_ssize_t hw, double* b,
                      Py_ssize_t* lo_out, Py_ssize_t* hi_out) noexcept nogil:
    cdef Py_ssize_t width = 2 * hw + 1
    cdef Py_ssize_t lo = 0, hi = 0, i, k, want
    cdef double x, s, mean = 0.0
    if n + 1 <= width:
        c_pb_full(r, n, b)
        lo_out[0] = 0
        hi_out[0] = n
        return
    for k in range(n + 1):
        b[k] = 0.0
    b[0] = 1.0
    for i in range(n):
        x = r[i]
        s = 1.0 - x
        if hi - lo + 1 < width:
            b[hi + 1] = b[hi] * x
            k = hi
            while k > lo:
                b[k] = b[k] * s + b[k - 1] * x
                k -= 1
            b[lo] = b[lo] * s
            hi += 1
        elif hi > lo:
            b[hi] = b[hi] + b[hi - 1] * x
            k = hi - 1
            while k > lo:
                b[k] = b[k] * s + b[k - 1] * x
                k -= 1
            b[lo] = b[lo] * s
        mean += x
        want = <Py_ssize_t>floor(mean) - hw
        while lo < want:
            if lo == hi:
                hi += 1
            b[lo + 1] = b[lo + 1] + b[lo]
            b[lo] = 0.0
            lo += 1
    lo_out[0] = lo
    hi_out[0] = hi


# --------------------------------------------------------------------------- validation

cdef object _floats(str name, object values):
    """A contiguous float64 copy of a 1-D sequence (for the array-level functions)."""
    try:
        a = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


cdef object _probabilities(str name, object values):
    a = _floats(name, values)
    if a.size and not bool(np.all((a >= 0.0) & (a <= 1.0))):
        bad = a[~((a >= 0.0) & (a <= 1.0))][0]
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {float(bad)!r}")
    return a


cdef object _table(str name, object values):
    a = _floats(name, values)
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not bool(np.all((a >= 0.0) & (a < INFINITY))):
        bad = a[~((a >= 0.0) & (a < INFINITY))][0]
        raise ValueError(f"{name} must hold finite numbers >= 0, got {float(bad)!r}")
    return a


cdef double _step(str name, object dt) except? -1.0:
    cdef double v = float(dt)
    if not (0.0 < v < INFINITY):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return v


cdef double _finite(str name, object v) except? -1.0:
    cdef double x = float(v)
    if not (-INFINITY < x < INFINITY):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return x


cdef Py_ssize_t _seq_len(str name, object seq) except -1:
    if type(seq) is tuple or type(seq) is list:
        return len(seq)
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {seq.shape}")
        return seq.shape[0]
    try:
        return len(seq)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(seq).__name__}") from None


cdef int _load(object seq, double* dst, Py_ssize_t n) except -1:
    """Copy a sequence of numbers into dst[0..n-1]: tuples and lists without any temporary."""
    cdef Py_ssize_t i
    cdef const double[::1] mv
    if type(seq) is tuple:
        for i in range(n):
            dst[i] = <double>(<object>PyTuple_GET_ITEM(seq, i))
    elif type(seq) is list:
        for i in range(n):
            dst[i] = <double>(<object>PyList_GET_ITEM(seq, i))
    else:
        mv = np.ascontiguousarray(seq, dtype=np.float64)
        for i in range(n):
            dst[i] = mv[i]
    return 0


# ---------------------------------------------------------------------- array functions

def poisson_binomial_pmf(p):
    """P(S = k), k = 0..n, for S a sum of independent Bernoulli(p_i): exact O(n^2) DP."""
    a = np.ascontiguousarray(_probabilities("p", p))
    cdef const double[::1] pv = a
    cdef Py_ssize_t n = pv.shape[0]
    out = np.empty(n + 1, dtype=np.float64)
    cdef double[::1] ov = out
    with nogil:
        c_pb_full(&pv[0] if n > 0 else &ov[0], n, &ov[0])
    return out


def poisson_binomial_cdf(p):
    """P(S <= k), k = 0..n (the last value is 1 up to rounding)."""
    out = poisson_binomial_pmf(p)
    cdef double[::1] ov = out
    cdef double acc = 0.0
    cdef Py_ssize_t k
    for k in range(ov.shape[0]):
        acc += ov[k]
        ov[k] = acc
    return out


def poisson_binomial_window(p, half_width=None):
    """(lo, pmf) with pmf[j] = P(S = lo + j) over a window that follows the running mean.

    Items with p < 1e-14 are skipped and those with p > 1 - 1e-14 counted as sure successes.
    `half_width` defaults to ceil(7·sigma + 6); the window is 2·half_width + 1 values wide, the
    whole support when that is smaller. The bottom bin holds P(S <= lo), the top one P(S >= hi).
    """
    a = np.ascontiguousarray(_probabilities("p", p))
    cdef const double[::1] pv = a
    cdef Py_ssize_t n = pv.shape[0], i, m = 0, sure = 0, hw, lo, hi
    cdef double x, var = 0.0
    r = np.empty(n + 1, dtype=np.float64)
    cdef double[::1] rv = r
    for i in range(n):
        x = pv[i]
        if x < _EPS:
            continue
        if x > 1.0 - _EPS:
            sure += 1
            continue
        rv[m] = x
        m += 1
        var += x * (1.0 - x)
    if half_width is None:
        hw = _half_width(var)
    else:
        hw = int(half_width)
        if hw < 0:
            raise ValueError(f"half_width must be >= 0, got {hw}")
    b = np.empty(m + 1, dtype=np.float64)
    cdef double[::1] bv = b
    with nogil:
        c_pb_window(&rv[0], m, hw, &bv[0], &lo, &hi)
    return lo + sure, b[lo:hi + 1].copy()


def answer_probabilities(elapsed, double horizon, live_cdf, pre_survival, dt):
    """For each dialing call `elapsed` seconds after its Originate: P(live answer within the next
    `horizon` seconds | not answered and not failed yet) = (L(e + h) - L(e)) / S(e), with
    L = `live_cdf` and S = `pre_survival` tabulated at 0, dt, 2·dt, ... (linear in between,
    flat beyond the end). 0 where S(e) < 1e-12 or horizon <= 0."""
    e = _floats("elapsed", elapsed)
    live = np.ascontiguousarray(_table("live_cdf", live_cdf))
    surv = np.ascontiguousarray(_table("pre_survival", pre_survival))
    if live.shape[0] != surv.shape[0]:
        raise ValueError(
            f"live_cdf and pre_survival must have the same length, got {live.shape[0]} and {surv.shape[0]}"
        )
    cdef double step = _step("dt", dt)
    cdef double h = _finite("horizon", horizon)
    cdef const double[::1] ev = e
    cdef const double[::1] lv = live
    cdef const double[::1] sv = surv
    cdef Py_ssize_t n = ev.shape[0], i, n_last = lv.shape[0] - 1
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] ov = out
    with nogil:
        for i in range(n):
            ov[i] = c_answer_p(&lv[0], &sv[0], n_last, step, ev[i], h)
    return out


def release_probabilities(elapsed, double horizon, survival, dt):
    """For each busy agent `elapsed` seconds into a call: P(T <= e + h | T > e) =
    1 - S(e + h)/S(e), S = `survival` tabulated at 0, dt, 2·dt, ... Past the table's end the
    last stretch's hazard is kept (e is moved back so that e + h is the end). 0 where
    S(e) < 1e-12 or horizon <= 0."""
    e = _floats("elapsed", elapsed)
    surv = np.ascontiguousarray(_table("survival", survival))
    cdef double step = _step("dt", dt)
    cdef double h = _finite("horizon", horizon)
    cdef const double[::1] ev = e
    cdef const double[::1] sv = surv
    cdef Py_ssize_t n = ev.shape[0], i, n_last = sv.shape[0] - 1
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] ov = out
    with nogil:
        for i in range(n):
            ov[i] = c_release_p(&sv[0], n_last, step, ev[i], h)
    return out


# ------------------------------------------------------------------------- optimiser

ctypedef struct horizon_t:
    double* r  # uncertain items: demand p, supply (1 - f)
    Py_ssize_t n
    double sure
    double k1
    double k2
    double k3
    Py_ssize_t base
    double* below  # P(X = v), v = base .. -1
    Py_ssize_t nb
    double tail0


cdef inline void _demand(horizon_t* h, double p) noexcept nogil:
    cdef double q
    if p < _EPS:
        return
    if p > 1.0 - _EPS:
        h.sure += 1.0
        h.k1 += 1.0
        return
    q = 1.0 - p
    h.r[h.n] = p
    h.n += 1
    h.k1 += p
    h.k2 += p * q
    h.k3 += p * q * (q - p)


cdef inline void _supply(horizon_t* h, double f) noexcept nogil:
    cdef double g
    h.sure -= 1.0
    if f < _EPS:
        h.sure += 1.0
        return
    if f > 1.0 - _EPS:
        h.k1 -= 1.0
        return
    g = 1.0 - f
    h.r[h.n] = g
    h.n += 1
    h.k1 -= f
    h.k2 += f * g
    h.k3 -= f * g * (g - f)


cdef inline void _demand_m(horizon_t* h, double p) noexcept nogil:
    """_demand without keeping the item (the first pass of a decision)."""
    cdef double q
    if p < _EPS:
        return
    if p > 1.0 - _EPS:
        h.sure += 1.0
        h.k1 += 1.0
        return
    q = 1.0 - p
    h.n += 1
    h.k1 += p
    h.k2 += p * q
    h.k3 += p * q * (q - p)


cdef inline void _supply_m(horizon_t* h, double f) noexcept nogil:
    """_supply without keeping the item."""
    cdef double g
    h.sure -= 1.0
    if f < _EPS:
        h.sure += 1.0
        return
    if f > 1.0 - _EPS:
        h.k1 -= 1.0
        return
    g = 1.0 - f
    h.n += 1
    h.k1 -= f
    h.k2 += f * g
    h.k3 -= f * g * (g - f)


cdef inline void _keep_demand(horizon_t* h, double p) noexcept nogil:
    """The item _demand keeps, and nothing else (the second pass, exact mode only)."""
    if p < _EPS or p > 1.0 - _EPS:
        return
    h.r[h.n] = p
    h.n += 1


cdef inline void _keep_supply(horizon_t* h, double f) noexcept nogil:
    if f < _EPS or f > 1.0 - _EPS:
        return
    h.r[h.n] = 1.0 - f
    h.n += 1


cdef inline Py_ssize_t _work(horizon_t* h) noexcept nogil:
    cdef Py_ssize_t n = h.n
    cdef Py_ssize_t width = 2 * _half_width(h.k2) + 1
    return n * (n + 1 if n + 1 <= width else width)


cdef int _prepare_exact(horizon_t* h, double* scratch) noexcept nogil:
    """pmf of X into h.below / h.tail0; returns -1 when out of memory."""
    cdef Py_ssize_t lo, hi, j, base, nb
    cdef double tail = 0.0
    c_pb_window(h.r, h.n, _half_width(h.k2), scratch, &lo, &hi)
    base = lo + <Py_ssize_t>floor(h.sure + 0.5)
    h.base = base
    nb = -base if base < 0 else 0
    h.nb = nb
    h.below = <double*>calloc(nb if nb > 0 else 1, sizeof(double))
    if h.below == NULL:
        return -1
    for j in range(hi - lo + 1):
        if base + j >= 0:
            tail += scratch[lo + j]
        else:
            h.below[j] = scratch[lo + j]
    h.tail0 = tail
    return 0


cdef double _p_nonneg(horizon_t* h, Py_ssize_t n, double q) noexcept nogil:
    cdef double mu = h.k1 + n * q
    cdef double var = h.k2 + n * q * (1.0 - q)
    cdef double sd, g, z, p
    if var <= 0.0:
        return 1.0 if mu > -0.5 else 0.0
    sd = sqrt(var)
    g = (h.k3 + n * q * (1.0 - q) * (1.0 - 2.0 * q)) / (var * sd)
    z = (-0.5 - mu) / sd
    p = _norm_cdf(-z) + g / 6.0 * (z * z - 1.0) * _norm_pdf(z)
    if p < 0.0:
        return 0.0
    if p > 1.0:
        return 1.0
    return p


cdef double _e_plus(horizon_t* h, Py_ssize_t n, double q) noexcept nogil:
    cdef double mu = h.k1 + n * q
    cdef double var = h.k2 + n * q * (1.0 - q)
    cdef double m0 = mu - 0.5
    cdef double sd, g, m, e
    if var <= 0.0:
        return mu if mu > 0.0 else 0.0
    sd = sqrt(var)
    g = (h.k3 + n * q * (1.0 - q) * (1.0 - 2.0 * q)) / (var * sd)
    m = m0 / sd
    e = m0 * _norm_cdf(m) + sd * _norm_pdf(m) * (1.0 - g * m / 6.0)
    if e < mu:
        e = mu
    if e < 0.0:
        e = 0.0
    return e


cdef inline bint _feasible(double m, Py_ssize_t n, double budget, double rate, double wsum) noexcept nogil:
    if wsum > 0.0 and m > rate * wsum:
        return False
    return n * m <= budget


cdef inline double _marginal_exact(horizon_t* hs, const double* weight, Py_ssize_t kk) noexcept nogil:
    cdef double m = 0.0, run = 0.0
    cdef Py_ssize_t k = kk - 1
    while k >= 0:
        if hs[k].tail0 > run:
            run = hs[k].tail0
        m += weight[k] * run
        k -= 1
    return m


cdef inline double _marginal_approx(horizon_t* hs, const double* weight, const double* q_new, Py_ssize_t kk,
                                    Py_ssize_t n, double* pk) noexcept nogil:
    cdef double m = 0.0, run = 0.0
    cdef Py_ssize_t k
    for k in range(kk):
        pk[k] = _p_nonneg(&hs[k], n, q_new[k])
    k = kk - 1
    while k >= 0:
        if pk[k] > run:
            run = pk[k]
        m += weight[k] * run
        k -= 1
    return m


ctypedef struct result_t:
    Py_ssize_t n
    double added
    double first
    double e0


cdef inline bint _all_exact(horizon_t* hs, Py_ssize_t kk, Py_ssize_t work_limit) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(kk):
        if _work(&hs[k]) > work_limit:
            return False
    return True


cdef int _optimise(horizon_t* hs, Py_ssize_t kk, const double* weight, const double* q_new,
                   Py_ssize_t n_max, double budget, double rate, Py_ssize_t work_limit,
                   double* scratch, double* pk, result_t* res) noexcept nogil:
    """Largest n <= n_max with M(n) <= rate·sum(w) and n·M(n) <= budget (see the twin).
    In exact mode every horizon must hold its items (h.r) and scratch n + 1 doubles."""
    cdef Py_ssize_t k, j, nb, n = 0, cap, lo, hi, probe, mid
    cdef double wsum = 0.0, e0 = 0.0, ek, neg, first, m, q, s, last = 0.0, m_lo, mp
    cdef bint exact = _all_exact(hs, kk, work_limit)
    cdef horizon_t* h
    cdef double* bl
    for k in range(kk):
        wsum += weight[k]
    for k in range(kk):
        h = &hs[k]
        if exact:
            if _prepare_exact(h, scratch) != 0:
                return -1
            neg = 0.0
            for j in range(h.nb):
                neg += (h.base + j) * h.below[j]
            ek = h.k1 - neg
        else:
            ek = _e_plus(h, 0, 0.0)
        if ek > e0:
            e0 = ek
    cap = n_max if n_max < _SCAN_CAP else _SCAN_CAP
    res.e0 = e0
    if exact:
        m = _marginal_exact(hs, weight, kk)
        first = m / wsum if wsum > 0.0 else 0.0
        while n < cap and _feasible(m, n + 1, budget, rate, wsum):
            n += 1
            last = m
            for k in range(kk):
                q = q_new[k]
                h = &hs[k]
                nb = h.nb
                bl = h.below
                if nb == 0 or q <= 0.0:
                    continue
                s = 1.0 - q
                h.tail0 += q * bl[nb - 1]
                j = nb - 1
                while j > 0:
                    bl[j] = bl[j] * s + bl[j - 1] * q
                    j -= 1
                bl[0] = bl[0] * s
            m = _marginal_exact(hs, weight, kk)
        res.n = n
        res.added = n * last
        res.first = first
        return 0
    m = _marginal_approx(hs, weight, q_new, kk, 0, pk)
    first = m / wsum if wsum > 0.0 else 0.0
    res.first = first
    if cap < 1 or not _feasible(m, 1, budget, rate, wsum):
        res.n = 0
        res.added = 0.0
        return 0
    lo = 1
    m_lo = m
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
            res.n = lo
            res.added = lo * m_lo
            return 0
        mp = _marginal_approx(hs, weight, q_new, kk, cap - 1, pk)
        if _feasible(mp, cap, budget, rate, wsum):
            res.n = cap
            res.added = cap * mp
            return 0
        hi = cap
    while hi - lo > 1:
        mid = (lo + hi) // 2
        mp = _marginal_approx(hs, weight, q_new, kk, mid - 1, pk)
        if _feasible(mp, mid, budget, rate, wsum):
            lo = mid
            m_lo = mp
        else:
            hi = mid
    res.n = lo
    res.added = lo * m_lo
    return 0


cdef class _Workspace:
    """The C buffers of one optimisation: horizons, their items (exact mode), the DP scratch."""

    cdef horizon_t* hs
    cdef Py_ssize_t kk
    cdef double* items
    cdef double* scratch
    cdef double* pk

    def __cinit__(self, Py_ssize_t kk):
        self.kk = kk
        self.hs = <horizon_t*>calloc(kk if kk > 0 else 1, sizeof(horizon_t))
        self.pk = <double*>malloc((kk if kk > 0 else 1) * sizeof(double))
        if self.hs == NULL or self.pk == NULL:
            raise MemoryError()

    cdef int hold_items(self, Py_ssize_t per_horizon) except -1:
        """Room for every horizon's items and the DP scratch (exact mode)."""
        cdef Py_ssize_t k
        self.items = <double*>malloc((self.kk * per_horizon if self.kk * per_horizon > 0 else 1) * sizeof(double))
        self.scratch = <double*>malloc((per_horizon + 1) * sizeof(double))
        if self.items == NULL or self.scratch == NULL:
            raise MemoryError()
        for k in range(self.kk):
            self.hs[k].r = self.items + k * per_horizon
        return 0

    def __dealloc__(self):
        cdef Py_ssize_t k
        if self.hs != NULL:
            for k in range(self.kk):
                if self.hs[k].below != NULL:
                    free(self.hs[k].below)
            free(self.hs)
        free(self.items)
        free(self.scratch)
        free(self.pk)

    cdef tuple run(self, const double* weight, const double* q_new, Py_ssize_t n_max, double budget,
                   double rate, Py_ssize_t work_limit):
        cdef result_t res
        cdef int rc
        with nogil:
            rc = _optimise(self.hs, self.kk, weight, q_new, n_max, budget, rate, work_limit,
                           self.scratch, self.pk, &res)
        if rc != 0:
            raise MemoryError()
        return (res.n, res.added, res.first, res.e0)


cdef tuple _check_budget(object n_max, object budget, object rate, object work_limit):
    n = int(n_max)
    b = float(budget)
    r = float(rate)
    w = int(work_limit)
    if math.isnan(b) or math.isnan(r) or r < 0.0:
        raise ValueError(f"budget must be a number and rate a number >= 0, got {b!r} and {r!r}")
    if w < 0:
        raise ValueError(f"work_limit must be >= 0, got {w}")
    return n, b, r, w


cdef object _vector(str name, object values, Py_ssize_t k):
    a = _floats(name, values)
    if a.shape[0] != k:
        raise ValueError(f"{name} must have one value per horizon ({k}), got {a.shape[0]}")
    return a


def dial_count(demand, supply, offset, weight, q_new, n_max, budget, rate, work_limit=DEFAULT_WORK_LIMIT):
    """The dial-count optimiser on per-horizon probabilities.

    demand[k]: P(each call in flight needs an agent by horizon k); supply[k]: P(each busy agent
    is free by then); offset[k]: sure demand minus sure supply (people waiting - ready agents
    - agents whose wrap-up ends in time); weight[k]: P(a new call is a live answer needing an
    agent in stratum k); q_new[k]: P(a new call needs an agent by horizon k).
    Returns (n, A(n), p1, e0): the largest n <= n_max whose added expected abandonments A(n) stay
    within `budget` and within rate·n·sum(weight); p1 the abandonment probability of a first new
    live call; e0 the largest E[(net demand)^+] over the horizons of what is already in flight.
    """
    d = np.asarray(demand, dtype=np.float64)
    s = np.asarray(supply, dtype=np.float64)
    if d.ndim != 2 or s.ndim != 2 or d.shape[0] != s.shape[0]:
        raise ValueError(f"demand and supply must be 2-D with one row per horizon, got {d.shape} and {s.shape}")
    cdef Py_ssize_t kk = d.shape[0]
    off = _vector("offset", offset, kk)
    for v in off:
        if not (-INFINITY < v < INFINITY and v == math.floor(v)):
            raise ValueError(f"offset must hold whole numbers (sure demand - sure supply), got {float(v)!r}")
    w = np.ascontiguousarray(_vector("weight", weight, kk))
    q = np.ascontiguousarray(_vector("q_new", q_new, kk))
    for name, vec in (("weight", w), ("q_new", q)):
        for v in vec:
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must hold probabilities in [0, 1], got {float(v)!r}")
    n, b, r, wl = _check_budget(n_max, budget, rate, work_limit)
    dp = np.ascontiguousarray(_probabilities("demand", d.reshape(-1))).reshape(d.shape)
    sp = np.ascontiguousarray(_probabilities("supply", s.reshape(-1))).reshape(s.shape)
    cdef const double[:, ::1] dv = dp
    cdef const double[:, ::1] sv = sp
    cdef const double[::1] ov = off
    cdef const double[::1] wv = w
    cdef const double[::1] qv = q
    cdef _Workspace ws = _Workspace(kk)
    ws.hold_items(d.shape[1] + s.shape[1])
    cdef Py_ssize_t k, i
    cdef horizon_t* h
    for k in range(kk):
        h = &ws.hs[k]
        h.sure = ov[k]
        h.k1 = ov[k]
        for i in range(dv.shape[1]):
            _demand(h, dv[k, i])
        for i in range(sv.shape[1]):
            _supply(h, sv[k, i])
    if kk == 0:
        return (0, 0.0, 0.0, 0.0) if n <= 0 or b < 0.0 else (min(n, _SCAN_CAP), 0.0, 0.0, 0.0)
    return ws.run(&wv[0], &qv[0], n, b, r, wl)


# ----------------------------------------------------------------------- the decision

cdef inline Py_ssize_t _grid_index(double e, double dt, double inv, Py_ssize_t n_last) noexcept nogil:
    cdef double x
    if not e > 0.0:
        return 0
    x = (e * inv if inv > 0.0 else e / dt) + 0.5
    if x >= n_last:
        return n_last
    return <Py_ssize_t>x


cdef class PacingModel:
    """Everything a pacing decision needs that changes slowly (the estimators' tables), so a
    decision only passes the view's elapsed times. Arguments and resolution as in the twin
    (dialer/core/kernels/pacing_py.py): each horizon's conditional answer and release
    probabilities are tabulated here, on the tables' grids; a decision reads them."""

    cdef object _arrays
    cdef const double* _h
    cdef const double* _w
    cdef const double* _q
    cdef double* _ans_tab  # (a_last + 1) x kk, row per grid point
    cdef double* _rel_tab  # (t_last + 1) x kk
    cdef double* _h_sup
    cdef Py_ssize_t _a_last, _t_last, _kk, _work_limit
    cdef double _adt, _tdt, _pla, _amd, _wrap, _grace, _ainv, _tinv

    def __cinit__(self, *args, **kwargs):
        self._ans_tab = NULL
        self._rel_tab = NULL
        self._h_sup = NULL

    def __dealloc__(self):
        free(self._ans_tab)
        free(self._rel_tab)
        free(self._h_sup)

    def __init__(self, live_cdf, pre_survival, answer_dt, talk_survival, talk_dt, p_live_answered,
                 amd_delay, wrapup, grace, horizons, weight, q_new, work_limit=DEFAULT_WORK_LIMIT):
        cdef const double[::1] lv, pv, tv, hv, wv, qv
        cdef Py_ssize_t kk, k, b
        live = np.ascontiguousarray(_table("live_cdf", live_cdf))
        pre = np.ascontiguousarray(_table("pre_survival", pre_survival))
        if live.shape[0] != pre.shape[0]:
            raise ValueError(
                f"live_cdf and pre_survival must have the same length, got {live.shape[0]} and {pre.shape[0]}"
            )
        self._adt = _step("answer_dt", answer_dt)
        talk = np.ascontiguousarray(_table("talk_survival", talk_survival))
        self._tdt = _step("talk_dt", talk_dt)
        self._pla = float(_probabilities("p_live_answered", [p_live_answered])[0])
        self._amd = _finite("amd_delay", amd_delay)
        self._wrap = _finite("wrapup", wrapup)
        self._grace = _finite("grace", grace)
        h = np.ascontiguousarray(_floats("horizons", horizons))
        kk = h.shape[0]
        if kk == 0:
            raise ValueError("horizons must not be empty")
        if not bool(np.all(np.isfinite(h))):
            raise ValueError(f"horizons must be finite, got {float(h[~np.isfinite(h)][0])!r}")
        w = np.ascontiguousarray(_probabilities("weight", _vector("weight", weight, kk)))
        q = np.ascontiguousarray(_probabilities("q_new", _vector("q_new", q_new, kk)))
        self._work_limit = int(work_limit)
        if self._work_limit < 0:
            raise ValueError(f"work_limit must be >= 0, got {self._work_limit}")
        self._arrays = (h, w, q)
        hv, wv, qv = h, w, q
        self._h, self._w, self._q = &hv[0], &wv[0], &qv[0]
        self._kk = kk
        self._a_last = live.shape[0] - 1
        self._t_last = talk.shape[0] - 1
        self._ainv = _recip_pow2(self._adt)
        self._tinv = _recip_pow2(self._tdt)
        free(self._ans_tab)
        free(self._rel_tab)
        free(self._h_sup)
        self._ans_tab = <double*>malloc((self._a_last + 1) * kk * sizeof(double))
        self._rel_tab = <double*>malloc((self._t_last + 1) * kk * sizeof(double))
        self._h_sup = <double*>malloc(kk * sizeof(double))
        if self._ans_tab == NULL or self._rel_tab == NULL or self._h_sup == NULL:
            raise MemoryError()
        lv, pv, tv = live, pre, talk
        with nogil:
            for k in range(kk):
                self._h_sup[k] = self._h[k] + self._grace
            for b in range(self._a_last + 1):
                for k in range(kk):
                    self._ans_tab[b * kk + k] = c_answer_p(&lv[0], &pv[0], self._a_last, self._adt,
                                                            b * self._adt, self._h[k] - self._amd)
            for b in range(self._t_last + 1):
                for k in range(kk):
                    self._rel_tab[b * kk + k] = c_release_p(&tv[0], self._t_last, self._tdt, b * self._tdt,
                                                             self._h_sup[k] - self._wrap)

    def decide(self, talk_elapsed, wrap_remaining, dialing_elapsed, answered_elapsed, ready, ringing,
               waiting, dialing, n_max, budget, rate):
        """One pacing decision: (n, n·M(n), p1, e0), see the twin's `PacingModel.decide`."""
        cdef Py_ssize_t nt = _seq_len("talk_elapsed", talk_elapsed)
        cdef Py_ssize_t nw = _seq_len("wrap_remaining", wrap_remaining)
        cdef Py_ssize_t nd = _seq_len("dialing_elapsed", dialing_elapsed)
        cdef Py_ssize_t na = _seq_len("answered_elapsed", answered_elapsed)
        n, b, r, _ = _check_budget(n_max, budget, rate, 0)
        cdef Py_ssize_t n_ready = ready, n_ringing = ringing, n_waiting = waiting, n_dialing = dialing
        cdef Py_ssize_t unstarted = n_dialing - nd
        if unstarted < 0:
            unstarted = 0
        cdef Py_ssize_t sure_wait = n_waiting - n_ringing
        if sure_wait < 0:
            sure_wait = 0
        cdef Py_ssize_t ringing_n = n_ringing if n_ringing > 0 else 0
        cdef Py_ssize_t total = nt + nw + nd + na
        cdef double* el = <double*>malloc((total if total > 0 else 1) * sizeof(double))
        if el == NULL:
            raise MemoryError()
        cdef _Workspace ws = _Workspace(self._kk)
        cdef bint exact
        try:
            _load(talk_elapsed, el, nt)
            _load(wrap_remaining, el + nt, nw)
            _load(dialing_elapsed, el + nt + nw, nd)
            _load(answered_elapsed, el + nt + nw + nd, na)
            with nogil:
                self._fill(ws.hs, el, nt, nw, nd, na, n_ready, ringing_n, sure_wait, unstarted, False)
                exact = _all_exact(ws.hs, self._kk, self._work_limit)
            if exact:
                ws.hold_items(na + nd + unstarted + nt + ringing_n)
                with nogil:
                    self._fill(ws.hs, el, nt, nw, nd, na, n_ready, ringing_n, sure_wait, unstarted, True)
        finally:
            free(el)
        return ws.run(self._w, self._q, n, b, r, self._work_limit)

    cdef void _fill(self, horizon_t* hs, const double* el, Py_ssize_t nt, Py_ssize_t nw, Py_ssize_t nd,
                    Py_ssize_t na, Py_ssize_t ready, Py_ssize_t ringing, Py_ssize_t sure_wait,
                    Py_ssize_t unstarted, bint keep) noexcept nogil:
        """The twin's per-horizon loops, item by item (each item's table row is found once),
        accumulating each horizon in the twin's order. keep = False: the moments and counts;
        keep = True (exact mode, after the first pass): the items themselves, in the same order."""
        cdef const double* talk = el
        cdef const double* wrap = el + nt
        cdef const double* dial = el + nt + nw
        cdef const double* ans = el + nt + nw + nd
        cdef Py_ssize_t kk = self._kk, k, i
        cdef double off
        cdef const double* row
        for k in range(kk):
            hs[k].n = 0
            if keep:
                continue
            off = <double>sure_wait - <double>ready
            for i in range(nw):
                if wrap[i] <= self._h_sup[k]:
                    off -= 1.0
            hs[k].sure = off
            hs[k].k1 = off
            hs[k].k2 = 0.0
            hs[k].k3 = 0.0
            for i in range(na):
                if self._amd - ans[i] <= self._h[k]:
                    _demand_m(&hs[k], self._pla)
        if keep:
            for k in range(kk):
                for i in range(na):
                    if self._amd - ans[i] <= self._h[k]:
                        _keep_demand(&hs[k], self._pla)
        for i in range(nd):
            row = self._ans_tab + _grid_index(dial[i], self._adt, self._ainv, self._a_last) * kk
            if keep:
                for k in range(kk):
                    _keep_demand(&hs[k], row[k])
            else:
                for k in range(kk):
                    _demand_m(&hs[k], row[k])
        row = self._ans_tab
        for k in range(kk):
            for i in range(unstarted):
                if keep:
                    _keep_demand(&hs[k], row[k])
                else:
                    _demand_m(&hs[k], row[k])
        for i in range(nt):
            row = self._rel_tab + _grid_index(talk[i], self._tdt, self._tinv, self._t_last) * kk
            if keep:
                for k in range(kk):
                    _keep_supply(&hs[k], row[k])
            else:
                for k in range(kk):
                    _supply_m(&hs[k], row[k])
        row = self._rel_tab
        for k in range(kk):
            for i in range(ringing):
                if keep:
                    _keep_supply(&hs[k], row[k])
                else:
                    _supply_m(&hs[k], row[k])
