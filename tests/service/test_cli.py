"""The command line: bad options give one clear line and exit 2, never a traceback."""

from __future__ import annotations

import json
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
        (["run", "--bot-capacity", "0"], "argument --bot-capacity: expected an integer >= 1, got '0'"),
        (["run", "--bot-capacity", "5"], "--bot-capacity only applies to a bot-first campaign (give --bot-endpoint)"),
        (["run", "--escalation-rate", "0.3"], "--escalation-rate only applies to a bot-first campaign"),
        (["run", "--bot-endpoint", "voicebot"], "--bot-endpoint: expected a Dial() string TECH/RESOURCE"),
        (["run", "--bot-endpoint", "PJSIP/bot,30"], "--bot-endpoint: expected a Dial() string TECH/RESOURCE"),
        (["run", "--bot-endpoint", "PJSIP/bot", "--escalation-rate", "1.5"],
         "argument --escalation-rate: expected a share between 0 and 1, got '1.5'"),
        (["run", "--bot-endpoint", "PJSIP/bot", "--escalate-context", "my-escalate"],
         "--escalate-context: the embedded PBX only simulates dialer-escalate, got 'my-escalate'"),
        (["run", "--var", "DIALER_BOT_ENDPOINT=PJSIP/bot"], "use --bot-endpoint"),
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


def _bot_config(*args: str, env: dict[str, str] | None = None):
    return build_run_config(make_parser().parse_args(["run", *args]), env={} if env is None else env)


def test_bot_options_set_the_campaign():
    plain = _bot_config()
    assert (plain.campaign.bot_first, plain.campaign.bot_endpoint, plain.campaign.bot_capacity) == (False, "", 0)
    cfg = _bot_config("--bot-endpoint", "AudioSocket/127.0.0.1:9092/${UUID}", "--bot-capacity", "12",
                      "--escalation-rate", "0.35")
    c = cfg.campaign
    assert c.bot_first and c.bot_endpoint == "AudioSocket/127.0.0.1:9092/${UUID}"
    assert (c.bot_capacity, c.escalate_context, c.escalation_rate_prior) == (12, "dialer-escalate", 0.35)
    real = _bot_config("--ami", "pbx:5038", "--caller-id", "+864001000000", "--bot-endpoint", "PJSIP/bot",
                       "--bot-capacity", "40", "--escalate-context", "my-escalate",
                       env={"DIALER_AMI_SECRET": "x"})
    assert (real.campaign.bot_capacity, real.campaign.escalate_context) == (40, "my-escalate")


def test_bot_capacity_defaults_to_the_simulated_bot_and_is_required_on_a_real_pbx(tmp_path):
    from dialer.sim.scenario import Scenario

    assert _bot_config("--bot-endpoint", "PJSIP/bot").campaign.bot_capacity == Scenario.load().bot_channels
    small = tmp_path / "small.json"
    small.write_text(json.dumps(Scenario.load().with_changes(name="small", bot_channels=7).to_dict()))
    assert _bot_config("--bot-endpoint", "PJSIP/bot", "--scenario", str(small)).campaign.bot_capacity == 7
    none = tmp_path / "none.json"
    none.write_text(json.dumps(Scenario.load().with_changes(name="none", bot_channels=0).to_dict()))
    with pytest.raises(InputError, match="--bot-capacity: the scenario's bot has no channel"):
        _bot_config("--bot-endpoint", "PJSIP/bot", "--scenario", str(none))
    with pytest.raises(InputError, match="--bot-capacity: required with --bot-endpoint on a real PBX"):
        _bot_config("--ami", "pbx:5038", "--caller-id", "+864001000000", "--bot-endpoint", "PJSIP/bot",
                    env={"DIALER_AMI_SECRET": "x"})
    with pytest.raises(InputError, match="--escalate-context: expected a context name"):
        _bot_config("--ami", "pbx:5038", "--caller-id", "+864001000000", "--bot-endpoint", "PJSIP/bot",
                    "--bot-capacity", "4", "--escalate-context", "a,b", env={"DIALER_AMI_SECRET": "x"})
