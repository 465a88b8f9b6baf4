"""The aio-pika transport against the real RabbitMQ (127.0.0.1:5672, guest/guest)."""

from __future__ import annotations

import asyncio
import gc
import uuid

import aio_pika
import pytest

from dialer.config import Secret
from dialer.errors import ConfigError
from dialer.sinks.amqp import EXCHANGE, AmqpTransport, ConsumerSpec, _Frames, amqp_url_from, describe_amqp_url
from dialer.sinks.outbox import Row
from dialer.sinks.relay import PublishRejected, TransportUnavailable

from .broker import URL, free_port, require_broker

# --- URL handling (no broker needed) -------------------------------------------------------------


def test_endpoint_prints_without_credentials():
    e = describe_amqp_url(Secret("amqp://dialer:s3cret@mq.example:5673/collections"))
    assert str(e) == "amqp://mq.example:5673/collections" and "s3cret" not in repr(e)
    assert str(describe_amqp_url(Secret("amqps://u:p@mq"))) == "amqps://mq:5671/"


@pytest.mark.parametrize("url, match", [
    ("http://u:s3cret@host/", "scheme 'http'"),
    ("amqp://u:s3cret@host:notaport/", "malformed"),
    ("amqp://u:s3cret@:5672/", "no host"),
    ("u:s3cret@host", "scheme"),
])
def test_bad_urls_are_named_but_never_echoed(url, match):
    with pytest.raises(ConfigError, match=match) as info:
        describe_amqp_url(Secret(url))
    assert "s3cret" not in str(info.value)


def test_url_sources(tmp_path):
    env = {"DIALER_AMQP_URL": "amqp://a:b@h1/", "MY_MQ": "amqp://a:b@h2/"}
    assert amqp_url_from(None, env).reveal().endswith("h1/")
    assert amqp_url_from("env:MY_MQ", env).reveal().endswith("h2/")
    assert amqp_url_from("MY_MQ", env).reveal().endswith("h2/")
    f = tmp_path / "mq-url"
    f.write_text("amqp://a:b@h3/\n")
    assert amqp_url_from(f"file:{f}", env).reveal() == "amqp://a:b@h3/"
    assert amqp_url_from(str(f), env).reveal() == "amqp://a:b@h3/"
    g = tmp_path / "mq-url-file"
    g.write_text("amqp://a:b@h4/")
    assert amqp_url_from(None, {"DIALER_AMQP_URL_FILE": str(g)}).reveal() == "amqp://a:b@h4/"
    assert amqp_url_from(None, {}) is None
    with pytest.raises(ConfigError, match="not the URL itself") as info:
        amqp_url_from("amqp://a:s3cret@h/", env)
    assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigError, match="NOPE is not set"):
        amqp_url_from("env:NOPE", env)
    with pytest.raises(ConfigError, match="cannot read"):
        amqp_url_from("file:/nonexistent/url", env)
    with pytest.raises(ConfigError, match="scheme"):
        amqp_url_from(None, {"DIALER_AMQP_URL": "redis://x"})


@pytest.mark.parametrize("body", [b'{"x":1}', b"", b"y" * 100, b"z" * 250],
                         ids=["small", "empty", "one-frame", "split"])
def test_publish_frames_are_byte_for_byte_pamqps(body):
    """The batch path encodes frames itself; they must be what aiormq would send via pamqp."""
    import pamqp.frame
    from pamqp.body import ContentBody
    from pamqp.commands import Basic
    from pamqp.header import ContentHeader

    row = Row(1, "r1-000001", "outcome", "outcome.demo.busy", body)
    out: list[bytes] = []
    _Frames(3, "dialer.events", 100).encode(row, out)
    props = Basic.Properties(content_type="application/json", delivery_mode=2, message_id=row.message_id,
                             message_type=row.kind)
    want = [pamqp.frame.marshal(Basic.Publish(exchange="dialer.events", routing_key=row.routing_key), 3),
            pamqp.frame.marshal(ContentHeader(properties=props, body_size=len(body)), 3)]
    want += [pamqp.frame.marshal(ContentBody(body[k : k + 100]), 3) for k in range(0, len(body), 100)]
    assert b"".join(out) == b"".join(want)


def test_an_id_too_long_for_amqp_is_rejected_not_sent():
    with pytest.raises(PublishRejected, match="longer than 255"):
        _Frames(1, "dialer.events", 1000).encode(Row(1, "x" * 256, "outcome", "k", b"{}"), [])


# --- against the broker --------------------------------------------------------------------------

@pytest.mark.integration
async def test_wrong_password_is_a_config_error_without_the_password():
    require_broker()
    t = AmqpTransport(Secret("amqp://guest:Wr0ng-pass-77@127.0.0.1:5672/"))
    with pytest.raises(ConfigError, match="login refused") as info:
        await t.connect()
    assert "Wr0ng-pass-77" not in str(info.value) and "127.0.0.1:5672" in str(info.value)


@pytest.mark.integration
async def test_a_failed_connect_leaves_no_open_connection_behind():
    """aio_pika.connect drops the Connection it made when the login fails; unclosed, its __del__
    schedules a close that outside a running loop is "coroutine 'Connection.close' was never
    awaited"."""
    require_broker()

    def open_connections() -> set[int]:
        gc.collect()
        return {id(c) for c in gc.get_objects() if isinstance(c, aio_pika.Connection) and not c.is_closed}

    before = open_connections()
    for url in ("amqp://guest:Wr0ng-pass-77@127.0.0.1:5672/", "amqp://guest:guest@127.0.0.1:5672/no-such-vhost"):
        with pytest.raises(ConfigError):
            await AmqpTransport(Secret(url)).connect()
    assert open_connections() - before == set()


@pytest.mark.integration
async def test_unknown_vhost_is_a_config_error():
    require_broker()
    with pytest.raises(ConfigError, match="virtual host 'no-such-vhost'"):
        await AmqpTransport(Secret("amqp://guest:guest@127.0.0.1:5672/no-such-vhost")).connect()


@pytest.mark.integration
async def test_unresolvable_host_is_a_config_error():
    with pytest.raises(ConfigError, match="does not resolve"):
        await AmqpTransport(Secret("amqp://guest:guest@no-such-host.invalid:5672/")).connect()


async def test_closed_port_is_unavailable_not_a_config_error():
    t = AmqpTransport(Secret(f"amqp://guest:guest@127.0.0.1:{free_port()}/"), connect_timeout_s=2)
    with pytest.raises(TransportUnavailable):
        await t.connect()
    assert not t.connected


@pytest.fixture
async def bound_queue():
    """A fresh queue bound to everything on dialer.events; yields a function that reads it."""
    require_broker()
    name = f"test.amqp.{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(URL)
    ch = await conn.channel()
    ex = await ch.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    q = await ch.declare_queue(name, durable=True)
    await q.bind(ex, "#")

    async def read(n: int, timeout: float = 5.0) -> list[aio_pika.abc.AbstractIncomingMessage]:
        got = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < n and asyncio.get_running_loop().time() < deadline:
            m = await q.get(fail=False)
            if m is None:
                await asyncio.sleep(0.02)
                continue
            await m.ack()
            got.append(m)
        return got

    yield read, ch, ex
    await q.delete(if_unused=False, if_empty=False)
    await conn.close()


@pytest.mark.integration
async def test_publishes_persistent_messages_with_the_id_and_routing_key(bound_queue):
    read, _ch, _ex = bound_queue
    t = AmqpTransport(Secret(URL))
    await t.connect()
    await asyncio.gather(*(t.publish(Row(i, f"r1-{i:06d}", "outcome", "outcome.demo.busy", b'{"x":1}'))
                           for i in range(20)))
    got = await read(20)
    assert sorted(m.message_id for m in got) == [f"r1-{i:06d}" for i in range(20)]
    assert_outcome_message(got[0])
    await t.close()


def assert_outcome_message(m: aio_pika.abc.AbstractIncomingMessage) -> None:
    assert m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT and m.routing_key == "outcome.demo.busy"
    assert m.content_type == "application/json" and m.type == "outcome"


@pytest.mark.integration
async def test_consumes_a_queue_and_acks_or_rejects_by_the_handler(bound_queue):
    _read, ch, ex = bound_queue
    tag = uuid.uuid4().hex[:8]
    qname, key = f"test.disp.{tag}", f"test.{tag}.disposition"  # not agent.disposition.*: no real queue gets it
    seen: list[tuple[bytes, str, str | None]] = []

    async def handler(body: bytes, rk: str, mid: str | None) -> bool:
        seen.append((body, rk, mid))
        return body != b"bad"

    t = AmqpTransport(Secret(URL), consumers=[ConsumerSpec(qname, (f"test.{tag}.#",), handler)])
    await t.connect()
    try:
        await ex.publish(aio_pika.Message(b"good", message_id="m1"), key)
        await ex.publish(aio_pika.Message(b"bad"), key)
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.02)
        assert [(b, rk) for b, rk, _m in seen] == [(b"good", key), (b"bad", key)]
        assert seen[0][2] == "m1"
        await asyncio.sleep(0.1)
        q = await ch.declare_queue(qname, durable=True, passive=True)
        assert q.declaration_result.message_count == 0  # acked, and the bad one rejected (not requeued)
    finally:
        await t.close()
        await ch.queue_delete(qname)


@pytest.fixture
async def transport():
    t = AmqpTransport(Secret(URL))
    await t.connect()
    yield t
    await t.close()


@pytest.mark.integration
async def test_batches_are_published_with_confirms_in_order_and_whole(bound_queue, transport):
    read, t = bound_queue[0], transport
    assert t._frames is not None  # the installed aiormq has what the batch path needs (else: a task each)
    big = b"[" + b"1," * 150_000 + b"1]"  # ~300 kB: more than one frame (frame_max 128 kB)
    rows = [Row(i, f"r2-{i:06d}", "outcome", "outcome.demo.busy", big if i == 5 else b'{"i":%d}' % i)
            for i in range(40)]
    futures = t.publish_nowait(rows[:20]) + t.publish_nowait(rows[20:])
    assert len(futures) == 40
    await asyncio.gather(*futures)  # each resolves on the broker's ack
    got = await read(40)
    assert [m.message_id for m in got] == [r.message_id for r in rows]  # in order
    assert [m.body for m in got] == [r.body for r in rows]  # the big one reassembled whole
    assert_outcome_message(got[0])


@pytest.mark.integration
async def test_a_broker_nack_is_a_rejected_publish(bound_queue, transport):
    """A queue that refuses overflow (x-overflow reject-publish) makes RabbitMQ nack."""
    _read, ch, ex = bound_queue
    t = transport
    key = f"test.full.{uuid.uuid4().hex[:8]}"
    q = await ch.declare_queue(key, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    await q.bind(ex, key)
    try:
        futures = t.publish_nowait([Row(i, f"r3-{i}", "outcome", key, b"{}") for i in range(3)])
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert not isinstance(results[0], BaseException)
        assert all(isinstance(t.publish_error(r), PublishRejected) for r in results[1:])
        assert t.connected  # a nack does not take the connection down
    finally:
        await q.delete(if_unused=False, if_empty=False)


@pytest.mark.integration
async def test_publishes_in_flight_fail_as_unavailable_when_the_channel_closes(bound_queue):
    _read, ch, _ex = bound_queue
    name = f"test.gone.{uuid.uuid4().hex[:8]}"
    t = AmqpTransport(Secret(URL), exchange=name)
    await t.connect()
    await ch.exchange_delete(name)  # the broker closes the publishing channel: 404 on the next publish
    try:
        futures = t.publish_nowait([Row(i, f"r4-{i}", "outcome", "k", b"{}") for i in range(5)])
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert all(isinstance(t.publish_error(r), TransportUnavailable) for r in results)
        assert not t.connected
        with pytest.raises(TransportUnavailable):
            t.publish_nowait([Row(9, "r4-9", "outcome", "k", b"{}")])
    finally:
        await t.close()


@pytest.mark.integration
async def test_without_the_aiormq_internals_batches_go_through_publish(bound_queue, transport):
    read, t = bound_queue[0], transport
    assert _Frames.for_channel(object(), EXCHANGE) is None
    t._frames = None  # what connect() leaves when the channel lacks them
    rows = [Row(i, f"r5-{i}", "outcome", "outcome.demo.busy", b"{}") for i in range(10)]
    futures = t.publish_nowait(rows)
    assert all(isinstance(f, asyncio.Task) for f in futures)
    await asyncio.gather(*futures)
    assert sorted(m.message_id for m in await read(10)) == sorted(r.message_id for r in rows)
