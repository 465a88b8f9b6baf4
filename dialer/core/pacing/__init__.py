"""Pacers: how many calls to launch, behind one interface, selectable per campaign."""

from __future__ import annotations

from collections.abc import Callable

from .adaptive import AdaptivePacer
from .base import OutcomeObserver, Pacer, PacingView, feed_outcome
from .clairvoyant import ClairvoyantPacer
from .predictive import PredictivePacer
from .progressive import ProgressivePacer
from .ratio import RatioPacer

PACERS: dict[str, Callable[[], Pacer]] = {
    "progressive": ProgressivePacer,
    "ratio": RatioPacer,
    "adaptive": AdaptivePacer,
    "predictive": PredictivePacer,
    "clairvoyant": ClairvoyantPacer,  # benchmarks only: needs the simulator's oracle
}


def make_pacer(name: str) -> Pacer:
    try:
        return PACERS[name]()
    except KeyError:
        raise ValueError(f"unknown pacer {name!r}; expected one of {sorted(PACERS)}") from None


__all__ = [
    "PACERS", "AdaptivePacer", "ClairvoyantPacer", "OutcomeObserver", "Pacer", "PacingView",
    "PredictivePacer", "ProgressivePacer", "RatioPacer", "feed_outcome", "make_pacer",
]
