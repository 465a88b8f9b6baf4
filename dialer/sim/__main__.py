"""Run the simulated PBX until interrupted: `python -m dialer.sim --port 5038 --agents 5`.

Prints the AMI address and credentials, and on Ctrl-C a summary of the ground truth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections import Counter

from .runner import SimulatedPBX
from .scenario import ScenarioError, bundled_scenarios


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dialer.sim", description=__doc__)
    p.add_argument(
        "--scenario",
        default="collections_day",
        help=f"bundled name ({', '.join(bundled_scenarios())}) or a JSON file",
    )
    p.add_argument("--agents", type=int, default=5)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038, help="0 = any free port")
    p.add_argument("--username", default="dialer")
    p.add_argument("--secret", default="dialerpass")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--seed", type=int, default=None)
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    pbx = SimulatedPBX(
        args.scenario,
        agents=args.agents,
        username=args.username,
        secret=args.secret,
        speed=args.speed,
        seed=args.seed,
        host=args.host,
        port=args.port,
    )
    async with pbx:
        print(
            f"simulated Asterisk 22 AMI on {args.host}:{pbx.port} "
            f"(user {args.username}, scenario {pbx.scenario.name}, {args.agents} agents, "
            f"speed x{args.speed:g}); Ctrl-C to stop",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        truth = pbx.ground_truth()
        by = Counter(t.disposition or "in progress" for t in truth)
        print(f"{len(truth)} calls: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
        if pbx.agent_overlap_violations:
            print("AGENT OVERLAP:", *pbx.agent_overlap_violations, sep="\n  ")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        asyncio.run(_serve(args))
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
