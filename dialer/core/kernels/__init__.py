"""Numerical kernels of the core, compiled where built and pure Python everywhere else.

Each kernel has two implementations with the same functions, signatures and numbers (to a
relative 1e-9, in practice a few ulps): the compiled module `dialer._ext.<name>` (Cython
source `ext/<name>.pyx`) and the twin `dialer.core.kernels.<name>_py`. This selector imports
the compiled one unless the environment variable DIALER_NO_EXTENSIONS is set (to anything but
'', '0', 'false', 'no'), and falls back to the twin when it was not built (ImportError).
`IMPLEMENTATION` says which one was taken: "cython" or "python".

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
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final, Literal

from . import erlang_py

__all__ = [
    "IMPLEMENTATION",
    "NO_EXTENSIONS",
    "erlang_a",
    "erlang_b",
    "erlang_b_array",
    "erlang_c",
    "erlang_c_array",
    "mmc_asa",
    "mmc_wait_probability",
]


def _switch_on(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS: Final[bool] = _switch_on(os.environ.get("DIALER_NO_EXTENSIONS"))

if TYPE_CHECKING:
    _erlang = erlang_py
    IMPLEMENTATION: Literal["cython", "python"]
elif NO_EXTENSIONS:
    _erlang = erlang_py
    IMPLEMENTATION = "python"
else:
    try:
        from dialer._ext import erlang as _erlang
    except ImportError:
        _erlang = erlang_py
        IMPLEMENTATION = "python"
    else:
        IMPLEMENTATION = "cython"

erlang_a = _erlang.erlang_a
erlang_b = _erlang.erlang_b
erlang_b_array = _erlang.erlang_b_array
erlang_c = _erlang.erlang_c
erlang_c_array = _erlang.erlang_c_array
mmc_asa = _erlang.mmc_asa
mmc_wait_probability = _erlang.mmc_wait_probability
