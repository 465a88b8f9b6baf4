"""End-of-run summary (table or JSON) and the live progress line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .core.engine import CampaignSnapshot, DialerSnapshot


@dataclass(slots=True)
class Summary:
    campaign: str
    pacer: str
    duration_s: float
    placed: int
    outcomes: int
    dispositions: dict[str, int]
    answered_human: int
    abandoned: int
    abandon_rate: float
    agent_occupancy: float
    refused: int
    refused_by_rule: dict[str, int]
    leads_loaded: int
    lead_errors: int
    calls_per_minute: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d


def summarize(snap: DialerSnapshot, *, duration_s: float, lead_errors: int = 0,
              leads_loaded: int = 0) -> Summary:
    (c,) = snap.campaigns[:1] or (None,)
    if c is None:
        raise ValueError("no campaign in snapshot")
    s = c.stats
    return Summary(
        campaign=c.name, pacer=c.pacer, duration_s=round(duration_s, 3), placed=s.placed,
        outcomes=s.outcomes, dispositions=dict(sorted(s.dispositions.items())),
        answered_human=s.answered_human, abandoned=s.abandoned,
        abandon_rate=round(s.abandon_rate, 6), agent_occupancy=round(c.occupancy, 6),
        refused=s.refused, refused_by_rule=dict(sorted(s.refused_by_rule.items())),
        leads_loaded=leads_loaded, lead_errors=lead_errors,
        calls_per_minute=round(s.placed / duration_s * 60, 2) if duration_s > 0 else 0.0,
        extra=bot_figures(c),
    )


def bot_figures(c: CampaignSnapshot) -> dict[str, Any]:
    """The bot-first figures (AI筛选 + 人工攻坚), only for a bot-first campaign, so the summary of
    any other campaign keeps exactly the keys it had. `escalations_unanswered`: escalated and no
    agent ever came (not a legal abandonment: the bot had answered)."""
    if c.bot_capacity is None:
        return {}
    s = c.stats
    return {
        "bot_capacity": c.bot_capacity,
        "handled_by_bot": s.handled_by_bot,
        "escalations": s.escalations,
        "escalations_connected": s.escalations_connected,
        "escalations_unanswered": s.escalation_abandoned,
        "escalation_wait_mean_s": round(s.escalation_wait_mean_s, 3),
        "escalation_wait_max_s": round(s.escalation_wait_s_max, 3),
    }


def format_table(s: Summary) -> str:
    rows: list[tuple[str, str]] = [
        ("campaign", s.campaign), ("pacer", s.pacer), ("duration", f"{s.duration_s:.1f} s"),
        ("leads loaded", f"{s.leads_loaded} ({s.lead_errors} rows rejected)"),
        ("calls placed", str(s.placed)), ("outcomes", str(s.outcomes)),
        ("calls per minute", f"{s.calls_per_minute:.1f}"),
        ("answered by a person", str(s.answered_human)),
        ("abandoned", f"{s.abandoned} ({s.abandon_rate:.2%} of answered by a person)"),
        ("agent occupancy", f"{s.agent_occupancy:.1%}"),
        ("refused by compliance", str(s.refused)),
    ]
    rows += [(f"  {k}", str(v)) for k, v in s.refused_by_rule.items()]
    if "escalations" in s.extra:
        x = s.extra
        rows += [
            ("bot capacity", f"{x['bot_capacity']} channels"),
            ("handled by the bot", f"{x['handled_by_bot']} (no agent talked)"),
            ("escalations", str(x["escalations"])),
            ("  to an agent", str(x["escalations_connected"])),
            ("  no agent came", str(x["escalations_unanswered"])),
            ("escalation wait", f"mean {x['escalation_wait_mean_s']:.1f} s, max {x['escalation_wait_max_s']:.1f} s"),
        ]
    rows.append(("dispositions", ""))
    rows += [(f"  {k}", str(v)) for k, v in s.dispositions.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def progress_line(snap: DialerSnapshot, elapsed_s: float) -> str:
    parts = []
    for c in snap.campaigns:
        s = c.stats
        busy = c.agents.get("on_call", 0) + c.agents.get("ringing", 0) + c.agents.get("wrap_up", 0)
        staffed = busy + c.agents.get("ready", 0)
        cpm = s.placed / elapsed_s * 60 if elapsed_s > 0 else 0.0
        bot = (f"  bot {c.calls.get('bot', 0)}/{c.bot_capacity}  escalations {s.escalations}"
               if c.bot_capacity is not None else "")
        parts.append(
            f"[{elapsed_s:6.0f}s] {c.name}: placed {s.placed}  answered {s.answered_human}  "
            f"abandoned {s.abandoned} ({s.abandon_rate:.1%})  agents busy {busy}/{staffed}  "
            f"in flight {sum(v for k, v in c.calls.items() if k != 'connected')}{bot}  {cpm:.0f} calls/min"
        )
    return " | ".join(parts)
