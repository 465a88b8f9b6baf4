"""An AMI server on TCP loopback in front of a `PBXModel`, speaking like Asterisk 22.

Wire format: banner `Asterisk Call Manager/11.0.0`, CRLF lines, frames ended by an empty line.
Behaviour copied from manager.c (and the `actions` recording):

- before Login only Login/Logoff are allowed (`Permission denied` otherwise); a frame without
  Action gets `Missing action in request`; an unknown action gets
  `Invalid/unknown command: <Action>. Use Action: ListCommands to show available commands.`
- a failed Login waits one (simulated) second, answers `Authentication failed` and closes the
  connection, as Asterisk does (action_login returns -1 after `sleep(1)`);
- `Events: on|off|<number>|<comma list of classes>` picks the event classes of the session
  (no header: all); an event is sent only if all its classes are in the mask, and only after
  login; `FullyBooted` follows the Login response only when the mask includes `system`;
- events raised while a session handles an action reach that session after the action's
  response (Asterisk's session thread delivers queued events once the action is done);
- `Async: false` Originates answer only when the call is answered (`Originate successfully
  queued`) or fails (`Originate failed`), with no OriginateResponse event, and the session
  handles nothing else meanwhile (Asterisk blocks the session thread): its events wait too;
- list actions answer `Response: Success / EventList: start`, the items, then `...Complete`.

Fault injection for tests: `drop_connections()` (abort every session), `restart()` (Shutdown
event, connections closed, channels vanish, the port refuses connections for a while, then a
fresh PBX accepts again), `freeze()`/`thaw()` (nothing is read or written meanwhile; the PBX
keeps running and the backlog is delivered on thaw) and `response_delay` (every action is
handled that many real seconds after it arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from .pbx import Frame, OriginateError, OriginateRequest, PBXModel, ast_true, get_header

__all__ = ["BANNER", "EVENT_CLASSES", "AMIServer", "encode_frame", "event_mask"]

BANNER = "Asterisk Call Manager/11.0.0"

# manager.c perms[]: the event class bits.
EVENT_CLASSES = {
    "system": 1 << 0,
    "call": 1 << 1,
    "log": 1 << 2,
    "verbose": 1 << 3,
    "command": 1 << 4,
    "agent": 1 << 5,
    "user": 1 << 6,
    "config": 1 << 7,
    "dtmf": 1 << 8,
    "reporting": 1 << 9,
    "cdr": 1 << 10,
    "dialplan": 1 << 11,
    "originate": 1 << 12,
    "agi": 1 << 13,
    "cc": 1 << 14,
    "aoc": 1 << 15,
    "test": 1 << 16,
    "security": 1 << 17,
    "message": 1 << 18,
}
ALL_EVENTS = sum(EVENT_CLASSES.values())
_FALSE = {"no", "false", "n", "f", "0", "off"}
MAX_LINE = 64 * 1024


def event_mask(value: str) -> int | None:
    """manager.c strings_to_mask: None for an empty value (keep the user's read permission)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    if value.lower() in _FALSE:
        return 0
    if ast_true(value):
        return ALL_EVENTS
    mask = 0
    for token in value.split(","):
        token = token.strip().lower()
        if token == "all":
            mask |= ALL_EVENTS
        else:
            mask |= EVENT_CLASSES.get(token, 0)
    return mask


def encode_frame(frame: Sequence[tuple[str, str]]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in frame) + "\r\n").encode("utf-8")


def _event_bits(frame: Sequence[tuple[str, str]]) -> int:
    privilege = get_header(frame, "Privilege")
    bits = 0
    for token in privilege.split(","):
        token = token.strip()
        if token and token != "all":
            bits |= EVENT_CLASSES.get(token, 0)
    return bits


class _Session:
    def __init__(
        self, server: AMIServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.id = next(server._session_ids)
        self.authenticated = False
        self.username = ""
        self.mask = 0
        self.hold = 0  # > 0 while the session handles an action: its events wait
        self.held: list[bytes] = []
        self.closed = False
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.peer = peer

    # output ------------------------------------------------------------

    def send(self, data: bytes, *, event: bool = False) -> None:
        if self.closed:
            return
        if event and self.hold:
            self.held.append(data)
        elif self.server._frozen:
            self.server._frozen_out.setdefault(self, []).append(data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self.closed or self.writer.is_closing():
            self.closed = True
            return
        self.writer.write(data)

    def respond(self, frame: Frame) -> None:
        self.send(encode_frame(frame))

    def wants(self, bits: int) -> bool:
        return self.authenticated and bits != 0 and (self.mask & bits) == bits

    def release_held(self) -> None:
        held, self.held = self.held, []
        for data in held:
            self.send(data)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()

    def abort(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    # input -------------------------------------------------------------

    async def read_frame(self) -> Frame | None:
        frame: Frame = []
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            if len(line) > MAX_LINE:
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if frame:
                    return frame
                continue
            key, sep, value = text.partition(":")
            if not sep:
                continue  # Asterisk ignores a line without a colon
            frame.append((key.strip(), value.lstrip(" \t")))


class AMIServer:
    """The TCP front of a PBXModel. `scheduler_now` gives simulated time (Ping, SuccessfulAuth);
    `sim_seconds_to_real` scales the one-second failed-login delay with the run's speed."""

    def __init__(
        self,
        model: PBXModel,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "dialer",
        secret: str = "dialerpass",
        speed: float = 1.0,
        auth_fail_delay_s: float = 1.0,
    ) -> None:
        self.model = model
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.speed = speed
        self.auth_fail_delay_s = auth_fail_delay_s
        self.response_delay = 0.0  # real seconds before each action is handled
        self.sessions: set[_Session] = set()
        self._server: asyncio.base_events.Server | None = None
        self._session_ids = itertools.count(1)
        self._frozen = False
        self._frozen_out: dict[_Session, list[bytes]] = {}
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.accepting = False
        self.counters: dict[str, int] = {
            "connections": 0,
            "logins": 0,
            "failed_logins": 0,
            "actions": 0,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.model.subscribe(self._on_event)
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True, limit=MAX_LINE * 2
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self.accepting = True

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.accepting = False

    async def close(self) -> None:
        await self._stop_listening()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for s in list(self.sessions):
            s.abort()
        self.thaw()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ fault injection

    def drop_connections(self) -> int:
        """Cut every AMI session abruptly (no Shutdown event, no FIN handshake)."""
        n = 0
        for s in list(self.sessions):
            s.abort()
            n += 1
        return n

    async def restart(self, down_for: float = 0.5) -> None:
        """Simulate an Asterisk restart: `Shutdown` to every session that gets system events,
        all connections closed, every channel gone, connections refused for `down_for` real
        seconds, then a freshly booted PBX accepts logins on the same port."""
        self.model.shutdown_event(restart=True)
        await self._stop_listening()
        for s in list(self.sessions):
            s.close()
        self.model.reset()
        await asyncio.sleep(down_for)
        await self._listen()

    def freeze(self) -> None:
        """Stop answering: actions are not handled and nothing is written until `thaw()`."""
        self._frozen = True
        self._thawed.clear()

    def thaw(self) -> None:
        self._frozen = False
        out, self._frozen_out = self._frozen_out, {}
        for session, chunks in out.items():
            for data in chunks:
                session.send(data)
        self._thawed.set()

    # ------------------------------------------------------------------ events

    def _on_event(self, frame: Frame) -> None:
        bits = _event_bits(frame)
        data: bytes | None = None
        for s in list(self.sessions):
            if s.wants(bits):
                if data is None:
                    data = encode_frame(frame)
                s.send(data, event=True)

    # ------------------------------------------------------------------ sessions

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve the connection in a task of our own rather than returning a coroutine: asyncio
        3.11 wraps a coroutine callback in a task whose done-callback calls `exception()`, so
        cancelling it at close() would log "Exception in callback ... CancelledError". Our
        tasks are cancelled and awaited by close(), and nobody else looks at them."""
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self.sessions.add(session)
        self.counters["connections"] += 1
        try:
            session.send(f"{BANNER}\r\n".encode())
            while not session.closed:
                frame = await session.read_frame()
                if frame is None or session.closed:
                    break
                await self._thawed.wait()
                if self.response_delay > 0:
                    await asyncio.sleep(self.response_delay)
                if session.closed:
                    break
                keep = await self._dispatch(session, frame)
                if not keep:
                    break
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass
        finally:
            self.sessions.discard(session)
            self._frozen_out.pop(session, None)
            if not session.closed:
                session.close()

    @staticmethod
    def _response(
        frame: Frame, response: str, message: str | None = None, *extra: tuple[str, str]
    ) -> Frame:
        out: Frame = [("Response", response)]
        aid = get_header(frame, "ActionID")
        if aid:
            out.append(("ActionID", aid))
        if message is not None:
            out.append(("Message", message))
        out.extend(extra)
        return out

    def _ok(self, s: _Session, frame: Frame, message: str) -> bool:
        s.respond(self._response(frame, "Success", message))
        return True

    def _error(self, s: _Session, frame: Frame, message: str) -> bool:
        s.respond(self._response(frame, "Error", message))
        return True

    async def _dispatch(self, s: _Session, frame: Frame) -> bool:
        self.counters["actions"] += 1
        action = get_header(frame, "Action").strip()
        if not action:
            return self._error(s, frame, "Missing action in request")
        name = action.lower()
        if not s.authenticated and name not in ("login", "logoff", "challenge"):
            return self._error(s, frame, "Permission denied")
        handler = self._handlers().get(name)
        if handler is None:
            return self._error(
                s,
                frame,
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands.",
            )
        # The session thread writes queued events only after it has handled the action
        # (manager.c process_message -> process_events): hold them until the response is out.
        s.hold += 1
        try:
            result = handler(s, frame)
            if asyncio.iscoroutine(result):
                result = await result
        finally:
            s.hold -= 1
            if not s.hold:
                s.release_held()
        return bool(result)

    def _handlers(self) -> dict[str, Callable[[_Session, Frame], object]]:
        return {
            "login": self._login,
            "logoff": self._logoff,
            "ping": self._ping,
            "originate": self._originate,
            "hangup": self._hangup,
            "redirect": self._redirect,
            "userevent": self._userevent,
            "getvar": self._getvar,
            "setvar": self._setvar,
            "coresettings": self._coresettings,
            "coreshowchannels": self._coreshowchannels,
            "queuestatus": self._queuestatus,
            "queuesummary": self._queuesummary,
            "queueadd": self._queueadd,
            "queueremove": self._queueremove,
            "queuepause": self._queuepause,
            "events": self._events,
        }

    # ------------------------------------------------------------------ actions

    async def _login(self, s: _Session, frame: Frame) -> bool:
        if s.authenticated:
            return self._ok(s, frame, "Already authenticated")
        user = get_header(frame, "Username")
        secret = get_header(frame, "Secret")
        if user != self.username or secret != self.secret:
            self.counters["failed_logins"] += 1
            await asyncio.sleep(self.auth_fail_delay_s / self.speed)
            self._error(s, frame, "Authentication failed")
            return False  # manager.c: the session ends after a failed login
        mask = event_mask(get_header(frame, "Events"))
        s.mask = ALL_EVENTS if mask is None else mask
        s.authenticated = True
        s.username = user
        self.counters["logins"] += 1
        self._ok(s, frame, "Authentication accepted")
        if s.mask & EVENT_CLASSES["system"]:
            # Written by the session itself (astman_append): no Timestamp, as recorded.
            s.respond(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    *self.model.fully_booted_fields(),
                ]
            )
        self._security_event(s)
        return True

    def _security_event(self, s: _Session) -> None:
        now = self.model.now()
        tv = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        frame: Frame = [
            ("Event", "SuccessfulAuth"),
            ("Privilege", "security,all"),
            ("Timestamp", f"{now:.6f}"),
            ("EventTV", tv),
            ("Severity", "Informational"),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            ("AccountID", s.username),
            ("SessionID", f"0x{0x55D0C0DE0000 + s.id:x}"),
            ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
            ("RemoteAddress", f"IPV4/TCP/{s.peer[0]}/{s.peer[1]}"),
            ("UsingPassword", "0"),
            ("SessionTV", tv),
        ]
        self._on_event(frame)

    def _logoff(self, s: _Session, frame: Frame) -> bool:
        s.respond(self._response(frame, "Goodbye", "Thanks for all the fish."))
        return False

    def _ping(self, s: _Session, frame: Frame) -> bool:
        s.respond(
            self._response(
                frame, "Success", None, ("Ping", "Pong"), ("Timestamp", f"{self.model.now():.6f}")
            )
        )
        return True

    def _events(self, s: _Session, frame: Frame) -> bool:
        mask = event_mask(get_header(frame, "EventMask"))
        if mask is not None:
            s.mask = mask
        s.respond(self._response(frame, "Success", None, ("Events", "On" if s.mask else "Off")))
        return True

    def _coresettings(self, s: _Session, frame: Frame) -> bool:
        s.respond(
            self._response(
                frame,
                "Success",
                None,
                ("AMIversion", "11.0.0"),
                ("AsteriskVersion", "22.10.1"),
                ("SystemName", ""),
                ("CoreMaxCalls", "0"),
                ("CoreMaxLoadAvg", "0.000000"),
                ("CoreRunUser", ""),
                ("CoreRunGroup", ""),
                ("CoreMaxFilehandles", "65536"),
                ("CoreRealTimeEnabled", "No"),
                ("CoreCDRenabled", "No"),
                ("CoreHTTPenabled", "No"),
                ("SoundsSearchCustomDir", "No"),
            )
        )
        return True

    async def _originate(self, s: _Session, frame: Frame) -> bool:
        try:
            req = OriginateRequest.from_frame(frame)
        except OriginateError as exc:
            return self._error(s, frame, str(exc))
        if req.is_async:
            try:
                self.model.originate(req)
            except OriginateError as exc:
                return self._error(s, frame, str(exc))
            return self._ok(s, frame, "Originate successfully queued")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()

        def on_result(answered: bool) -> None:
            if not done.done():
                done.set_result(answered)

        try:
            self.model.originate(req, on_result)
        except OriginateError as exc:
            return self._error(s, frame, str(exc))
        answered = await done  # the session is blocked meanwhile, its events held
        if answered:
            self._ok(s, frame, "Originate successfully queued")
        else:
            self._error(s, frame, "Originate failed")
        return True

    def _hangup(self, s: _Session, frame: Frame) -> bool:
        channel = get_header(frame, "Channel")
        if not channel:
            return self._error(s, frame, "No channel specified")
        cause_text = get_header(frame, "Cause").strip()
        cause = int(cause_text) if cause_text.isdigit() and int(cause_text) <= 127 else None
        if not self.model.hangup(channel, cause):
            return self._error(s, frame, "No such channel")
        return self._ok(s, frame, "Channel Hungup")

    def _redirect(self, s: _Session, frame: Frame) -> bool:
        channel = get_header(frame, "Channel")
        if not channel:
            return self._error(s, frame, "Channel not specified")
        priority = get_header(frame, "Priority").strip()
        error = self.model.redirect(channel, get_header(frame, "Context"), get_header(frame, "Exten"),
                                    int(priority) if priority.isdigit() else 0)
        if error is not None:
            return self._error(s, frame, error)
        return self._ok(s, frame, "Redirect successful")

    def _userevent(self, s: _Session, frame: Frame) -> bool:
        """manager.c action_userevent: every header but Action and ActionID goes out in a
        UserEvent event (class user) to every session."""
        name = get_header(frame, "UserEvent")
        if not name:
            return self._error(s, frame, "UserEvent not specified")
        fields = [("UserEvent", name)] + [
            (k, v) for k, v in frame if k.lower() not in ("action", "actionid", "userevent")
        ]
        self._ok(s, frame, "Event Sent")
        self.model.user_event(fields)
        return True

    def _getvar(self, s: _Session, frame: Frame) -> bool:
        variable = get_header(frame, "Variable")
        if not variable:
            return self._error(s, frame, "No variable specified")
        try:
            value = self.model.getvar(get_header(frame, "Channel"), variable)
        except KeyError:
            return self._error(s, frame, "No such channel")
        s.respond(self._response(frame, "Success", None, ("Variable", variable), ("Value", value)))
        return True

    def _setvar(self, s: _Session, frame: Frame) -> bool:
        variable = get_header(frame, "Variable")
        if not variable:
            return self._error(s, frame, "No variable specified")
        try:
            self.model.setvar(get_header(frame, "Channel"), variable, get_header(frame, "Value"))
        except KeyError:
            return self._error(s, frame, "No such channel")
        return self._ok(s, frame, "Variable Set")

    def _list(
        self, s: _Session, frame: Frame, message: str, items: list[Frame], complete: str
    ) -> bool:
        s.respond(
            self._response(frame, "Success", None, ("EventList", "start"), ("Message", message))
        )
        for item in items:
            s.respond(item)
        aid = get_header(frame, "ActionID")
        s.respond(
            [
                ("Event", complete),
                *([("ActionID", aid)] if aid else []),
                ("EventList", "Complete"),
                ("ListItems", str(len(items))),
            ]
        )
        return True

    def _coreshowchannels(self, s: _Session, frame: Frame) -> bool:
        aid = get_header(frame, "ActionID")
        return self._list(
            s,
            frame,
            "Channels will follow",
            self.model.core_show_channels(aid),
            "CoreShowChannelsComplete",
        )

    def _queuestatus(self, s: _Session, frame: Frame) -> bool:
        items = self.model.queue_status(
            get_header(frame, "Queue"), get_header(frame, "Member"), get_header(frame, "ActionID")
        )
        return self._list(s, frame, "Queue status will follow", items, "QueueStatusComplete")

    def _queuesummary(self, s: _Session, frame: Frame) -> bool:
        items = self.model.queue_summary(get_header(frame, "Queue"), get_header(frame, "ActionID"))
        return self._list(s, frame, "Queue summary will follow", items, "QueueSummaryComplete")

    def _queueadd(self, s: _Session, frame: Frame) -> bool:
        queue, interface = get_header(frame, "Queue"), get_header(frame, "Interface")
        if not queue:
            return self._error(s, frame, "'Queue' not specified.")
        if not interface:
            return self._error(s, frame, "'Interface' not specified.")
        penalty_text = get_header(frame, "Penalty").strip()
        penalty = int(penalty_text) if penalty_text.isdigit() else 0
        result = self.model.queue_add(
            queue,
            interface,
            get_header(frame, "MemberName"),
            penalty=penalty,
            paused=ast_true(get_header(frame, "Paused")),
            reason=get_header(frame, "Reason"),
            state_interface=get_header(frame, "StateInterface"),
        )
        messages = {
            "exists": "Unable to add interface: Already there",
            "no_queue": "Unable to add interface to queue: No such queue",
        }
        if result == "ok":
            return self._ok(s, frame, "Added interface to queue")
        return self._error(s, frame, messages[result])

    def _queueremove(self, s: _Session, frame: Frame) -> bool:
        queue, interface = get_header(frame, "Queue"), get_header(frame, "Interface")
        if not queue or not interface:
            return self._error(s, frame, "Need 'Queue' and 'Interface' parameters.")
        result = self.model.queue_remove(queue, interface)
        messages = {
            "not_there": "Unable to remove interface: Not there",
            "no_queue": "Unable to remove interface from queue: No such queue",
            "not_dynamic": "Member not dynamic",
        }
        if result == "ok":
            return self._ok(s, frame, "Removed interface from queue")
        return self._error(s, frame, messages[result])

    def _queuepause(self, s: _Session, frame: Frame) -> bool:
        interface, paused_text = get_header(frame, "Interface"), get_header(frame, "Paused")
        if not interface or not paused_text:
            return self._error(s, frame, "Need 'Interface' and 'Paused' parameters.")
        paused = ast_true(paused_text)
        if not self.model.queue_pause(
            interface, paused, get_header(frame, "Queue"), get_header(frame, "Reason")
        ):
            return self._error(s, frame, "Interface not found")
        return self._ok(
            s,
            frame,
            "Interface paused successfully" if paused else "Interface unpaused successfully",
        )
