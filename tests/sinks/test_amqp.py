"""The aio-pika transport against the real RabbitMQ (127.0.0.1:5672, guest/guest)."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest

from dialer.config import Secret
from dialer.errors import ConfigError
from dialer.sinks.amqp import EXCHANGE, AmqpTransport, ConsumerSpec, amqp_url_from, describe_amqp_url
from dialer.sinks.outbox import Row
from dialer.sinks.relay import TransportUnavailable

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


# --- against the broker --------------------------------------------------------------------------

@pytest.mark.integration
async def test_wrong_password_is_a_config_error_without_the_password():
    require_broker()
    t = AmqpTransport(Secret("amqp://guest:Wr0ng-pass-77@127.0.0.1:5672/"))
    with pytest.raises(ConfigError, match="login refused") as info:
        await t.connect()
    assert "Wr0ng-pass-77" not in str(info.value) and "127.0.0.1:5672" in str(info.value)


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
    m = got[0]
    assert m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT and m.routing_key == "outcome.demo.busy"
    assert m.content_type == "application/json" and m.type == "outcome"
    await t.close()


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
