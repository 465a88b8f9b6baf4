"""End-of-run summary (table or JSON) and the live progress line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .core.engine import DialerSnapshot


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
    )


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
        parts.append(
            f"[{elapsed_s:6.0f}s] {c.name}: placed {s.placed}  answered {s.answered_human}  "
            f"abandoned {s.abandoned} ({s.abandon_rate:.1%})  agents busy {busy}/{staffed}  "
            f"in flight {sum(v for k, v in c.calls.items() if k != 'connected')}  {cpm:.0f} calls/min"
        )
    return " | ".join(parts)
