"""Small builders shared by the compliance tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dialer.compliance import load_preset
from dialer.core.compliance import Attempt, Candidate, Rules

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
BOISE = ZoneInfo("America/Boise")
LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")

CN_PHONE = "+8613800138000"
NY_PHONE = "+12125550100"
ID_PHONE = "+12085550100"  # +1 208: America/Boise and America/Los_Angeles
UK_PHONE = "+442071234567"


def local(
    tz: ZoneInfo, y: int, mo: int, d: int, h: int = 12, mi: int = 0, s: int = 0, fold: int = 0
) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=tz, fold=fold)


def rules(preset: str, **overrides: dict) -> Rules:
    r = load_preset(preset)
    return r.with_overrides({"rules": overrides}) if overrides else r


def att(
    when: datetime,
    result: str | None,
    *,
    borrower: str = "b1",
    phone: str = CN_PHONE,
    party: str = "debtor",
    purpose: str = "collection",
    debt: str = "d1",
    campaign: str = "c1",
    contact: str = "",
    attempt_id: str = "",
) -> Attempt:
    return Attempt(
        at=when.timestamp(),
        borrower=borrower,
        phone=phone,
        party=party,
        purpose=purpose,
        result=result,
        campaign=campaign,
        debt=debt,
        contact=contact,
        attempt_id=attempt_id,
    )


def cand(phone: str = CN_PHONE, **kw: object) -> Candidate:
    fields: dict = {"borrower": "b1", "debt": "d1", "campaign": "c1"} | kw
    return Candidate(phone=phone, **fields)
