from __future__ import annotations

from dialer.core import CampaignConfig, Lead


def make_lead(n: int, **kw: object) -> Lead:
    return Lead(borrower_id=f"b{n}", phone=f"+8613800{n:06d}", **kw)  # type: ignore[arg-type]


def campaign(**kw: object) -> CampaignConfig:
    base: dict[str, object] = {"name": "c1", "wrapup_s": 5.0}
    base.update(kw)
    return CampaignConfig(**base)  # type: ignore[arg-type]
