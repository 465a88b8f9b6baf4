"""dialer/core must stay pure: walk every module's imports and refuse IO modules."""

from __future__ import annotations

import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parents[2] / "dialer" / "core"

FORBIDDEN = {
    "asyncio", "socket", "time", "threading", "multiprocessing", "subprocess", "selectors",
    "panoramisk", "prometheus_client", "aio_pika", "aiormq", "pika", "asyncpg", "psycopg",
    "psycopg2", "sqlite3", "redis", "nats", "uvloop", "logging", "os", "io", "pathlib",
    "urllib", "http", "requests", "shutil",
}
# The kernel selector reads DIALER_NO_EXTENSIONS once at import, by design.
ALLOWED = {("kernels/__init__.py", "os")}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


MODULES = sorted(CORE.rglob("*.py"))


def test_core_has_modules() -> None:
    assert len(MODULES) >= 8


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_no_io(path: pathlib.Path) -> None:
    rel = str(path.relative_to(CORE))
    bad = {m for m in _imports(path) & FORBIDDEN if (rel, m) not in ALLOWED}
    assert not bad, f"dialer/core/{rel} imports {sorted(bad)}"


def test_the_checker_catches_a_forbidden_import(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("import asyncio\nfrom time import monotonic\n")
    assert _imports(p) & FORBIDDEN == {"asyncio", "time"}
