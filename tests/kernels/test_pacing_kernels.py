"""Pacing kernels: both implementations, same numbers, and exact arithmetic for small cases.

References: `fractions.Fraction` for the Poisson-binomial DP, the interpolated conditional
probabilities and the dial-count optimiser (its marginals computed from exact distributions);
the compiled module against the pure twin on random inputs (hypothesis), to a relative 1e-9.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
from fractions import Fraction
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dialer.core.kernels as kernels
from dialer.core.kernels import pacing_py

REL = 1e-9
FUNCTIONS = [
    "PacingModel",
    "answer_probabilities",
    "dial_count",
    "poisson_binomial_cdf",
    "poisson_binomial_pmf",
    "poisson_binomial_window",
    "release_probabilities",
]


def compiled_pacing() -> ModuleType | None:
    try:
        return importlib.import_module("dialer._ext.pacing")
    except ImportError:
        return None


@pytest.fixture(params=["python", "cython"])
def pacing(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "python":
        return pacing_py
    module = compiled_pacing()
    if module is None:
        pytest.skip("dialer._ext.pacing is not built (installed with DIALER_NO_EXTENSIONS=1)")
    return module


def both() -> tuple[ModuleType, ModuleType]:
    module = compiled_pacing()
    if module is None:
        pytest.skip("dialer._ext.pacing is not built (installed with DIALER_NO_EXTENSIONS=1)")
    return pacing_py, module


def close(a: float, b: float, rel: float = REL, abs_: float = 1e-15) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def _switch_on(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


# ----------------------------------------------------------------------- the selector


def test_compiled_pacing_kernel_is_really_loaded() -> None:
    if _switch_on(os.environ.get("DIALER_NO_EXTENSIONS")):
        assert kernels.IMPLEMENTATIONS["pacing"] == "python"
        assert kernels.PacingModel is pacing_py.PacingModel
        return
    compiled = compiled_pacing()
    assert compiled is not None, "dialer._ext.pacing did not import: pip install -e '.[test]'"
    assert kernels.IMPLEMENTATIONS["pacing"] == "cython"
    for name in FUNCTIONS:
        assert getattr(kernels, name) is getattr(compiled, name), name


def test_twins_export_the_same_functions_and_signatures() -> None:
    pure, compiled = both()
    assert sorted(compiled.__all__) == sorted(pure.__all__) == FUNCTIONS
    assert set(FUNCTIONS) <= set(kernels.__all__)
    for name in FUNCTIONS:
        if name == "PacingModel":
            a, b = pure.PacingModel.decide, compiled.PacingModel.decide
        else:
            a, b = getattr(pure, name), getattr(compiled, name)
        assert list(inspect.signature(a).parameters) == list(inspect.signature(b).parameters), name


# ----------------------------------------------------------------------- exact references


def exact_pb(p: list[Fraction]) -> list[Fraction]:
    a = [Fraction(1)]
    for r in p:
        b = [Fraction(0)] * (len(a) + 1)
        for k, x in enumerate(a):
            b[k] += x * (1 - r)
            b[k + 1] += x * r
        a = b
    return a


def exact_interp(table: list[Fraction], dt: Fraction, t: Fraction) -> Fraction:
    if t <= 0:
        return table[0]
    x = t / dt
    n_last = len(table) - 1
    if x >= n_last:
        return table[n_last]
    i = math.floor(x)
    return table[i] + (table[i + 1] - table[i]) * (x - i)


def frac(x: float) -> Fraction:
    return Fraction(x)


probs = st.lists(st.floats(0.0, 1.0), min_size=0, max_size=30)


# ---------------------------------------------------------------- Poisson-binomial


@settings(max_examples=30, deadline=None)
@given(p=st.lists(st.floats(0.0, 1.0), min_size=0, max_size=10))
def test_pmf_equals_exact_arithmetic(p: list[float]) -> None:
    exact = exact_pb([frac(x) for x in p])
    for impl in (pacing_py, compiled_pacing() or pacing_py):
        got = impl.poisson_binomial_pmf(p)
        assert len(got) == len(p) + 1
        for g, e in zip(got, exact, strict=True):
            assert close(float(g), float(e), rel=1e-12, abs_=1e-15)


def test_pmf_and_cdf_small_cases(pacing: ModuleType) -> None:
    assert list(pacing.poisson_binomial_pmf([])) == [1.0]
    assert list(pacing.poisson_binomial_pmf([0.5, 0.5])) == [0.25, 0.5, 0.25]
    assert list(pacing.poisson_binomial_pmf([1.0, 0.0])) == [0.0, 1.0, 0.0]
    cdf = pacing.poisson_binomial_cdf([0.2, 0.5, 0.9])
    exact = exact_pb([Fraction(1, 5), Fraction(1, 2), Fraction(9, 10)])
    acc = Fraction(0)
    for c, e in zip(cdf, exact, strict=True):
        acc += e
        assert close(float(c), float(acc), rel=1e-15)


def test_window_is_the_whole_support_when_it_fits(pacing: ModuleType) -> None:
    p = [0.1, 0.35, 0.5, 0.77, 0.9]
    lo, pmf = pacing.poisson_binomial_window(p)
    assert lo == 0
    assert np.allclose(pmf, pacing.poisson_binomial_pmf(p), rtol=1e-15, atol=0)


def test_window_follows_the_mean_and_keeps_the_mass(pacing: ModuleType) -> None:
    p = [0.3] * 400 + [0.95] * 300
    lo, pmf = pacing.poisson_binomial_window(p)
    var = 400 * 0.3 * 0.7 + 300 * 0.95 * 0.05
    hw = math.ceil(7 * math.sqrt(var) + 6)
    assert len(pmf) == 2 * hw + 1
    mean = 400 * 0.3 + 300 * 0.95
    assert lo < mean < lo + len(pmf)
    assert math.isclose(float(pmf.sum()), 1.0, rel_tol=1e-12)
    full = pacing_py.poisson_binomial_pmf(p)
    # folding moves < 1e-11 of the mass, near the edges only: the window equals the exact pmf
    # to 1e-12 absolute everywhere, and to 1e-9 relative over its middle
    assert np.allclose(pmf, full[lo : lo + len(pmf)], rtol=0, atol=1e-12)
    mid = slice(hw // 2, len(pmf) - hw // 2)
    assert np.allclose(pmf[mid], full[lo : lo + len(pmf)][mid], rtol=1e-9, atol=0)
    assert math.isclose(float(pmf[0]), float(full[: lo + 1].sum()), rel_tol=0, abs_tol=1e-12)


def test_window_skips_certain_items(pacing: ModuleType) -> None:
    lo, pmf = pacing.poisson_binomial_window([1.0, 1.0, 0.0, 0.5])
    assert lo == 2 and list(pmf) == [0.5, 0.5]
    lo, pmf = pacing.poisson_binomial_window([0.5] * 10, half_width=0)  # one bin, following the mean
    assert lo == 5 and len(pmf) == 1 and pmf[0] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda k: k.poisson_binomial_pmf([0.5, 1.5]), "probabilities"),
        (lambda k: k.poisson_binomial_pmf([math.nan]), "probabilities"),
        (lambda k: k.poisson_binomial_window([0.5], -1), "half_width"),
        (lambda k: k.poisson_binomial_pmf([[0.5]]), "one-dimensional"),
    ],
)
def test_bad_probabilities_are_refused(pacing: ModuleType, call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(pacing)  # type: ignore[operator]


# -------------------------------------------------------- conditional probabilities

LIVE = [0.0, 0.0, 0.05, 0.1, 0.2, 0.25, 0.25]  # dt = 0.5
PRE = [1.0, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2]


def test_answer_probabilities_equal_exact_interpolation(pacing: ModuleType) -> None:
    dt = Fraction(1, 2)
    lf = [frac(x) for x in LIVE]
    sf = [frac(x) for x in PRE]
    elapsed = [0.0, 0.3, 0.5, 1.1, 2.9, 5.0, 7.0, -1.0]
    got = pacing.answer_probabilities(elapsed, 1.25, LIVE, PRE, 0.5)
    for e, g in zip(elapsed, got, strict=True):
        ef = max(frac(e), Fraction(0))
        want = (exact_interp(lf, dt, ef + frac(1.25)) - exact_interp(lf, dt, ef)) / exact_interp(sf, dt, ef)
        assert close(float(g), float(min(max(want, Fraction(0)), Fraction(1))), rel=1e-12), e
    assert list(pacing.answer_probabilities([1.0], 0.0, LIVE, PRE, 0.5)) == [0.0]
    assert list(pacing.answer_probabilities([1.0], -3.0, LIVE, PRE, 0.5)) == [0.0]
    # a call ringing longer than anyone was ever seen answering: survival 0, probability 0
    assert list(pacing.answer_probabilities([4.0], 1.0, LIVE, [1.0, 0.5, 0, 0, 0, 0, 0], 0.5)) == [0.0]


def test_release_probabilities_equal_exact_interpolation(pacing: ModuleType) -> None:
    surv = [1.0, 0.95, 0.8, 0.6, 0.4, 0.25, 0.1, 0.05]  # dt = 2 s, end = 14 s
    sf = [frac(x) for x in surv]
    dt = Fraction(2)
    got = pacing.release_probabilities([0.0, 1.0, 3.3, 9.0], 3.0, surv, 2.0)
    for e, g in zip([0.0, 1.0, 3.3, 9.0], got, strict=True):
        ef = frac(e)
        want = 1 - exact_interp(sf, dt, ef + 3) / exact_interp(sf, dt, ef)
        assert close(float(g), float(want), rel=1e-12), e
    # past the table: the last stretch's hazard, e moved back to end - h
    tail = pacing.release_probabilities([13.0, 100.0], 3.0, surv, 2.0)
    want = 1 - Fraction(surv[-1]) / exact_interp(sf, dt, Fraction(11))
    assert close(float(tail[0]), float(want), rel=1e-12) and close(float(tail[1]), float(want), rel=1e-12)
    assert list(pacing.release_probabilities([5.0], -1.0, surv, 2.0)) == [0.0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda k: k.answer_probabilities([1.0], 1.0, LIVE, PRE[:-1], 0.5), "same length"),
        (lambda k: k.answer_probabilities([1.0], 1.0, LIVE, PRE, 0.0), "dt"),
        (lambda k: k.answer_probabilities([1.0], math.inf, LIVE, PRE, 0.5), "horizon"),
        (lambda k: k.release_probabilities([1.0], 1.0, [], 1.0), "empty"),
        (lambda k: k.release_probabilities([1.0], 1.0, [1.0, -0.5], 1.0), "finite numbers >= 0"),
    ],
)
def test_bad_tables_are_refused(pacing: ModuleType, call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(pacing)  # type: ignore[operator]


# ------------------------------------------------------------------ the optimiser


def exact_dial_count(
    demand: list[list[float]], supply: list[list[float]], offset: list[int], weight: list[float],
    q_new: list[float], n_max: int, budget: float, rate: float,
) -> tuple[int, Fraction]:
    """The optimiser's definition, in exact arithmetic: X_k = sum Bern(d) - sum Bern(s) + offset,
    M(m) = sum_k w_k max_{j>=k} P(X_j + Bin(m-1, q_j) >= 0), the largest n with
    M(n) <= rate·sum(w) and n·M(n) <= budget."""
    kk = len(demand)
    dists = []
    for k in range(kk):
        items = [frac(x) for x in demand[k]] + [1 - frac(x) for x in supply[k]]
        pmf = exact_pb(items)
        base = offset[k] - len(supply[k])
        dists.append((base, pmf))
    w = [frac(x) for x in weight]
    wsum = sum(w, Fraction(0))

    def p_nonneg(k: int, m: int) -> Fraction:
        base, pmf = dists[k]
        b = exact_pb([frac(q_new[k])] * m)
        total = Fraction(0)
        for i, x in enumerate(pmf):
            for j, y in enumerate(b):
                if base + i + j >= 0:
                    total += x * y
        return total

    def marginal(m: int) -> Fraction:
        run = Fraction(0)
        total = Fraction(0)
        for k in range(kk - 1, -1, -1):
            run = max(run, p_nonneg(k, m - 1))
            total += w[k] * run
        return total

    n = 0
    added = Fraction(0)
    while n < n_max:
        m = marginal(n + 1)
        if (wsum > 0 and m > frac(rate) * wsum) or (n + 1) * m > frac(budget):
            break
        n += 1
        added = n * m
    return n, added


OPT_CASES = [
    # demand, supply, offset, weight, q_new, n_max, budget, rate
    ([[0.3, 0.6], [0.5, 0.8]], [[0.1], [0.4]], [-2, -2], [0.2, 0.1], [0.1, 0.3], 8, 10.0, 0.05),
    ([[0.9, 0.9, 0.2]], [[0.5, 0.5]], [-1], [0.3], [0.3], 6, 0.2, 1.0),
    ([[0.1], [0.2], [0.25]], [[0.05, 0.5], [0.2, 0.6], [0.3, 0.7]], [-3, -3, -4], [0.1, 0.1, 0.0], [0.05, 0.15, 0.2],
     12, 5.0, 0.02),
    ([[], []], [[], []], [-1, -1], [0.25, 0.25], [0.125, 0.375], 10, 1.0, 0.1),
]


@pytest.mark.parametrize("case", range(len(OPT_CASES)))
def test_dial_count_equals_exact_arithmetic(pacing: ModuleType, case: int) -> None:
    demand, supply, offset, weight, q_new, n_max, budget, rate = OPT_CASES[case]
    n, added, p1, e0 = pacing.dial_count(demand, supply, offset, weight, q_new, n_max, budget, rate)
    want_n, want_added = exact_dial_count(demand, supply, offset, weight, q_new, n_max, budget, rate)
    assert n == want_n
    assert close(added, float(want_added), rel=1e-12, abs_=1e-15)
    assert 0.0 <= p1 <= 1.0 and e0 >= 0.0


def test_dial_count_limits(pacing: ModuleType) -> None:
    args = ([[0.5]], [[0.5]], [-2], [0.3], [0.3])
    assert pacing.dial_count(*args, 0, 1.0, 1.0)[0] == 0
    assert pacing.dial_count(*args, 5, -1.0, 1.0)[0] == 0  # no budget: nothing
    assert pacing.dial_count(*args, 5, math.inf, math.inf)[0] == 5  # no limit but n_max
    # nobody will ever need an agent: every call is free, n_max it is
    assert pacing.dial_count([[0.5]], [[0.5]], [-2], [0.0], [0.0], 7, 0.0, 0.0)[0] == 7
    # a busier floor (more people waiting) never allows more calls
    counts = [pacing.dial_count([[0.5]], [[0.5]], [-5 + w], [0.3], [0.3], 50, 0.5, 0.05)[0] for w in range(6)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    with pytest.raises(ValueError, match="whole numbers"):
        pacing.dial_count(*args[:2], [-1.5], *args[3:], 3, 1.0, 1.0)
    with pytest.raises(ValueError, match="rate"):
        pacing.dial_count(*args, 3, 1.0, -1.0)
    with pytest.raises(ValueError, match="one value per horizon"):
        pacing.dial_count(*args[:2], [-1, -1], *args[3:], 3, 1.0, 1.0)


def test_normal_approximation_is_close_to_the_exact_distribution(pacing: ModuleType) -> None:
    rng = np.random.default_rng(0)
    demand = [list(rng.uniform(0, 0.3, 300)) for _ in range(3)]
    supply = [list(rng.uniform(0, 0.2, 400)) for _ in range(3)]
    offset = [-60, -62, -64]
    args = (demand, supply, offset, [0.1, 0.1, 0.1], [0.05, 0.15, 0.25], 2000, math.inf, 0.05)
    exact = pacing.dial_count(*args, work_limit=10**9)
    approx = pacing.dial_count(*args, work_limit=0)
    assert exact[0] > 10
    assert abs(exact[0] - approx[0]) <= max(2, 0.03 * exact[0])
    assert approx[3] == pytest.approx(exact[3], rel=0.2, abs=0.02)


# ------------------------------------------------------------------ the decision


def make_model(impl: ModuleType, work_limit: int = 20_000) -> object:
    dt = 0.5
    t = np.arange(241) * dt
    live = 0.27 * np.clip((t - 2.0) / 10.0, 0.0, 1.0)
    pre = np.clip(1.0 - live / 0.27 * 0.45 - 0.2 * np.clip(t / 2.0, 0.0, 1.0), 0.0, 1.0)
    pre[t >= 30.0] = 0.0
    talk = [0.5 * math.erfc((math.log(j) - math.log(160.0)) / (0.5 * math.sqrt(2))) if j else 1.0 for j in range(1025)]
    h = [3.7, 5.4, 7.1, 8.7, 10.4, 12.1, 13.6, 14.1]
    w = [0.27 / 6] * 6 + [0.0, 0.0]
    q = [0.27 * (k + 0.5) / 6 for k in range(6)] + [0.256, 0.269]
    return impl.PacingModel(live, pre, dt, talk, 1.0, 0.6, 2.2, 10.0, 1.5, h, w, q, work_limit)


def view_for(rng: np.random.Generator, agents: int) -> tuple:
    busy = int(agents * 0.9)
    talk = tuple(float(x) for x in rng.uniform(0, 400, busy))
    wrap = tuple(float(x) for x in rng.uniform(0, 10, agents // 20))
    ready = max(0, agents - busy - len(wrap))
    dial = tuple(float(x) for x in rng.uniform(0, 30, int(agents * 0.3) + 1))
    ans = tuple(float(x) for x in rng.uniform(0, 2.5, agents // 25))
    return (talk, wrap, dial, ans, ready, min(1, ready), 1, len(dial) + 1)


@pytest.mark.parametrize("agents", [1, 5, 25, 100, 1000, 5000])
def test_decisions_agree_compiled_and_pure(agents: int) -> None:
    pure, compiled = both()
    rng = np.random.default_rng(agents)
    for work_limit in (20_000, 0, 10**9) if agents <= 100 else (20_000,):
        v = view_for(rng, agents)
        a = make_model(pure, work_limit).decide(*v, 10_000, 1e6, 0.02)  # type: ignore[attr-defined]
        b = make_model(compiled, work_limit).decide(*v, 10_000, 1e6, 0.02)  # type: ignore[attr-defined]
        assert a[0] == b[0]
        for x, y in zip(a[1:], b[1:], strict=True):
            assert close(x, y, abs_=1e-12)


def test_the_decision_accepts_tuples_lists_and_arrays(pacing: ModuleType) -> None:
    model = make_model(pacing)
    v = view_for(np.random.default_rng(3), 40)
    as_lists = tuple(list(x) if isinstance(x, tuple) else x for x in v)
    as_arrays = tuple(np.array(x) if isinstance(x, tuple) else x for x in v)
    want = model.decide(*v, 100, 5.0, 0.02)  # type: ignore[attr-defined]
    assert model.decide(*as_lists, 100, 5.0, 0.02) == want  # type: ignore[attr-defined]
    assert model.decide(*as_arrays, 100, 5.0, 0.02) == want  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        model.decide(5, *v[1:], 100, 5.0, 0.02)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        model.decide(("x",), *v[1:], 100, 5.0, 0.02)  # type: ignore[attr-defined]


def test_the_decision_reacts_to_the_floor(pacing: ModuleType) -> None:
    model = make_model(pacing)
    talk = tuple([120.0] * 20)
    idle = model.decide(talk, (), (), (), 5, 0, 0, 0, 100, math.inf, 0.02)[0]  # type: ignore[attr-defined]
    flooded = model.decide(talk, (), (), (), 0, 0, 6, 0, 100, math.inf, 0.02)[0]  # type: ignore[attr-defined]
    wrapping = model.decide(talk, (3.0, 4.0), (), (), 0, 0, 0, 0, 100, math.inf, 0.02)[0]  # type: ignore[attr-defined]
    assert idle > wrapping > flooded == 0
    # agents in wrap-up that end long after the horizons are no help
    late = model.decide(talk, (60.0, 60.0), (), (), 0, 0, 0, 0, 100, math.inf, 0.02)[0]  # type: ignore[attr-defined]
    assert late < wrapping


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizons": []}, "empty"),
        ({"weight": [0.1]}, "one value per horizon"),
        ({"p_live_answered": 1.2}, "probabilities"),
        ({"talk_dt": 0.0}, "talk_dt"),
        ({"grace": math.nan}, "grace"),
    ],
)
def test_bad_models_are_refused(pacing: ModuleType, kwargs: dict, match: str) -> None:
    base = {
        "live_cdf": LIVE, "pre_survival": PRE, "answer_dt": 0.5, "talk_survival": [1.0, 0.5, 0.0], "talk_dt": 1.0,
        "p_live_answered": 0.5, "amd_delay": 2.0, "wrapup": 10.0, "grace": 1.5, "horizons": [3.0, 6.0],
        "weight": [0.1, 0.1], "q_new": [0.05, 0.15],
    }
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        pacing.PacingModel(**base)


# ------------------------------------------------------------ property tests: twins agree

unit = st.floats(0.0, 1.0)
elapsed = st.one_of(st.floats(-5.0, 2000.0), st.just(math.nan))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=st.lists(unit, max_size=120), hw=st.one_of(st.none(), st.integers(0, 40)))
def test_property_pb_window(p: list[float], hw: int | None) -> None:
    pure, compiled = both()
    lo_a, a = pure.poisson_binomial_window(p, hw)
    lo_b, b = compiled.poisson_binomial_window(p, hw)
    assert lo_a == lo_b and len(a) == len(b)
    assert np.allclose(a, b, rtol=REL, atol=1e-300)
    assert np.allclose(pure.poisson_binomial_cdf(p), compiled.poisson_binomial_cdf(p), rtol=REL, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(
    e=st.lists(elapsed, max_size=40),
    h=st.floats(-10.0, 60.0),
    table=st.lists(unit, min_size=1, max_size=50),
    dt=st.floats(0.01, 10.0),
)
def test_property_conditional_probabilities(e: list[float], h: float, table: list[float], dt: float) -> None:
    pure, compiled = both()
    surv = sorted(table, reverse=True)
    live = sorted(x * 0.3 for x in table)
    assert np.allclose(pure.release_probabilities(e, h, surv, dt), compiled.release_probabilities(e, h, surv, dt),
                       rtol=REL, atol=1e-15)
    assert np.allclose(pure.answer_probabilities(e, h, live, surv, dt),
                       compiled.answer_probabilities(e, h, live, surv, dt), rtol=REL, atol=1e-15)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    kk=st.integers(1, 5),
    nd=st.integers(0, 25),
    ns=st.integers(0, 25),
    n_max=st.integers(0, 60),
    budget=st.floats(-1.0, 20.0),
    rate=st.floats(0.0, 1.0),
    work_limit=st.sampled_from([0, 50, 20_000]),
)
def test_property_dial_count(data: st.DataObject, kk: int, nd: int, ns: int, n_max: int, budget: float,
                             rate: float, work_limit: int) -> None:
    pure, compiled = both()
    demand = [data.draw(st.lists(unit, min_size=nd, max_size=nd)) for _ in range(kk)]
    supply = [data.draw(st.lists(unit, min_size=ns, max_size=ns)) for _ in range(kk)]
    offset = data.draw(st.lists(st.integers(-30, 5), min_size=kk, max_size=kk))
    weight = data.draw(st.lists(st.floats(0.0, 0.5), min_size=kk, max_size=kk))
    q_new = data.draw(st.lists(unit, min_size=kk, max_size=kk))
    a = pure.dial_count(demand, supply, offset, weight, q_new, n_max, budget, rate, work_limit)
    b = compiled.dial_count(demand, supply, offset, weight, q_new, n_max, budget, rate, work_limit)
    assert a[0] == b[0]
    for x, y in zip(a[1:], b[1:], strict=True):
        assert close(x, y, abs_=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    agents=st.integers(1, 60),
    work_limit=st.sampled_from([0, 20_000]),
    rate=st.floats(0.0, 0.5),
    budget=st.floats(0.0, 10.0),
)
def test_property_decision(data: st.DataObject, agents: int, work_limit: int, rate: float, budget: float) -> None:
    pure, compiled = both()
    seed = data.draw(st.integers(0, 2**32 - 1))
    v = view_for(np.random.default_rng(seed), agents)
    extra = data.draw(st.lists(elapsed, max_size=3))
    v = (v[0] + tuple(extra), *v[1:])
    a = make_model(pure, work_limit).decide(*v, 500, budget, rate)  # type: ignore[attr-defined]
    b = make_model(compiled, work_limit).decide(*v, 500, budget, rate)  # type: ignore[attr-defined]
    assert a[0] == b[0]
    for x, y in zip(a[1:], b[1:], strict=True):
        assert close(x, y, abs_=1e-12)
