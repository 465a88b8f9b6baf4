"""Durable stores. The attempt ledger is the compliance gate's memory: see `_base.py`.

`open_ledger(url)` picks the backend: `sqlite:///path/to/ledger.db` (embedded default, one
process or a few on one host) or `postgresql://user@host:port/db?schema=dialer` (several
dialer processes on one ledger).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError
from ._base import (
    AttemptLedger,
    CorruptRecord,
    Explanation,
    GateCounters,
    LedgerUnavailable,
    UnknownAttempt,
)
from .batching import ReserveBatcher
from .bridge import complete_outcome, reserve_event
from .postgres import PostgresLedger
from .sqlite import SqliteLedger

__all__ = [
    "AttemptLedger",
    "CorruptRecord",
    "Explanation",
    "GateCounters",
    "LedgerUnavailable",
    "PostgresLedger",
    "ReserveBatcher",
    "SqliteLedger",
    "UnknownAttempt",
    "complete_outcome",
    "open_ledger",
    "reserve_event",
]


def open_ledger(url: str, **options: object) -> AttemptLedger:
    """A ledger for a URL (not started: `await ledger.start()` or `async with`)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative/or/:memory:  and  sqlite:////absolute/path
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise ConfigError(
                f"ledger URL {url!r}: give a file, e.g. sqlite:////var/lib/dialer/ledger.db"
            )
        return SqliteLedger(url[len("sqlite:///") :], **options)  # type: ignore[arg-type]
    if parts.scheme in ("postgresql", "postgres"):
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", "dialer")
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
        return PostgresLedger(dsn, schema=schema, **options)  # type: ignore[arg-type]
    raise ConfigError(f"ledger URL {url!r}: expected sqlite:///PATH or postgresql://...")
