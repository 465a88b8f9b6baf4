"""`compliance check` / `explain`: JSON out, exit 2 with line and field on bad input."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dialer.compliance.cli import main

ROOT = Path(__file__).resolve().parents[2]

LINE = {
    "at": "2026-03-02T09:00:00+08:00",
    "borrower": "b1",
    "debt": "d1",
    "phone": "+8613800138000",
    "party": "debtor",
    "purpose": "collection",
    "result": "conversation",
    "campaign": "c1",
}
CALL = {
    "borrower": "b1",
    "debt": "d1",
    "phone": "+8613800138000",
    "party": "debtor",
    "purpose": "collection",
    "campaign": "c1",
}


def _files(tmp_path: Path, lines: list[dict], call: dict | None = None) -> tuple[str, str]:
    h = tmp_path / "history.jsonl"
    h.write_text("".join(json.dumps(x) + "\n" for x in lines))
    c = tmp_path / "call.json"
    c.write_text(json.dumps(call or CALL))
    return str(h), str(c)


def _check(capsys, h: str, c: str, at: str, *extra: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    rc = main(
        ["compliance", "check", "--preset", "cn", "--history", h, "--call", c, "--at", at, *extra]
    )
    out, err = capsys.readouterr()
    return rc, out, err


def test_check_prints_one_json_object(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    lines = [
        LINE,
        LINE | {"at": "2026-03-02T10:00:00+08:00"},
        LINE | {"at": "2026-03-02T11:00:00+08:00"},
    ]
    h, c = _files(tmp_path, lines)
    rc, out, _ = _check(capsys, h, c, "2026-03-02T15:00:00+08:00")
    assert rc == 0
    obj = json.loads(out)
    assert obj == {
        "allowed": False,
        "rules": ["cn.conversations_per_day"],
        "reasons": obj["reasons"],
        "next_allowed_at": "2026-03-03T08:00:00+08:00",
    }
    rc, out, _ = _check(capsys, h, c, "2026-03-03T08:00:00+08:00")
    assert json.loads(out) == {"allowed": True, "rules": [], "reasons": [], "next_allowed_at": None}


def test_check_with_rules_file_and_zones(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    h, c = _files(tmp_path, [], CALL | {"zones": ["Asia/Urumqi"], "agent_reserved": False})
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": {"cn.quiet_hours": {"allowed_from": "09:00"}}}))
    rc, out, _ = _check(capsys, h, c, "2026-03-02T08:30:00+08:00", "--rules", str(rules))
    assert rc == 0 and json.loads(out)["rules"] == ["cn.quiet_hours"]


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda x: x | {"party": "debtr"}, "line 2: field 'party'"),
        (lambda x: x | {"at": "2026-03-02T09:00:00"}, "line 2: field 'at'"),
        (
            lambda x: {k: v for k, v in x.items() if k != "phone"},
            "line 2: field 'phone' is missing",
        ),
        (lambda x: x | {"phone": "13800138000"}, "line 2: field phone"),
        (lambda x: x | {"result": "talked"}, "line 2: field 'result'"),
        (lambda x: x | {"colour": "red"}, "line 2: unknown field 'colour'"),
    ],
)
def test_bad_history_line_exit_2_names_line_and_field(tmp_path, capsys, mutate, expect) -> None:  # type: ignore[no-untyped-def]
    h, c = _files(tmp_path, [LINE, mutate(dict(LINE))])
    rc, out, err = _check(capsys, h, c, "2026-03-02T15:00:00+08:00")
    assert rc == 2 and out == ""
    assert expect in err and "Traceback" not in err


def test_bad_json_line_and_bad_call(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    h, c = _files(tmp_path, [LINE])
    Path(h).write_text(json.dumps(LINE) + "\n\n{oops\n")
    rc, _, err = _check(capsys, h, c, "2026-03-02T15:00:00+08:00")
    assert rc == 2 and "line 3: not JSON" in err
    h, c = _files(tmp_path, [LINE], CALL | {"zones": "Asia/Shanghai"})
    rc, _, err = _check(capsys, h, c, "2026-03-02T15:00:00+08:00")
    assert rc == 2 and "field 'zones'" in err
    h, c = _files(tmp_path, [LINE])
    rc, _, err = _check(capsys, h, c, "yesterday")
    assert rc == 2 and "--at" in err
    rc, _, err = _check(capsys, h, str(tmp_path / "missing.json"), "2026-03-02T15:00:00+08:00")
    assert rc == 2 and "cannot read" in err


def test_explain_against_a_sqlite_ledger(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from dialer.compliance import load_preset
    from dialer.core.compliance import Candidate
    from dialer.store import SqliteLedger

    db = tmp_path / "ledger.db"

    async def fill() -> None:
        async with SqliteLedger(db) as led:
            r = load_preset("cn").with_overrides(
                {"rules": {"all.caller_id": {"allowed": {"*": ["+861012345678"]}}}}
            )
            c = Candidate(
                borrower="b1",
                phone="+8613800138000",
                campaign="c1",
                debt="d1",
                caller_id="+861012345678",
            )
            base = 1772413200.0  # 2026-03-02 09:00 Shanghai
            for i in range(3):
                assert (await led.reserve(c, f"a{i}", base + 3600 * i, r)).allowed
                await led.complete(f"a{i}", "conversation", base + 3600 * i + 60)

    asyncio.run(fill())
    rc = main(
        [
            "compliance",
            "explain",
            "--borrower",
            "b1",
            "--ledger",
            f"sqlite:///{db}",
            "--at",
            "2026-03-02T15:00:00+08:00",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    obj = json.loads(out)
    assert obj["rules"] == ["cn.conversations_per_day"] and obj["attempts"] == 3
    assert obj["next_allowed_at"] == "2026-03-03T08:00:00+08:00"
    assert "+8613800138000" not in out
    rc = main(
        [
            "compliance",
            "explain",
            "--borrower",
            "b1",
            "--ledger",
            f"sqlite:///{db}",
            "--at",
            "2026-03-02T15:00:00+08:00",
            "--text",
        ]
    )
    out, _ = capsys.readouterr()
    assert "next legal moment: 2026-03-03T08:00:00+08:00" in out


def test_explain_unreachable_ledger_exits_1(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(
        [
            "compliance",
            "explain",
            "--borrower",
            "b1",
            "--ledger",
            "postgresql://postgres@127.0.0.1:1/nowhere",
            "--at",
            "2026-03-02T15:00:00+08:00",
        ]
    )
    out, _ = capsys.readouterr()
    assert rc == 1 and json.loads(out)["rules"] == ["gate.ledger_unavailable"]


def test_runs_standalone_as_a_module(tmp_path) -> None:  # type: ignore[no-untyped-def]
    h, c = _files(tmp_path, [LINE | {"party": "nobody"}])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "dialer.compliance.cli",
            "compliance",
            "check",
            "--preset",
            "cn",
            "--history",
            h,
            "--call",
            c,
            "--at",
            "2026-03-02T15:00:00+08:00",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 2 and "line 1: field 'party'" in p.stderr and "Traceback" not in p.stderr
