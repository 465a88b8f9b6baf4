"""The relay: publishes what the outbox holds and marks it confirmed, in the background.

It reads unconfirmed rows in order, keeps up to `window` publishes in flight (each resolves
when the transport confirms it: a broker's publisher confirm, or a file's fsync), and marks
confirmed rows in batches. Nothing on the call path waits for it.

When the transport fails (connection lost, confirm timeout, nack) the relay lets the
publishes in flight settle, writes down what was confirmed, and starts again from the oldest
unconfirmed row: anything not confirmed is published again, so a consumer may see a message
twice (same message id) and never zero times. It reconnects with capped exponential backoff
and jitter; a transport that cannot connect at start does not stop it (it says so once and
keeps retrying).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

from ..errors import ConfigError, DialerIOError
from .outbox import Outbox, Row

__all__ = ["PublishRejected", "Relay", "Transport", "TransportUnavailable", "within"]

log = logging.getLogger("dialer.delivery")

T = TypeVar("T")


async def within(aw: Awaitable[T], seconds: float) -> T:
    """`await aw`, TimeoutError after `seconds`. Not asyncio.wait_for: on Python 3.11 it
    swallows a cancellation that arrives as the awaited thing completes, and a relay that
    ignores its cancel never stops."""
    async with asyncio.timeout(seconds):
        return await aw


class TransportUnavailable(DialerIOError):
    """The broker (or file) cannot take messages now; retry later."""


class PublishRejected(DialerIOError):
    """The broker refused one message (nack); it stays in the outbox and is retried."""


class Transport(Protocol):
    #: Where messages go, safe to log (no credentials): "amqp://host:5672/vhost", "jsonl:PATH".
    name: str

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None:
        """Raise ConfigError for what retrying cannot fix, TransportUnavailable otherwise."""

    async def publish(self, row: Row) -> None:
        """Resolve once the message is confirmed.

        A transport may also have `publish_nowait(rows) -> list[Future]` (one future per row
        it took, resolved by the confirm) and `publish_error(exc) -> Exception` (what a failed
        future means); the relay then publishes its batches through it, without a task per
        message (dialer.sinks.amqp).
        """

    async def disconnect(self) -> None:
        """Drop the connection (it is re-made by connect)."""

    async def close(self) -> None: ...


class Relay:
    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        *,
        window: int = 1000,
        fetch_size: int = 1000,
        confirm_every_s: float = 0.02,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        idle_poll_s: float = 1.0,
        stall_timeout_s: float = 30.0,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.window = window
        self.fetch_size = fetch_size
        self.confirm_every_s = confirm_every_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.idle_poll_s = idle_poll_s
        self.stall_timeout_s = stall_timeout_s
        self._progress_at = 0.0
        self.on_connection = on_connection
        self.publish_failures = 0  # messages whose publish failed (retried later)
        self.connect_failures = 0
        self.published = 0
        self.reconnects = 0
        self._wake = asyncio.Event()
        self._buffer: deque[Row] = deque()
        self._pumping = False
        self._in_flight: dict[asyncio.Future[Any], int] = {}
        self._launch_due = False
        self._confirmed: list[int] = []
        self._confirmed_event = asyncio.Event()
        self._failed: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop = asyncio.Event()
        self._down_logged = False
        self._ever_connected = False

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect once (ConfigError propagates: a bad URL or password stops start-up), then
        run in the background. An unreachable transport is logged and retried."""
        try:
            await self.transport.connect()
            self._connected(True)
        except TransportUnavailable as exc:
            self.connect_failures += 1
            self._down_logged = True
            log.warning(
                "%s is unreachable at start (%s): the dialer runs on and buffers events in the outbox %s;"
                " retrying in the background",
                self.transport.name, exc, self.outbox.path,
            )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox-relay")
        self._watchdog = asyncio.get_running_loop().create_task(self._stall_watchdog(), name="outbox-watchdog")
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop(), name="outbox-confirm")

    def wake(self) -> None:
        self._wake.set()

    async def close(self, drain_timeout_s: float = 10.0) -> bool:
        """Publish what is pending for up to `drain_timeout_s`, then stop. True if drained."""
        drained = await self.wait_drained(drain_timeout_s)
        self._stopping = True
        self._stop.set()
        self._wake.set()
        for t in (self._task, self._watchdog):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
        await self._flush()
        with contextlib.suppress(Exception):
            await self.transport.close()
        return drained

    async def wait_drained(self, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.outbox.depth > 0 or self._in_flight or self._confirmed:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def _connected(self, up: bool) -> None:
        if up:
            if self._down_logged or self._ever_connected:
                log.warning("%s is reachable again; publishing %d buffered event(s)",
                            self.transport.name, self.outbox.depth)
            else:
                log.info("publishing events to %s", self.transport.name)
            self._down_logged = False
            self._ever_connected = True
        if self.on_connection is not None:
            self.on_connection(up)

    # --- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.backoff_min_s
        while not self._stopping:
            if not self.transport.connected:
                try:
                    await self.transport.connect()
                except (TransportUnavailable, ConfigError) as exc:
                    self.connect_failures += 1
                    if not self._down_logged:
                        self._down_logged = True
                        log.warning("%s unavailable (%s): buffering events in the outbox; retrying",
                                    self.transport.name, exc)
                    else:
                        log.debug("%s still unavailable: %s", self.transport.name, exc)
                    await self._sleep(backoff * (0.75 + random.random() / 2))
                    backoff = min(backoff * 2, self.backoff_max_s)
                    continue
                self.reconnects += 1
                self._connected(True)
            backoff = self.backoff_min_s
            failure = await self._pump()
            if failure is None:
                continue
            if isinstance(failure, TransportUnavailable):
                if not self._down_logged:
                    self._down_logged = True
                    log.warning("%s lost (%s): buffering events in the outbox (%d pending); reconnecting",
                                self.transport.name, failure, self.outbox.depth)
                if self.on_connection is not None:
                    self.on_connection(False)
                with contextlib.suppress(Exception):
                    await self.transport.disconnect()
            else:
                log.warning("%s: %s; retrying", self.transport.name, failure)
            await self._sleep(self.backoff_min_s)

    async def _sleep(self, s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await within(self._stop.wait(), s)

    async def _pump(self) -> BaseException | None:
        """Publish from the oldest unconfirmed row until a failure; return it (None: stopping).

        Rows are fetched ahead into a local buffer; the confirms that arrive in one loop
        iteration free their slots and the next batch goes out from the buffer right after them
        (one write), so the window stays full like a semaphore's, and the fetches (memory in
        steady state, disk after a restart) overlap the publishing.
        """
        cursor = 0
        self._failed = None
        self._buffer.clear()
        self._pumping = True
        refill_below = max(1, self.fetch_size // 2)
        try:
            while not self._stopping and self._failed is None and self.transport.connected:
                self._launch()
                if len(self._buffer) >= refill_below:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._wake.clear()
                rows = await self.outbox.fetch(cursor, self.fetch_size - len(self._buffer))
                if rows:
                    cursor = rows[-1].seq
                    self._buffer.extend(rows)
                    continue
                with contextlib.suppress(TimeoutError):
                    await within(self._wake.wait(), self.idle_poll_s)
        finally:
            self._pumping = False
            self._buffer.clear()
            if self._in_flight:
                await asyncio.gather(*list(self._in_flight), return_exceptions=True)
            await self._flush()
        if self._failed is None and not self.transport.connected and not self._stopping:
            return TransportUnavailable("connection closed")
        return self._failed

    async def _stall_watchdog(self) -> None:
        """Publishes in flight and no confirm for stall_timeout_s (a broker that accepts the
        connection but never confirms, e.g. blocked by a resource alarm): drop the connection,
        so they fail and are published again on a new one."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.stall_timeout_s / 4))
            if self._in_flight and loop.time() - self._progress_at > self.stall_timeout_s:
                log.warning("%s: no publisher confirm for %.0f s with %d in flight; reconnecting",
                            self.transport.name, self.stall_timeout_s, len(self._in_flight))
                self._progress_at = loop.time()
                with contextlib.suppress(Exception):
                    await self.transport.disconnect()

    def _launch(self) -> None:
        """Publish from the buffer until the window is full: one batch, one write."""
        self._launch_due = False
        buf, in_flight = self._buffer, self._in_flight
        if not self._pumping or self._failed is not None:
            return
        loop = asyncio.get_running_loop()
        if not in_flight:
            self._progress_at = loop.time()
        room = self.window - len(in_flight)
        if not buf or room <= 0:
            return
        rows = [buf.popleft() for _ in range(min(room, len(buf)))]
        try:
            futures = self._start(rows)
        except Exception as exc:
            self.publish_failures += len(rows)
            self._fail(exc)
            return
        if len(futures) < len(rows):  # the transport cannot take more right now: the rest shortly
            buf.extendleft(reversed(rows[len(futures):]))
            loop.call_later(0.001, self._launch_soon)
        done = self._done
        for row, fut in zip(rows, futures, strict=False):
            in_flight[fut] = row.seq
            fut.add_done_callback(done)

    def _start(self, rows: list[Row]) -> Sequence[asyncio.Future[Any]]:
        publish_nowait = getattr(self.transport, "publish_nowait", None)
        if publish_nowait is not None:
            return cast("Sequence[asyncio.Future[Any]]", publish_nowait(rows))
        loop = asyncio.get_running_loop()
        publish = self.transport.publish
        return [loop.create_task(publish(row)) for row in rows]

    def _launch_soon(self) -> None:
        """Launch once per loop iteration, after every confirm that arrived in it: a batch per
        iteration rather than a publish per confirm."""
        if not self._launch_due and self._buffer:
            self._launch_due = True
            asyncio.get_running_loop().call_soon(self._launch)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        seq = self._in_flight.pop(fut)
        if fut.cancelled():
            exc: BaseException | None = TransportUnavailable("publish cancelled")
        else:
            exc = fut.exception()
        if exc is None:
            self._confirmed.append(seq)
            self.published += 1
            self._progress_at = fut.get_loop().time()
            if not self._confirmed_event.is_set():
                self._confirmed_event.set()
            if self._buffer and not self._launch_due:
                self._launch_soon()
            if len(self._buffer) < self.fetch_size // 2 and not self._wake.is_set():
                self._wake.set()
        else:
            self.publish_failures += 1
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._failed is None:
            mapper = getattr(self.transport, "publish_error", None)
            if mapper is not None:
                exc = mapper(exc)
            self._failed = (
                exc if isinstance(exc, (TransportUnavailable, PublishRejected))
                else TransportUnavailable(f"{type(exc).__name__}: {exc}")
            )
        self._wake.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._confirmed_event.wait()
            await asyncio.sleep(self.confirm_every_s)
            try:
                await self._flush()
            except DialerIOError as exc:
                log.error("outbox: cannot mark events confirmed (%s); they will be published again", exc)
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        self._confirmed_event.clear()
        if not self._confirmed:
            return
        seqs, self._confirmed = self._confirmed, []
        try:
            await self.outbox.confirm(seqs)
        except BaseException:
            self._confirmed.extend(seqs)
            raise
