"""RabbitMQ through aio-pika: the publisher transport and the disposition consumer.

Publishing: a durable topic exchange `dialer.events`, persistent messages (delivery mode 2),
`message_id` = the event's idempotency key (the attempt id for outcomes), publisher confirms
with a window of publishes in flight (the relay keeps ~1,000 outstanding; each publish
resolves on the broker's ack). Unroutable messages are dropped by the broker (mandatory off):
consumers declare their durable queues and bindings before the dialer publishes (see
docs/events.md).

The URL holds a password: it comes from DIALER_AMQP_URL or DIALER_AMQP_URL_FILE (or an env var
or file that `--amqp-url` names), it is kept in a `Secret`, and only `host:port/vhost` is
ever logged or put in an error message. Start-up errors that retrying cannot fix (malformed
URL, wrong credentials, unknown vhost, a host that does not resolve) raise ConfigError; a
broker that refuses connections or times out is TransportUnavailable (the relay buffers and
retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from ..config import Secret, secret_from_env
from ..errors import ConfigError
from .outbox import Row
from .relay import PublishRejected, TransportUnavailable, within

__all__ = [
    "EXCHANGE",
    "AmqpTransport",
    "ConsumerSpec",
    "amqp_url_from",
    "describe_amqp_url",
]

log = logging.getLogger("dialer.delivery")

EXCHANGE = "dialer.events"


class _QuietReconnects(logging.Filter):
    """aiormq logs every failed connect and every broker-side close at ERROR, with a traceback;
    during an outage that is one line per retry. The relay logs the state change once
    (and aiormq censors the password in what it prints anyway)."""

    _NOISE = ("error when creating transport", "Unexpected connection close", "Cancelling cause reader")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._NOISE)


def quiet_aiormq() -> None:
    lg = logging.getLogger("aiormq.connection")
    if not any(isinstance(f, _QuietReconnects) for f in lg.filters):
        lg.addFilter(_QuietReconnects())
ENV = "DIALER_AMQP_URL"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def amqp_url_from(option: str | None, env: Mapping[str, str] | None = None) -> Secret | None:
    """The broker URL, or None when no broker is configured.

    `option` is the value of `--amqp-url`: where the URL is, never the URL itself (a command
    line shows in `ps`). `env:NAME` or a bare upper-case NAME reads that environment
    variable; `file:PATH` or anything else reads that file (first line). Without the option,
    DIALER_AMQP_URL or DIALER_AMQP_URL_FILE.
    """
    import os

    env = dict(os.environ) if env is None else dict(env)
    if option is None:
        url = secret_from_env(ENV, env)
    elif "://" in option or "@" in option:
        raise ConfigError(
            "--amqp-url: give where the broker URL is (env:NAME or file:PATH), not the URL itself:"
            " a password on the command line shows in ps"
        )
    elif option.startswith("env:") or _ENV_NAME.match(option):
        name = option.removeprefix("env:")
        if not env.get(name):
            raise ConfigError(f"--amqp-url {option}: environment variable {name} is not set")
        url = Secret(env[name])
    else:
        path = option.removeprefix("file:")
        try:
            with open(path, encoding="utf-8") as f:
                url = Secret(f.readline().strip())
        except OSError as exc:
            raise ConfigError(f"--amqp-url: cannot read {path!r}: {exc.strerror}") from None
        if not url:
            raise ConfigError(f"--amqp-url: {path!r} is empty")
    if url is not None:
        describe_amqp_url(url)  # validates
    return url


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    vhost: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{'' if self.vhost == '/' else self.vhost}"


def describe_amqp_url(url: Secret) -> Endpoint:
    """Parse and check the URL; the result prints without credentials.

    Errors name what is wrong and never echo the URL (it may hold the password).
    """
    raw = url.reveal().strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{ENV}: malformed URL (bad port?); expected amqp://USER:PASSWORD@HOST:5672/VHOST") from None
    if parts.scheme not in ("amqp", "amqps"):
        raise ConfigError(
            f"{ENV}: expected an amqp:// or amqps:// URL, got scheme {parts.scheme or '(none)'!r}"
        )
    if not parts.hostname:
        raise ConfigError(f"{ENV}: the URL has no host; expected amqp://USER:PASSWORD@HOST:5672/VHOST")
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return Endpoint(parts.scheme, parts.hostname, port or (5671 if parts.scheme == "amqps" else 5672), vhost)


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A queue the dialer consumes (agent dispositions). The handler returns True to ack,
    False to reject without requeue (malformed); raising requeues it."""

    queue: str
    bindings: Sequence[str]
    handler: Callable[[bytes, str, str | None], Awaitable[bool]]
    prefetch: int = 64


class AmqpTransport:
    def __init__(
        self,
        url: Secret,
        *,
        exchange: str = EXCHANGE,
        connect_timeout_s: float = 5.0,
        heartbeat_s: int = 30,
        consumers: Sequence[ConsumerSpec] = (),
    ) -> None:
        self._url = url
        self.endpoint = describe_amqp_url(url)
        self.name = str(self.endpoint)
        self.exchange_name = exchange
        self.connect_timeout_s = connect_timeout_s
        self.heartbeat_s = heartbeat_s
        self.consumers = list(consumers)
        self._connection: Any = None
        self._channel: Any = None
        self._exchange: Any = None
        self._raw: Any = None
        self._up = False
        quiet_aiormq()

    @property
    def connected(self) -> bool:
        return self._up

    async def connect(self) -> None:
        import aio_pika
        import aiormq.exceptions as amqp_errors

        await self.disconnect()
        try:
            conn = await aio_pika.connect(
                self._url.reveal(), timeout=self.connect_timeout_s,
                client_properties={"connection_name": "dialer"},
                heartbeat=self.heartbeat_s,
            )
        except amqp_errors.ProbableAuthenticationError:
            raise ConfigError(
                f"broker {self.name}: login refused: wrong user name or password in {ENV}"
            ) from None
        except (amqp_errors.ProtocolSyntaxError, amqp_errors.ConnectionNotAllowed) as exc:
            raise ConfigError(
                f"broker {self.name}: the broker refused the connection ({type(exc).__name__}):"
                f" does virtual host {self.endpoint.vhost!r} exist and may this user use it?"
            ) from None
        except (amqp_errors.AMQPConnectionError, OSError, TimeoutError) as exc:
            errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else getattr(exc, "errno", None)
            if errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise ConfigError(f"broker {self.name}: host {self.endpoint.host!r} does not resolve") from None
            raise TransportUnavailable(_reason(exc)) from None
        except Exception as exc:  # aiormq raises a few other kinds on handshake failures
            raise TransportUnavailable(f"{type(exc).__name__}") from None
        try:
            channel = await conn.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            for spec in self.consumers:
                await self._consume(conn, exchange, spec)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await conn.close()
            if isinstance(exc, ConfigError):
                raise
            raise TransportUnavailable(f"setting up {self.exchange_name}: {_reason(exc)}") from None
        self._connection, self._channel, self._exchange = conn, channel, exchange
        self._raw = await channel.get_underlay_channel()
        conn.close_callbacks.add(self._on_close)
        channel.close_callbacks.add(self._on_close)
        self._up = True

    def _on_close(self, *_args: Any) -> None:
        self._up = False

    async def _consume(self, conn: Any, exchange: Any, spec: ConsumerSpec) -> None:
        ch = await conn.channel(publisher_confirms=False)
        await ch.set_qos(prefetch_count=spec.prefetch)
        queue = await ch.declare_queue(spec.queue, durable=True)
        for key in spec.bindings:
            await queue.bind(exchange, routing_key=key)

        async def on_message(message: Any) -> None:
            try:
                ok = await spec.handler(message.body, message.routing_key or "", message.message_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("queue %s: handling a message failed (%s); it is requeued", spec.queue,
                          type(exc).__name__)
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
                await asyncio.sleep(1.0)
                return
            with contextlib.suppress(Exception):
                if ok:
                    await message.ack()
                else:
                    await message.reject(requeue=False)

        await queue.consume(on_message)

    async def publish(self, row: Row) -> None:
        """Publish one row and wait for the broker's confirm.

        Straight on aio-pika's underlying aiormq channel (`Channel.get_underlay_channel()`, what
        `Exchange.publish` calls after building an `aio_pika.Message`): the properties are
        built here directly, which saves about a tenth of the per-message CPU on the event loop.
        """
        from aiormq.exceptions import DeliveryError
        from pamqp.commands import Basic

        ch = self._raw
        if ch is None or not self._up:
            raise TransportUnavailable("not connected")
        props = Basic.Properties(
            content_type="application/json", delivery_mode=2, message_id=row.message_id, message_type=row.kind
        )
        try:
            # No per-publish timeout (it costs a timer per message): the relay's stall watchdog
            # drops the connection when confirms stop coming.
            result = await ch.basic_publish(row.body, exchange=self.exchange_name, routing_key=row.routing_key,
                                            properties=props, mandatory=False)
        except DeliveryError as exc:
            raise PublishRejected(f"broker nacked {row.message_id}: {type(exc).__name__}") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._up = False
            raise TransportUnavailable(_reason(exc)) from None
        if not isinstance(result, Basic.Ack):
            raise PublishRejected(f"broker did not ack {row.message_id}: {type(result).__name__}")

    async def disconnect(self) -> None:
        conn, self._connection, self._channel, self._exchange = self._connection, None, None, None
        self._raw = None
        self._up = False
        if conn is not None:
            with contextlib.suppress(Exception):
                await within(conn.close(), 5.0)

    async def close(self) -> None:
        await self.disconnect()


def _reason(exc: BaseException) -> str:
    """A short reason without anything that could carry the URL."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int) and len(args) > 1:
        return f"{type(exc).__name__}: {args[1]}"[:200].split("@")[-1]
    return type(exc).__name__
