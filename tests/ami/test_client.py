"""AmiLink over real TCP on 127.0.0.1 against the scripted server in fake_ami.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvloop

from dialer.ami.client import AmiLink, originate_pairs
from dialer.ami.codec import Frame, MalformedFrame
from dialer.ami.errors import (
    ActionLost,
    ActionTimeout,
    AmiAuthError,
    AmiConnectError,
    AmiEncodeError,
    LinkDown,
)
from dialer.ami.translate import AmiTranslator
from dialer.core import events as ev
from dialer.core.commands import Originate

from .fake_ami import FakeAmi

SECRET = "s3cret-Pa55"
PHONE = "+8613812345678"


@dataclass
class Probe:
    """What the owner of the link sees."""

    frames: list[Frame | MalformedFrame] = field(default_factory=list)
    links: list[bool] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def on_frame(self, frame: Frame | MalformedFrame, at: float) -> None:
        self.frames.append(frame)

    def on_link(self, up: bool) -> None:
        self.links.append(up)
        self.times.append(time.monotonic())

    def named(self, name: str) -> list[Frame]:
        return [f for f in self.frames if isinstance(f, Frame) and f.name == name]

    async def wait(self, predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.01)


def make_link(server: FakeAmi, probe: Probe, **kw: object) -> AmiLink:
    opts: dict[str, object] = {
        "action_timeout": 1.0, "ping_interval": 5.0, "ping_timeout": 1.0,
        "reconnect_min": 0.05, "reconnect_max": 0.2,
    }
    opts.update(kw)
    return AmiLink("127.0.0.1", server.port, "dialer", str(opts.pop("secret", SECRET)),
                   on_frame=probe.on_frame, on_link=probe.on_link, **opts)  # type: ignore[arg-type]


def command(call_id: str = "call-1", **kw: object) -> Originate:
    base: dict[str, object] = dict(
        call_id=call_id, campaign="c1", phone=PHONE, channel=f"Local/{PHONE[1:]}@callees",
        context="dialer-amd", exten="s", priority=1, caller_id='"Dialer" <5551230000>',
        timeout_ms=30000, variables=(("CAMPAIGN", "c1"),))
    base.update(kw)
    return Originate(**base)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    srv = await FakeAmi(secret=SECRET).start()
    yield srv
    await srv.stop()


@pytest.fixture
async def linked(server: FakeAmi) -> AsyncIterator[tuple[AmiLink, Probe]]:
    probe = Probe()
    link = make_link(server, probe)
    await link.start()
    yield link, probe
    await link.close()


# --- login ----------------------------------------------------------------------------------

async def test_login_and_ping(linked: tuple[AmiLink, Probe], server: FakeAmi) -> None:
    link, probe = linked
    assert link.connected and probe.links == [True]
    pong = await link.ping()
    assert pong.name == "Response:Success" and pong.get("Ping") == "Pong"
    assert link.version == "11.0.0"
    login = server.actions("Login")[0]
    assert login.get("Events") == "on" and login.get("Username") == "dialer"
    assert probe.frames == []  # action responses are not frames for the owner


async def test_wrong_secret_raises_auth_error_without_credentials(
        server: FakeAmi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    probe = Probe()
    link = make_link(server, probe, secret="wrong-secret-123")
    with pytest.raises(AmiAuthError) as info:
        await link.start()
    msg = str(info.value)
    assert "refused" in msg and "Authentication failed" in msg
    for secret in ("wrong-secret-123", SECRET):
        assert secret not in msg and secret not in caplog.text and secret not in repr(link)
    assert "dialer" not in msg  # not even the username
    assert probe.links == [] and not link.connected
    await server.wait_until(lambda: server.last.closed.is_set())


async def test_unreachable_pbx() -> None:
    srv = await FakeAmi().start()
    port = srv.port
    await srv.stop()
    link = AmiLink("127.0.0.1", port, "u", "p", on_frame=Probe().on_frame,
                   on_link=Probe().on_link)
    with pytest.raises(AmiConnectError, match=f"127.0.0.1:{port}"):
        await link.start()


# --- keepalive and reconnect -----------------------------------------------------------------

async def test_unanswered_ping_kills_the_link_and_it_reconnects(server: FakeAmi) -> None:
    server.answer_ping = lambda conn: conn.n > 0  # the first connection never answers
    probe = Probe()
    link = make_link(server, probe, ping_interval=0.2, ping_timeout=0.15)
    t0 = time.monotonic()
    await link.start()
    try:
        await probe.wait(lambda: probe.links == [True, False, True])
        down_after = probe.times[1] - t0
        assert 0.2 + 0.15 - 0.05 < down_after < 0.2 + 0.15 + 0.4, down_after  # interval + timeout
        assert link.connected and link.reconnects == 1 and link.stats["ping_timeouts"] == 1
        assert len(server.conns) == 2 and len(server.actions("Login")) == 2
        await server.wait_until(lambda: len(server.conns[1].actions) >= 2)  # pinged again
        assert (await link.ping()).get("Ping") == "Pong"
    finally:
        await link.close()
    assert probe.links == [True, False, True, False]


async def test_originate_cut_before_response_is_lost_and_never_resent(
        server: FakeAmi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.originate_mode = "cut"
    probe = Probe()
    link = make_link(server, probe)
    await link.start()
    try:
        with pytest.raises(ActionLost) as info:
            await link.originate(command("call-cut"))
        assert not isinstance(info.value, LinkDown)  # it was sent: outcome unknown
        assert "call-cut" in str(info.value) and "not re-sent" in str(info.value)
        await probe.wait(lambda: probe.links == [True, False, True])
        # Give a re-sending client every chance: pings, FullyBooted, time.
        server.last.send(("Event", "FullyBooted"), ("Privilege", "system,all"))
        await asyncio.sleep(0.3)
        await link.ping()
        assert len(server.actions("Originate")) == 1
        assert server.conns[1].actions and all(
            a.name != "Action:Originate" for a in server.conns[1].actions)
    finally:
        await link.close()
    assert PHONE not in caplog.text and "+86138****5678" in caplog.text
    assert SECRET not in caplog.text


async def test_pending_actions_fail_on_close_and_later_ones_are_not_sent(
        server: FakeAmi) -> None:
    server.originate_mode = "silent"
    probe = Probe()
    link = make_link(server, probe, action_timeout=5.0)
    await link.start()
    task = asyncio.ensure_future(link.originate(command("call-pending")))
    await server.wait_until(lambda: bool(server.actions("Originate")))
    await link.close()
    with pytest.raises(ActionLost):
        await task
    with pytest.raises(LinkDown):
        await link.originate(command("call-after"))
    assert len(server.actions("Originate")) == 1
    assert server.actions("Logoff")  # a clean goodbye


# --- originate ---------------------------------------------------------------------------

def test_originate_pairs() -> None:
    pairs = originate_pairs(command("c-77", variables=(("CAMPAIGN", "c1"),
                                                       ("DIALER_CALL_ID", "spoof"))))
    assert pairs == [
        ("Action", "Originate"), ("ActionID", "c-77"), ("Channel", "Local/8613812345678@callees"),
        ("Context", "dialer-amd"), ("Exten", "s"), ("Priority", "1"), ("Timeout", "30000"),
        ("CallerID", '"Dialer" <5551230000>'), ("Async", "true"), ("ChannelId", "c-77"),
        ("OtherChannelId", "c-77-2"), ("Variable", "DIALER_CALL_ID=c-77"),
        ("Variable", "CAMPAIGN=c1"),
    ]
    with pytest.raises(AmiEncodeError):
        originate_pairs(command("x", variables=(("A=B", "1"),)))
    with pytest.raises(AmiEncodeError):
        originate_pairs(command("x" * 200))


@pytest.mark.parametrize("mode", ["ack", "event_first"])
async def test_originate_response_reaches_on_frame(
        linked: tuple[AmiLink, Probe], server: FakeAmi, mode: str) -> None:
    link, probe = linked
    server.originate_mode = mode
    resp = await link.originate(command("call-ok"))
    assert resp.name == "Response:Success" and resp.get("ActionID") == "call-ok"
    await probe.wait(lambda: bool(probe.named("OriginateResponse")))
    assert [f.name for f in probe.frames if isinstance(f, Frame)] == (
        ["Response:Success", "OriginateResponse"] if mode == "ack"
        else ["OriginateResponse", "Response:Success"])
    (sent,) = server.actions("Originate")
    assert sent.get("Async") == "true" and sent.get("ChannelId") == "call-ok"
    assert sent.get("OtherChannelId") == "call-ok-2"
    assert sent.getall("Variable") == ["DIALER_CALL_ID=call-ok", "CAMPAIGN=c1"]
    # The translator turns what on_frame saw into the call's first events.
    tr = AmiTranslator()
    tr.register_originate("call-ok")
    events = [e for f in probe.frames for e in tr.translate(f, 1.0)]
    assert [type(e) for e in events] == (
        [ev.OriginateQueued, ev.CallLegCreated, ev.CallAnswered] if mode == "ack"
        else [ev.CallLegCreated, ev.CallAnswered])


async def test_originate_refused_returns_the_error_frame(
        linked: tuple[AmiLink, Probe], server: FakeAmi) -> None:
    link, probe = linked
    server.originate_mode = "error"
    resp = await link.originate(command("call-err"))
    assert resp.name == "Response:Error" and resp.get("Message") == "Originate failed"
    tr = AmiTranslator()
    tr.register_originate("call-err")
    assert tr.translate(probe.frames[0], 2.0) == [
        ev.OriginateRejected(2.0, "call-err", message="Originate failed")]


async def test_sync_originate_is_refused_at_the_api(
        linked: tuple[AmiLink, Probe], server: FakeAmi) -> None:
    link, _ = linked
    with pytest.raises(ValueError, match="synchronous Originate"):
        await link.send_action("Originate", [("Channel", "Local/1@x"), ("Exten", "s")])
    with pytest.raises(ValueError):
        await link.send_action("Originate", [("Async", "false")])
    assert server.actions("Originate") == []


async def test_action_timeout_then_late_response_goes_to_on_frame(server: FakeAmi) -> None:
    server.originate_mode = "silent"
    probe = Probe()
    link = make_link(server, probe, action_timeout=0.2)
    await link.start()
    try:
        with pytest.raises(ActionTimeout, match="call-slow"):
            await link.originate(command("call-slow"))
        assert link.connected  # a slow action is not a dead link
        server.last.send(("Response", "Success"), ("ActionID", "call-slow"),
                         ("Message", "Originate successfully queued"))
        await probe.wait(lambda: bool(probe.frames))
        assert probe.frames[0].name == "Response:Success"  # type: ignore[union-attr]
        assert len(server.actions("Originate")) == 1
    finally:
        await link.close()


async def test_hangup_of_a_gone_channel_returns_the_error(
        linked: tuple[AmiLink, Probe], server: FakeAmi) -> None:
    link, _ = linked
    resp = await link.hangup("call-1", cause=16)
    assert resp.name == "Response:Error" and resp.get("Message") == "No such channel"
    (sent,) = server.actions("Hangup")
    assert sent.get("Channel") == "call-1" and sent.get("Cause") == "16"


async def test_list_actions(linked: tuple[AmiLink, Probe], server: FakeAmi) -> None:
    link, probe = linked
    members = await link.queue_status("agents")
    assert [f.name for f in members] == ["QueueParams", "QueueMember", "QueueMember"]
    channels = await link.core_show_channels()
    assert [f.get("Uniqueid") for f in channels] == ["c1"]
    assert probe.frames == []  # list items go to the caller, not to on_frame
    tr = AmiTranslator()
    got = [e for f in members for e in tr.translate(f, 9.0)]
    assert got == [
        ev.AgentStatus(9.0, "agent1", queue="agents", device_status=1, paused=False, wrapup_s=5.0),
        ev.AgentStatus(9.0, "agent2", queue="agents", device_status=2, paused=False, wrapup_s=5.0),
    ]
    assert server.actions("QueueStatus")[0].get("Queue") == "agents"


# --- hostile streams ------------------------------------------------------------------------

async def test_garbage_unknown_and_defective_frames_are_skipped(
        linked: tuple[AmiLink, Probe], server: FakeAmi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    link, probe = linked
    await server.push(
        b"complete nonsense line\r\n\r\n",
        b"Foo: 8613812345678\r\nBar: 2\r\n\r\n",
        b"Event: Hangup\r\nUniqueid: 1.1\r\nHALF A LI",
        b"NE\r\nCause: 16\r\n\r\n",
        b"Event: UserEvent\r\nCallerIDName: \xff\xfe\r\n\r\n",
        b"Event: Newchannel\r\nUniqueid: 2.2\r\n\r\n",
    )
    await probe.wait(lambda: bool(probe.named("Newchannel")))
    kinds = [f.reason if isinstance(f, MalformedFrame) else f.name for f in probe.frames]
    assert kinds == ["garbage", "unknown", "Hangup", "UserEvent", "Newchannel"]
    assert probe.frames[2].get("Cause") == "16"  # type: ignore[union-attr]
    assert probe.frames[3].defects == ("invalid utf-8",)  # type: ignore[union-attr]
    assert link.connected and len(server.conns) == 1 and link.stats["malformed"] == 2
    assert "8613812345678" not in caplog.text  # header names only, never values
    assert (await link.ping()).get("Ping") == "Pong"


async def test_truncated_frame_when_the_pbx_dies(linked: tuple[AmiLink, Probe],
                                                 server: FakeAmi) -> None:
    _link, probe = linked
    await server.push(b"Event: Hangup\r\nUniqueid: 1.1\r\nCau")
    server.last.cut()
    await probe.wait(lambda: probe.links == [True, False, True])
    assert [(type(f).__name__, getattr(f, "reason", "")) for f in probe.frames] == [
        ("MalformedFrame", "truncated")]
    await server.push(b"Event: Newchannel\r\nUniqueid: 2.2\r\n\r\n")
    await probe.wait(lambda: bool(probe.named("Newchannel")))


async def test_utf8_name_split_across_two_tcp_writes(linked: tuple[AmiLink, Probe],
                                                     server: FakeAmi) -> None:
    _, probe = linked
    data = "Event: NewCallerid\r\nCallerIDName: José 张伟\r\n\r\n".encode()
    cut = data.index("张".encode()) + 1  # inside the 3-byte character
    await server.push(data[:cut], data[cut:], pause=0.1)
    await probe.wait(lambda: bool(probe.frames))
    frame = probe.frames[0]
    assert isinstance(frame, Frame) and frame.get("CallerIDName") == "José 张伟"
    assert frame.defects == ()


def test_panoramisk_itself_drops_the_split_character() -> None:
    """The trap our codec avoids: panoramisk decodes each read with errors='ignore'."""
    from unittest import mock

    from panoramisk.ami_protocol import AMIProtocol

    got: list[object] = []
    proto = AMIProtocol()
    proto.connection_made(mock.MagicMock())
    proto.factory = mock.MagicMock(save_stream=None, dispatch=got.append)
    proto.encoding = "utf8"  # what panoramisk's Manager sets
    data = "Event: NewCallerid\r\nCallerIDName: 张伟\r\n\r\n".encode()
    cut = data.index("张".encode()) + 1
    proto.data_received(data[:cut])
    proto.data_received(data[cut:])
    assert got and got[0]["CallerIDName"] == "伟"  # type: ignore[index]


async def test_handler_errors_do_not_break_the_link(server: FakeAmi,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def on_frame(frame: Frame | MalformedFrame, at: float) -> None:
        seen.append(getattr(frame, "name", "?"))
        if len(seen) == 1:
            raise RuntimeError("owner bug")

    link = AmiLink("127.0.0.1", server.port, "dialer", SECRET, on_frame=on_frame,
                   on_link=lambda up: None, reconnect_min=0.05)
    await link.start()
    try:
        await server.push(b"Event: A\r\n\r\n", b"Event: B\r\n\r\n")
        await server.wait_until(lambda: len(seen) == 2)
        assert link.connected and link.stats["handler_errors"] == 1
        assert "owner bug" in caplog.text
    finally:
        await link.close()


# --- the same key scenarios under uvloop --------------------------------------------------------

async def _uvloop_scenarios() -> None:
    server = await FakeAmi(secret=SECRET).start()
    try:
        probe = Probe()
        link = make_link(server, probe, ping_interval=0.2, ping_timeout=0.15)
        server.answer_ping = lambda conn: conn.n > 0
        await link.start()
        await probe.wait(lambda: probe.links == [True, False, True])
        server.originate_mode = "cut"
        with pytest.raises(ActionLost):
            await link.originate(command("uv-1"))
        await probe.wait(lambda: probe.links[-1] and len(probe.links) == 5)
        assert len(server.actions("Originate")) == 1
        data = "Event: X\r\nName: 张伟\r\n\r\n".encode()
        await server.push(data[:20], data[20:])
        await probe.wait(lambda: bool(probe.named("X")))
        assert probe.named("X")[0].get("Name") == "张伟"
        await link.close()
    finally:
        await server.stop()


def test_key_scenarios_under_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(_uvloop_scenarios(), 10))
