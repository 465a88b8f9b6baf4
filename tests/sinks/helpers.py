"""Shared test material: outcomes, a scriptable transport, schema validation."""

from __future__ import annotations

import asyncio
import json
import pathlib
from typing import Any

from dialer.core.model import Disposition, Outcome
from dialer.sinks.outbox import Row
from dialer.sinks.relay import PublishRejected, TransportUnavailable

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "dialer" / "schemas"


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def validate(event: dict[str, Any], name: str) -> None:
    import jsonschema

    jsonschema.validate(event, schema(name), format_checker=jsonschema.FormatChecker())


def outcome(i: int = 1, *, run: str = "r1", disposition: Disposition = Disposition.NO_ANSWER,
            attempt_no: int = 1, campaign: str = "demo", connected: bool = False) -> Outcome:
    t = 1_795_862_400.0 + i
    return Outcome(
        attempt_id=f"{run}-{i:06d}", campaign=campaign, borrower_id=f"B-{i}", phone=f"+86138{i:08d}",
        attempt_no=attempt_no, disposition=Disposition.CONNECTED if connected else disposition,
        abandoned=False, amd_status="HUMAN" if connected else None, amd_cause=None,
        hangup_cause=16 if connected else 19, hangup_cause_txt="", agent="agent1" if connected else None,
        originate_at=t - 40, answer_at=t - 30 if connected else None, amd_at=None,
        connect_at=t - 28 if connected else None, hangup_at=t, ended_at=t + 0.1,
    )


class FakeTransport:
    """A transport whose broker can be taken down, made to nack, or slowed, from the test."""

    name = "fake://broker"

    def __init__(self, *, up: bool = True, delay_s: float = 0.0) -> None:
        self.up = up
        self._conn = False
        self.delay_s = delay_s
        self.delivered: list[str] = []
        self.nack_ids: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._conn and self.up

    async def connect(self) -> None:
        if not self.up:
            raise TransportUnavailable("connection refused")
        self.connects += 1
        self._conn = True

    async def publish(self, row: Row) -> None:
        if not self.connected:
            raise TransportUnavailable("not connected")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            if not self.up:
                # delivered to the broker, but the confirm is lost with the connection
                self.delivered.append(row.message_id)
                raise TransportUnavailable("connection lost")
            if row.message_id in self.nack_ids:
                self.nack_ids.discard(row.message_id)
                raise PublishRejected("nack")
            self.delivered.append(row.message_id)
        finally:
            self.in_flight -= 1

    async def disconnect(self) -> None:
        self._conn = False

    async def close(self) -> None:
        self._conn = False


class FakeBatchTransport(FakeTransport):
    """The same scriptable broker, published to through the relay's batch path
    (`publish_nowait`, as AmqpTransport does): one future per row, settled `delay_s` later.

    `take` caps how many rows one call accepts (a full write queue); the relay must publish
    the rest later.
    """

    def __init__(self, *, take: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.take = take
        self.batches: list[int] = []

    def publish_nowait(self, rows: list[Row]) -> list[asyncio.Future[None]]:
        if not self.connected:
            raise TransportUnavailable("not connected")
        rows = rows[: self.take] if self.take is not None else rows
        self.batches.append(len(rows))
        loop = asyncio.get_running_loop()
        futures = []
        for row in rows:
            fut: asyncio.Future[None] = loop.create_future()
            futures.append(fut)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            loop.call_later(self.delay_s, self._settle, row, fut)
        return futures

    def _settle(self, row: Row, fut: asyncio.Future[None]) -> None:
        self.in_flight -= 1
        if not self.up:
            self.delivered.append(row.message_id)  # delivered, but the confirm is lost
            fut.set_exception(ConnectionResetError("connection lost"))
        elif row.message_id in self.nack_ids:
            self.nack_ids.discard(row.message_id)
            fut.set_exception(LookupError("nack"))
        else:
            self.delivered.append(row.message_id)
            fut.set_result(None)

    def publish_error(self, exc: BaseException) -> Exception:
        if isinstance(exc, LookupError):
            return PublishRejected("nack")
        return TransportUnavailable(type(exc).__name__)
