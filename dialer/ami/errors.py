"""Errors of the AMI adapter, mapped onto dialer.errors at the boundary.

The distinction that matters to a caller is *whether the PBX may have acted*:

- `LinkDown`: the action was never written (no link); safe to treat as not done.
- `ActionLost`: written, then the link dropped before any response. The PBX may or may
  not have executed it. It is never re-sent (an Originate sent twice dials twice).
- `ActionTimeout`: written, no response within the timeout; never re-sent either.
- `ActionFailed`: the PBX answered `Response: Error`; `.frame` holds that response.

Messages name the action and its ActionID, never credentials or phone numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DialerIOError, InputError

if TYPE_CHECKING:
    from .codec import Frame

__all__ = [
    "ActionFailed", "ActionLost", "ActionTimeout", "AmiAuthError", "AmiConnectError",
    "AmiEncodeError", "AmiError", "LinkDown",
]


class AmiError(DialerIOError):
    """Base of the AMI link's IO errors."""


class AmiConnectError(AmiError):
    """The PBX could not be reached, or it closed the connection during login."""


class AmiAuthError(AmiError):
    """The PBX refused the login (wrong username or secret, or not permitted)."""


class ActionLost(AmiError):
    """The link dropped after the action was sent and before its response."""

    def __init__(self, action: str, action_id: str, detail: str = "") -> None:
        self.action = action
        self.action_id = action_id
        msg = f"AMI {action} (ActionID {action_id}) lost: the link dropped before a response"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg + "; it was not re-sent")


class LinkDown(ActionLost):
    """The action was not sent at all: the link is down or closing.

    A subclass of ActionLost so that code handling "outcome unknown" also handles it
    safely; check `isinstance(exc, LinkDown)` to know it certainly did not happen.
    """

    def __init__(self, action: str, action_id: str = "-") -> None:
        self.action = action
        self.action_id = action_id
        AmiError.__init__(self, f"AMI {action} not sent: the link is down")


class ActionTimeout(AmiError):
    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        self.action = action
        self.action_id = action_id
        self.timeout = timeout
        super().__init__(
            f"AMI {action} (ActionID {action_id}): no response within {timeout:g} s; not re-sent"
        )


class ActionFailed(AmiError):
    """`Response: Error` (or another non-success answer) to an action."""

    def __init__(self, action: str, action_id: str, message: str,
                 frame: Frame | None = None) -> None:
        self.action = action
        self.action_id = action_id
        self.message = message
        self.frame = frame
        super().__init__(f"AMI {action} (ActionID {action_id}) failed: {message or 'no message'}")


class AmiEncodeError(InputError):
    """An action could not be encoded (a line break or ':' where it would break framing)."""
