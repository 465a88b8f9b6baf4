"""argparse value types whose messages say what was expected (argparse prefixes the option)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """A number > 0 (a float) or >= 1 (an int); the message says which."""
    what = "an integer" if kind is int else "a number"
    bound = ">= 1" if kind is int else "> 0"

    def parse(v: str) -> float:
        try:
            x = kind(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {v!r}") from None
        if x <= 0:
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {v!r}")
        return x

    return parse


def share(v: str) -> float:
    """A share between 0 and 1, inclusive."""
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {v!r}")
    return x
