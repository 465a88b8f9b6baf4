"""The public outcome event: what leaves the process for every originated call.

The core's Outcome holds raw identity; this module is the only place that turns it into
the published form, so masking and pseudonymisation cannot be forgotten by a sink.
Schema: dialer/schemas/outcome.v1.json (README "Outcome events").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from .core.model import Outcome
from .core.privacy import mask_phone, pseudonymise

SCHEMA = "dialer.outcome/1"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_event(o: Outcome, *, pseudonym_key: bytes, mask: bool = True) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "attempt_id": o.attempt_id,
        "campaign": o.campaign,
        "attempt_no": o.attempt_no,
        "borrower": pseudonymise(o.borrower_id, pseudonym_key),
        "phone": mask_phone(o.phone) if mask else o.phone,
        "disposition": o.disposition.value,
        "abandoned": o.abandoned,
        "amd_status": o.amd_status,
        "amd_cause": o.amd_cause,
        "hangup_cause": o.hangup_cause,
        "hangup_cause_txt": o.hangup_cause_txt or None,
        "originate_reason": o.originate_reason,
        "queue_result": o.queue_result,
        "agent": o.agent,
        "timestamps": {
            "originate": iso(o.originate_at),
            "answer": iso(o.answer_at),
            "amd": iso(o.amd_at),
            "connect": iso(o.connect_at),
            "hangup": iso(o.hangup_at),
            "ended": iso(o.ended_at),
        },
    }


class OutcomeSink(Protocol):
    """Where outcome events go. The broker sink (RabbitMQ) implements the same protocol."""

    async def write(self, event: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class JsonLinesSink:
    """Appends one JSON object per line and flushes it, so a crash loses no written line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.written = 0

    async def write(self, event: dict[str, Any]) -> None:
        self._f.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._f.flush()
        self.written += 1

    async def close(self) -> None:
        self._f.close()


class NullSink:
    """Counts events and keeps nothing: the default when no --outcomes file is given."""

    def __init__(self) -> None:
        self.written = 0

    async def write(self, event: dict[str, Any]) -> None:
        self.written += 1

    async def close(self) -> None:
        return None
