"""docs/operations.md keeps up with what the dialer exports and what the rules alert on."""

from __future__ import annotations

import re
from typing import Any

from .conftest import OPERATIONS


def _table_names(text: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Za-z_:][A-Za-z0-9_:]*)` \|", text, flags=re.M))


def test_metrics_reference_lists_every_exported_metric(metric_families: dict[str, str]) -> None:
    listed = _table_names(OPERATIONS.read_text(encoding="utf-8"))
    missing = sorted(set(metric_families) - listed)
    assert not missing, f"exported metrics missing from the table in docs/operations.md: {missing}"
    unknown = sorted(n for n in listed if n.startswith("dialer_") and n not in metric_families)
    assert not unknown, f"docs/operations.md lists metrics the dialer does not export: {unknown}"


def test_recording_rules_and_alerts_are_documented(rules: dict[str, Any]) -> None:
    listed = _table_names(OPERATIONS.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("record") or rule["alert"]
            assert name in listed, f"{name} is not in docs/operations.md"
