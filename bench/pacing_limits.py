#!/usr/bin/env python
"""Where the predictive pacer's occupancy is limited: by what it cannot know, or by its budget?

    python bench/pacing_limits.py [--cells KEY,...] [--seeds N] [--jobs 2] [--results bench/pacing/results.json]

For the cells where `bench/pacing.py` finds predictive short of "adaptive + 10 points" (or the
cells named), on the same simulated traffic (same seeds, days and settings as that grid), two
variants of the predictive pacer are run:

- `knows agents`: predictive told, by the simulator, exactly when every busy agent will be free
  (its talk end, not a forecast from the talk-time curve). What is left between it and the
  clairvoyant bound is what no pacer can know before it dials: which number a person answers,
  and when.
- `twice the budget`: predictive with a 6% target and no guard margin: what spending twice the
  legal abandonment budget would buy.

Both are benchmark instruments, not pacers anyone could run: the first reads the simulator's
future, the second breaks the cap. The table sets them next to the grid's adaptive,
predictive and clairvoyant results for the same cells (read from the grid's results.json,
whose runs are deterministic: the same inputs give the same numbers).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dialer.core.pacing import PacingView  # noqa: E402
from dialer.core.pacing.predictive import PredictivePacer  # noqa: E402
from dialer.vsim import SimConfig, simulate  # noqa: E402

RESULTS = ROOT / "bench" / "pacing" / "results.json"
VARIANTS = ("knows agents", "twice the budget")


class AgentForesightPacer(PredictivePacer):
    """Predictive, with every busy agent's free time read from the simulator (benchmark only)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._oracle: Any = None

    def attach_oracle(self, oracle: Any) -> None:
        self._oracle = oracle

    def calls_to_place(self, view: PacingView) -> int:
        now = view.at
        # every busy agent (offered, talking, wrapping up) as one whose wrap-up ends exactly
        # when the simulator will free it: the model then knows each release for certain
        free = tuple(t - now for t in self._oracle.agents_free_at() if t > now)
        v = dataclasses.replace(view, talk_elapsed_s=(), wrap_remaining_s=free, agents_ringing=0)
        return super().calls_to_place(v)


def parse_key(key: str) -> tuple[int, float, float, bool]:
    a, p, t, m = key.split("-")
    return int(a[:-1]), int(p[:-3]) / 100, float(t[:-1]), m == "amd"


def run(args: tuple[str, str, int, float, dict[str, Any]]) -> tuple[str, str, int, dict[str, float]]:
    key, variant, seed, hours, meta = args
    agents, answer, talk, amd = parse_key(key)
    cfg = SimConfig(pacer="predictive", agents=agents, hours=hours, seed=seed, answer_rate=answer,
                    machine_rate=meta["machine_rate"], talk_mean_s=talk, wrap_s=meta["wrap_s"], amd=amd,
                    abandon_target=meta["abandon_target"])
    pacer: PredictivePacer
    if variant == "knows agents":
        pacer = AgentForesightPacer()
    else:
        pacer = PredictivePacer(target=2 * meta["abandon_target"], guard=1.0)
    m = simulate(cfg, pacer=pacer).metrics()
    return key, variant, seed, {"occupancy": m["agent_occupancy"], "abandon_rate": m["abandon_rate"]}


def short_cells(doc: dict[str, Any]) -> list[str]:
    """The cells of 25 agents or more where predictive is short of adaptive + 10 points."""
    out = []
    for c in doc["cells"]:
        s = c["summary"]
        if c["agents"] >= 25 and s["predictive"]["occupancy"] < s["adaptive"]["occupancy"] + 0.10:
            out.append(c["key"])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(RESULTS), help="the grid's results.json (default bench/pacing/)")
    p.add_argument("--cells", default=None, help="comma-separated cell keys (default: the short ones)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the grid's)")
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    doc = json.loads(Path(a.results).read_text())
    meta = doc["meta"]
    cells = {c["key"]: c for c in doc["cells"]}
    keys = a.cells.split(",") if a.cells else short_cells(doc)
    unknown = [k for k in keys if k not in cells]
    if unknown:
        raise SystemExit(f"--cells: not in {a.results}: {', '.join(unknown)}")
    if not keys:
        print("no cell of 25 agents or more is short of adaptive + 10 points: nothing to explain")
        return 0
    seeds = meta["seeds"][: a.seeds] if a.seeds else meta["seeds"]
    by_agents = {int(k): v for k, v in meta["hours_by_agents"].items()}
    tasks = [(k, v, s, by_agents[cells[k]["agents"]], meta) for k in keys for v in VARIANTS for s in seeds]
    with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
        done = pool.map(run, tasks, chunksize=1)
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    for key, variant, _seed, m in done:
        rows.setdefault((key, variant), []).append(m)

    def grid(key: str, pacer: str) -> tuple[float, float]:
        runs = [m for m in cells[key]["runs"][pacer] if m["seed"] in seeds]
        return (statistics.fmean(m["agent_occupancy"] for m in runs),
                statistics.fmean(m["abandon_rate"] for m in runs))

    print(f"Occupancy % (abandon rate %), mean over seeds {seeds[0]}..{seeds[-1]}; grid results from {a.results} "
          f"(commit {meta.get('commit')})\n")
    head = ["cell", "adaptive", "adaptive + 10", "predictive", "knows agents", "twice the budget", "clairvoyant"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for k in keys:
        ad, ad_ab = grid(k, "adaptive")
        pr, pr_ab = grid(k, "predictive")
        cl, cl_ab = grid(k, "clairvoyant")
        cols = [k, f"{100 * ad:.1f} ({100 * ad_ab:.2f})", f"{100 * (ad + 0.10):.1f}",
                f"{100 * pr:.1f} ({100 * pr_ab:.2f})"]
        for v in VARIANTS:
            ms = rows[(k, v)]
            cols.append(f"{100 * statistics.fmean(m['occupancy'] for m in ms):.1f} "
                        f"({100 * statistics.fmean(m['abandon_rate'] for m in ms):.2f})")
        cols.append(f"{100 * cl:.1f} ({100 * cl_ab:.2f})")
        print("| " + " | ".join(cols) + " |")
    print(f"\n{len(tasks)} runs, wall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
