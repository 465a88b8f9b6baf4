"""One small error hierarchy, so adapters can tell bad input from broken IO.

`InputError` is for data a user or a peer gave us (a CSV row, a config value, an AMI
frame): its message names the place and what was expected, and callers report it and go
on with the next item. `DialerIOError` is for a dependency that failed (PBX link, ledger,
broker): it is translated at the adapter boundary, never leaked as a raw library error.
"""

from __future__ import annotations


class DialerError(Exception):
    """Base of every error this package raises on purpose."""


class InputError(DialerError, ValueError):
    """Malformed input; the message says where and what was expected."""


class ConfigError(InputError):
    """A configuration value is missing or malformed."""


class LeadError(InputError):
    """A lead row cannot be dialled as given."""


class DialerIOError(DialerError):
    """An external dependency failed (PBX, ledger, broker, file)."""
