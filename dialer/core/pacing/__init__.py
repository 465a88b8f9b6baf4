"""Pacers: how many calls to launch, behind one interface, selectable per campaign."""

from __future__ import annotations

from collections.abc import Callable

from .base import Pacer, PacingView
from .progressive import ProgressivePacer

PACERS: dict[str, Callable[[], Pacer]] = {
    "progressive": ProgressivePacer,
}


def make_pacer(name: str) -> Pacer:
    try:
        return PACERS[name]()
    except KeyError:
        raise ValueError(f"unknown pacer {name!r}; expected one of {sorted(PACERS)}") from None


__all__ = ["PACERS", "Pacer", "PacingView", "ProgressivePacer", "make_pacer"]
