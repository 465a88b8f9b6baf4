"""The command line: bad options give one clear line and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dialer.cli import build_run_config, make_parser, parse_var
from dialer.errors import InputError


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dialer", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--agents", "0"], "argument --agents: expected an integer >= 1, got '0'"),
        (["run", "--duration", "soon"], "argument --duration: expected a number, got 'soon'"),
        (["run", "--ami", "pbx.example"], "--ami: expected HOST:PORT, got 'pbx.example'"),
        (["run", "--ami", "127.0.0.1:99999"], "--ami: port must be 1-65535, got 99999"),
        (["run", "--metrics", "127.0.0.1:x"], "--metrics: port must be an integer, got 'x'"),
        (["run", "--campaign", "bad name"], "campaign name must be letters, digits"),
        (["run", "--channel", "PJSIP/carrier"], "channel_template must contain '{phone}'"),
        (["run", "--pacer", "magic"], "unknown pacer 'magic'"),
        (["run", "--var", "NOVALUE"], "--var: expected NAME=VALUE"),
        (["run", "--ami", "127.0.0.1:5038"], "DIALER_AMI_SECRET (or DIALER_AMI_SECRET_FILE) is not set"),
        (["run", "--speed", "5", "--ami", "127.0.0.1:5038"], "--speed only applies to the embedded"),
        (["run", "--scenario", "/nonexistent.json", "--duration", "1", "--metrics", "off"], "scenario"),
    ],
)
def test_bad_options_are_one_clear_line(args, message):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("DIALER_AMI")}
    r = run_cli(*args, env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_secret_file_is_read_and_never_printed(tmp_path):
    secret = tmp_path / "ami.secret"
    secret.write_text("hunter2-very-secret\n")
    a = make_parser().parse_args(["run", "--ami", "127.0.0.1:5038", "--caller-id", "+864001000000"])
    cfg = build_run_config(a, env={"DIALER_AMI_SECRET_FILE": str(secret)})
    assert cfg.ami_secret is not None and cfg.ami_secret.reveal() == "hunter2-very-secret"
    assert "hunter2" not in repr(cfg) and "hunter2" not in str(cfg.ami_secret)


def test_var_option():
    assert parse_var("DIALER_RECORD=1") == ("DIALER_RECORD", "1")
    assert parse_var("DIALER_MACHINE=drop=x") == ("DIALER_MACHINE", "drop=x")
    for bad in ("=1", "A B=1", "DIALER_CALL_ID=x", "X=a\nb"):
        with pytest.raises(InputError):
            parse_var(bad)


def test_drain_timeout_defaults_depend_on_the_pbx():
    p = make_parser()
    assert build_run_config(p.parse_args(["run"]), env={}).drain_timeout_s == 120.0
    cfg = build_run_config(p.parse_args(["run", "--ami", "h:1", "--caller-id", "+864001000000"]),
                           env={"DIALER_AMI_SECRET": "x"})
    assert cfg.drain_timeout_s == 1800.0


def test_run_paces_predictively_unless_told_otherwise():
    default = build_run_config(make_parser().parse_args(["run"]), env={})
    assert default.campaign.pacer == "predictive"
    chosen = build_run_config(make_parser().parse_args(["run", "--pacer", "progressive"]), env={})
    assert chosen.campaign.pacer == "progressive"
