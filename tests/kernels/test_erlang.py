"""Erlang B/C, M/M/c waiting and Erlang-A kernels: both implementations, same numbers.

Reference values come from three independent places: the check values of the brief
(computed at 50 digits), exact rational arithmetic with `fractions.Fraction` (the factorial
formulas for Erlang B/C, a truncated birth-death chain for Erlang-A), and identities of the
queues (M/M/1, Little's law, limits).
"""

from __future__ import annotations

import math
from fractions import Fraction
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.core.kernels import erlang_py

from .conftest import compiled_erlang

REL = 1e-12


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


# ------------------------------------------------------------------------ exact references


def exact_erlang_b(c: int, a: Fraction) -> Fraction:
    """(A^c/c!) / sum_{k<=c} A^k/k!, exactly."""
    term = Fraction(1)
    total = Fraction(1)
    for k in range(1, c + 1):
        term = term * a / k
        total += term
    return term / total


def exact_erlang_c(c: int, a: Fraction) -> Fraction:
    """(A^c/c! · c/(c-A)) / (sum_{k<c} A^k/k! + A^c/c! · c/(c-A)), exactly."""
    if a >= c:
        return Fraction(1)
    term = Fraction(1)
    head = Fraction(0)
    for k in range(c):
        head += term
        term = term * a / (k + 1)
    top = term * c / (c - a)
    return top / (head + top)


def exact_erlang_b_integer_load(c: int, a: int) -> Fraction:
    """Erlang B for an integer load with big integers only: B = A^c / U_c, where
    U_m = sum_{k<=m} A^k·m!/k! = m·U_{m-1} + A^m. Fast enough for c = 10,000."""
    u = 1
    power = 1
    for m in range(1, c + 1):
        power *= a
        u = m * u + power
    return Fraction(power, u)


def exact_erlang_a(
    n: int, lam: Fraction, mu: Fraction, theta: Fraction, extra: int
) -> tuple[Fraction, Fraction, Fraction]:
    """M/M/n+M from its birth-death chain, truncated `extra` states above n (pick `extra` so
    the neglected tail is far below a double's resolution)."""
    weights = [Fraction(1)]
    for k in range(1, n + extra + 1):
        death = min(k, n) * mu + max(k - n, 0) * theta
        weights.append(weights[-1] * lam / death)
    total = sum(weights, Fraction(0))
    p_wait = sum(weights[n:], Fraction(0)) / total  # PASTA
    queue = sum(((k - n) * w for k, w in enumerate(weights) if k > n), Fraction(0)) / total
    p_ab = theta * queue / lam  # abandonment rate over arrival rate
    return p_wait, p_ab, queue / lam  # Little: E[W] = E[Q]/lambda


# ------------------------------------------------------------------------- check values


def test_erlang_c_check_values(erlang: ModuleType) -> None:
    assert close(erlang.erlang_c(50, 45.0), 0.36386446720698839)
    assert close(erlang.erlang_c(1000, 950.0), 0.068253415377141424)


def test_erlang_a_check_values(erlang: ModuleType) -> None:
    # 50 agents, 45 Erlangs offered, AHT 180 s, mean patience 60 s.
    p_wait, p_ab, mean_wait = erlang.erlang_a(50, 45 / 180, 1 / 180, 1 / 60)
    assert close(p_wait, 0.190915281322220462, rel=1e-11)
    assert close(p_ab, 0.030208305021174516, rel=1e-11)
    assert close(mean_wait, 1.8124983012704709, rel=1e-11)
    assert round(p_wait, 12) == 0.190915281322
    assert round(p_ab, 13) == 0.0302083050212


def test_erlang_c_ten_thousand_servers_is_exact(erlang: ModuleType) -> None:
    c, a = 10_000, 9_500
    expected_b = exact_erlang_b_integer_load(c, a)
    expected_c = c * expected_b / (c - a * (1 - expected_b))
    got_b = erlang.erlang_b(c, float(a))
    got_c = erlang.erlang_c(c, float(a))
    assert math.isfinite(got_c) and 0.0 < got_c < 1.0
    assert close(got_b, float(expected_b), rel=1e-11)
    assert close(got_c, float(expected_c), rel=1e-11)


def test_erlang_c_thousand_servers_is_exact(erlang: ModuleType) -> None:
    expected_b = exact_erlang_b_integer_load(1000, 950)
    expected_c = 1000 * expected_b / (1000 - 950 * (1 - expected_b))
    assert close(erlang.erlang_c(1000, 950.0), float(expected_c))


def test_large_systems_are_finite(erlang: ModuleType) -> None:
    for c in (10_000, 20_000, 100_000):
        for rho in (0.01, 0.5, 0.9, 0.99, 0.999999):
            b = erlang.erlang_b(c, rho * c)
            cc = erlang.erlang_c(c, rho * c)
            assert 0.0 <= b <= cc <= 1.0
        assert erlang.erlang_b(c, 10.0) == 0.0  # underflows, honestly
    p_wait, p_ab, mean_wait = erlang.erlang_a(10_000, 9_990 / 60, 1 / 60, 1 / 30)
    assert 0.0 < p_ab < p_wait < 1.0 and math.isfinite(mean_wait)


# -------------------------------------------------------------- exact small Erlang B and C

SMALL_LOADS = [0.001, 0.1, 0.5, 1.0, 2.75, 3.7, 9.99, 12.25, 17.0, 24.6, 29.9, 30.0, 47.5]


@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 13, 21, 30])
@pytest.mark.parametrize("load", SMALL_LOADS)
def test_erlang_b_and_c_match_factorial_formula(erlang: ModuleType, c: int, load: float) -> None:
    a = Fraction(load)  # the exact binary value of the float the kernel sees
    assert close(erlang.erlang_b(c, load), float(exact_erlang_b(c, a)), rel=1e-13)
    assert close(erlang.erlang_c(c, load), float(exact_erlang_c(c, a)), rel=1e-13)


@pytest.mark.parametrize(
    ("n", "lam", "mu", "theta"),
    [
        (1, 0.5, 1.0, 0.5),
        (1, 2.0, 1.0, 1.0),  # overloaded, stable through abandonment
        (2, 1.5, 1.0, 0.25),
        (3, 2.5, 1.0, 4.0),  # impatient: x < 1
        (4, 3.75, 1.0, 0.125),
        (5, 12.0, 1.0, 2.0),  # heavy overload: the continued-fraction branch
        (5, 2.0, 0.5, 0.0625),
    ],
)
def test_erlang_a_matches_birth_death_chain(
    erlang: ModuleType, n: int, lam: float, mu: float, theta: float
) -> None:
    got = erlang.erlang_a(n, lam, mu, theta)
    expected = exact_erlang_a(n, Fraction(lam), Fraction(mu), Fraction(theta), extra=400)
    for g, e in zip(got, expected, strict=True):
        assert close(g, float(e), rel=1e-12)


# --------------------------------------------------------------------------- edge cases


def test_zero_load(erlang: ModuleType) -> None:
    assert erlang.erlang_b(0, 0.0) == 1.0
    assert erlang.erlang_c(0, 0.0) == 1.0
    for c in (1, 2, 50, 10_000):
        assert erlang.erlang_b(c, 0.0) == 0.0
        assert erlang.erlang_c(c, 0.0) == 0.0
        assert erlang.mmc_wait_probability(c, 0.0, 1.0, 0.0) == 0.0
        assert erlang.mmc_asa(c, 0.0, 1.0) == 0.0
        assert erlang.erlang_a(c, 0.0, 1.0, 0.5) == (0.0, 0.0, 0.0)


def test_zero_servers(erlang: ModuleType) -> None:
    assert erlang.erlang_b(0, 3.0) == 1.0
    assert erlang.erlang_c(0, 3.0) == 1.0
    assert erlang.mmc_asa(0, 1.0, 1.0) == math.inf
    assert erlang.erlang_a(0, 1.0, 1.0, 0.5) == (1.0, 1.0, 2.0)


@pytest.mark.parametrize("c", [1, 2, 50, 1000])
@pytest.mark.parametrize("excess", [0.0, 1e-9, 1.0, 1e6])
def test_load_at_or_above_servers_always_waits(erlang: ModuleType, c: int, excess: float) -> None:
    load = c + excess
    assert erlang.erlang_c(c, load) == 1.0
    assert erlang.mmc_wait_probability(c, load, 1.0, 0.0) == 1.0
    assert erlang.mmc_wait_probability(c, load, 1.0, 100.0) == 1.0
    assert erlang.mmc_asa(c, load, 1.0) == math.inf
    assert erlang.erlang_a(c, load, 1.0, 0.0) == (1.0, 0.0, math.inf)
    assert 0.0 < erlang.erlang_b(c, load) < 1.0


@pytest.mark.parametrize("load", [0.0, 1e-12, 0.3, 0.9, 0.999999])
def test_single_server(erlang: ModuleType, load: float) -> None:
    assert close(erlang.erlang_b(1, load), load / (1 + load), rel=1e-15)
    assert close(erlang.erlang_c(1, load), load, rel=1e-15)


@pytest.mark.parametrize(("lam", "mu", "t"), [(0.5, 1.0, 0.0), (0.5, 1.0, 2.0), (0.9, 2.0, 7.5)])
def test_mm1_closed_forms(erlang: ModuleType, lam: float, mu: float, t: float) -> None:
    rho = lam / mu
    assert close(erlang.mmc_wait_probability(1, lam, mu, t), rho * math.exp(-(mu - lam) * t))
    assert close(erlang.mmc_asa(1, lam, mu), rho / (mu - lam))


def test_mmc_wait_probability_tail(erlang: ModuleType) -> None:
    lam, mu, c = 45 / 180, 1 / 180, 50
    p_wait = erlang.erlang_c(c, 45.0)
    assert erlang.mmc_wait_probability(c, lam, mu, 0.0) == p_wait
    assert close(erlang.mmc_wait_probability(c, lam, mu, 20.0), p_wait * math.exp(-5 / 180 * 20))
    assert erlang.mmc_wait_probability(c, lam, mu, math.inf) == 0.0
    assert close(erlang.mmc_asa(c, lam, mu), p_wait / (5 / 180))


def test_erlang_a_infinite_patience_is_erlang_c(erlang: ModuleType) -> None:
    p_wait, p_ab, mean_wait = erlang.erlang_a(50, 45 / 180, 1 / 180, 0.0)
    assert p_wait == erlang.erlang_c(50, 45.0)
    assert p_ab == 0.0
    assert mean_wait == erlang.mmc_asa(50, 45 / 180, 1 / 180)


def test_erlang_a_tends_to_erlang_c_as_patience_grows(erlang: ModuleType) -> None:
    p_wait, p_ab, mean_wait = erlang.erlang_a(50, 45 / 180, 1 / 180, 1e-9)
    assert close(p_wait, erlang.erlang_c(50, 45.0), rel=1e-5)
    assert close(mean_wait, erlang.mmc_asa(50, 45 / 180, 1 / 180), rel=1e-5)
    assert close(p_ab, 1e-9 * erlang.mmc_asa(50, 45 / 180, 1 / 180), rel=1e-5)


def test_erlang_a_tends_to_erlang_b_as_patience_vanishes(erlang: ModuleType) -> None:
    p_wait, p_ab, _ = erlang.erlang_a(50, 45 / 180, 1 / 180, 1e9)
    e = erlang.erlang_b(50, 45.0)
    assert close(p_wait, e, rel=1e-6)
    assert close(p_ab, e, rel=1e-6)


@pytest.mark.parametrize("overload", [1.5, 10.0, 1000.0, 1e6])
def test_erlang_a_heavy_overload(erlang: ModuleType, overload: float) -> None:
    """Only abandonment keeps the queue stable; at most n·mu/lambda of callers get served."""
    n, mu, theta = 20, 1 / 180, 1 / 30
    lam = overload * n * mu
    p_wait, p_ab, mean_wait = erlang.erlang_a(n, lam, mu, theta)
    assert 0.0 < p_wait <= 1.0
    assert 1.0 - 1.0 / overload <= p_ab <= 1.0
    assert close(mean_wait, p_ab / theta, rel=1e-15)


def test_erlang_a_region_boundary_is_continuous(erlang: ModuleType) -> None:
    """lambda/theta = n·mu/theta + 1 is where the series hands over to the continued
    fraction: both sides must meet."""
    n, mu, theta = 30, 1.0, 0.25  # x = 120
    edge = (n * mu / theta + 1.0) * theta
    below = erlang.erlang_a(n, edge * (1 - 1e-12), mu, theta)
    above = erlang.erlang_a(n, edge, mu, theta)
    for b, a in zip(below, above, strict=True):
        assert close(b, a, rel=1e-10)


@pytest.mark.parametrize("x", [0.05, 0.5, 1.0, 3.0, 17.0, 100.0, 1e3, 1e4, 1e5, 1e6])
@pytest.mark.parametrize("beyond", [0.0, 1e-9, 0.5, 2.0, 10.0, 50.0])
def test_erlang_a_series_and_continued_fraction_agree(x: float, beyond: float) -> None:
    """Both evaluations of A(x, y) (the twin's private helpers; the compiled module runs
    the same code) agree where both are valid."""
    y = x + 1.0 + beyond
    inv_a_s, cond_s = erlang_py._tail_series(x, y)
    inv_a_g, cond_g = erlang_py._tail_gamma(x, y)
    assert close(inv_a_s, inv_a_g, rel=1e-13)
    assert close(cond_s, cond_g, rel=1e-13)


# ------------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize("load", [-1.0, -1e-300, math.nan, math.inf])
def test_bad_load(erlang: ModuleType, load: float) -> None:
    with pytest.raises(ValueError, match="load"):
        erlang.erlang_b(5, load)
    with pytest.raises(ValueError, match="load"):
        erlang.erlang_c(5, load)
    with pytest.raises(ValueError, match="load"):
        erlang.erlang_c_array([5], load)


def test_bad_servers(erlang: ModuleType) -> None:
    with pytest.raises(ValueError, match="servers"):
        erlang.erlang_c(-1, 1.0)
    with pytest.raises(ValueError, match="servers"):
        erlang.erlang_a(-1, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="servers"):
        erlang.erlang_b_array([3, -1], 1.0)
    with pytest.raises(TypeError):
        erlang.erlang_c(5.0, 1.0)
    with pytest.raises(TypeError):
        erlang.erlang_c(5, "1.0")
    with pytest.raises(TypeError):
        erlang.erlang_c_array([5.0, 6.0], 1.0)


def test_bad_rates(erlang: ModuleType) -> None:
    with pytest.raises(ValueError, match="service_rate"):
        erlang.mmc_asa(5, 1.0, 0.0)
    with pytest.raises(ValueError, match="arrival_rate"):
        erlang.mmc_wait_probability(5, -1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="t must"):
        erlang.mmc_wait_probability(5, 1.0, 1.0, -0.5)
    with pytest.raises(ValueError, match="t must"):
        erlang.mmc_wait_probability(5, 1.0, 1.0, math.nan)
    with pytest.raises(ValueError, match="abandon_rate"):
        erlang.erlang_a(5, 1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="abandon_rate"):
        erlang.erlang_a(5, 1.0, 1.0, math.inf)
    with pytest.raises(ValueError, match="service_rate"):
        erlang.erlang_a(5, 1.0, math.inf, 1.0)


def test_numpy_scalars_and_keywords_accepted(erlang: ModuleType) -> None:
    assert erlang.erlang_c(np.int64(50), np.float64(45.0)) == erlang.erlang_c(50, 45.0)
    assert erlang.erlang_c(servers=50, load=45) == erlang.erlang_c(50, 45.0)
    assert erlang.erlang_a(
        servers=50, arrival_rate=0.25, service_rate=1 / 180, abandon_rate=1 / 60
    ) == erlang.erlang_a(50, 0.25, 1 / 180, 1 / 60)


# ------------------------------------------------------------------------------- arrays


def test_arrays_match_scalars(erlang: ModuleType) -> None:
    servers = np.array([[0, 1, 7], [50, 45, 1000]], dtype=np.int32)
    for load in (0.0, 0.5, 45.0, 950.0):
        b = erlang.erlang_b_array(servers, load)
        c = erlang.erlang_c_array(servers, load)
        assert b.shape == c.shape == servers.shape
        assert b.dtype == c.dtype == np.float64
        for idx in np.ndindex(servers.shape):
            assert b[idx] == erlang.erlang_b(int(servers[idx]), load)
            assert c[idx] == erlang.erlang_c(int(servers[idx]), load)


def test_arrays_accept_lists_and_empty(erlang: ModuleType) -> None:
    assert erlang.erlang_c_array([50, 1000], 45.0).tolist() == [
        erlang.erlang_c(50, 45.0),
        erlang.erlang_c(1000, 45.0),
    ]
    empty = erlang.erlang_b_array(np.array([], dtype=np.int64), 3.0)
    assert empty.shape == (0,)


# ------------------------------------------------------- properties, and the two twins agree


def agree(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)


def _compiled() -> ModuleType:
    module = compiled_erlang()
    if module is None:
        pytest.skip("dialer._ext.erlang is not built (installed with DIALER_NO_EXTENSIONS=1)")
    return module


servers_st = st.integers(min_value=1, max_value=3000)
utilisation = st.floats(min_value=0.0, max_value=1.5, allow_nan=False)
PROPERTY = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(c=servers_st, rho=utilisation)
def test_compiled_and_pure_agree_erlang_b_c(c: int, rho: float) -> None:
    compiled = _compiled()
    load = rho * c
    assert agree(compiled.erlang_b(c, load), erlang_py.erlang_b(c, load))
    assert agree(compiled.erlang_c(c, load), erlang_py.erlang_c(c, load))


@PROPERTY
@given(
    c=servers_st,
    rho=utilisation,
    aht=st.floats(min_value=1.0, max_value=3600.0),
    t=st.floats(min_value=0.0, max_value=600.0),
)
def test_compiled_and_pure_agree_mmc(c: int, rho: float, aht: float, t: float) -> None:
    compiled = _compiled()
    mu = 1.0 / aht
    lam = rho * c * mu
    assert agree(
        compiled.mmc_wait_probability(c, lam, mu, t), erlang_py.mmc_wait_probability(c, lam, mu, t)
    )
    assert agree(compiled.mmc_asa(c, lam, mu), erlang_py.mmc_asa(c, lam, mu))


@PROPERTY
@given(
    n=servers_st,
    rho=st.floats(min_value=0.0, max_value=5.0),
    aht=st.floats(min_value=1.0, max_value=3600.0),
    patience_over_aht=st.floats(min_value=0.01, max_value=100.0),
)
def test_compiled_and_pure_agree_erlang_a(
    n: int, rho: float, aht: float, patience_over_aht: float
) -> None:
    compiled = _compiled()
    mu = 1.0 / aht
    theta = mu / patience_over_aht
    lam = rho * n * mu
    got = compiled.erlang_a(n, lam, mu, theta)
    ref = erlang_py.erlang_a(n, lam, mu, theta)
    for g, r in zip(got, ref, strict=True):
        assert agree(g, r)


@PROPERTY
@given(
    c=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
    load=st.floats(min_value=0.0, max_value=4000.0),
)
def test_compiled_and_pure_agree_arrays(c: list[int], load: float) -> None:
    compiled = _compiled()
    servers = np.array(c, dtype=np.int64)
    for name in ("erlang_b_array", "erlang_c_array"):
        got = getattr(compiled, name)(servers, load)
        ref = getattr(erlang_py, name)(servers, load)
        assert np.allclose(got, ref, rtol=1e-9, atol=1e-300)


@PROPERTY
@given(c=st.integers(min_value=1, max_value=500), rho=utilisation)
def test_erlang_b_c_ordering(c: int, rho: float) -> None:
    """0 <= B <= C <= 1, and both fall as servers are added (twin only: cheap)."""
    load = rho * c
    b, cc = erlang_py.erlang_b(c, load), erlang_py.erlang_c(c, load)
    assert 0.0 <= b <= cc <= 1.0
    assert erlang_py.erlang_b(c + 1, load) <= b
    assert erlang_py.erlang_c(c + 1, load) <= cc


@PROPERTY
@given(
    n=st.integers(min_value=1, max_value=300),
    rho=st.floats(min_value=0.01, max_value=5.0),
    patience_over_aht=st.floats(min_value=0.01, max_value=100.0),
)
def test_erlang_a_sanity(n: int, rho: float, patience_over_aht: float) -> None:
    """0 <= P(Ab) <= P(W>0) <= 1, served traffic within capacity, Little's law."""
    mu = 1.0
    theta = mu / patience_over_aht
    lam = rho * n * mu
    p_wait, p_ab, mean_wait = erlang_py.erlang_a(n, lam, mu, theta)
    assert 0.0 <= p_ab <= p_wait <= 1.0
    assert lam * (1.0 - p_ab) <= n * mu * (1.0 + 1e-12)
    assert math.isclose(mean_wait, p_ab / theta, rel_tol=1e-15)
