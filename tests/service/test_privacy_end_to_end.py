"""Every log line (debug level, JSON and console) and every outcome of a campaign, searched
for full phone numbers and the AMI secret: none may appear.

The PBX is a separately started simulated Asterisk reached with --ami, so the secret goes
through the real path: environment -> config -> AMI Login."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from dialer.leads import parse_leads_text

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-Pa55-9f2d1c"
PHONES = [f"1380013{n:04d}" for n in range(0, 40, 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"simulated PBX did not listen on {port}")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_logs_and_outcomes_hold_no_phone_number_or_secret(tmp_path, log_format):
    leads = tmp_path / "leads.csv"
    leads.write_text("borrower_id,phone,name\n" + "".join(
        f"B{n:03d},{p},Name {n}\n" for n, p in enumerate(PHONES)) + "bad,12345,x\n")
    e164 = [lead.phone for lead in parse_leads_text(leads.read_text()).leads]
    assert len(e164) == len(PHONES)
    rules = tmp_path / "rules.json"
    # Quiet hours off: this test is about data, and must not depend on the time of day.
    rules.write_text(json.dumps({"rules": {
        "cn.quiet_hours": {"enabled": False},
        "all.caller_id": {"allowed": {"privacy": ["+864001000000"]}},
    }}))
    port = free_port()
    pbx = subprocess.Popen([sys.executable, "-m", "dialer.sim", "--port", str(port), "--agents", "5",
                            "--secret", SECRET, "--seed", "4"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        env = dict(os.environ, DIALER_AMI_USER="dialer", DIALER_AMI_SECRET=SECRET,
                   DIALER_PSEUDONYM_KEY="test-key")
        outcomes = tmp_path / "out.jsonl"
        run = subprocess.run(
            [sys.executable, "-m", "dialer", "--log-level", "debug", "--log-format", log_format, "run",
             "--ami", f"127.0.0.1:{port}", "--campaign", "privacy", "--caller-id", "+864001000000",
             "--rules", str(rules), "--ledger", f"sqlite:///{tmp_path / 'ledger.db'}",
             "--leads", str(leads), "--duration", "12", "--drain-timeout", "4", "--originate-timeout", "6",
             "--outcomes", str(outcomes), "--metrics", "off", "--json"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
    finally:
        pbx.terminate()
        pbx.wait(timeout=10)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["placed"] >= 5 and summary["placed"] == summary["outcomes"]
    assert summary["lead_errors"] == 1
    logs = run.stderr
    assert "line 42: phone" in logs  # the bad row was reported...
    assert "originate" in logs  # ...and debug/info lines were really written
    text = logs + "\n" + outcomes.read_text() + "\n" + run.stdout
    assert SECRET not in text
    for p in e164 + PHONES:
        assert p not in text, f"{p[:5]}... appears in logs or outcomes"
    assert "B001" not in outcomes.read_text()  # borrower ids pseudonymised in events
    if log_format == "json":
        records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        assert records and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
        assert any("call_id" in r for r in records)
