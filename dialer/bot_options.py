"""`dialer run` options of bot-first campaigns (AI筛选 + 人工攻坚).

`--bot-endpoint` alone turns a campaign bot-first: a person goes to the bot, which escalates
the hard cases to the agents. The other options only make sense with it, so they are
refused without it rather than silently ignored.

The simulated bot of the embedded PBX (its channels, how often and when it escalates, how
long it talks) is described by the scenario file's `bot_*` fields, not by options: that is
the callee side of the simulation, like ring times and AMD verdicts. The campaign's
`--bot-capacity` defaults, with the embedded PBX only, to the scenario's `bot_channels`
(the simulated bot's real size); against a real PBX it must be given.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace

from .argtypes import positive, share
from .core.model import CampaignConfig
from .errors import ConfigError

#: The context the shipped dialplan (deploy/asterisk/extensions.conf) escalates into, and the
#: only one the simulated PBX honours a Redirect to.
ESCALATE_CONTEXT = "dialer-escalate"

# A Dial() string TECH/RESOURCE. No comma: Asterisk splits an Originate `Variable` value on
# commas, and in `Dial(${DIALER_BOT_ENDPOINT},...)` one would become Dial's timeout argument.
_ENDPOINT = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[^\s,]+")
_CONTEXT = re.compile(r"[A-Za-z0-9_-]+")


def add_bot_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("bot-first campaigns (AI筛选 + 人工攻坚)")
    g.add_argument(
        "--bot-endpoint",
        metavar="TECH/RESOURCE",
        help="make the campaign bot-first: people go to this Dial() string (sent as "
        "DIALER_BOT_ENDPOINT, e.g. PJSIP/voicebot), and the bot escalates to the agents",
    )
    g.add_argument(
        "--bot-capacity",
        type=positive(int),
        metavar="N",
        help="people the bot can talk to at once (required with a real PBX; embedded default: "
        "the scenario's bot_channels)",
    )
    g.add_argument(
        "--escalate-context",
        metavar="NAME",
        help=f"dialplan context an escalated call is redirected to (default: {ESCALATE_CONTEXT}, "
        "as in deploy/asterisk/extensions.conf)",
    )
    g.add_argument(
        "--escalation-rate",
        type=share,
        metavar="SHARE",
        help="share of bot calls expected to escalate until the campaign has its own figures "
        "(default: 0.2)",
    )


def apply_bot_options(a: argparse.Namespace, campaign: CampaignConfig, *, embedded: bool,
                      scenario: str | None) -> CampaignConfig:
    """The campaign with the bot-first options applied; `ConfigError` naming the option."""
    endpoint: str | None = a.bot_endpoint
    given = [name for name, value in (("--bot-capacity", a.bot_capacity),
                                      ("--escalate-context", a.escalate_context),
                                      ("--escalation-rate", a.escalation_rate)) if value is not None]
    if endpoint is None:
        if given:
            raise ConfigError(f"{given[0]} only applies to a bot-first campaign (give --bot-endpoint)")
        return campaign
    if not _ENDPOINT.fullmatch(endpoint):
        raise ConfigError(f"--bot-endpoint: expected a Dial() string TECH/RESOURCE without spaces or "
                          f"commas (e.g. PJSIP/voicebot), got {endpoint!r}")
    context = a.escalate_context or ESCALATE_CONTEXT
    if not _CONTEXT.fullmatch(context):
        raise ConfigError(f"--escalate-context: expected a context name (letters, digits, '-', '_'), "
                          f"got {context!r}")
    if embedded and context != ESCALATE_CONTEXT:
        raise ConfigError(f"--escalate-context: the embedded PBX only simulates {ESCALATE_CONTEXT}, "
                          f"got {context!r}")
    capacity = a.bot_capacity
    if capacity is None:
        if not embedded:
            raise ConfigError("--bot-capacity: required with --bot-endpoint on a real PBX "
                              "(the bot's channels)")
        from .sim.scenario import Scenario  # the simulation only; not loaded for a real PBX

        capacity = Scenario.load(scenario).bot_channels
        if capacity < 1:
            raise ConfigError("--bot-capacity: the scenario's bot has no channel (bot_channels: 0); "
                              "give --bot-capacity or a scenario with bot_channels >= 1")
    rate = campaign.escalation_rate_prior if a.escalation_rate is None else a.escalation_rate
    return replace(campaign, bot_first=True, bot_endpoint=endpoint, bot_capacity=capacity,
                   escalate_context=context, escalation_rate_prior=rate)
