"""A scripted AMI server on 127.0.0.1 for the client tests (real TCP, port 0).

It speaks just enough AMI: banner, Login, Ping, Originate (with selectable misbehaviour),
QueueStatus, CoreShowChannels, Hangup, Logoff; `push()` writes raw bytes to a client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from dialer.ami.codec import Frame, FrameParser, encode_frame

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


@dataclass
class Conn:
    n: int
    writer: asyncio.StreamWriter
    actions: list[Frame] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    logged_in: bool = False

    def send(self, *pairs: tuple[str, str]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode_frame(pairs))

    def cut(self) -> None:
        """Drop the TCP connection at once (no Goodbye), as a crashed PBX would."""
        self.writer.transport.abort()


class FakeAmi:
    def __init__(self, *, username: str = "dialer", secret: str = "s3cret-Pa55") -> None:
        self.username = username
        self.secret = secret
        self.conns: list[Conn] = []
        self.port = 0
        # Behaviour switches (tests change them).
        self.answer_ping: Callable[[Conn], bool] = lambda conn: True
        self.originate_mode = "ack"  # ack | event_first | error | cut | silent
        self.originate_result = ("Success", "4")
        self.queue_members = ("agent1", "agent2")
        self._server: asyncio.base_events.Server | None = None
        self._changed = asyncio.Event()

    async def start(self) -> FakeAmi:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for c in self.conns:
            c.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # --- observations -------------------------------------------------------------------
    def actions(self, name: str | None = None) -> list[Frame]:
        return [a for c in self.conns for a in c.actions
                if name is None or a.name == f"Action:{name}"]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)
        await asyncio.wait_for(loop(), timeout)

    @property
    def last(self) -> Conn:
        return self.conns[-1]

    async def push(self, *chunks: bytes, conn: Conn | None = None, pause: float = 0.05) -> None:
        """Write raw bytes, each chunk as its own TCP write with a pause in between."""
        c = conn or self.last
        for chunk in chunks:
            c.writer.write(chunk)
            await c.writer.drain()
            await asyncio.sleep(pause)

    # --- protocol ------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(len(self.conns), writer)
        self.conns.append(conn)
        writer.write(BANNER)
        parser = FrameParser()
        try:
            while data := await reader.read(65536):
                for item in parser.feed(data):
                    if isinstance(item, Frame) and item.kind == "action":
                        conn.actions.append(item)
                        self._changed.set()
                        await self._dispatch(conn, item)
        except (ConnectionError, OSError):
            pass
        finally:
            conn.closed.set()
            self._changed.set()
            writer.close()

    async def _dispatch(self, conn: Conn, a: Frame) -> None:
        aid = ("ActionID", a.get("ActionID"))
        name = a.name.split(":", 1)[1].lower()
        if name == "login":
            if a.get("Username") == self.username and a.get("Secret") == self.secret:
                conn.logged_in = True
                conn.send(("Response", "Success"), aid, ("Message", "Authentication accepted"))
            else:
                conn.send(("Response", "Error"), aid, ("Message", "Authentication failed"))
            return
        if not conn.logged_in:
            conn.send(("Response", "Error"), aid, ("Message", "Permission denied"))
            return
        if name == "ping":
            if self.answer_ping(conn):
                conn.send(("Response", "Success"), aid, ("Ping", "Pong"),
                          ("Timestamp", "1795863179.277744"))
        elif name == "originate":
            await self._originate(conn, a, aid)
        elif name == "queuestatus":
            conn.send(("Response", "Success"), aid, ("EventList", "start"),
                      ("Message", "Queue status will follow"))
            conn.send(("Event", "QueueParams"), ("Queue", "agents"), ("Max", "0"), aid)
            for i, member in enumerate(self.queue_members):
                conn.send(("Event", "QueueMember"), ("Queue", "agents"), ("Name", member),
                          ("Location", f"Local/{member}@agents"), ("Status", str(1 + i % 2)),
                          ("Paused", "0"), ("PausedReason", ""), ("Wrapuptime", "5"), aid)
            conn.send(("Event", "QueueStatusComplete"), aid, ("EventList", "Complete"),
                      ("ListItems", str(1 + len(self.queue_members))))
        elif name == "coreshowchannels":
            conn.send(("Response", "Success"), aid, ("EventList", "start"),
                      ("Message", "Channels will follow"))
            conn.send(("Event", "CoreShowChannel"), aid, ("Channel", "Local/1@callees-1;1"),
                      ("Uniqueid", "c1"))
            conn.send(("Event", "CoreShowChannelsComplete"), aid, ("EventList", "Complete"),
                      ("ListItems", "1"))
        elif name == "hangup":
            conn.send(("Response", "Error"), aid, ("Message", "No such channel"))
        elif name == "logoff":
            conn.send(("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish."))
            await conn.writer.drain()
            conn.writer.close()
        else:
            conn.send(("Response", "Error"), aid,
                      ("Message", f"Invalid/unknown command: {a.name[7:]}."))

    async def _originate(self, conn: Conn, a: Frame, aid: tuple[str, str]) -> None:
        mode = self.originate_mode
        if mode == "cut":
            conn.cut()
            return
        if mode == "silent":
            return
        if mode == "error":
            conn.send(("Response", "Error"), aid, ("Message", "Originate failed"))
            return
        result, reason = self.originate_result
        event = (("Event", "OriginateResponse"), ("Privilege", "call,all"), aid,
                 ("Response", result), ("Channel", a.get("Channel")), ("Reason", reason),
                 ("Uniqueid", a.get("ChannelId") or "<unknown>"))
        ack = (("Response", "Success"), aid, ("Message", "Originate successfully queued"))
        if mode == "event_first":
            conn.send(*event)
            conn.send(*ack)
        else:
            conn.send(*ack)
            await conn.writer.drain()
            await asyncio.sleep(0.02)
            conn.send(*event)
