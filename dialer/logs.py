"""Logging set-up: console or JSON lines, with phone numbers scrubbed on the way out.

Every record passes through `ScrubFilter`, so even a careless log call cannot put a full
phone number into a log file. Records may carry `call_id` (extra={"call_id": ...}).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from .core.privacy import scrub_text


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        record.msg = scrub_text(msg)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("call_id", "campaign", "pbx"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return json.dumps(out, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        call = f" [{record.call_id}]" if hasattr(record, "call_id") else ""
        return f"{record.levelname.lower():7} {record.name}{call}: {record.getMessage()}"


def setup_logging(level: str = "warning", fmt: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
