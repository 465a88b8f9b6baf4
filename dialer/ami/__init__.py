"""The AMI adapter: a pure codec and translator, and the asyncio link on panoramisk.

    bytes --codec.FrameParser--> Frame --translate.AmiTranslator--> core events
    core Originate/Hangup --client.AmiLink--> AMI actions (never re-sent)

`codec`, `translate`, `recording` and `errors` are pure (no asyncio, sockets or logging)
and are what the simulated PBX and the tests reuse. `client` is the only IO module; it is
imported lazily here so that importing the pure parts never pulls in asyncio/panoramisk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .codec import (
    Banner,
    Frame,
    FrameParser,
    MalformedFrame,
    encode_action,
    encode_frame,
    parse_buffer,
)
from .errors import (
    ActionFailed,
    ActionLost,
    ActionTimeout,
    AmiAuthError,
    AmiConnectError,
    AmiEncodeError,
    AmiError,
    LinkDown,
)
from .translate import AmiTranslator

if TYPE_CHECKING:
    from .client import AmiLink, originate_pairs

__all__ = [
    "ActionFailed", "ActionLost", "ActionTimeout", "AmiAuthError", "AmiConnectError",
    "AmiEncodeError", "AmiError", "AmiLink", "AmiTranslator", "Banner", "Frame", "FrameParser",
    "LinkDown", "MalformedFrame", "encode_action", "encode_frame", "originate_pairs",
    "parse_buffer",
]


def __getattr__(name: str) -> Any:
    if name in ("AmiLink", "originate_pairs"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
