"""The public outcome event, version 1 (`dialer.outcome/1`), and the timestamp format.

The event on the wire is version 2 (dialer/sinks/events.py `outcome_body`), the only
place that turns the core's Outcome (raw identity) into a published form, so masking and
pseudonymisation cannot be forgotten. Version 1 is kept for consumers that have not moved
and is, by construction, version 2 without the fields version 2 added.
Schemas: dialer/schemas/outcome.v1.json and outcome.v2.json.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .core.model import Outcome

SCHEMA_V1 = "dialer.outcome/1"
V2_ONLY_FIELDS = ("strategy", "segment", "script_variant", "compliance_rules", "recording", "recovered")
# v2 fields present only on bot-first calls
V2_OPTIONAL_FIELDS = ("handled_by", "escalated", "escalated_at")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_event(o: Outcome, *, pseudonym_key: bytes) -> dict[str, Any]:
    """The version-1 event for an outcome: the version-2 body minus the fields v2 added."""
    from .sinks.events import OutcomeLabels, outcome_body  # the sinks import this module

    body = outcome_body(o, pseudonym_key, OutcomeLabels())
    for name in V2_ONLY_FIELDS:
        body.pop(name)
    for name in V2_OPTIONAL_FIELDS:
        body.pop(name, None)
    body["schema"] = SCHEMA_V1
    return body
