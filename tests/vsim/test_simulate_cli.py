"""`dialer simulate`: output keys, table, and one clear line per bad option."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

import pytest

from dialer.simulate_cli import main
from dialer.summary import Summary

QUICK = ["simulate", "--agents", "3", "--hours", "0.1", "--seed", "2"]
EXTRA_KEYS = {"calls_per_agent_hour", "agent_idle_mean_s", "abandon_rate_worst_hour"}


def test_json_has_the_run_keys_plus_three(capsys: pytest.CaptureFixture[str]):
    argv = [*QUICK, "--pacer", "ratio", "--answer-rate", "0.3", "--machine-rate", "0.1", "--talk-mean", "45",
            "--wrap", "5", "--abandon-target", "2.5", "--amd", "off", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    d = json.loads(out[0])
    assert set(d) == ({f.name for f in fields(Summary)} - {"extra"}) | EXTRA_KEYS
    assert d["pacer"] == "ratio" and d["duration_s"] == 360.0 and "machine" not in d["dispositions"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == d  # seeded: the same day twice


def test_table_and_pacer_options(capsys: pytest.CaptureFixture[str]):
    assert main([*QUICK, "--pacer", "ratio", "--pacer-option", "ratio=3", "--pacer-option", "tally=active"]) == 0
    out = capsys.readouterr().out
    for label in ("pacer", "agent occupancy", "abandon rate, worst hour", "calls per agent-hour",
                  "agent idle between calls", "calls in flight"):
        assert label in out


def test_a_scenario_file(tmp_path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"name": "x", "talk_s": 30}))
    assert main([*QUICK, "--scenario", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["placed"] > 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--agents", "0"], "--agents"),
        (["--agents", "many"], "--agents"),
        (["--hours", "-1"], "--hours"),
        (["--seed", "x"], "--seed"),
        (["--answer-rate", "25"], "--answer-rate"),
        (["--answer-rate", "0.7", "--machine-rate", "0.5"], "--machine-rate"),
        (["--talk-mean", "0"], "--talk-mean"),
        (["--wrap", "-3"], "--wrap"),
        (["--abandon-target", "0"], "--abandon-target"),
        (["--abandon-target", "abc"], "--abandon-target"),
        (["--amd", "maybe"], "--amd"),
        (["--pacer", "magic"], "--pacer"),
        (["--pacer", "ratio", "--pacer-option", "ratio=0.2"], "--pacer-option"),
        (["--pacer", "ratio", "--pacer-option", "nonsense"], "--pacer-option"),
        (["--scenario", "/no/such/file.json"], "--scenario"),
        (["--tick", "0"], "--tick"),
    ],
)
def test_bad_values_are_one_line_naming_the_option(args: list[str], option: str,
                                                   capsys: pytest.CaptureFixture[str]):
    assert main([*QUICK, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dialer: error: {option}: "), lines


@pytest.mark.integration
def test_runs_standalone_as_a_module():
    ok = subprocess.run([sys.executable, "-m", "dialer.simulate_cli", *QUICK, "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and json.loads(ok.stdout)["outcomes"] > 0
    bad = subprocess.run([sys.executable, "-m", "dialer.simulate_cli", *QUICK, "--agents", "-5"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "dialer: error: --agents: expected an integer >= 1, got '-5'"
