"""Local time without surprises: which zones a callee may be in, local days, DST edges.

Every rule that speaks of "local time" or "calendar day" is evaluated in every zone the
callee may be in. Local wall-clock time is not monotonic (a fall-back hour repeats, a
spring-forward hour does not exist), so nothing here assumes it is: the instants where a
local-time rule may change its answer are listed explicitly (both readings of an ambiguous
wall time, and the DST transition instants themselves).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

__all__ = [
    "day_starts",
    "local_date",
    "local_ordinal",
    "number_zones",
    "resolve_zones",
    "transitions_on",
    "wall_instants",
    "zone",
]

_UNKNOWN = "Etc/Unknown"


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The zone, or None when the name is not a real IANA zone (fail closed upstream)."""
    if not name or name == _UNKNOWN or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=262144)
def number_zones(phone: str) -> tuple[str, ...]:
    """Zones phonenumbers gives for an E.164 number; () when it does not know."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = pn_timezone.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != _UNKNOWN)


def resolve_zones(
    phone: str, address_zones: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(zones the callee may be in, unknown names given). The union of the number's zones
    and the address's: the callee may be in any of them, so every one must allow a call."""
    bad = tuple(z for z in address_zones if zone(z) is None)
    names = sorted(set(number_zones(phone)) | {z for z in address_zones if zone(z) is not None})
    return tuple(names), bad


def local_date(ts: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, tz).date()


def local_ordinal(ts: float, tz: ZoneInfo) -> int:
    return datetime.fromtimestamp(ts, tz).toordinal()


def wall_instants(d: date, t: time, tz: ZoneInfo) -> tuple[float, ...]:
    """Both UTC readings of a local wall time (equal unless it is ambiguous or skipped)."""
    a = datetime.combine(d, t, tzinfo=tz).timestamp()
    b = datetime.combine(d, t, tzinfo=tz).replace(fold=1).timestamp()
    return (a,) if a == b else (min(a, b), max(a, b))


@lru_cache(maxsize=65536)
def transitions_on(d: date, tz: ZoneInfo) -> tuple[float, ...]:
    """UTC offset changes during local date `d` (the day from its midnight to the next)."""
    start = datetime.combine(d, time(0), tzinfo=tz).timestamp() - 3 * 3600
    end = datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz).timestamp() + 3 * 3600
    return tuple(_offset_changes(int(start), int(end), tz))


def _offset(ts: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(ts, UTC).astimezone(tz).utcoffset()


def _offset_changes(lo: int, hi: int, tz: ZoneInfo) -> list[float]:
    """Instants in (lo, hi] where the offset changes, found by bisection on whole seconds
    (tzdb transitions are whole seconds). Assumes at most one change per 6 hours."""
    out: list[float] = []
    step = 6 * 3600
    a = lo
    while a < hi:
        b = min(a + step, hi)
        oa, ob = _offset(a, tz), _offset(b, tz)
        if oa != ob:
            x, y = a, b  # offset(x) == oa, offset(y) != oa
            while y - x > 1:
                m = (x + y) // 2
                if _offset(m, tz) == oa:
                    x = m
                else:
                    y = m
            out.append(float(y))
        a = b
    return out


def day_starts(d: date, tz: ZoneInfo) -> tuple[float, ...]:
    """Instants at which local date `d` may begin: both readings of its midnight and any
    transition that day (a midnight that does not exist begins at the transition)."""
    return wall_instants(d, time(0), tz) + transitions_on(d, tz)
