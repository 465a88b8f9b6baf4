"""`dialer` command line. Errors are one clear line on stderr and exit code 2; no tracebacks."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence

from .argtypes import positive as _positive
from .bot_options import add_bot_arguments, apply_bot_options
from .compliance.cli import register as register_compliance
from .config import DEMO_CALLER_ID, RunConfig, Secret, parse_hostport, parse_pbx, secret_from_env
from .core.model import CampaignConfig
from .delivery import add_delivery_arguments, delivery_settings
from .errors import DialerError, InputError
from .logs import setup_logging
from .simulate_cli import register as register_simulate

EXIT_USAGE = 2


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="dial a campaign (embedded simulated PBX unless --ami is given)",
        description="Dial a campaign. Without --ami an embedded simulated PBX is started on "
        "127.0.0.1 and a demo lead list is dialled. AMI credentials come from "
        "DIALER_AMI_USER and DIALER_AMI_SECRET (or DIALER_AMI_SECRET_FILE).",
    )
    p.add_argument("--ami", metavar="HOST:PORT", help="Asterisk AMI address (default: embedded PBX)")
    p.add_argument(
        "--pbx",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT[,channels=N][,user=USER]",
        help="one Asterisk server of a pool (repeatable; instead of --ami): calls are spread by "
        "free channels; its secret comes from DIALER_AMI_SECRET_<NAME> (or _FILE), else DIALER_AMI_SECRET",
    )
    p.add_argument(
        "--pbx-grace",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="a PBX whose AMI link stays down this long is lost: its calls end as lost and its "
        "agents stop counting (default: 30)",
    )
    p.add_argument(
        "--sim-pbxs",
        type=_positive(int),
        default=1,
        metavar="N",
        help="embedded only: start N simulated PBXs, each with --agents agents (default: 1)",
    )
    p.add_argument(
        "--ami-events",
        default="on",
        metavar="MASK",
        help="event mask sent at login, e.g. 'call,agent,user' (default: on)",
    )
    p.add_argument("--campaign", default="demo", help="campaign name (default: demo)")
    p.add_argument(
        "--channel",
        default="Local/{phone}@callees",
        metavar="TEMPLATE",
        help="Originate channel; {phone} is the number without '+', {e164} with it "
        "(default: Local/{phone}@callees, fits the embedded PBX)",
    )
    p.add_argument("--context", default="dialer-amd", help="dialplan context answered calls go to")
    p.add_argument("--exten", default="s", help="extension in --context (default: s)")
    p.add_argument("--queue", default="agents", help="the Asterisk queue whose members are the agents")
    p.add_argument(
        "--caller-id",
        default=None,
        help="caller ID presented; must be in the campaign's allowed list in --rules "
        f"(default with the embedded PBX: the demo number {DEMO_CALLER_ID})",
    )
    p.add_argument(
        "--agents",
        type=_positive(int),
        default=10,
        help="agents logged in on the embedded PBX (default: 10)",
    )
    p.add_argument(
        "--duration",
        type=_positive(float),
        default=60.0,
        metavar="SECONDS",
        help="stop placing new calls after this many seconds, then drain (default: 60)",
    )
    p.add_argument(
        "--drain-timeout",
        type=_positive(float),
        default=None,
        metavar="SECONDS",
        help="after --duration, wait this long for calls to end naturally, then hang "
        "up the rest (default: 1800 with --ami, 120 with the embedded PBX)",
    )
    p.add_argument("--leads", metavar="FILE.csv", help="lead file (default: a generated demo list)")
    p.add_argument(
        "--demo-leads",
        type=_positive(int),
        default=None,
        metavar="N",
        help="size of the generated demo list",
    )
    p.add_argument("--region", default="CN", help="region for national numbers in --leads (default: CN)")
    p.add_argument("--outcomes", metavar="FILE", help="append outcome events here as JSON lines")
    p.add_argument(
        "--metrics",
        default="127.0.0.1:9108",
        metavar="HOST:PORT",
        help="Prometheus /metrics address, or 'off' (default: 127.0.0.1:9108)",
    )
    p.add_argument("--pacer", default="predictive", help="pacing algorithm (default: predictive)")
    p.add_argument(
        "--wrapup",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="agent wrap-up when the PBX does not report the queue's (default: 10)",
    )
    p.add_argument(
        "--abandon-after",
        type=_positive(float),
        default=2.0,
        metavar="SECONDS",
        help="legal abandonment threshold (default: 2)",
    )
    p.add_argument(
        "--originate-timeout",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="how long a number rings (default: 30)",
    )
    p.add_argument("--max-attempts", type=_positive(int), default=3)
    p.add_argument("--scenario", metavar="FILE.json", help="embedded PBX callee behaviour (default: collections day)")
    p.add_argument(
        "--speed",
        type=_positive(float),
        default=1.0,
        help="embedded PBX only: simulated seconds per real second (default: 1)",
    )
    p.add_argument("--seed", type=int, default=1, help="embedded PBX random seed (default: 1)")
    p.add_argument(
        "--ledger",
        metavar="URL",
        help="attempt ledger: sqlite:///path or postgresql://... "
        "(default: a SQLite file next to --outcomes, or in memory for the demo)",
    )
    p.add_argument("--preset", default="cn", choices=("cn", "us", "uk"), help="compliance preset (default: cn)")
    p.add_argument("--rules", metavar="FILE", help="campaign overrides of the compliance preset (JSON)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="extra channel variable sent with every Originate (repeatable), e.g. "
                        "DIALER_RECORD=1, DIALER_MACHINE=drop; see docs/asterisk.md")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no live progress line on stderr")
    add_bot_arguments(p)
    add_delivery_arguments(p)
    p.set_defaults(func=cmd_run)


def production_pacers() -> list[str]:
    """Every registered pacer but the benchmark-only `clairvoyant` (it needs foreknowledge)."""
    from .core.pacing import PACERS

    return sorted(p for p in PACERS if p != "clairvoyant")


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_VARS = ("DIALER_CALL_ID", "DIALER_CAMPAIGN", "DIALER_QUEUE", "DIALER_ABANDON_S", "DIALER_AMD")


def parse_var(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not _VAR_NAME.fullmatch(name):
        raise InputError(f"--var: expected NAME=VALUE with NAME letters, digits or '_', got {text!r}")
    if name.upper() == "DIALER_BOT_ENDPOINT":
        # Set behind the dialer's back, people would go to a bot it neither paces nor counts.
        raise InputError(f"--var: {name} is set by the dialer itself: use --bot-endpoint")
    if name.upper() in _RESERVED_VARS:
        raise InputError(f"--var: {name} is set by the dialer itself")
    if any(c in value for c in "\r\n"):
        raise InputError(f"--var {name}: the value must be on one line")
    return name, value


def build_run_config(a: argparse.Namespace, env: dict[str, str] | None = None) -> RunConfig:
    env = dict(os.environ) if env is None else env
    try:
        campaign = CampaignConfig(
            name=a.campaign,
            queue=a.queue,
            channel_template=a.channel,
            context=a.context,
            exten=a.exten,
            caller_id=a.caller_id or ("" if a.ami or a.pbx else DEMO_CALLER_ID),
            originate_timeout_s=a.originate_timeout,
            abandon_after_s=a.abandon_after,
            wrapup_s=a.wrapup,
            pacer=a.pacer,
        )
    except ValueError as exc:
        raise InputError(f"campaign: {exc}") from None
    from dataclasses import replace

    campaign = replace(campaign, retry=replace(campaign.retry, max_attempts=a.max_attempts),
                       variables=tuple(parse_var(v) for v in a.var))
    if a.pacer not in production_pacers():
        raise InputError(f"--pacer: unknown pacer {a.pacer!r}; expected one of {', '.join(production_pacers())}")
    ami = parse_hostport(a.ami, "--ami") if a.ami else None
    pbxs = tuple(parse_pbx(spec, env) for spec in a.pbx)
    real_pbx = bool(ami or pbxs)
    campaign = apply_bot_options(a, campaign, embedded=not real_pbx, scenario=a.scenario)
    metrics = None if a.metrics == "off" else parse_hostport(a.metrics, "--metrics")
    cfg = RunConfig(
        campaign=campaign,
        ami=ami,
        ami_user=env.get("DIALER_AMI_USER", "dialer"),
        ami_secret=secret_from_env("DIALER_AMI_SECRET", env) if ami else None,
        ami_events=a.ami_events,
        pbxs=pbxs,
        pbx_grace_s=a.pbx_grace,
        sim_pbxs=a.sim_pbxs,
        agents=a.agents,
        scenario=a.scenario,
        speed=a.speed,
        seed=a.seed,
        duration_s=a.duration,
        drain_timeout_s=a.drain_timeout or (1800.0 if real_pbx else 120.0),
        leads_path=a.leads,
        demo_leads=a.demo_leads or 0,
        default_region=a.region,
        outcomes_path=a.outcomes,
        metrics=metrics,
        json_summary=a.json,
        progress=not a.no_progress,
        pseudonym_key=secret_from_env("DIALER_PSEUDONYM_KEY", env) or Secret(""),
        ledger_url=a.ledger,
        compliance_preset=a.preset,
        compliance_rules=a.rules,
    )
    cfg.validate()
    return cfg


def cmd_run(a: argparse.Namespace) -> int:
    from .service import DialerService
    from .summary import format_table

    cfg = build_run_config(a)
    delivery = delivery_settings(a, cfg)

    async def main() -> int:
        service = DialerService(cfg, delivery=delivery)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # First signal: stop dialing and let calls finish; second: hang up and exit.
            loop.add_signal_handler(sig, service.request_stop)
        try:
            await service.start()
            summary = await service.run()
        finally:
            await service.close()
        if cfg.json_summary:
            print(json.dumps(summary.to_json(), sort_keys=True))
        else:
            print(format_table(summary))
        return 0 if not service.errors else 1

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without it
        return asyncio.run(main())


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dialer", description="Predictive dialer core for Asterisk.")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("DIALER_LOG_LEVEL", "warning"),
        choices=("debug", "info", "warning", "error"),
    )
    parser.add_argument(
        "--log-format", default=os.environ.get("DIALER_LOG_FORMAT", "console"), choices=("console", "json")
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    register_compliance(sub)
    register_simulate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    a = parser.parse_args(argv)
    setup_logging(a.log_level, a.log_format)
    try:
        return int(a.func(a))
    except DialerError as exc:
        print(f"dialer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        logging.getLogger("dialer").debug("fatal", exc_info=True)
        print(f"dialer: error: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
