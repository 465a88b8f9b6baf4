"""The compliance gate's pure core: rules as data and the decision over a history.

No IO, no clock, no asyncio, no logging: time is an argument, the history is a value. Only
`zoneinfo` (IANA zone data) and `phonenumbers` (a number's zones) are looked up. The ledger
that feeds histories and records attempts lives in `dialer.store`; the preset files and the
auditors' CLI in `dialer.compliance`.
"""

from __future__ import annotations

from ._engine import ANSWERED, CONTACT, FAILED, Refusal, check_campaign, decide, evaluate
from ._model import (
    PARTIES,
    PURPOSES,
    RESULT_FOR_DISPOSITION,
    RESULTS,
    AbandonStats,
    Attempt,
    Candidate,
    Decision,
    History,
    OptOut,
    result_for_disposition,
    to_datetime,
    to_ts,
)
from ._rules import KINDS, Rules, RuleSpec
from ._time import number_zones, resolve_zones

__all__ = [
    "ANSWERED",
    "CONTACT",
    "FAILED",
    "KINDS",
    "PARTIES",
    "PURPOSES",
    "RESULTS",
    "RESULT_FOR_DISPOSITION",
    "AbandonStats",
    "Attempt",
    "Candidate",
    "Decision",
    "History",
    "OptOut",
    "Refusal",
    "RuleSpec",
    "Rules",
    "check_campaign",
    "decide",
    "evaluate",
    "number_zones",
    "resolve_zones",
    "result_for_disposition",
    "to_datetime",
    "to_ts",
]
