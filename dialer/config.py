"""Run configuration: command-line options, environment and secret files, validated.

Secrets (AMI password, pseudonymisation key, broker URL) come from the environment or
from a file named in the environment, never from the command line (it shows in `ps`),
and are held in `Secret` so that printing a config cannot reveal them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .core.model import CampaignConfig
from .core.pool import DEFAULT_PBX, UNLIMITED
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


_PBX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class PbxConfig:
    """One Asterisk server of the pool. `channels` caps the calls the dialer keeps on it."""

    name: str
    host: str
    port: int
    user: str
    secret: Secret
    channels: int = UNLIMITED


def pbx_env_suffix(name: str) -> str:
    """`pbx-b` -> `PBX_B`: the suffix of the per-PBX environment variables."""
    return name.upper().replace("-", "_")


def parse_pbx(spec: str, env: dict[str, str] | None = None) -> PbxConfig:
    """`NAME=HOST:PORT[,channels=N][,user=USER]` (the `--pbx` option).

    The secret is never part of the option (it would show in `ps`): it comes from
    `DIALER_AMI_SECRET_<NAME>` or the file named by `DIALER_AMI_SECRET_<NAME>_FILE`, else
    the shared `DIALER_AMI_SECRET`/`_FILE`. The user likewise from `user=`,
    `DIALER_AMI_USER_<NAME>`, `DIALER_AMI_USER`, else `dialer`."""
    env = dict(os.environ) if env is None else env
    name, sep, rest = spec.partition("=")
    if not sep or not _PBX_NAME.fullmatch(name):
        raise ConfigError(f"--pbx: expected NAME=HOST:PORT[,channels=N][,user=USER] with NAME of "
                          f"letters, digits, '-' or '_' (at most 32), got {spec!r}")
    where, *options = rest.split(",")
    host, port = parse_hostport(where, f"--pbx {name}")
    channels = UNLIMITED
    suffix = pbx_env_suffix(name)
    user = env.get(f"DIALER_AMI_USER_{suffix}") or env.get("DIALER_AMI_USER") or "dialer"
    for opt in options:
        key, sep, value = opt.partition("=")
        if key == "channels" and sep:
            try:
                channels = int(value)
            except ValueError:
                channels = 0
            if channels < 1:
                raise ConfigError(f"--pbx {name}: channels must be an integer >= 1, got {value!r}")
        elif key == "user" and sep and value:
            user = value
        else:
            raise ConfigError(f"--pbx {name}: unknown option {opt!r} (expected channels=N or user=USER)")
    secret = secret_from_env(f"DIALER_AMI_SECRET_{suffix}", env) or secret_from_env("DIALER_AMI_SECRET", env)
    if not secret:
        raise ConfigError(f"--pbx {name}: DIALER_AMI_SECRET_{suffix} (or DIALER_AMI_SECRET_{suffix}_FILE, "
                          "or the shared DIALER_AMI_SECRET) must be set")
    return PbxConfig(name=name, host=host, port=port, user=user, secret=secret, channels=channels)


@dataclass(slots=True)
class RunConfig:
    campaign: CampaignConfig
    ami: tuple[str, int] | None = None  # None: start the embedded simulated PBX
    ami_user: str = "dialer"
    ami_secret: Secret | None = None
    ami_events: str = "on"
    pbxs: tuple[PbxConfig, ...] = ()  # the pool (--pbx); empty: --ami or the embedded PBX
    pbx_grace_s: float = 30.0  # a PBX whose link stays down this long (real seconds) is lost
    sim_pbxs: int = 1  # embedded only: how many simulated PBXs (each with `agents` agents)
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

    @property
    def embedded(self) -> bool:
        return self.ami is None and not self.pbxs

    def pbx_names(self) -> tuple[str, ...]:
        """The pool's members: `--pbx` names, else one `default` PBX (`--ami`, or one
        embedded PBX), else `sim1`..`simN` for several embedded PBXs."""
        if self.pbxs:
            return tuple(p.name for p in self.pbxs)
        if self.ami is not None or self.sim_pbxs == 1:
            return (DEFAULT_PBX,)
        return tuple(f"sim{i}" for i in range(1, self.sim_pbxs + 1))

    def validate(self) -> None:
        if self.agents < 1 and self.embedded:
            raise ConfigError(f"--agents: expected at least 1, got {self.agents}")
        if self.duration_s <= 0:
            raise ConfigError(f"--duration: expected seconds > 0, got {self.duration_s}")
        if not 0.1 <= self.speed <= 1000:
            raise ConfigError(f"--speed: expected 0.1 to 1000, got {self.speed}")
        if not self.embedded and self.speed != 1.0:
            raise ConfigError("--speed only applies to the embedded simulated PBX")
        if self.ami is not None and self.pbxs:
            raise ConfigError("--ami and --pbx are exclusive: declare every PBX with --pbx")
        if not 1 <= self.sim_pbxs <= 16:
            raise ConfigError(f"--sim-pbxs: expected 1 to 16, got {self.sim_pbxs}")
        if self.sim_pbxs != 1 and not self.embedded:
            raise ConfigError("--sim-pbxs only applies to the embedded simulated PBX")
        if not self.pbx_grace_s > 0:
            raise ConfigError(f"--pbx-grace: expected seconds > 0, got {self.pbx_grace_s}")
        names = [p.name for p in self.pbxs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"--pbx: PBX {dup[0]!r} declared twice")
        addresses = [(p.host, p.port) for p in self.pbxs]
        dup_at = sorted({a for a in addresses if addresses.count(a) > 1})
        if dup_at:
            raise ConfigError(f"--pbx: two PBXs at {dup_at[0][0]}:{dup_at[0][1]}")
        if self.ami is not None and not self.ami_secret:
            raise ConfigError("--ami given but DIALER_AMI_SECRET (or DIALER_AMI_SECRET_FILE) is not set")
