"""A real Prometheus (Debian's package) scrapes a running `dialer run` with the shipped
scrape configuration; the key series exist and move."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from .conftest import PROM, ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except OSError as exc:  # server not up yet
            last = exc
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


def test_prometheus_scrapes_the_running_dialer(tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: run scripts/services-up.sh as root (Debian's prometheus package)")
    metrics_port, prom_port = free_port(), free_port()
    # The shipped configuration, pointed at this test's dialer and scraping every second.
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "dialer")
    job["static_configs"] = [{"targets": [f"127.0.0.1:{metrics_port}"]}]
    job["scrape_interval"], job["scrape_timeout"] = "1s", "1s"
    cfg["rule_files"] = [str(PROM / f) for f in cfg["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))

    dialer = subprocess.Popen(
        [sys.executable, "-m", "dialer", "run", "--agents", "10", "--duration", "120", "--speed", "5",
         "--metrics", f"127.0.0.1:{metrics_port}", "--no-progress", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ),
    )
    prom = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: query(prom_port, 'up{job="dialer"} == 1'), 30, "the dialer target to be up")
        first = wait_for(lambda: query(prom_port, 'dialer_calls_originated_total{campaign="demo"} > 0'),
                         30, "calls originated")
        v1 = float(first[0]["value"][1])
        moved = wait_for(
            lambda: [r for r in query(prom_port, 'dialer_calls_originated_total{campaign="demo"}')
                     if float(r["value"][1]) > v1], 30, "calls originated to increase")
        assert float(moved[0]["value"][1]) > v1
        rate = query(prom_port, 'dialer_abandon_rate{campaign="demo"}')
        assert len(rate) == 1 and 0.0 <= float(rate[0]["value"][1]) <= 1.0
        assert query(prom_port, 'dialer_abandon_rate_cap{campaign="demo"}')[0]["value"][1] == "0.03"
        agents = query(prom_port, 'sum(dialer_agents{campaign="demo", state!="logged_out"})')
        assert float(agents[0]["value"][1]) == 10
        assert query(prom_port, 'dialer_build_info')[0]["metric"]["kernel"] in ("cython", "python")
        # The shipped rules load and evaluate against the live series.
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=5) as r:
            groups = json.load(r)["data"]["groups"]
        assert groups and all(rule["health"] != "err" for g in groups for rule in g["rules"])
        # A first SIGTERM drains, a second hangs up: the dialer still ends with its summary.
        dialer.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        dialer.send_signal(signal.SIGTERM)
        out, err = dialer.communicate(timeout=60)
        assert dialer.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out)
        assert summary["placed"] == summary["outcomes"] > 0
    finally:
        for p in (prom, dialer):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
