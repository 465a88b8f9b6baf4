"""The AMI link: one TCP connection to Asterisk, kept alive, with panoramisk's traps closed.

We build on `panoramisk.ami_protocol.AMIProtocol` (panoramisk 1.4) but override every
method where it would hurt a dialer; its `Manager` is not used at all. The traps, and
what happens here instead:

(a) For an Originate without an `Async` header, panoramisk's `Action.multi` looks up
    `self['async']` when the "successfully queued" reply arrives: KeyError inside
    `data_received`, and asyncio closes the connection. `originate()` always sends
    `Async: true`, and `send_action("Originate", ...)` refuses one without.
(b) After a reconnect panoramisk re-sends every action that had no reply yet (an
    Originate could be dialled twice). Here nothing is ever re-sent: actions pending
    when the link drops fail with `ActionLost`; actions asked for while it is down fail
    with `LinkDown` without being written.
(c) panoramisk matches any frame carrying an action's ActionID to that action, so the
    `OriginateResponse` *event* is swallowed as the Originate's reply (or keeps its
    future waiting forever if the link drops). Here only a `Response:` frame completes an
    action; every event, OriginateResponse included, reaches `on_frame`. The Originate's
    own `Response:` is also passed to `on_frame` (the translator turns it into
    OriginateQueued / OriginateRejected).
(d) panoramisk re-sends its parked actions on `FullyBooted`, which sessions without
    `system` events never receive. Moot with (b); login never waits for FullyBooted.
(e) panoramisk decodes each read with `errors='ignore'`, dropping a UTF-8 character
    split across two reads. Here bytes go to our codec (`FrameParser`), which decodes
    complete frames only.
(f) panoramisk's keepalive never checks that Pings are answered, and its actions have no
    timeout. Here a Ping every `ping_interval` s must be answered within `ping_timeout` s
    or the transport is aborted and the link reconnects; every action has a timeout and
    fails with `ActionTimeout` (never re-sent).

Reconnection: exponential backoff with jitter (`reconnect_min` doubling up to
`reconnect_max`), re-login, then `on_link(True)` so the owner can resync (QueueStatus,
CoreShowChannels). `on_link(False)` is called once per loss.

Privacy: the secret (and username) never appear in logs, reprs or exception messages;
phone numbers are logged masked; frames are never logged with their values.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from ..core.commands import Originate
from ..core.privacy import mask_phone
from ..core.privacy import scrub_text as scrub
from .codec import (
    DEFAULT_MAX_FRAME,
    Banner,
    Frame,
    FrameParser,
    Item,
    MalformedFrame,
    encode_action,
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

__all__ = [
    "ActionFailed", "ActionLost", "ActionTimeout", "AmiAuthError", "AmiConnectError", "AmiLink",
    "LinkDown", "originate_pairs",
]

log = logging.getLogger("dialer.ami.client")

FrameHandler = Callable[[Frame | MalformedFrame, float], None]
LinkHandler = Callable[[bool], None]

_OK = frozenset({"Response:Success", "Response:Goodbye", "Response:Follows", "Response:Pong"})
# Asterisk limits a ChannelId to AST_MAX_PUBLIC_UNIQUEID (149) characters; "-2" is added.
_MAX_CALL_ID = 147


def originate_pairs(cmd: Originate) -> list[tuple[str, str]]:
    """The Originate action for a core command (pure; `ActionID` = `ChannelId` = call_id)."""
    cid = cmd.call_id
    if not cid or len(cid) > _MAX_CALL_ID:
        raise AmiEncodeError(f"call_id must be 1..{_MAX_CALL_ID} characters to be a ChannelId")
    pairs = [
        ("Action", "Originate"), ("ActionID", cid), ("Channel", cmd.channel),
        ("Context", cmd.context), ("Exten", cmd.exten), ("Priority", str(cmd.priority)),
        ("Timeout", str(int(cmd.timeout_ms))),
    ]
    if cmd.caller_id:
        pairs.append(("CallerID", cmd.caller_id))
    pairs += [
        ("Async", "true"), ("ChannelId", cid), ("OtherChannelId", f"{cid}-2"),
        ("Variable", f"DIALER_CALL_ID={cid}"),
    ]
    for name, value in cmd.variables:
        if not name or "=" in name or "," in name:
            raise AmiEncodeError(f"channel variable name {name!r} is empty or contains '=' or ','")
        if name == "DIALER_CALL_ID":
            continue  # ours; the core must not override correlation
        pairs.append(("Variable", f"{name}={value}"))
    return pairs


@dataclass(slots=True)
class _Pending:
    action: str
    action_id: str
    future: asyncio.Future[Any]
    is_list: bool = False
    forward: bool = False
    collecting: bool = False
    items: list[Frame] = field(default_factory=list)


class _Protocol(AMIProtocol):
    """panoramisk's protocol with its parsing, bookkeeping and re-send paths replaced.

    `factory` stays None: panoramisk's `close()` would otherwise park unanswered actions
    in `factory.awaiting_actions` for re-sending (trap b). `send()`/`handle_message()`
    are disabled so nothing can register an action with panoramisk's bookkeeping.
    """

    def __init__(self, link: AmiLink) -> None:
        self._link = link
        self.parser = FrameParser(link.max_frame)
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.pending: dict[str, _Pending] = {}
        self.collecting = 0
        self.closed = True
        self.transport: asyncio.Transport | None = None

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not calling super(): it would set up panoramisk's response table and queue.
        self.transport = transport  # type: ignore[assignment]
        self.closed = False
        self.factory = None
        self.version: str | None = None
        self.responses: dict[str, Any] = {}
        self.queue: deque[str] = deque()
        self.log = log

    def data_received(self, data: bytes) -> None:
        now = time.time()
        link = self._link
        for item in self.parser.feed(data):
            link._on_item(self, item, now)

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        now = time.time()
        for item in self.parser.close():
            self._link._on_item(self, item, now)
        self._link._connection_lost(self, exc)

    # -- panoramisk entry points we must not use ----------------------------------------
    def send(self, data: Any, as_list: bool = False) -> Any:
        raise RuntimeError("AmiLink does not use panoramisk's send(): it would re-send actions")

    def handle_message(self, message: Any) -> None:
        raise RuntimeError("AmiLink does not use panoramisk's message dispatch")

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


class AmiLink:
    """A supervised AMI session. See the module docstring for its guarantees.

    `on_frame(frame, received_at)` gets every event, the responses to Originates, late
    responses whose action already timed out, and `MalformedFrame` records (already
    logged; pass them to the translator to count them). It runs inside the protocol's
    `data_received`: keep it fast and never let it block.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: str = "on",
        on_frame: FrameHandler,
        on_link: LinkHandler,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        connect_timeout: float = 5.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 10.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        rng: random.Random | None = None,
    ) -> None:
        if ping_interval <= 0 or ping_timeout <= 0 or action_timeout <= 0:
            raise ValueError("ping_interval, ping_timeout and action_timeout must be > 0")
        self.host = host
        self.port = int(port)
        self._username = username
        self._secret = secret
        self.events = events
        self.on_frame = on_frame
        self.on_link = on_link
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.max_frame = max_frame
        self._rng = rng or random.Random()
        self.connected = False
        self.reconnects = 0
        self.version: str | None = None
        self.stats: Counter[str] = Counter()
        self._proto: _Protocol | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._ids = itertools.count(1)
        self._id_prefix = f"dialer-{secrets.token_hex(3)}-"

    def __repr__(self) -> str:
        state = "up" if self.connected else "down"
        return f"<AmiLink {self.host}:{self.port} {state}>"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and log in; raises AmiAuthError or AmiConnectError. Then supervise."""
        if self._supervisor is not None:
            raise RuntimeError("AmiLink.start() called twice")
        self._closing = False
        proto = await self._connect()
        self._proto = proto
        self._set_up(True)
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(proto))

    async def close(self) -> None:
        """Log off and close; pending actions fail with ActionLost. Idempotent."""
        self._closing = True
        proto = self._proto
        if proto is not None and not proto.closed and self.connected:
            with contextlib.suppress(AmiError):
                await self._request(proto, (), action="Logoff",
                                    timeout=min(1.0, self.action_timeout))
        if proto is not None:
            proto.close()
        sup, self._supervisor = self._supervisor, None
        if sup is not None:
            sup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sup
        self._set_up(False)

    # --- actions ------------------------------------------------------------------------

    async def originate(self, cmd: Originate) -> Frame:
        """Send the call's Originate once (Async, ChannelId = call_id). Never re-sent.

        Returns the PBX's response frame: `Response:Success` (queued) or
        `Response:Error` (refused; nothing dialled). Both are also passed to `on_frame`.
        Raises LinkDown (not sent), ActionLost (sent, link dropped: it may have been
        dialled) or ActionTimeout (sent, no answer in time: it may have been dialled).
        """
        pairs = originate_pairs(cmd)
        log.info("AMI originate %s to %s", cmd.call_id, mask_phone(cmd.phone),
                 extra={"call_id": cmd.call_id})
        try:
            return await self._request(self._proto, pairs[2:], action="Originate",
                                       action_id=cmd.call_id, timeout=self.action_timeout,
                                       forward=True)
        except ActionFailed as exc:
            log.warning("AMI originate %s refused by the PBX: %s", cmd.call_id,
                        scrub(exc.message), extra={"call_id": cmd.call_id})
            assert exc.frame is not None
            return exc.frame

    async def hangup(self, channel_or_uniqueid: str, cause: int | None = None) -> Frame:
        """Hang up a channel by name or Uniqueid (our leg 1's Uniqueid is the call_id).

        Returns the response; `Response:Error` ("No such channel") is returned, not
        raised: the channel being gone already is the usual reason.
        """
        pairs = [("Channel", channel_or_uniqueid)]
        if cause is not None:
            pairs.append(("Cause", str(int(cause))))
        try:
            return await self._request(self._proto, pairs, action="Hangup",
                                       timeout=self.action_timeout)
        except ActionFailed as exc:
            assert exc.frame is not None
            return exc.frame

    async def queue_status(self, queue: str | None = None) -> list[Frame]:
        """QueueParams / QueueMember / QueueEntry events (not passed to on_frame)."""
        pairs = [("Queue", queue)] if queue else []
        return await self.list_action("QueueStatus", pairs)

    async def core_show_channels(self) -> list[Frame]:
        """One CoreShowChannel event per live channel (not passed to on_frame)."""
        return await self.list_action("CoreShowChannels")

    async def ping(self) -> Frame:
        return await self.send_action("Ping", timeout=self.ping_timeout)

    async def send_action(self, action: str, pairs: Sequence[tuple[str, str]] = (), *,
                          timeout: float | None = None) -> Frame:
        """Any single-response action; `Response: Error` raises ActionFailed."""
        self._check_action(action, pairs)
        result = await self._request(self._proto, pairs, action=action,
                                     timeout=timeout or self.action_timeout)
        assert isinstance(result, Frame)
        return result

    async def list_action(self, action: str, pairs: Sequence[tuple[str, str]] = (), *,
                          timeout: float | None = None) -> list[Frame]:
        """An action answered by `EventList: start`, events, and a `...Complete` event;
        returns the events between (their ActionID is ours; on_frame does not see them)."""
        self._check_action(action, pairs)
        result = await self._request(self._proto, pairs, action=action, is_list=True,
                                     timeout=timeout or self.action_timeout)
        assert isinstance(result, list)
        return result

    @staticmethod
    def _check_action(action: str, pairs: Sequence[tuple[str, str]]) -> None:
        name = action.lower()
        if name == "originate" and not any(
            k.lower() == "async" and v.lower() in ("true", "yes", "1") for k, v in pairs
        ):
            raise ValueError("a synchronous Originate is refused: use AmiLink.originate()")
        if name in ("login", "challenge"):
            raise ValueError("login is managed by AmiLink itself")
        if any(k.lower() == "actionid" for k, _ in pairs):
            raise ValueError("ActionID is assigned by AmiLink")

    # --- internals: requests ----------------------------------------------------------

    async def _request(self, proto: _Protocol | None, pairs: Sequence[tuple[str, str]], *,
                       action: str, timeout: float, action_id: str | None = None,
                       is_list: bool = False, forward: bool = False) -> Any:
        if proto is None or proto.closed or (self._closing and action != "Logoff"):
            self.stats["not_sent"] += 1
            raise LinkDown(action, action_id or "-")
        aid = action_id or f"{self._id_prefix}{next(self._ids)}"
        if aid in proto.pending:
            raise ValueError(f"ActionID {aid} is already pending")
        data = encode_action([("Action", action), ("ActionID", aid), *pairs])
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = _Pending(action, aid, fut, is_list=is_list, forward=forward)
        proto.pending[aid] = pending
        proto.write(data)
        self.stats["actions"] += 1
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self.stats["action_timeouts"] += 1
            raise ActionTimeout(action, aid, timeout) from None
        finally:
            if proto.pending.get(aid) is pending:
                del proto.pending[aid]
                if pending.collecting:
                    proto.collecting -= 1

    # --- internals: frames in ---------------------------------------------------------

    def _on_item(self, proto: _Protocol, item: Item, now: float) -> None:
        if isinstance(item, Frame):
            self.stats["frames"] += 1
            if item.defects:
                self.stats["defective"] += 1
                log.warning("AMI %s frame from %s with defects: %s", item.name, self.where,
                            "; ".join(item.defects))
            kind = item.kind
            if kind == "event":
                if proto.collecting and self._collect(proto, item):
                    return
                self._deliver(item, now)
            elif kind == "response":
                self._response(proto, item, now)
            else:
                self.stats["unexpected"] += 1
                log.warning("AMI: ignoring an unexpected %s frame from %s", item.name, self.where)
        elif isinstance(item, MalformedFrame):
            self.stats["malformed"] += 1
            log.warning("AMI: skipped a %s frame from %s (%d bytes, headers: %s)", item.reason,
                        self.where, item.size, ",".join(item.keys[:12]) or "-")
            self._deliver(item, now)
        elif isinstance(item, Banner):
            proto.version = self.version = item.version
            log.debug("AMI %s speaks protocol %s", self.where, item.version)

    def _collect(self, proto: _Protocol, frame: Frame) -> bool:
        pending = proto.pending.get(frame.action_id)
        if pending is None or not pending.collecting:
            return False
        if frame.get("EventList").lower() == "complete" or frame.name.endswith("Complete"):
            del proto.pending[pending.action_id]
            proto.collecting -= 1
            if not pending.future.done():
                pending.future.set_result(pending.items)
        else:
            pending.items.append(frame)
        return True

    def _response(self, proto: _Protocol, frame: Frame, now: float) -> None:
        pending = proto.pending.get(frame.action_id)
        if pending is None:
            # Late (its action timed out) or unsolicited: the owner may still use it,
            # e.g. a late Originate ack tells the translator the call was queued.
            self.stats["unmatched_responses"] += 1
            self._deliver(frame, now)
            return
        ok = frame.name in _OK
        if pending.is_list and ok and not pending.collecting:
            pending.collecting = True
            proto.collecting += 1
            return
        del proto.pending[pending.action_id]
        if pending.collecting:
            proto.collecting -= 1
        if not pending.future.done():
            if ok:
                pending.future.set_result(frame)
            else:
                pending.future.set_exception(
                    ActionFailed(pending.action, pending.action_id, frame.get("Message"), frame))
        if pending.forward:
            self._deliver(frame, now)

    def _deliver(self, item: Frame | MalformedFrame, now: float) -> None:
        try:
            self.on_frame(item, now)
        except Exception:
            self.stats["handler_errors"] += 1
            name = item.name if isinstance(item, Frame) else "malformed"
            log.exception("AMI on_frame handler failed on a %s frame", name)

    # --- internals: connection --------------------------------------------------------

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), self.host, self.port),
                self.connect_timeout)
        except TimeoutError:
            raise AmiConnectError(f"cannot connect to AMI at {self.where}: timed out") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise AmiConnectError(f"cannot connect to AMI at {self.where}: {reason}") from None
        login = [("Username", self._username), ("Secret", self._secret), ("Events", self.events)]
        try:
            await self._request(proto, login, action="Login", timeout=self.action_timeout)
        except ActionFailed as exc:
            proto.close()
            raise AmiAuthError(
                f"AMI login to {self.where} refused ({exc.message or 'no reason given'}): "
                "check the configured AMI username and secret") from None
        except (ActionLost, ActionTimeout) as exc:
            proto.abort()
            raise AmiConnectError(
                f"AMI login to {self.where} got no answer ({type(exc).__name__})") from None
        except AmiEncodeError:
            proto.abort()
            raise AmiAuthError(
                "the configured AMI username, secret or event mask contains a line break "
                "or ':' and cannot be sent") from None
        except BaseException:  # cancelled while logging in: do not leak the socket
            proto.abort()
            raise
        log.info("AMI logged in to %s", self.where)
        return proto

    def _connection_lost(self, proto: _Protocol, exc: BaseException | None) -> None:
        if not proto.lost.done():
            proto.lost.set_result(exc)
        pending = list(proto.pending.values())
        proto.pending.clear()
        proto.collecting = 0
        detail = "closed by us" if self._closing else (
            f"{type(exc).__name__}" if exc else "closed by the PBX")
        for p in pending:
            if not p.future.done():
                p.future.set_exception(ActionLost(p.action, p.action_id, detail))
        if pending:
            self.stats["actions_lost"] += len(pending)
        if proto is self._proto and not self._closing:
            lost = f"; {len(pending)} pending action(s) failed, none re-sent" if pending else ""
            log.warning("AMI link to %s lost (%s)%s", self.where, detail, lost)

    def _set_up(self, up: bool) -> None:
        if self.connected == up:
            return
        self.connected = up
        try:
            self.on_link(up)
        except Exception:
            log.exception("AMI on_link handler failed")

    async def _supervise(self, proto: _Protocol) -> None:
        while True:
            keepalive = asyncio.get_running_loop().create_task(self._keepalive(proto))
            try:
                await asyncio.shield(proto.lost)
            finally:
                keepalive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keepalive
            if self._closing:
                return
            self._set_up(False)
            new = await self._reconnect()
            if new is None:
                return
            proto = self._proto = new
            self.reconnects += 1
            self._set_up(True)

    async def _keepalive(self, proto: _Protocol) -> None:
        while not proto.closed:
            await asyncio.sleep(self.ping_interval)
            if proto.closed:
                return
            try:
                await self._request(proto, (), action="Ping", timeout=self.ping_timeout)
            except ActionTimeout:
                self.stats["ping_timeouts"] += 1
                log.warning("AMI link to %s: no answer to Ping within %g s; reconnecting",
                            self.where, self.ping_timeout)
                proto.abort()
                return
            except ActionFailed:
                pass  # an answer is an answer: the PBX is alive
            except ActionLost:
                return

    async def _reconnect(self) -> _Protocol | None:
        attempt = 0
        while not self._closing:
            ceiling = min(self.reconnect_max, self.reconnect_min * 2 ** min(attempt, 30))
            delay = self._rng.uniform(ceiling / 2, ceiling)
            attempt += 1
            await asyncio.sleep(delay)
            if self._closing:
                return None
            try:
                proto = await self._connect()
            except AmiAuthError as exc:
                log.error("%s", exc)
            except AmiError as exc:
                log.log(logging.WARNING if attempt <= 3 else logging.DEBUG,
                        "AMI reconnect attempt %d: %s", attempt, exc)
            else:
                if self._closing:
                    proto.close()
                    return None
                return proto
        return None
