"""The deduping consumer: at-least-once in, each message id once out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
import pytest

from dialer.config import Secret
from dialer.errors import ConfigError
from dialer.sinks.amqp import EXCHANGE
from dialer.sinks.consumer import DedupingConsumer, JsonLinesWriter, SeenSet, message_key

from .broker import URL, require_broker

ROOT = Path(__file__).resolve().parents[2]


def test_seen_set_records_ids_and_checkpoint_together(tmp_path):
    s = SeenSet(str(tmp_path / "seen.sqlite3"))
    assert s.unseen(["a", "b"]) == {"a", "b"} and s.checkpoint() is None
    s.add([("a", "outcome.x.y")], "10")
    assert s.unseen(["a", "b"]) == {"b"} and s.checkpoint() == "10"
    s.close()
    s = SeenSet(str(tmp_path / "seen.sqlite3"))
    assert s.count() == 1 and s.checkpoint() == "10"
    s.close()


def test_writer_cuts_lines_written_after_the_last_recorded_batch(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n')  # the second line: written, then a crash before the seen-set commit
    w = JsonLinesWriter(str(path))
    w.on_start("8")
    w.close()
    assert path.read_bytes() == b'{"a":1}\n'
    with pytest.raises(ConfigError, match="shorter"):
        JsonLinesWriter(str(path)).on_start("100")


def test_message_key_falls_back_to_the_attempt_id_then_a_hash():
    assert message_key("m1", b"{}") == "m1"
    assert message_key(None, b'{"attempt_id": "r1-000001"}') == "r1-000001"
    assert message_key("", b"x").startswith("sha256:")


async def _publish(ex, items):
    for mid, body in items:
        await ex.publish(aio_pika.Message(body, message_id=mid, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                         "outcome.demo.busy")


@pytest.mark.integration
async def test_duplicates_are_dropped_across_batches_and_restarts(tmp_path):
    require_broker()
    queue = f"test.consumer.{uuid.uuid4().hex[:8]}"
    out = str(tmp_path / "out.jsonl")
    conn = await aio_pika.connect(URL)
    ch = await conn.channel()
    ex = await ch.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    try:
        async def run_once(items, expect_handled):
            seen = SeenSet(out + ".seen")
            writer = JsonLinesWriter(out)
            writer.on_start(seen.checkpoint())
            c = DedupingConsumer(Secret(URL), queue, ["outcome.#"], writer, seen, batch_wait_s=0.01)
            await c.declare()
            await _publish(ex, items)
            task = asyncio.create_task(c.run())
            for _ in range(200):
                if c.received >= len(items):
                    break
                await asyncio.sleep(0.02)
            c.stop()
            await task
            writer.close()
            seen.close()
            assert c.handled == expect_handled
            return c

        items = [(f"r1-{i:06d}", json.dumps({"attempt_id": f"r1-{i:06d}"}).encode()) for i in range(50)]
        c = await run_once(items + items[:10], 50)
        assert c.duplicates == 10
        await run_once(items[40:] + [("r1-000099", b'{"attempt_id": "r1-000099"}')], 1)  # after a restart
        ids = [json.loads(x)["attempt_id"] for x in Path(out).read_text().splitlines()]
        assert len(ids) == len(set(ids)) == 51
    finally:
        await ch.queue_delete(queue)
        await conn.close()


@pytest.mark.integration
def test_command_line_declares_and_reports_bad_credentials(tmp_path):
    require_broker()
    queue = f"test.cli.{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DIALER_AMQP_URL=URL)
    r = subprocess.run([sys.executable, "-m", "dialer.sinks.consumer", "--queue", queue, "--bind", "outcome.#",
                        "--out", str(tmp_path / "o.jsonl"), "--declare-only"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and f"declared queue {queue}" in r.stderr
    env["DIALER_AMQP_URL"] = "amqp://guest:N0pe-secret@127.0.0.1:5672/"
    r = subprocess.run([sys.executable, "-m", "dialer.sinks.consumer", "--queue", queue,
                        "--out", str(tmp_path / "o.jsonl")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "login refused" in r.stderr and "N0pe-secret" not in r.stderr

    async def cleanup() -> None:
        conn = await aio_pika.connect(URL)
        async with conn:
            await (await conn.channel()).queue_delete(queue)

    asyncio.run(cleanup())
