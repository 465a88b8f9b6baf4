"""`dialer compliance check|explain`: the gate's decisions for auditors and operators.

    dialer compliance check --preset cn [--rules FILE] --history FILE --call FILE --at ISO8601
    dialer compliance explain --borrower ID [--ledger URL] [--preset cn] [--rules FILE]
                              [--at ISO8601]

`check` is pure: it judges one call against a history file, exactly as the gate would, and
prints `{"allowed", "rules", "reasons", "next_allowed_at"}`. `explain` asks the ledger why a
borrower is not being called and when the next legal moment is. Bad input files exit with
status 2 and a message naming the line and the field; an unreachable ledger exits with 1.

The main `dialer` command adds these with `register(subparsers)`; standalone:
`python -m dialer.compliance.cli compliance check ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from ..core.compliance import PARTIES, PURPOSES, RESULTS, Attempt, Candidate, decide
from ..errors import ConfigError, DialerIOError, InputError
from . import PRESETS, load_rules

__all__ = ["main", "parse_call", "parse_history", "register"]

_HISTORY_REQUIRED = ("at", "borrower", "phone", "party", "purpose", "result")
_HISTORY_OPTIONAL = ("debt", "contact", "campaign", "attempt_id")
_CALL_REQUIRED = ("borrower", "phone", "party", "purpose")
_CALL_OPTIONAL = ("debt", "contact", "campaign", "zones", "agent_reserved", "caller_id", "ring_s")


def parse_time(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise InputError(
            f"{where}: expected an ISO 8601 time with a UTC offset, got {type(text).__name__}"
        )
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InputError(
            f"{where}: expected an ISO 8601 time with a UTC offset, got {text[:40]!r}"
        ) from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InputError(f"{where}: {text[:40]!r} has no UTC offset (add +08:00, -05:00 or Z)")
    return dt


def _str_field(obj: dict[str, Any], key: str, where: str, required: bool) -> str:
    if key not in obj:
        if required:
            raise InputError(f"{where}: field {key!r} is missing")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise InputError(f"{where}: field {key!r}: expected a string, got {type(value).__name__}")
    return value


def _check_keys(obj: dict[str, Any], known: Sequence[str], where: str) -> None:
    for k in obj:
        if k not in known:
            raise InputError(f"{where}: unknown field {k!r} (known: {', '.join(known)})")


def _record(
    obj: Any, where: str, required: Sequence[str], optional: Sequence[str]
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    _check_keys(obj, (*required, *optional), where)
    return obj


def _build(kind: type, where: str, **fields: Any) -> Any:
    try:
        return kind(**fields)
    except InputError as exc:
        raise InputError(f"{where}: field {exc}") from None


def parse_history_line(line: str, where: str) -> Attempt:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    obj = _record(obj, where, _HISTORY_REQUIRED, _HISTORY_OPTIONAL)
    at = parse_time(obj.get("at"), f"{where}: field 'at'") if "at" in obj else None
    if at is None:
        raise InputError(f"{where}: field 'at' is missing")
    if "result" not in obj:
        raise InputError(f"{where}: field 'result' is missing")
    result = obj["result"]
    if result is not None and result not in RESULTS:
        raise InputError(
            f"{where}: field 'result': expected one of {sorted(RESULTS)} or null, got {result!r}"
        )
    for key, allowed in (("party", PARTIES), ("purpose", PURPOSES)):
        value = _str_field(obj, key, where, True)
        if value not in allowed:
            raise InputError(
                f"{where}: field {key!r}: expected one of {sorted(allowed)}, got {value!r}"
            )
    return _build(
        Attempt,
        where,
        at=at.timestamp(),
        borrower=_str_field(obj, "borrower", where, True),
        phone=_str_field(obj, "phone", where, True),
        party=obj["party"],
        purpose=obj["purpose"],
        result=result,
        campaign=_str_field(obj, "campaign", where, False),
        debt=_str_field(obj, "debt", where, False),
        contact=_str_field(obj, "contact", where, False),
        attempt_id=_str_field(obj, "attempt_id", where, False),
    )


def parse_history(path: str | Path) -> list[Attempt]:
    """JSON lines, one attempt each (blank lines ignored); errors name the line and field."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"--history {name}: cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            out.append(parse_history_line(line, f"{name} line {n}"))
    return out


def parse_call(path: str | Path) -> Candidate:
    name = str(path)
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"--call {name}: cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{name} line {exc.lineno}: not JSON ({exc.msg} at column {exc.colno})"
        ) from None
    where = name
    obj = _record(obj, where, _CALL_REQUIRED, _CALL_OPTIONAL)
    zones = obj.get("zones", [])
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise InputError(f"{where}: field 'zones': expected a list of IANA zone names")
    agent = obj.get("agent_reserved", False)
    if not isinstance(agent, bool):
        raise InputError(f"{where}: field 'agent_reserved': expected true or false")
    caller_id = obj.get("caller_id")
    if caller_id is not None and not isinstance(caller_id, str):
        raise InputError(f"{where}: field 'caller_id': expected a string")
    ring = obj.get("ring_s")
    if ring is not None and (isinstance(ring, bool) or not isinstance(ring, (int, float))):
        raise InputError(f"{where}: field 'ring_s': expected a number of seconds")
    return _build(
        Candidate,
        where,
        borrower=_str_field(obj, "borrower", where, True),
        phone=_str_field(obj, "phone", where, True),
        party=_str_field(obj, "party", where, True),
        purpose=_str_field(obj, "purpose", where, True),
        campaign=_str_field(obj, "campaign", where, False),
        debt=_str_field(obj, "debt", where, False),
        contact=_str_field(obj, "contact", where, False),
        zones=tuple(zones),
        agent_reserved=agent,
        caller_id=caller_id,
        ring_s=None if ring is None else float(ring),
    )


def cmd_check(a: argparse.Namespace) -> int:
    rules = load_rules(a.preset, a.rules)
    history = parse_history(a.history)
    candidate = parse_call(a.call)
    at = parse_time(a.at, "--at")
    decision = decide(candidate, history, at, rules)
    print(json.dumps(decision.to_json(at.tzinfo), ensure_ascii=False))
    return 0


def cmd_explain(a: argparse.Namespace) -> int:
    from ..store import LedgerUnavailable, open_ledger

    url = a.ledger or os.environ.get("DIALER_LEDGER")
    if not url:
        raise InputError(
            "--ledger: give the ledger URL (sqlite:///PATH or postgresql://...) "
            "or set DIALER_LEDGER"
        )
    rules = load_rules(a.preset, a.rules)
    at = parse_time(a.at, "--at") if a.at else datetime.now(UTC)
    candidate = None
    if a.phone:
        candidate = _build(
            Candidate,
            "explain",
            borrower=a.borrower,
            phone=a.phone,
            party=a.party,
            purpose=a.purpose,
            campaign=a.campaign or "",
            debt=a.debt or "",
            contact=a.contact or "",
            zones=tuple(a.zone or ()),
        )

    async def run() -> tuple[dict[str, Any], bool]:
        ledger = open_ledger(url)
        try:
            await ledger.start()
        except LedgerUnavailable as exc:
            return {
                "borrower": a.borrower,
                "allowed": False,
                "rules": ["gate.ledger_unavailable"],
                "reasons": [f"gate.ledger_unavailable: {exc}"],
                "next_allowed_at": None,
            }, False
        try:
            ex = await ledger.explain(a.borrower, at, rules, candidate)
        finally:
            await ledger.close()
        out = ex.to_json()
        if ex.decision.next_allowed_at is not None:
            out["next_allowed_at"] = ex.decision.next_allowed_at.astimezone(at.tzinfo).isoformat()
        return out, "gate.ledger_unavailable" not in ex.decision.rules

    out, ok = asyncio.run(run())
    if a.text:
        print(_explain_text(out, at.tzinfo))
    else:
        print(json.dumps(out, ensure_ascii=False))
    return 0 if ok else 1


def _explain_text(out: dict[str, Any], tz: tzinfo | None) -> str:
    lines = [
        f"borrower {out['borrower']}: "
        + ("may be called now" if out["allowed"] else "not callable now")
    ]
    for r in out["reasons"]:
        lines.append(f"  - {r}")
    if not out["allowed"] and out["rules"] != ["explain.no_history"]:
        nxt = out.get("next_allowed_at")
        lines.append(
            f"  next legal moment: {nxt}"
            if nxt
            else "  next legal moment: never (under these rules)"
        )
    if "attempts" in out:
        lines.append(f"  attempts in the ledger: {out['attempts']} ({out['open_attempts']} open)")
    return "\n".join(lines)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add `compliance check` and `compliance explain` to a parent parser's subparsers."""
    p = subparsers.add_parser(
        "compliance",
        help="compliance gate: check a call, explain a borrower",
        description="The compliance gate's decisions for auditors and operators.",
    )
    sub = p.add_subparsers(dest="compliance_command", required=True)

    c = sub.add_parser("check", help="judge one call against a history file (no ledger)")
    c.add_argument("--preset", required=True, choices=PRESETS)
    c.add_argument(
        "--rules", metavar="FILE", help="campaign overrides (JSON) merged over the preset"
    )
    c.add_argument("--history", required=True, metavar="FILE", help="past attempts, JSON lines")
    c.add_argument(
        "--call", required=True, metavar="FILE", help="the candidate call, one JSON object"
    )
    c.add_argument(
        "--at", required=True, metavar="ISO8601", help="when the call would be placed (with offset)"
    )
    c.set_defaults(func=cmd_check)

    e = sub.add_parser(
        "explain", help="why a borrower is not being called, and the next legal moment"
    )
    e.add_argument("--borrower", required=True, metavar="ID")
    e.add_argument(
        "--ledger",
        metavar="URL",
        help="sqlite:///PATH or postgresql://... (default: $DIALER_LEDGER)",
    )
    e.add_argument("--preset", default="cn", choices=PRESETS, help="default: cn")
    e.add_argument(
        "--rules", metavar="FILE", help="campaign overrides (JSON) merged over the preset"
    )
    e.add_argument("--at", metavar="ISO8601", help="judge at this time (default: now)")
    e.add_argument(
        "--phone", metavar="E164", help="judge a call to this number (default: the last one)"
    )
    e.add_argument("--party", default="debtor", choices=sorted(PARTIES))
    e.add_argument("--purpose", default="collection", choices=sorted(PURPOSES))
    e.add_argument("--campaign", metavar="NAME")
    e.add_argument("--debt", metavar="ID")
    e.add_argument("--contact", metavar="ID")
    e.add_argument(
        "--zone", action="append", metavar="IANA", help="zone from the address (repeatable)"
    )
    e.add_argument("--text", action="store_true", help="human-readable lines instead of JSON")
    e.set_defaults(func=cmd_explain)
    return p


def run(a: argparse.Namespace, prog: str = "dialer compliance") -> int:
    """Run a parsed `compliance` command; bad input -> message and status 2, never a traceback."""
    try:
        return int(a.func(a))
    except (InputError, ConfigError) as exc:
        print(f"{prog} {a.compliance_command}: error: {exc}", file=sys.stderr)
        return 2
    except DialerIOError as exc:
        print(f"{prog} {a.compliance_command}: error: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialer.compliance.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    a = parser.parse_args(argv)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
