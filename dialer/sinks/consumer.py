"""A deduping consumer of the dialer's events: at-least-once in, exactly-once effect out.

The dialer publishes every event at least once (a reconnect or a restart publishes again
whatever the broker had not confirmed). Each message carries a stable `message_id` (the
attempt id for outcomes). This consumer keeps a durable seen-set (SQLite) and hands each id
to the handler once.

The exactly-once boundary: per batch, the handler runs, then the new ids are recorded in the
seen-set together with the handler's *checkpoint* (one transaction), then the batch is acked.
A crash after the handler but before that commit re-delivers the batch; a handler that
returns a checkpoint gets it back at start (`on_start`) and undoes what came after it. The
JSON-lines writer below does exactly that with the file size, so the file holds every event
exactly once. A handler whose effect cannot be rolled back that way (an HTTP call) gets
at-least-once for the batch in flight at a crash and should be idempotent by `message_id`.

Command line:

    python -m dialer.sinks.consumer --queue billing.outcomes --bind 'outcome.#' --out outcomes.jsonl

The broker URL comes from DIALER_AMQP_URL / DIALER_AMQP_URL_FILE or `--amqp-url env:NAME|file:PATH`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import Secret
from ..errors import ConfigError, DialerError
from .amqp import EXCHANGE, amqp_url_from, connect_closing, describe_amqp_url, quiet_aiormq
from .relay import within

__all__ = ["DedupingConsumer", "JsonLinesWriter", "Received", "SeenSet", "main"]

log = logging.getLogger("dialer.consumer")


@dataclass(frozen=True, slots=True)
class Received:
    message_id: str
    routing_key: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def message_key(message_id: str | None, body: bytes) -> str:
    """The dedupe key: the publisher's message id; for foreign messages without one, the
    body's attempt id, else a hash of the body."""
    if message_id:
        return message_id
    with contextlib.suppress(Exception):
        aid = json.loads(body).get("attempt_id")
        if isinstance(aid, str) and aid:
            return aid
    return "sha256:" + hashlib.sha256(body).hexdigest()


class SeenSet:
    """Durable set of processed message ids, with the handler's checkpoint (SQLite, WAL, FULL)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, routing_key TEXT)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT)")

    def checkpoint(self) -> str | None:
        row = self._conn.execute("SELECT value FROM checkpoint WHERE id = 1").fetchone()
        return None if row is None else row[0]

    def unseen(self, keys: Sequence[str]) -> set[str]:
        seen: set[str] = set()
        for k in range(0, len(keys), 400):
            part = list(keys[k : k + 400])
            seen.update(
                r[0]
                for r in self._conn.execute(
                    f"SELECT message_id FROM seen WHERE message_id IN ({','.join('?' * len(part))})", part
                )
            )
        return set(keys) - seen

    def add(self, items: Sequence[tuple[str, str]], checkpoint: str | None) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany("INSERT OR IGNORE INTO seen (message_id, routing_key) VALUES (?,?)", items)
            if checkpoint is not None:
                c.execute(
                    "INSERT INTO checkpoint (id, value) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET value = excluded.value",
                    (checkpoint,),
                )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


Handler = Callable[[list[Received]], Awaitable[str | None]]


class JsonLinesWriter:
    """Appends each event's body as one line; the checkpoint is the file size after fsync.

    At start, bytes past the last checkpoint (written, but the batch was never recorded as
    seen, so it is delivered again) are cut off: the file holds each event exactly once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._f = open(path, "ab")  # noqa: SIM115 - closed in close()

    def on_start(self, checkpoint: str | None) -> None:
        size = os.path.getsize(self.path)
        good = int(checkpoint) if checkpoint is not None else 0
        if size > good:
            log.warning("%s: cutting %d byte(s) written after the last recorded batch (delivered again)",
                        self.path, size - good)
            with open(self.path, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        elif size < good:
            raise ConfigError(f"{self.path} is shorter than the consumer's seen-set records: was it edited?")

    async def __call__(self, batch: list[Received]) -> str:
        data = b"".join(r.body.rstrip(b"\n") + b"\n" for r in batch)

        def write() -> int:
            self._f.write(data)
            self._f.flush()
            os.fsync(self._f.fileno())
            return self._f.tell()

        return str(await asyncio.get_running_loop().run_in_executor(None, write))

    def close(self) -> None:
        self._f.close()


class DedupingConsumer:
    def __init__(
        self,
        url: Secret,
        queue: str,
        bindings: Sequence[str],
        handler: Handler,
        seen: SeenSet,
        *,
        exchange: str = EXCHANGE,
        prefetch: int = 1000,
        batch_max: int = 500,
        batch_wait_s: float = 0.05,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.url = url
        self.endpoint = describe_amqp_url(url)
        self.queue = queue
        self.bindings = list(bindings)
        self.handler = handler
        self.seen = seen
        self.exchange = exchange
        self.prefetch = prefetch
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.backoff_max_s = backoff_max_s
        self.received = 0
        self.duplicates = 0
        self.handled = 0
        self._stop = asyncio.Event()
        quiet_aiormq()

    def stop(self) -> None:
        self._stop.set()

    async def declare(self) -> None:
        """Declare the durable queue and its bindings (do this before the dialer publishes)."""

        conn = await connect_closing(self.url.reveal(), timeout=5)
        async with conn:
            await self._setup(await conn.channel())

    async def _setup(self, ch: Any) -> Any:
        import aio_pika

        await ch.set_qos(prefetch_count=self.prefetch)
        ex = await ch.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        q = await ch.declare_queue(self.queue, durable=True)
        for key in self.bindings:
            await q.bind(ex, routing_key=key)
        return q

    async def run(self) -> None:
        """Consume until stop(); reconnects with backoff when the broker goes away."""
        import aiormq.exceptions as amqp_errors

        backoff = 0.5
        down_logged = False
        while not self._stop.is_set():
            try:
                conn = await connect_closing(self.url.reveal(), timeout=5)
            except amqp_errors.ProbableAuthenticationError:
                raise ConfigError(f"broker {self.endpoint}: login refused (wrong user name or password)") from None
            except Exception as exc:
                if not down_logged:
                    log.warning("broker %s unavailable (%s); retrying", self.endpoint, type(exc).__name__)
                    down_logged = True
                with contextlib.suppress(TimeoutError):
                    await within(self._stop.wait(), backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            if down_logged:
                log.warning("broker %s reachable again", self.endpoint)
            down_logged = False
            backoff = 0.5
            try:
                await self._consume(conn)
            except Exception as exc:
                log.warning("consuming from %s stopped (%s); reconnecting", self.queue, type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await within(conn.close(), 5)

    async def _consume(self, conn: Any) -> None:
        ch = await conn.channel()
        q = await self._setup(ch)
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        closed = asyncio.Event()
        conn.close_callbacks.add(lambda *_: closed.set())
        ch.close_callbacks.add(lambda *_: closed.set())
        tag = await q.consume(inbox.put)
        try:
            while not self._stop.is_set() and not closed.is_set():
                batch = await self._next_batch(inbox, closed)
                if batch:
                    await self._process(batch)
        finally:
            with contextlib.suppress(Exception):
                await q.cancel(tag)
        if closed.is_set() and not self._stop.is_set():
            raise ConnectionError("connection closed")

    async def _next_batch(self, inbox: asyncio.Queue[Any], closed: asyncio.Event) -> list[Any]:
        stop = asyncio.ensure_future(self._stop.wait())
        gone = asyncio.ensure_future(closed.wait())
        first = asyncio.ensure_future(inbox.get())
        try:
            await asyncio.wait({stop, gone, first}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            gone.cancel()
        if not first.done():
            first.cancel()
            return []
        batch = [first.result()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_wait_s
        while len(batch) < self.batch_max:
            try:
                batch.append(inbox.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await within(inbox.get(), left))
            except TimeoutError:
                break
        return batch

    async def _process(self, batch: list[Any]) -> None:
        self.received += len(batch)
        keyed = [(message_key(m.message_id, m.body), m) for m in batch]
        loop = asyncio.get_running_loop()
        unseen = await loop.run_in_executor(None, self.seen.unseen, [k for k, _ in keyed])
        fresh: list[Received] = []
        taken: set[str] = set()
        for k, m in keyed:
            if k in unseen and k not in taken:
                taken.add(k)
                fresh.append(Received(k, m.routing_key or "", m.body))
        self.duplicates += len(batch) - len(fresh)
        if fresh:
            checkpoint = await self.handler(fresh)
            await loop.run_in_executor(
                None, self.seen.add, [(r.message_id, r.routing_key) for r in fresh], checkpoint
            )
            self.handled += len(fresh)
        await batch[-1].ack(multiple=True)


async def _amain(a: argparse.Namespace) -> int:
    url = amqp_url_from(a.amqp_url)
    if url is None:
        raise ConfigError("no broker: set DIALER_AMQP_URL (or DIALER_AMQP_URL_FILE) or give --amqp-url")
    seen = SeenSet(a.seen or a.out + ".seen.sqlite3")
    writer = JsonLinesWriter(a.out)
    writer.on_start(seen.checkpoint())
    consumer = DedupingConsumer(url, a.queue, a.bind or ["#"], writer, seen, prefetch=a.prefetch)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, consumer.stop)
    if a.declare_only:
        await consumer.declare()
        print(f"declared queue {a.queue} bound to {', '.join(consumer.bindings)} on {EXCHANGE}", file=sys.stderr)
        return 0
    log.warning("consuming %s from %s into %s", a.queue, consumer.endpoint, a.out)
    try:
        await consumer.run()
    finally:
        writer.close()
        log.warning("stopped: %d received, %d duplicate(s) dropped, %d written", consumer.received,
                    consumer.duplicates, consumer.handled)
        seen.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dialer.sinks.consumer",
                                description="Consume dialer events exactly once into a JSON-lines file.")
    p.add_argument("--queue", required=True, help="durable queue name (declared if missing)")
    p.add_argument("--bind", action="append", metavar="KEY",
                   help="routing key pattern to bind, e.g. 'outcome.#' (repeatable; default '#')")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="append each new event here")
    p.add_argument("--seen", metavar="PATH", help="the seen-set SQLite file (default: FILE.jsonl.seen.sqlite3)")
    p.add_argument("--amqp-url", metavar="env:NAME|file:PATH",
                   help="where the broker URL is (default: DIALER_AMQP_URL or DIALER_AMQP_URL_FILE)")
    p.add_argument("--prefetch", type=int, default=1000)
    p.add_argument("--declare-only", action="store_true", help="declare the queue and bindings, then exit")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_amain(a))
    except DialerError as exc:
        print(f"consumer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
