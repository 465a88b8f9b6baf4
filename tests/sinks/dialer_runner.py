"""`dialer run` with dialer.delivery wired in, as a process a test can SIGKILL.

    python -m tests.sinks.dialer_runner [dialer run options] [event delivery options]

Builds the run config with the real CLI parser (`dialer.cli.add_run_parser`) plus
its delivery options (added by `add_run_parser`), as cli.py does, and
runs tests.sinks.harness.DeliveringService. Prints the summary as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys

from dialer.cli import add_run_parser, build_run_config
from dialer.delivery import delivery_settings
from dialer.logs import setup_logging

from .harness import DeliveringService


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    a = parser.parse_args(["run", *argv])
    setup_logging(os.environ.get("DIALER_LOG_LEVEL", "warning"))
    cfg = build_run_config(a)
    settings = delivery_settings(a, cfg)
    settings.backoff_max_s = float(os.environ.get("TEST_BACKOFF_MAX_S", "2"))

    async def go() -> int:
        svc = DeliveringService(cfg, delivery=settings)
        try:
            await svc.start()
            print(json.dumps({"run_id": svc.run_id}), flush=True)
            summary = await svc.run()
        finally:
            await svc.close()
        print(json.dumps({"run_id": svc.run_id, "placed": summary.placed, "outcomes": summary.outcomes,
                          "recovery": dataclasses.asdict(svc.recovery) if svc.recovery else None,
                          "backpressure": svc.backpressure_changes,
                          "depth": svc.delivery.outbox_depth}), flush=True)
        return 0

    return asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
