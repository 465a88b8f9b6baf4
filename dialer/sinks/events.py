"""The events on the bus, built from core records: schemas in dialer/schemas, docs/events.md.

Every event has a `schema` field (`dialer.<type>/<version>`), a stable message id (the AMQP
`message_id`, the consumers' dedupe key) and a routing key on the `dialer.events` topic
exchange:

| event               | schema                         | routing key                         | message id            |
| ------------------- | ------------------------------ | ----------------------------------- | --------------------- |
| outcome             | dialer.outcome/2               | outcome.<campaign>.<disposition>    | the attempt id        |
| sms.request         | dialer.sms_request/1           | sms.request.<campaign>              | sms:<request_id>      |
| campaign.stats      | dialer.campaign_stats/1        | campaign.stats.<campaign>           | stats:<snapshot_id>   |
| outcome.disposition | dialer.outcome_disposition/1   | disposition.<campaign>.<code>       | disp:<attempt>:<hash> |
| agent.disposition   | dialer.agent_disposition/1     | agent.disposition.<campaign> (in)   | set by the sender     |

Personal data never leaves in clear: borrower ids are keyed HMACs (`b_...`), phone numbers
are masked, and where a downstream service must find the number (the SMS service) it gets a
keyed HMAC of the E.164 number (`phone_ref`, `p_...`) that it can match against its own
records with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.engine import CampaignSnapshot, DialerSnapshot
from ..core.messaging import AGENT_CODES, SmsRequest
from ..core.model import Outcome
from ..core.privacy import mask_phone, pseudonymise, scrub_text
from ..errors import InputError
from ..outcomes import iso
from .outbox import Message

__all__ = [
    "OUTCOME_SCHEMA",
    "AgentDisposition",
    "OutcomeLabels",
    "disposition_message",
    "dumps",
    "outcome_message",
    "parse_agent_disposition",
    "phone_ref",
    "sms_message",
    "stats_messages",
]

OUTCOME_SCHEMA = "dialer.outcome/2"
SMS_SCHEMA = "dialer.sms_request/1"
STATS_SCHEMA = "dialer.campaign_stats/1"
DISPOSITION_SCHEMA = "dialer.outcome_disposition/1"
AGENT_DISPOSITION_SCHEMA = "dialer.agent_disposition/1"

_WORD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NOTE_MAX = 500


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback keeps a bare install working
    orjson = None  # type: ignore[assignment]


def dumps_outcome(body: dict[str, Any]) -> bytes:
    """The outcome body's bytes, the same bytes as `dumps`, five times faster.

    An outcome is built on the event loop for every call; json.dumps was a tenth of the event
    loop's time per outcome in bench/bench_outbox.py. The body holds only strings, small ints,
    booleans, None and lists of strings, for which orjson's output is byte for byte json.dumps's
    with ensure_ascii=False and compact separators (a test checks it, non-ASCII included).
    """
    if orjson is None:
        return dumps(body)
    return orjson.dumps(body)


def phone_ref(phone: str, key: bytes) -> str:
    """Keyed, stable reference to a phone number (HMAC-SHA256, 16 bytes, hex)."""
    return "p_" + hmac.new(key, phone.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class OutcomeLabels:
    """What the outcome says about the call beyond the core's record, where known.

    Campaign-wide values come from the events config; `recording` is a template filled with
    `{attempt_id}`, `{campaign}`, `{date}` (UTC, YYYY-MM-DD) for calls an agent talked on
    (the dialplan's MixMonitor names its file the same way).
    """

    strategy: str | None = None
    segment: str | None = None
    script_variant: str | None = None
    compliance_rules: tuple[str, ...] = ()
    recording: str | None = None

    def recording_for(self, o: Outcome) -> str | None:
        if not self.recording or o.connect_at is None:
            return None
        date = (iso(o.connect_at) or "")[:10]
        return self.recording.format(attempt_id=o.attempt_id, campaign=o.campaign, date=date)


_DAYS: dict[int, str] = {}


def fast_iso(ts: float | None) -> str | None:
    """dialer.outcomes.iso without datetime objects (a third of the cost; it runs six times per
    call on the event loop). Same rounding: to the microsecond, half to even, then truncated to
    milliseconds; a test compares the two on many values."""
    if ts is None:
        return None
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        whole += 1
        us -= 1_000_000
    elif us < 0:
        whole -= 1
        us += 1_000_000
    days, sec = divmod(int(whole), 86400)
    date = _DAYS.get(days)
    if date is None:
        t = time.gmtime(days * 86400)
        date = _DAYS[days] = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        if len(_DAYS) > 64:
            _DAYS.pop(next(iter(_DAYS)))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{date}{h:02d}:{m:02d}:{s:02d}.{us // 1000:03d}Z"


def outcome_body(o: Outcome, key: bytes, labels: OutcomeLabels, *, recovered: bool = False) -> dict[str, Any]:
    """The v2 outcome: dialer.outcomes.outcome_event (v1) plus the v2 fields.

    Built field by field instead of calling outcome_event, for speed; a test checks that
    the v1 part is identical to outcome_event's for the same outcome.
    """
    e = {
        "schema": OUTCOME_SCHEMA,
        "attempt_id": o.attempt_id,
        "campaign": o.campaign,
        "attempt_no": o.attempt_no,
        "borrower": pseudonymise(o.borrower_id, key),
        "phone": mask_phone(o.phone),
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
            "originate": fast_iso(o.originate_at),
            "answer": fast_iso(o.answer_at),
            "amd": fast_iso(o.amd_at),
            "connect": fast_iso(o.connect_at),
            "hangup": fast_iso(o.hangup_at),
            "ended": fast_iso(o.ended_at),
        },
    }
    e["strategy"] = labels.strategy
    e["segment"] = labels.segment
    e["script_variant"] = labels.script_variant
    e["compliance_rules"] = list(labels.compliance_rules)
    e["recording"] = labels.recording_for(o)
    e["recovered"] = recovered
    if o.escalated or o.handled_by == "bot":
        # bot-first calls only, so other outcomes stay what older consumers validate
        e["handled_by"] = o.handled_by
        e["escalated"] = o.escalated
        e["escalated_at"] = fast_iso(o.escalated_at)
    return e


def outcome_message(
    o: Outcome, key: bytes, labels: OutcomeLabels, *, recovered: bool = False, body: dict[str, Any] | None = None
) -> Message:
    """The outcome on the bus: message id = attempt id, routing key outcome.<campaign>.<disposition>."""
    if body is None:
        body = outcome_body(o, key, labels, recovered=recovered)
    return Message(o.attempt_id, "outcome", f"outcome.{o.campaign}.{o.disposition.value}", dumps_outcome(body))


def sms_message(
    r: SmsRequest, key: bytes, requested_at: float, *, refs: tuple[str, str, str] | None = None
) -> Message:
    """`refs` = (borrower pseudonym, masked phone, phone_ref) when the request was built from
    an attempt reference instead of the raw lead (a disposition arriving after the call)."""
    if refs is None:
        refs = (pseudonymise(r.borrower_id, key), mask_phone(r.phone), phone_ref(r.phone, key))
    body = {
        "schema": SMS_SCHEMA,
        "request_id": r.key,
        "kind": r.kind,
        "campaign": r.campaign,
        "attempt_id": r.attempt_id,
        "borrower": refs[0],
        "phone": refs[1],
        "phone_ref": refs[2],
        "reason": r.reason,
        "template": r.template,
        "requested_at": iso(requested_at),
        "send_at": iso(r.send_at),
        "expires_at": iso(r.expires_at),
        "call_at": iso(r.call_at),
    }
    return Message("sms:" + r.key, "sms.request", f"sms.request.{r.campaign}", dumps(body))


def _campaign_stats(run_id: str, seq: int, at: float, snap: DialerSnapshot, c: CampaignSnapshot) -> dict[str, Any]:
    s = c.stats
    return {
        "schema": STATS_SCHEMA,
        "snapshot_id": f"{run_id}:{c.name}:{seq}",
        "run_id": run_id,
        "campaign": c.name,
        "at": iso(at),
        "pacer": c.pacer,
        "agents": dict(c.agents),
        "calls": dict(c.calls),
        "leads_pending": c.leads_pending,
        "leads_exhausted": c.leads_exhausted,
        "draining": c.draining,
        "placed": s.placed,
        "reserved": s.reserved,
        "refused": s.refused,
        "refused_by_rule": dict(sorted(s.refused_by_rule.items())),
        "outcomes": s.outcomes,
        "dispositions": dict(sorted(s.dispositions.items())),
        "amd": dict(sorted(s.amd.items())),
        "answered_human": s.answered_human,
        "abandoned": s.abandoned,
        "abandon_rate": round(s.abandon_rate, 6),
        "dial_ratio": round(c.dial_ratio, 4),
        "occupancy": round(c.occupancy, 4),
        "pbx_up": snap.pbx_up,
        "backpressure": snap.backpressure,
    }


def stats_messages(run_id: str, seq: int, at: float, snap: DialerSnapshot) -> list[Message]:
    """One campaign.stats event per campaign: aggregate counts only, no person in them."""
    out = []
    for c in snap.campaigns:
        body = _campaign_stats(run_id, seq, at, snap, c)
        out.append(Message("stats:" + body["snapshot_id"], "campaign.stats", f"campaign.stats.{c.name}", dumps(body)))
    return out


@dataclass(frozen=True, slots=True)
class AgentDisposition:
    """An agent's wrap-up code for one attempt (from the agent desktop, via the broker)."""

    attempt_id: str
    code: str
    note: str = ""
    agent: str | None = None
    at: float | None = None
    campaign: str | None = None
    source_id: str = ""  # a hash of what the agent sent: the dedupe key of a resend

    def dedupe_key(self) -> str:
        return f"disp:{self.attempt_id}:{self.source_id}"


def _ts(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{where}: expected an ISO 8601 time or epoch seconds")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            d = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{where}: expected an ISO 8601 time, got {value[:40]!r}") from None
        if d.tzinfo is None:
            raise InputError(f"{where}: the time needs a UTC offset")
        return d.timestamp()
    raise InputError(f"{where}: expected an ISO 8601 time or epoch seconds")


def parse_agent_disposition(body: bytes, routing_key: str = "", message_id: str | None = None) -> AgentDisposition:
    """Validate an incoming agent.disposition message; InputError names the bad field."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"agent.disposition: not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InputError("agent.disposition: expected a JSON object")
    schema = data.get("schema", AGENT_DISPOSITION_SCHEMA)
    if schema != AGENT_DISPOSITION_SCHEMA:
        raise InputError(f"agent.disposition: schema must be {AGENT_DISPOSITION_SCHEMA!r}, got {str(schema)[:40]!r}")
    attempt_id = data.get("attempt_id", data.get("call_id"))
    if not isinstance(attempt_id, str) or not _WORD.match(attempt_id):
        raise InputError("agent.disposition: attempt_id: expected the call's id (DIALER_CALL_ID)")
    code = data.get("code")
    if code not in AGENT_CODES:
        raise InputError(f"agent.disposition: code: expected one of {sorted(AGENT_CODES)}, got {str(code)[:40]!r}")
    note = data.get("note") or ""
    if not isinstance(note, str):
        raise InputError("agent.disposition: note: expected a string")
    agent = data.get("agent")
    if agent is not None and (not isinstance(agent, str) or len(agent) > 128):
        raise InputError("agent.disposition: agent: expected a string of at most 128 characters")
    campaign = data.get("campaign")
    if campaign is None and routing_key.startswith("agent.disposition."):
        campaign = routing_key.split(".", 2)[2] or None
    if campaign is not None and (not isinstance(campaign, str) or not _WORD.match(campaign)):
        raise InputError("agent.disposition: campaign: expected letters, digits, '-' or '_'")
    at = _ts(data.get("at"), "agent.disposition: at")
    # Content, not the AMQP message id: clients (aiormq among them) put a random id on every
    # publish, so a resent disposition would not dedupe by it. The same code for the same
    # attempt at the same time is one disposition; a corrected code is a new one.
    source = hashlib.sha256(json.dumps([attempt_id, code, note, agent, at]).encode()).hexdigest()[:16]
    return AgentDisposition(
        attempt_id=attempt_id, code=code, note=scrub_text(note)[:_NOTE_MAX], agent=agent, at=at,
        campaign=campaign, source_id=source,
    )


def disposition_message(
    d: AgentDisposition, *, campaign: str, received_at: float, call_disposition: str | None,
    borrower: str | None, agent: str | None,
) -> Message:
    body = {
        "schema": DISPOSITION_SCHEMA,
        "attempt_id": d.attempt_id,
        "campaign": campaign,
        "code": d.code,
        "note": d.note or None,
        "agent": d.agent or agent,
        "borrower": borrower,
        "call_disposition": call_disposition,
        "at": iso(d.at if d.at is not None else received_at),
        "received_at": iso(received_at),
    }
    return Message(d.dedupe_key(), "outcome.disposition", f"disposition.{campaign}.{d.code}", dumps(body))
