"""The no-broker transports: a JSON-lines file (`--outcomes FILE`) and a null sink.

Both sit behind the same outbox and relay as the broker, so an outcome is on disk before the
call path goes on whichever sink is configured. Publishing to the file is appending the
event's line; the publishes of one loop iteration are written and fsynced together, and they
are confirmed after the fsync. A crash between the fsync and the confirm mark publishes those
lines again on restart: the file is at-least-once like the broker, consumers dedupe on
`attempt_id`.

Only the kinds listed in `kinds` go to the file (outcomes by default: the file is the
outcome file of the skeleton); other kinds are confirmed and dropped (counted in `dropped`),
since without a broker nobody would read an SMS request.
"""

from __future__ import annotations

import asyncio
import os

from ..errors import ConfigError
from .outbox import Row

__all__ = ["JsonLinesTransport", "NullTransport"]


class JsonLinesTransport:
    def __init__(self, path: str, *, kinds: frozenset[str] = frozenset({"outcome"})) -> None:
        self.path = path
        self.name = f"jsonl:{path}"
        self.kinds = kinds
        self._fd: int | None = None
        self._buf: list[bytes] = []
        self._batch: asyncio.Future[None] | None = None
        self.written = 0
        self.dropped = 0
        self.fsyncs = 0

    @property
    def connected(self) -> bool:
        return self._fd is not None

    async def connect(self) -> None:
        if self._fd is not None:
            return
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise ConfigError(f"--outcomes: cannot open {self.path!r} for appending: {exc.strerror}") from None

    async def publish(self, row: Row) -> None:
        if row.kind not in self.kinds:
            self.dropped += 1
            return
        if self._fd is None:
            from .relay import TransportUnavailable

            raise TransportUnavailable("file closed")
        self._buf.append(row.body + b"\n")
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        await asyncio.shield(self._batch)

    async def _flush(self) -> None:
        fut, self._batch = self._batch, None
        data, self._buf = b"".join(self._buf), []
        fd = self._fd
        assert fut is not None
        try:
            if fd is None:
                raise OSError("file closed")

            def write() -> None:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)

            await asyncio.get_running_loop().run_in_executor(None, write)
        except OSError as exc:
            from .relay import TransportUnavailable

            fut.set_exception(TransportUnavailable(f"{self.path}: {exc.strerror or exc}"))
            return
        self.fsyncs += 1
        self.written += data.count(b"\n")
        fut.set_result(None)

    async def disconnect(self) -> None:
        return None  # a file does not drop; a failed write is retried on the same descriptor

    async def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class NullTransport:
    """Confirms everything and keeps nothing: neither a broker nor a file is configured."""

    name = "null"

    def __init__(self) -> None:
        self.dropped = 0

    @property
    def connected(self) -> bool:
        return True

    async def connect(self) -> None:
        return None

    async def publish(self, row: Row) -> None:
        self.dropped += 1

    async def disconnect(self) -> None:
        return None

    async def close(self) -> None:
        return None
