"""The codec, translator and recording reader stay pure: the simulator and the tests
reuse them without asyncio, sockets, clocks or logging; only client.py does IO."""

from __future__ import annotations

import ast
import pathlib

import pytest

AMI = pathlib.Path(__file__).resolve().parents[2] / "dialer" / "ami"
PURE = ["__init__.py", "codec.py", "translate.py", "recording.py", "errors.py"]
FORBIDDEN = {
    "asyncio", "socket", "time", "threading", "selectors", "panoramisk", "uvloop", "logging",
    "os", "io", "pathlib", "random", "secrets",
}


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name", PURE)
def test_pure_module_imports_no_io(name: str) -> None:
    assert not _imports(AMI / name) & FORBIDDEN


def test_package_init_imports_the_client_lazily_only() -> None:
    tree = ast.parse((AMI / "__init__.py").read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert all(n.module != "client" for n in top_level)
