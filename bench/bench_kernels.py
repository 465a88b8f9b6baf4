"""Erlang kernels: compiled (dialer._ext.erlang) against the pure twin, and pyworkforce's
Erlang C as a peer baseline (same recurrence, plain Python).

Run:  python -m pytest bench/bench_kernels.py --benchmark-enable
(with --benchmark-disable, the default in pyproject, each case runs once as a smoke test.)

pyworkforce is in the project's `bench` extra (`pip install -e '.[bench]'`), not a runtime dependency; its
cases are skipped, saying why, when it does not import. Every case first checks that the
implementation under test gives the reference answer, so a fast wrong kernel cannot score.
Results and the exact command: bench/RESULTS.md.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dialer.core.kernels import erlang_py

erlang_cy: ModuleType | None
try:
    erlang_cy = importlib.import_module("dialer._ext.erlang")
except ImportError:  # built with DIALER_NO_EXTENSIONS=1
    erlang_cy = None

IMPLEMENTATIONS = ["cython", "python"]


def _impl(name: str) -> ModuleType:
    if name == "python":
        return erlang_py
    if erlang_cy is None:
        pytest.skip("dialer._ext.erlang is not built (installed with DIALER_NO_EXTENSIONS=1)")
    return erlang_cy


def _pyworkforce_erlang_c(servers: int, load: float) -> Callable[[], float]:
    try:
        from pyworkforce.queuing import ErlangC
    except Exception as exc:  # ImportError, or a broken dependency of its package __init__
        pytest.skip(f"pyworkforce does not import: {exc!r}")
    # intensity = transactions / interval * aht = load Erlangs
    model = ErlangC(transactions=load, aht=1.0, asa=1.0, interval=1)
    return lambda: model.waiting_probability(servers)


# --------------------------------------------------------------------------- Erlang C


@pytest.mark.parametrize(("servers", "load"), [(50, 45.0), (1000, 950.0), (10_000, 9500.0)])
@pytest.mark.parametrize("impl", [*IMPLEMENTATIONS, "pyworkforce"])
def test_erlang_c(benchmark: Any, impl: str, servers: int, load: float) -> None:
    benchmark.group = f"erlang_c c={servers}"
    expected = erlang_py.erlang_c(servers, load)
    if impl == "pyworkforce":
        fn = _pyworkforce_erlang_c(servers, load)
        got = benchmark(fn)
    else:
        got = benchmark(_impl(impl).erlang_c, servers, load)
    assert math.isclose(got, expected, rel_tol=1e-9)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_erlang_b(benchmark: Any, impl: str) -> None:
    benchmark.group = "erlang_b c=1000"
    got = benchmark(_impl(impl).erlang_b, 1000, 950.0)
    assert math.isclose(got, erlang_py.erlang_b(1000, 950.0), rel_tol=1e-9)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_erlang_c_array(benchmark: Any, impl: str) -> None:
    """Staffing sweep: Erlang C for every c in 1..1000 at 950 Erlangs, one recurrence."""
    benchmark.group = "erlang_c_array c=1..1000"
    servers = np.arange(1, 1001)
    got = benchmark(_impl(impl).erlang_c_array, servers, 950.0)
    assert math.isclose(got[-1], erlang_py.erlang_c(1000, 950.0), rel_tol=1e-9)


# ------------------------------------------------------------------------- M/M/c waiting


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mmc_wait_probability(benchmark: Any, impl: str) -> None:
    benchmark.group = "mmc_wait_probability c=50 t=20s"
    got = benchmark(_impl(impl).mmc_wait_probability, 50, 45 / 180, 1 / 180, 20.0)
    assert math.isclose(
        got, erlang_py.mmc_wait_probability(50, 45 / 180, 1 / 180, 20.0), rel_tol=1e-9
    )


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mmc_asa(benchmark: Any, impl: str) -> None:
    benchmark.group = "mmc_asa c=50"
    got = benchmark(_impl(impl).mmc_asa, 50, 45 / 180, 1 / 180)
    assert math.isclose(got, erlang_py.mmc_asa(50, 45 / 180, 1 / 180), rel_tol=1e-9)


# ------------------------------------------------------------------------------ Erlang-A

ERLANG_A_CASES = {
    # n, lambda, mu, theta
    "n=50 A=45 AHT=180s patience=60s": (50, 45 / 180, 1 / 180, 1 / 60),
    "n=1000 A=1050 AHT=180s patience=60s": (1000, 1050 / 180, 1 / 180, 1 / 60),
    "n=1000 A=950 AHT=60s patience=600s": (1000, 950 / 60, 1 / 60, 1 / 600),
}


@pytest.mark.parametrize("case", list(ERLANG_A_CASES))
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_erlang_a(benchmark: Any, impl: str, case: str) -> None:
    benchmark.group = f"erlang_a {case}"
    args = ERLANG_A_CASES[case]
    got = benchmark(_impl(impl).erlang_a, *args)
    ref = erlang_py.erlang_a(*args)
    assert all(math.isclose(g, r, rel_tol=1e-9) for g, r in zip(got, ref, strict=True))
