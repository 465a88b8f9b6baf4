"""Pacing kernels and whole pacing decisions: compiled (dialer._ext.pacing) against the pure twin.

Run:  python -m pytest bench/bench_pacing_kernels.py --benchmark-enable
(with --benchmark-disable, the default in pyproject, each case runs once as a smoke test.)

Every case first checks that both implementations give the same answer on its inputs, so a fast
wrong kernel cannot score. The decision cases time `PredictivePacer.calls_to_place(view)`, the
whole thing the engine calls on every tick (the view's tuples in, a count out), with a pacer
warmed up from a synthetic history and realistic steady-state views: nearly every agent busy
(elapsed talk times spread like a day's), a few in wrap-up, calls in flight (about 0.3 per agent,
elapsed ring times up to 30 s), a few in AMD and on hold. eta = 0 keeps lambda (hence the
decision) the same from round to round. Results and the exact command: bench/RESULTS.md.
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dialer.core.kernels import pacing_py
from dialer.core.model import Disposition, Outcome
from dialer.core.pacing import PacingView, PredictivePacer
from dialer.core.pacing.estimators import Estimators

pacing_cy: ModuleType | None
try:
    pacing_cy = importlib.import_module("dialer._ext.pacing")
except ImportError:  # built with DIALER_NO_EXTENSIONS=1
    pacing_cy = None

IMPLEMENTATIONS = ["cython", "python"]


def _impl(name: str) -> ModuleType:
    if name == "python":
        return pacing_py
    if pacing_cy is None:
        pytest.skip("dialer._ext.pacing is not built (installed with DIALER_NO_EXTENSIONS=1)")
    return pacing_cy


def _same(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        assert a[0] == b[0]
        for x, y in zip(a[1:], b[1:], strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-15)
    else:
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# --------------------------------------------------------------------------- kernels

RNG = np.random.default_rng(20260101)
P_100 = RNG.uniform(0, 1, 100)
P_1000 = RNG.uniform(0, 0.3, 1000)
ANSWER_DT = 0.5
_T = np.arange(241) * ANSWER_DT
LIVE = 0.27 * np.clip((_T - 2.0) / 10.0, 0.0, 1.0)
PRE = np.clip(1.0 - LIVE / 0.27 * 0.45 - 0.2 * np.clip(_T / 2.0, 0.0, 1.0), 0.0, 1.0)
PRE[_T >= 30.0] = 0.0
TALK = np.array(
    [1.0] + [0.5 * math.erfc((math.log(j) - math.log(160.0)) / (0.5 * math.sqrt(2))) for j in range(1, 2049)]
)
DIALING_300 = RNG.uniform(0, 30, 300)
TALKING_1000 = RNG.uniform(0, 500, 1000)


KERNEL_CASES = {
    "poisson_binomial_pmf n=100 (exact, full support)": lambda k: k.poisson_binomial_pmf(P_100),
    "poisson_binomial_window n=1000 (sliding window)": lambda k: k.poisson_binomial_window(P_1000),
    "answer_probabilities 300 calls": lambda k: k.answer_probabilities(DIALING_300, 6.0, LIVE, PRE, ANSWER_DT),
    "release_probabilities 1000 agents": lambda k: k.release_probabilities(TALKING_1000, 5.0, TALK, 1.0),
    "dial_count 6 horizons x (40 calls + 100 agents), exact": lambda k: k.dial_count(
        DEMAND, SUPPLY, [-3] * 6, [0.045] * 6, [0.0225 + 0.045 * i for i in range(6)], 200, 5.0, 0.02
    ),
    "dial_count 6 horizons x (300 calls + 1000 agents), normal approx.": lambda k: k.dial_count(
        DEMAND_L, SUPPLY_L, [-20] * 6, [0.045] * 6, [0.0225 + 0.045 * i for i in range(6)], 2000, 50.0, 0.02
    ),
}
DEMAND = RNG.uniform(0, 0.3, (6, 40))
SUPPLY = RNG.uniform(0, 0.1, (6, 100))
DEMAND_L = RNG.uniform(0, 0.3, (6, 300))
SUPPLY_L = RNG.uniform(0, 0.1, (6, 1000))


@pytest.mark.parametrize("case", list(KERNEL_CASES))
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_kernel(benchmark: Any, impl: str, case: str) -> None:
    benchmark.group = f"kernel {case}"
    fn = KERNEL_CASES[case]
    module = _impl(impl)
    _same(fn(module), fn(pacing_py))
    benchmark(fn, module)


# ------------------------------------------------------------------ whole decisions


def _history(n: int = 6000, seed: int = 1) -> list[Outcome]:
    """A synthetic campaign history: 25% people (ring 2-12 s, AMD 2 s, lognormal talks of mean
    ~180 s), 20% machines, 10% busy, the rest ringing out at 30 s."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        at = i * 2.0
        base: dict[str, Any] = {
            "attempt_id": f"h{i}", "campaign": "bench", "borrower_id": f"b{i}", "phone": "+15550000000",
            "attempt_no": 1, "amd_cause": None, "hangup_cause": 16, "hangup_cause_txt": "", "agent": None,
            "originate_at": at, "answer_at": None, "amd_at": None, "connect_at": None, "hangup_at": None,
            "amd_status": None, "abandoned": False,
        }
        u = rng.random()
        if u < 0.25:
            ans = at + rng.uniform(2, 12)
            amd = ans + rng.uniform(1.6, 2.4)
            con = amd + rng.uniform(0.2, 0.6)
            end = con + rng.lognormal(math.log(160.0), 0.5)
            base.update(answer_at=ans, amd_at=amd, amd_status="HUMAN", connect_at=con, hangup_at=end, agent="a")
            out.append(Outcome(disposition=Disposition.CONNECTED, ended_at=end, **base))
        elif u < 0.45:
            ans = at + rng.uniform(2, 4)
            base.update(answer_at=ans, amd_at=ans + 2.0, amd_status="MACHINE", hangup_at=ans + 2.0)
            out.append(Outcome(disposition=Disposition.MACHINE, ended_at=ans + 2.0, **base))
        elif u < 0.55:
            base.update(hangup_at=at + 1.0)
            out.append(Outcome(disposition=Disposition.BUSY, ended_at=at + 1.0, originate_reason=5, **base))
        else:
            base.update(hangup_at=at + 30.0)
            out.append(Outcome(disposition=Disposition.NO_ANSWER, ended_at=at + 30.0, originate_reason=3, **base))
    return out


HISTORY = _history()
NOW = HISTORY[-1].ended_at + 60.0


def steady_view(agents: int, seed: int = 7) -> PacingView:
    rng = np.random.default_rng(seed + agents)
    ready = max(0, round(agents * 0.02))
    wrap = max(0, round(agents * 0.05))
    busy = agents - ready - wrap
    # elapsed talk of the calls going on at a random moment: a length-biased talk, uniformly cut
    talks = rng.lognormal(math.log(160.0), 0.5, 4 * busy + 10)
    picked = rng.choice(talks, busy, p=talks / talks.sum())
    talk_elapsed = tuple(float(x) for x in picked * rng.random(busy))
    dialing = round(agents * 0.3)
    return PacingView(
        at=NOW, campaign="bench", agents_logged_in=agents, agents_ready=ready, agents_ringing=0,
        agents_on_call=busy, agents_wrap_up=wrap, calls_dialing=dialing, calls_answered=round(agents * 0.01),
        calls_waiting=0, lines_free=max(1000, 20 * agents), abandon_target=0.03,
        talk_elapsed_s=talk_elapsed,
        dialing_elapsed_s=tuple(float(x) for x in rng.uniform(0, 30, dialing)),
        wrap_remaining_s=tuple(float(x) for x in rng.uniform(0, 10, wrap)),
        answered_elapsed_s=tuple(float(x) for x in rng.uniform(0, 2, round(agents * 0.01))),
        wrapup_s=10.0, abandon_after_s=2.0,
    )


def warmed_pacer(kernel: ModuleType) -> PredictivePacer:
    est = Estimators()
    est.warm_start(HISTORY)
    return PredictivePacer(estimators=est, kernel=kernel, eta=0.0)


@pytest.mark.parametrize("agents", [10, 100, 1000, 5000])
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_decision(benchmark: Any, impl: str, agents: int) -> None:
    benchmark.group = f"decision {agents} agents"
    module = _impl(impl)
    v = steady_view(agents)
    pacer = warmed_pacer(module)
    reference = warmed_pacer(pacing_py)
    n = pacer.calls_to_place(v)  # builds the model from the estimators (once per 20 s of view time)
    assert n == reference.calls_to_place(v)
    assert pacer.mode == "model"
    got = benchmark(pacer.calls_to_place, v)
    assert got == n
