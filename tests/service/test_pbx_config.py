"""Declaring a pool of PBXs: `--pbx`, its secrets from the environment or a file, and the
errors that name the option and the field."""

from __future__ import annotations

import pytest

from dialer.cli import build_run_config, make_parser
from dialer.config import DEMO_CALLER_ID, RunConfig, parse_pbx
from dialer.core.model import CampaignConfig
from dialer.core.pool import UNLIMITED
from dialer.errors import ConfigError


def test_a_full_pbx_spec():
    env = {"DIALER_AMI_SECRET_PBX_B": "s3cret", "DIALER_AMI_USER": "shared"}
    p = parse_pbx("pbx-b=10.0.0.12:5038,channels=60,user=dialer2", env)
    assert (p.name, p.host, p.port, p.user, p.channels) == ("pbx-b", "10.0.0.12", 5038, "dialer2", 60)
    assert p.secret.reveal() == "s3cret"
    assert "s3cret" not in repr(p)


def test_per_pbx_variables_win_over_the_shared_ones_which_are_the_fallback(tmp_path):
    secret_file = tmp_path / "a.secret"
    secret_file.write_text("from-file\n")
    env = {"DIALER_AMI_SECRET_A_FILE": str(secret_file), "DIALER_AMI_USER_A": "usera",
           "DIALER_AMI_SECRET": "shared", "DIALER_AMI_USER": "shareduser"}
    a = parse_pbx("a=h1:1", env)
    b = parse_pbx("b=h2:2", env)
    assert (a.user, a.secret.reveal(), a.channels) == ("usera", "from-file", UNLIMITED)
    assert (b.user, b.secret.reveal()) == ("shareduser", "shared")
    assert parse_pbx("c=h3:3", {"DIALER_AMI_SECRET": "x"}).user == "dialer"


@pytest.mark.parametrize(("spec", "message"), [
    ("h:5038", "--pbx: expected NAME=HOST:PORT"),
    ("bad name=h:5038", "--pbx: expected NAME=HOST:PORT"),
    ("a=h", "--pbx a: expected HOST:PORT, got 'h'"),
    ("a=h:0", "--pbx a: port must be 1-65535, got 0"),
    ("a=h:1,channels=0", "--pbx a: channels must be an integer >= 1, got '0'"),
    ("a=h:1,channels=many", "--pbx a: channels must be an integer >= 1, got 'many'"),
    ("a=h:1,colour=red", "--pbx a: unknown option 'colour=red'"),
])
def test_bad_specs_name_the_pbx_and_the_field(spec, message):
    with pytest.raises(ConfigError) as err:
        parse_pbx(spec, {"DIALER_AMI_SECRET": "x"})
    assert message in str(err.value)


def test_a_pbx_without_a_secret_says_which_variables_to_set():
    with pytest.raises(ConfigError, match=r"--pbx pbx-b: DIALER_AMI_SECRET_PBX_B .* must be set"):
        parse_pbx("pbx-b=h:1", {})


def test_an_unreadable_secret_file_is_named_without_its_content(tmp_path):
    with pytest.raises(ConfigError, match="DIALER_AMI_SECRET_A_FILE: cannot read"):
        parse_pbx("a=h:1", {"DIALER_AMI_SECRET_A_FILE": str(tmp_path / "missing")})


def _cli(*args: str, env: dict[str, str] | None = None) -> RunConfig:
    return build_run_config(make_parser().parse_args(["run", *args]), env or {})


def test_the_command_line_builds_a_pool():
    cfg = _cli("--pbx", "a=h1:5038,channels=10", "--pbx", "b=h2:5038", "--caller-id", "+864001234567",
               "--pbx-grace", "12", env={"DIALER_AMI_SECRET": "x"})
    assert cfg.pbx_names() == ("a", "b")
    assert [p.channels for p in cfg.pbxs] == [10, UNLIMITED]
    assert cfg.pbx_grace_s == 12.0
    assert not cfg.embedded and cfg.drain_timeout_s == 1800.0  # a real PBX: production defaults


def test_the_single_pbx_and_embedded_configs_are_pools_of_one_or_n():
    assert _cli("--ami", "h:5038", env={"DIALER_AMI_SECRET": "x"}).pbx_names() == ("default",)
    assert _cli().pbx_names() == ("default",)
    assert _cli("--sim-pbxs", "3").pbx_names() == ("sim1", "sim2", "sim3")


@pytest.mark.parametrize(("kw", "message"), [
    ({"ami": ("h", 1), "pbxs": "two"}, "--ami and --pbx are exclusive"),
    ({"pbxs": "same-name"}, "--pbx: PBX 'a' declared twice"),
    ({"pbxs": "same-address"}, "--pbx: two PBXs at h:1"),
    ({"sim_pbxs": 2, "ami": ("h", 1)}, "--sim-pbxs only applies to the embedded"),
    ({"sim_pbxs": 17}, "--sim-pbxs: expected 1 to 16, got 17"),
    ({"pbx_grace_s": 0.0}, "--pbx-grace: expected seconds > 0"),
    ({"speed": 5.0, "pbxs": "two"}, "--speed only applies to the embedded"),
])
def test_bad_pool_configs_are_refused(kw, message):
    env = {"DIALER_AMI_SECRET": "x"}
    pools = {
        "two": (parse_pbx("a=h:1", env), parse_pbx("b=h:2", env)),
        "same-name": (parse_pbx("a=h:1", env), parse_pbx("a=h:2", env)),
        "same-address": (parse_pbx("a=h:1", env), parse_pbx("b=h:1", env)),
    }
    if "pbxs" in kw:
        kw = {**kw, "pbxs": pools[kw["pbxs"]]}
    kw.setdefault("ami_secret", parse_pbx("z=h:9", env).secret)
    cfg = RunConfig(campaign=CampaignConfig(name="c", caller_id=DEMO_CALLER_ID), **kw)
    with pytest.raises(ConfigError, match=message):
        cfg.validate()
