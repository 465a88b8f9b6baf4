"""A tiny raw-socket AMI client for tests: no library between the test and the bytes."""

from __future__ import annotations

import asyncio
import contextlib

Frame = list[tuple[str, str]]


def get(frame: Frame, key: str, default: str = "") -> str:
    for k, v in frame:
        if k.lower() == key.lower():
            return v
    return default


class RawAMI:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, banner: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = banner
        self.raw = bytearray()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> RawAMI:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        line = await asyncio.wait_for(reader.readline(), timeout)
        return cls(reader, writer, line.decode())

    async def send(self, *pairs: tuple[str, str], **fields: str) -> None:
        lines = [f"{k}: {v}" for k, v in pairs] + [f"{k}: {v}" for k, v in fields.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def frame(self, timeout: float = 5.0) -> Frame | None:
        """The next frame, or None at end of stream."""
        out: Frame = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            self.raw += line
            if not line:
                return None
            if not line.endswith(b"\r\n"):
                raise AssertionError(f"line not CRLF-terminated: {line!r}")
            text = line.decode().rstrip("\r\n")
            if not text:
                if out:
                    return out
                continue
            key, _, value = text.partition(": ")
            out.append((key, value))

    async def response(self, action_id: str, timeout: float = 5.0) -> tuple[Frame, list[Frame]]:
        """The Response with this ActionID, and the events that came before it."""
        seen: list[Frame] = []
        while True:
            f = await self.frame(timeout)
            if f is None:
                raise AssertionError(f"connection closed before the response to {action_id}")
            if get(f, "Response") and get(f, "ActionID") == action_id:
                return f, seen
            seen.append(f)

    async def until(self, pred, timeout: float = 5.0) -> tuple[Frame, list[Frame]]:
        seen: list[Frame] = []
        while True:
            f = await self.frame(timeout)
            if f is None:
                raise AssertionError(
                    "connection closed; saw "
                    f"{[get(x, 'Event') or get(x, 'Response') for x in seen]}"
                )
            seen.append(f)
            if pred(f):
                return f, seen

    async def action(self, action: str, action_id: str, **fields: str) -> tuple[Frame, list[Frame]]:
        await self.send(("Action", action), ("ActionID", action_id), *fields.items())
        return await self.response(action_id)

    async def login(
        self, username: str = "dialer", secret: str = "dialerpass", events: str = "on"
    ) -> Frame:
        resp, _ = await self.action(
            "Login", "login", Username=username, Secret=secret, Events=events
        )
        return resp

    async def list_items(
        self, action: str, action_id: str, **fields: str
    ) -> tuple[Frame, list[Frame], Frame]:
        resp, _ = await self.action(action, action_id, **fields)
        items: list[Frame] = []
        while True:
            f = await self.frame()
            assert f is not None
            if get(f, "EventList") == "Complete":
                return resp, items, f
            if get(f, "ActionID") == action_id:
                items.append(f)

    async def closed(self, timeout: float = 5.0) -> bool:
        """True if the server ends the stream (EOF or reset) within `timeout`."""
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
                self.raw += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
