"""Acceptance: a broker outage and a SIGKILL lose no outcome and count none twice.

Against the real RabbitMQ on 127.0.0.1:5672. A consumer (`python -m dialer.sinks.consumer`)
reads `outcome.*.*` into a JSON-lines file through its dedupe seen-set the whole time.

Timeline (real seconds; the dialer runs the embedded PBX at 20x):
  0   dialer run 1 starts (its own ledger and outbox files)
  4   broker stopped (`rabbitmqctl stop_app`) for 60 s
  12  run 1 is SIGKILLed with calls in flight and outcomes unconfirmed in its outbox
  13  run 2 starts on the same ledger and outbox, broker still down: it starts, says it
      buffers, recovers run 1's open attempts as `lost`, and pauses calling when its backlog
      reaches --outbox-max (back-pressure), while the calls in flight finish
  64  broker started again: the backlog drains, calling resumes
  ~85 run 2 ends; every outcome confirmed
Then: every attempt in the ledger is completed and has exactly one outcome at the consumer,
with the disposition the ledger recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from dialer.core.compliance import result_for_disposition
from dialer.core.model import Disposition
from tests.sinks.broker import URL, broker_restored, require_broker, start_broker, stop_broker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 60.0


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DIALER_AMQP_URL": URL, "DIALER_PSEUDONYM_KEY": "test-key-outage", "PYTHONUNBUFFERED": "1",
                "DIALER_LOG_LEVEL": "info", "TEST_BACKOFF_MAX_S": "2"})
    env.update(extra)
    return env


def _dialer(tmp: Path, name: str, seed: int, duration: float, queue: str) -> subprocess.Popen[str]:
    args = [
        sys.executable, "-m", "tests.sinks.dialer_runner",
        "--agents", "20", "--speed", "20", "--seed", str(seed), "--duration", str(duration),
        "--drain-timeout", "300", "--metrics", "off", "--no-progress",
        "--ledger", f"sqlite:///{tmp / 'ledger.sqlite3'}", "--outcomes-outbox", str(tmp / "outbox.sqlite3"),
        "--amqp-url", "env:DIALER_AMQP_URL", "--outbox-max", "150", "--outbox-resume", "50",
        "--stats-interval", "60", "--dispositions-queue", queue,
    ]
    return subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=open(tmp / f"{name}.log", "w"), text=True)


def _consumer(tmp: Path, queue: str, *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "dialer.sinks.consumer", "--queue", queue, "--bind", "outcome.*.*",
            "--out", str(tmp / "consumed.jsonl"), *extra]
    return subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=open(tmp / "consumer.log", "a"), text=True)


def _ledger(tmp: Path) -> dict[str, str | None]:
    with contextlib.closing(sqlite3.connect(tmp / "ledger.sqlite3")) as c:
        return dict(c.execute("SELECT attempt_id, result FROM attempts"))


def _lines(tmp: Path) -> list[dict]:
    path = tmp / "consumed.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _delete_queues(*names: str) -> None:
    import asyncio

    import aio_pika

    async def go() -> None:
        conn = await aio_pika.connect(URL, timeout=5)
        async with conn:
            ch = await conn.channel()
            for n in names:
                with contextlib.suppress(Exception):
                    await ch.queue_delete(n)

    with contextlib.suppress(Exception):
        asyncio.run(go())


def test_outage_and_sigkill_lose_nothing_and_count_nothing_twice(tmp_path: Path) -> None:
    require_broker()
    tag = uuid.uuid4().hex[:8]
    queue, disp_queue = f"test.outage.{tag}", f"test.dispositions.{tag}"
    procs: list[subprocess.Popen[str]] = []
    t0 = time.monotonic()

    def at(t: float) -> None:
        time.sleep(max(0.0, t - (time.monotonic() - t0)))

    try:
        with broker_restored():
            assert subprocess.run(
                [sys.executable, "-m", "dialer.sinks.consumer", "--queue", queue, "--bind", "outcome.*.*",
                 "--out", str(tmp_path / "consumed.jsonl"), "--declare-only"],
                cwd=ROOT, env=_env(), capture_output=True, timeout=30,
            ).returncode == 0
            consumer = _consumer(tmp_path, queue)
            procs.append(consumer)
            t0 = time.monotonic()
            run1 = _dialer(tmp_path, "run1", seed=3, duration=1200, queue=disp_queue)
            procs.append(run1)
            run1_id = json.loads(run1.stdout.readline())["run_id"]  # type: ignore[union-attr]
            at(4)
            stop_broker()
            stopped_at = time.monotonic()
            at(12)
            assert run1.poll() is None, "run 1 ended before it could be killed"
            run1.send_signal(signal.SIGKILL)
            run1.wait(10)
            run2 = _dialer(tmp_path, "run2", seed=4, duration=1400, queue=disp_queue)
            procs.append(run2)
            run2_id = json.loads(run2.stdout.readline())["run_id"]  # type: ignore[union-attr]
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
            start_broker()
            out, _ = run2.communicate(timeout=120)
            assert run2.returncode == 0, (tmp_path / "run2.log").read_text()[-3000:]
            final = json.loads(out.strip().splitlines()[-1])
            ledger = _ledger(tmp_path)
            deadline = time.monotonic() + 30
            while len({x["attempt_id"] for x in _lines(tmp_path)}) < len(ledger) and time.monotonic() < deadline:
                time.sleep(0.2)
            consumer.send_signal(signal.SIGTERM)
            consumer.wait(15)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        _delete_queues(queue, disp_queue)
        if not os.environ.get("KEEP_BROKER_DOWN"):
            with contextlib.suppress(Exception):
                start_broker()

    log2 = (tmp_path / "run2.log").read_text()
    lines = _lines(tmp_path)
    ids = [x["attempt_id"] for x in lines]

    # Run 2 started with the broker down, said so, and paused calling on its backlog.
    assert "unreachable at start" in log2 and "buffers events in the outbox" in log2
    assert "new calls paused" in log2 and "new calls resume" in log2
    assert final["backpressure"][:2] == [True, False]
    assert final["depth"] == 0
    # Both runs placed calls; run 1's open attempts were recovered.
    assert final["recovery"]["runs"] == [run1_id]
    assert any(i.startswith(run1_id + "-") for i in ledger) and any(i.startswith(run2_id + "-") for i in ledger)
    recovered = [x for x in lines if x["recovered"]]
    assert recovered and all(x["disposition"] == "lost" and x["attempt_id"].startswith(run1_id) for x in recovered)
    assert final["recovery"]["lost"] == len(recovered)

    # Exactly one outcome per attempt in the ledger, and nothing else.
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    assert set(ids) == set(ledger)
    assert None not in ledger.values(), "an attempt was left open in the ledger"
    for x in lines:
        assert ledger[x["attempt_id"]] == result_for_disposition(Disposition(x["disposition"])), x["attempt_id"]
    assert len(ledger) > 100
    assert all(x["schema"] == "dialer.outcome/2" for x in lines)
    assert time.monotonic() - t0 < 170
