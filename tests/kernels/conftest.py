"""Fixtures for the kernel tests: every case runs against both implementations."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from dialer.core.kernels import erlang_py


def compiled_erlang() -> ModuleType | None:
    """The compiled Erlang kernel, or None when this install was built without extensions."""
    try:
        return importlib.import_module("dialer._ext.erlang")
    except ImportError:
        return None


@pytest.fixture(params=["python", "cython"])
def erlang(request: pytest.FixtureRequest) -> ModuleType:
    """Both implementations of the Erlang kernel; the compiled one is skipped when not built
    (tests/kernels/test_selector.py fails loudly if it should have been)."""
    if request.param == "python":
        return erlang_py
    module = compiled_erlang()
    if module is None:
        pytest.skip("dialer._ext.erlang is not built (installed with DIALER_NO_EXTENSIONS=1)")
    return module
