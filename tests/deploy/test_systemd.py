"""deploy/systemd: the unit restarts on failure, takes secrets from the environment file
(never the command line), is hardened, and its ExecStart is a command line the dialer
really accepts. The env example holds placeholders only."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import shlex
import shutil
import subprocess

import pytest

from dialer.cli import make_parser

from .conftest import ENV_EXAMPLE, UNIT

SECRETS = ("DIALER_AMI_SECRET", "DIALER_PSEUDONYM_KEY", "DIALER_AMQP_URL")


def _directives(text: str) -> dict[str, list[tuple[str, str]]]:
    """section -> [(key, value)], comments dropped, backslash continuations joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if m := re.fullmatch(r"\[(\w+)\]", line):
            current = m.group(1)
            sections.setdefault(current, [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a directive: {line!r}"
        sections[current].append((key.strip(), value.strip()))
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in _directives(UNIT.read_text(encoding="utf-8"))["Service"]:
        out.setdefault(key, []).append(value)
    return out


def test_restart_policy(service: dict[str, list[str]]) -> None:
    assert service["Restart"] == ["on-failure"]
    assert service["RestartSec"]
    # exit 2 is a usage or configuration error: restarting cannot help
    assert service["RestartPreventExitStatus"] == ["2"]


def test_secrets_come_from_the_environment_file(service: dict[str, list[str]]) -> None:
    assert service["EnvironmentFile"] == ["/etc/dialer/dialer.env"]
    for value in service.get("Environment", []):
        assert not value.startswith(SECRETS), f"secret set in the unit: {value!r}"
    assert "LoadCredential=" in UNIT.read_text(encoding="utf-8")  # the documented alternative


@pytest.mark.parametrize(("key", "value"), [
    ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"), ("ReadWritePaths", "/var/lib/dialer"), ("DynamicUser", "yes"),
    ("User", "dialer"), ("StateDirectory", "dialer"), ("CapabilityBoundingSet", ""),
])
def test_hardening(service: dict[str, list[str]], key: str, value: str) -> None:
    assert service.get(key) == [value]


def test_exec_start_is_a_valid_dialer_command_line(service: dict[str, list[str]]) -> None:
    (exec_start,) = service["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[:3] == ["/usr/local/bin/dialer", "run", "--ami"]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = make_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`dialer` rejects the unit's ExecStart:\n{stderr.getvalue()}", pytrace=False)
    assert args.ami == "127.0.0.1:5038"
    assert args.metrics == "127.0.0.1:9108"  # what deploy/prometheus/prometheus.yml scrapes
    assert args.no_progress
    for path in (args.leads, args.outcomes):
        assert path.startswith("/var/lib/dialer/"), path  # the only writable, private directory
    password_in_url = re.search(r"://[^/@\s]*:[^/@\s]*@", exec_start)
    assert not password_in_url, "a password in a URL on the command line"


def test_env_example_has_placeholders_only() -> None:
    keys = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"DIALER_[A-Z_]+", key), line
            keys[key] = value
    for name in SECRETS:
        assert "CHANGE_ME" in keys[name], f"{name} must be a placeholder"
    assert keys["DIALER_AMI_USER"] == "dialer"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in SECRETS:
        assert f"# {name}_FILE=" in text  # the file-based form is documented


@pytest.mark.integration  # runs systemd-analyze
def test_systemd_analyze_verify(tmp_path: pathlib.Path) -> None:
    """systemd parses every directive (typos are warnings it prints, not errors it returns)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze not found: apt-get install systemd", pytrace=False)
    unit = tmp_path / "dialer.service"
    # verify insists that the binary exists; it is not installed on a test machine.
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/dialer", "/bin/true"))
    proc = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not out, out
