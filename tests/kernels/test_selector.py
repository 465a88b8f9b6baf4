"""The selector `dialer.core.kernels`: compiled where built, the twin otherwise."""

from __future__ import annotations

import importlib
import inspect
import os

import pytest

import dialer.core.kernels as kernels
from dialer.core.kernels import erlang_py

from .conftest import compiled_erlang

ERLANG_FUNCTIONS = [
    "erlang_a",
    "erlang_b",
    "erlang_b_array",
    "erlang_c",
    "erlang_c_array",
    "mmc_asa",
    "mmc_wait_probability",
]


def _switch_on(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


def test_compiled_kernels_are_really_loaded() -> None:
    """The project's install builds the extensions; a silent fallback to pure Python there
    would cost a 20-40x slowdown unnoticed. Only DIALER_NO_EXTENSIONS may explain "python"."""
    if _switch_on(os.environ.get("DIALER_NO_EXTENSIONS")):
        assert kernels.IMPLEMENTATION == "python"
        return
    assert kernels.IMPLEMENTATION == "cython", (
        "dialer._ext.erlang did not import: build the extensions (pip install -e '.[test]'), "
        "or set DIALER_NO_EXTENSIONS=1 for a pure-Python run"
    )
    compiled = compiled_erlang()
    assert compiled is not None
    for name in ERLANG_FUNCTIONS:
        assert getattr(kernels, name) is getattr(compiled, name)


def test_selector_exports() -> None:
    assert set(ERLANG_FUNCTIONS) <= set(kernels.__all__)
    assert kernels.IMPLEMENTATION in ("cython", "python")
    for name in kernels.__all__:
        assert hasattr(kernels, name)


def test_twins_have_the_same_signatures() -> None:
    compiled = compiled_erlang()
    if compiled is None:
        pytest.skip("dialer._ext.erlang is not built (installed with DIALER_NO_EXTENSIONS=1)")
    assert sorted(compiled.__all__) == sorted(erlang_py.__all__) == ERLANG_FUNCTIONS
    for name in ERLANG_FUNCTIONS:
        pure = inspect.signature(getattr(erlang_py, name))
        built = inspect.signature(getattr(compiled, name))
        assert list(pure.parameters) == list(built.parameters), name
        for p, b in zip(pure.parameters.values(), built.parameters.values(), strict=True):
            assert (p.kind, p.default) == (b.kind, b.default), name


def test_no_extensions_switch_selects_the_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        monkeypatch.setenv("DIALER_NO_EXTENSIONS", "1")
        forced = importlib.reload(kernels)
        assert forced.NO_EXTENSIONS is True
        assert forced.IMPLEMENTATION == "python"
        assert forced.erlang_c is erlang_py.erlang_c
        monkeypatch.setenv("DIALER_NO_EXTENSIONS", "0")
        assert importlib.reload(kernels).NO_EXTENSIONS is False
    finally:
        monkeypatch.undo()
        importlib.reload(kernels)
