"""Run configuration: command-line options, environment and secret files, validated.

Secrets (AMI password, pseudonymisation key, broker URL) come from the environment or
from a file named in the environment, never from the command line (it shows in `ps`),
and are held in `Secret` so that printing a config cannot reveal them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .core.model import CampaignConfig
from .errors import ConfigError

#: The official number the embedded demo presents (a fictional 400 service line).
DEMO_CALLER_ID = "+864001000000"


class Secret:
    """A string that does not print."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def secret_from_env(name: str, env: dict[str, str] | None = None, *, required: bool = False) -> Secret | None:
    """`NAME` holds the value, or `NAME_FILE` names a file that does (systemd credentials,
    Kubernetes secrets). A trailing newline in the file is dropped."""
    env = dict(os.environ) if env is None else env
    if env.get(name):
        return Secret(env[name])
    path = env.get(name + "_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return Secret(f.read().rstrip("\r\n"))
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path!r}: {exc.strerror}") from None
    if required:
        raise ConfigError(f"{name} (or {name}_FILE) must be set")
    return None


def parse_hostport(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{option}: expected HOST:PORT, got {value!r}")
    try:
        p = int(port)
    except ValueError:
        raise ConfigError(f"{option}: port must be an integer, got {port!r}") from None
    if not 0 < p < 65536:
        raise ConfigError(f"{option}: port must be 1-65535, got {p}")
    return host.strip("[]"), p


@dataclass(slots=True)
class RunConfig:
    campaign: CampaignConfig
    ami: tuple[str, int] | None = None  # None: start the embedded simulated PBX
    ami_user: str = "dialer"
    ami_secret: Secret | None = None
    ami_events: str = "on"
    agents: int = 10  # embedded PBX only
    scenario: str | None = None  # embedded PBX only
    speed: float = 1.0  # embedded PBX only: simulated seconds per real second
    seed: int = 1
    duration_s: float = 60.0
    drain_timeout_s: float = 300.0
    leads_path: str | None = None
    demo_leads: int = 0  # 0: size the demo list from agents and duration
    default_region: str = "CN"
    outcomes_path: str | None = None
    metrics: tuple[str, int] | None = ("127.0.0.1", 9108)
    tick_s: float = 0.05
    json_summary: bool = False
    progress: bool = True
    pseudonym_key: Secret = field(default_factory=lambda: Secret(""))
    ledger_url: str | None = None
    compliance_preset: str = "cn"
    compliance_rules: str | None = None

    def validate(self) -> None:
        if self.agents < 1 and self.ami is None:
            raise ConfigError(f"--agents: expected at least 1, got {self.agents}")
        if self.duration_s <= 0:
            raise ConfigError(f"--duration: expected seconds > 0, got {self.duration_s}")
        if not 0.1 <= self.speed <= 1000:
            raise ConfigError(f"--speed: expected 0.1 to 1000, got {self.speed}")
        if self.ami is not None and self.speed != 1.0:
            raise ConfigError("--speed only applies to the embedded simulated PBX")
        if self.ami is not None and not self.ami_secret:
            raise ConfigError("--ami given but DIALER_AMI_SECRET (or DIALER_AMI_SECRET_FILE) is not set")
