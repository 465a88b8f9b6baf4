"""`dialer simulate`: one calling day in virtual time, with the real engine and a chosen pacer.

    dialer simulate --pacer NAME --agents N --hours H --seed S --answer-rate P --machine-rate P
                    --talk-mean SECONDS --wrap SECONDS --abandon-target PCT [--amd on|off]
                    [--scenario FILE] [--json]

Prints a table, or with --json one JSON object with the keys of `dialer run --json` plus
calls_per_agent_hour, agent_idle_mean_s and abandon_rate_worst_hour.

Wiring: `register(subparsers)` adds the subcommand to the main `dialer` parser. Values are
checked here, not by argparse, so a bad one is one line naming the option (exit 2, no
traceback): `ConfigError` is a `DialerError`, which the main command reports that way.
Standalone (tests, before the wiring): `python -m dialer.simulate_cli simulate ...`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, DialerError

__all__ = ["config_from_args", "format_result", "main", "register"]

EXIT_USAGE = 2


def _default_pacer() -> str:
    from .core.pacing import PACERS

    return "predictive" if "predictive" in PACERS else "progressive"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate",
        help="simulate a calling day in virtual time (pacing experiments)",
        description="Run the dialer core through a simulated calling day in virtual time: "
        "seeded callees and agents, no PBX, no sockets. Traffic options override the scenario "
        "(default: the bundled collections_day).",
    )
    p.add_argument("--pacer", default=None, metavar="NAME",
                   help="pacer (default: predictive when available, else progressive)")
    p.add_argument("--pacer-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a pacer constructor argument, e.g. ratio=2.5 (repeatable; JSON values)")
    p.add_argument("--agents", default="10", metavar="N", help="agents logged in (default: 10)")
    p.add_argument("--hours", default="8", metavar="H", help="simulated dialling hours (default: 8)")
    p.add_argument("--seed", default="1", metavar="S", help="random seed (default: 1)")
    p.add_argument("--answer-rate", default=None, metavar="P",
                   help="share of numbers a person answers, 0..1 (default: the scenario's, 0.25)")
    p.add_argument("--machine-rate", default=None, metavar="P",
                   help="share answered by a machine, 0..1 (default: the scenario's, 0.20)")
    p.add_argument("--talk-mean", default=None, metavar="SECONDS",
                   help="mean talk time, lognormal (default: the scenario's, 120)")
    p.add_argument("--wrap", default=None, metavar="SECONDS",
                   help="agent wrap-up after each call (default: the scenario's, 10)")
    p.add_argument("--abandon-target", default="3", metavar="PCT",
                   help="abandonment target in percent of live answers (default: 3)")
    p.add_argument("--amd", default="on", metavar="on|off",
                   help="answering-machine detection (default: on; off routes machines to agents)")
    p.add_argument("--scenario", default=None, metavar="FILE",
                   help="base scenario: a JSON file or a bundled name (default: collections_day)")
    p.add_argument("--tick", default="0.1", metavar="SECONDS",
                   help="engine tick in simulated seconds (default: 0.1)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_simulate)
    return p


# --- option parsing (one clear line per bad value) ---------------------------------------


def _number(option: str, text: str, *, lo: float, hi: float = math.inf, lo_open: bool = False,
            what: str = "a number", says_range: bool = False) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: expected {what}, got {text!r}") from None
    if not math.isfinite(v) or (v <= lo if lo_open else v < lo) or v > hi:
        left = ">" if lo_open else ">="
        bound = "" if says_range else f" {left} {lo:g}" + (f" and <= {hi:g}" if math.isfinite(hi) else "")
        raise ConfigError(f"{option}: expected {what}{bound}, got {text!r}")
    return v


def _integer(option: str, text: str, lo: int) -> int:
    try:
        v = int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: expected an integer >= {lo}, got {text!r}") from None
    if v < lo:
        raise ConfigError(f"{option}: expected an integer >= {lo}, got {text!r}")
    return v


def _share(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    return _number(option, text, lo=0.0, hi=1.0, what="a share between 0 and 1 (e.g. 0.25)",
                   says_range=True)


def _percent(option: str, text: str) -> float:
    t = text.strip().removesuffix("%")
    return _number(option, t, lo=0.0, hi=100.0, lo_open=True,
                   what="a percentage above 0 and at most 100 (e.g. 3 for 3%)", says_range=True) / 100.0


def _pacer_options(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--pacer-option: expected KEY=VALUE, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip().replace("-", "_")] = value
    return out


def config_from_args(a: argparse.Namespace) -> Any:
    """The SimConfig for these options, or ConfigError naming the first bad option."""
    from .core.pacing import PACERS
    from .vsim import SimConfig

    pacer = a.pacer or _default_pacer()
    if pacer not in PACERS:
        raise ConfigError(f"--pacer: unknown pacer {pacer!r}; expected one of {', '.join(sorted(PACERS))}")
    amd = a.amd.strip().lower()
    if amd not in ("on", "off"):
        raise ConfigError(f"--amd: expected on or off, got {a.amd!r}")
    answer = _share("--answer-rate", a.answer_rate)
    machine = _share("--machine-rate", a.machine_rate)
    if answer is not None and machine is not None and answer + machine > 1.0 + 1e-9:
        raise ConfigError(
            f"--machine-rate: --answer-rate + --machine-rate must be at most 1, got {answer:g} + {machine:g}"
        )
    kwargs: dict[str, Any] = {
        "pacer": pacer,
        "agents": _integer("--agents", a.agents, 1),
        "hours": _number("--hours", a.hours, lo=0.0, hi=168.0, lo_open=True, what="a number of hours"),
        "seed": _integer("--seed", a.seed, 0),
        "answer_rate": answer,
        "machine_rate": machine,
        "talk_mean_s": None if a.talk_mean is None else _number(
            "--talk-mean", a.talk_mean, lo=0.0, lo_open=True, what="a number of seconds"),
        "wrap_s": None if a.wrap is None else _number("--wrap", a.wrap, lo=0.0, what="a number of seconds"),
        "amd": amd == "on",
        "abandon_target": _percent("--abandon-target", a.abandon_target),
        "scenario": a.scenario,
        "tick_s": _number("--tick", a.tick, lo=0.0, hi=60.0, lo_open=True, what="a number of seconds"),
        "pacer_options": _pacer_options(a.pacer_option),
    }
    if a.scenario is not None:
        from .sim.scenario import Scenario, ScenarioError

        try:
            kwargs["scenario"] = Scenario.load(a.scenario)
        except ScenarioError as exc:
            raise ConfigError(f"--scenario: {exc}") from None
    return SimConfig(**kwargs)


def format_result(r: Any) -> str:
    s = r.summary
    rows: list[tuple[str, str]] = [
        ("pacer", str(s["pacer"])),
        ("simulated", f"{s['duration_s'] / 3600:g} h, {r.config.agents} agents, seed {r.config.seed}"
                      f" (in {r.wall_s:.1f} s)"),
        ("calls placed", str(s["placed"])),
        ("calls per minute", f"{s['calls_per_minute']:.1f}"),
        ("answered by a person", str(s["answered_human"])),
        ("abandoned", f"{s['abandoned']} ({s['abandon_rate']:.2%} of answered by a person)"),
        ("abandon rate, worst hour", f"{s['abandon_rate_worst_hour']:.2%}"),
        ("agent occupancy", f"{s['agent_occupancy']:.1%}"),
        ("calls per agent-hour", f"{s['calls_per_agent_hour']:.2f}"),
        ("agent idle between calls", f"{s['agent_idle_mean_s']:.1f} s (mean)"),
        ("calls in flight", f"{r.calls_in_flight_mean:.1f} (mean, not yet with an agent)"),
        ("dispositions", ""),
    ]
    rows += [(f"  {k}", str(v)) for k, v in s["dispositions"].items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in rows)


def cmd_simulate(a: argparse.Namespace) -> int:
    from .vsim import simulate
    from .vsim.sim import make_pacer_for

    cfg = config_from_args(a)
    try:
        pacer = make_pacer_for(cfg)
    except ConfigError as exc:  # a pacer option the pacer refused
        raise ConfigError(f"--pacer-option: {str(exc).removeprefix('simulation: ')}") from None
    r = simulate(cfg, pacer=pacer)
    if a.json:
        print(json.dumps(r.summary, sort_keys=True))
    else:
        print(format_result(r))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dialer", description="dialer simulate, standalone")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    a = parser.parse_args(argv)
    try:
        return int(a.func(a))
    except DialerError as exc:
        print(f"dialer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
