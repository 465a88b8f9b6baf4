"""Numerical kernels of the core, compiled where built and pure Python everywhere else.

Each kernel has two implementations with the same functions, signatures and numbers (to a
relative 1e-9, in practice a few ulps): the compiled module `dialer._ext.<name>` (Cython
source `ext/<name>.pyx`) and the twin `dialer.core.kernels.<name>_py`. This selector imports
the compiled one unless the environment variable DIALER_NO_EXTENSIONS is set (to anything but
'', '0', 'false', 'no'), and falls back to the twin when it was not built (ImportError).
`IMPLEMENTATIONS` says which one was taken for each kernel module ("cython" or "python");
`IMPLEMENTATION` is "cython" only when every one of them is compiled.

Reading that variable, once, here at import, is the only contact the core has with its
environment; everything the kernels compute is a pure function of its arguments.

Erlang kernels (rates share one time unit; answers use it):

- erlang_b(servers, load) -> float: blocking probability, M/M/c/c.
- erlang_c(servers, load) -> float: P(wait > 0), M/M/c; 1 when load >= servers.
- erlang_b_array(servers, load) / erlang_c_array(servers, load) -> ndarray: the same for an
  integer array of server counts, from one run of the recurrence.
- mmc_wait_probability(servers, arrival_rate, service_rate, t) -> float: P(W > t), M/M/c.
- mmc_asa(servers, arrival_rate, service_rate) -> float: mean wait (ASA), M/M/c; inf when
  unstable.
- erlang_a(servers, arrival_rate, service_rate, abandon_rate) -> (P(W>0), P(Ab), E[W]):
  M/M/n+M, exponential patience with mean 1/abandon_rate.

Pacing kernels (seconds; see dialer/core/kernels/pacing_py.py for the model):

- poisson_binomial_pmf(p) / poisson_binomial_cdf(p) -> ndarray: exact O(n^2) DP.
- poisson_binomial_window(p, half_width=None) -> (lo, pmf): O(n·k) DP over a window of k values
  following the running mean, tails folded into the edge bins.
- answer_probabilities(elapsed, horizon, live_cdf, pre_survival, dt) -> ndarray: P(a dialing
  call needs an agent within the horizon | not answered after `elapsed` seconds).
- release_probabilities(elapsed, horizon, survival, dt) -> ndarray: P(a busy agent's call ends
  within the horizon | `elapsed` seconds into it).
- dial_count(demand, supply, offset, weight, q_new, n_max, budget, rate, work_limit) ->
  (n, added, p1, e0): the dial-count optimiser on per-horizon probabilities.
- PacingModel(tables...).decide(view's elapsed times, counts, n_max, budget, rate): the whole
  pacing decision, fused (what the predictive pacer calls on every tick).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final, Literal

from . import erlang_py, pacing_py

__all__ = [
    "IMPLEMENTATION",
    "IMPLEMENTATIONS",
    "NO_EXTENSIONS",
    "PacingModel",
    "answer_probabilities",
    "dial_count",
    "erlang_a",
    "erlang_b",
    "erlang_b_array",
    "erlang_c",
    "erlang_c_array",
    "mmc_asa",
    "mmc_wait_probability",
    "poisson_binomial_cdf",
    "poisson_binomial_pmf",
    "poisson_binomial_window",
    "release_probabilities",
]


def _switch_on(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS: Final[bool] = _switch_on(os.environ.get("DIALER_NO_EXTENSIONS"))

if TYPE_CHECKING:
    _erlang = erlang_py
    _pacing = pacing_py
    IMPLEMENTATION: Literal["cython", "python"]
    IMPLEMENTATIONS: dict[str, Literal["cython", "python"]]
elif NO_EXTENSIONS:
    _erlang = erlang_py
    _pacing = pacing_py
    IMPLEMENTATIONS = {"erlang": "python", "pacing": "python"}
else:
    IMPLEMENTATIONS = {}
    try:
        from dialer._ext import erlang as _erlang
    except ImportError:
        _erlang = erlang_py
        IMPLEMENTATIONS["erlang"] = "python"
    else:
        IMPLEMENTATIONS["erlang"] = "cython"
    try:
        from dialer._ext import pacing as _pacing
    except ImportError:
        _pacing = pacing_py
        IMPLEMENTATIONS["pacing"] = "python"
    else:
        IMPLEMENTATIONS["pacing"] = "cython"
if not TYPE_CHECKING:
    IMPLEMENTATION = "cython" if all(v == "cython" for v in IMPLEMENTATIONS.values()) else "python"

erlang_a = _erlang.erlang_a
erlang_b = _erlang.erlang_b
erlang_b_array = _erlang.erlang_b_array
erlang_c = _erlang.erlang_c
erlang_c_array = _erlang.erlang_c_array
mmc_asa = _erlang.mmc_asa
mmc_wait_probability = _erlang.mmc_wait_probability

PacingModel = _pacing.PacingModel
answer_probabilities = _pacing.answer_probabilities
dial_count = _pacing.dial_count
poisson_binomial_cdf = _pacing.poisson_binomial_cdf
poisson_binomial_pmf = _pacing.poisson_binomial_pmf
poisson_binomial_window = _pacing.poisson_binomial_window
release_probabilities = _pacing.release_probabilities
