"""Event delivery adapters: the durable outbox, the relay, and the transports behind it.

- `outbox`: SQLite (WAL, fsync) store of events not yet confirmed; group commit.
- `relay`: publishes unconfirmed rows with a window in flight, marks confirmations, reconnects.
- `amqp`: RabbitMQ through aio-pika (topic exchange `dialer.events`, confirms), and the
  consumer of agent dispositions.
- `jsonl`: the no-broker transports (JSON-lines file, null).
- `events`: the event bodies, routing keys and message ids.
- `consumer`: a deduping consumer for downstream services (library and command line).

The service uses them through dialer.delivery only.
"""

from __future__ import annotations

from .outbox import AttemptRef, Message, Outbox, OutboxUnavailable, Row
from .relay import PublishRejected, Relay, Transport, TransportUnavailable

__all__ = [
    "AttemptRef",
    "Message",
    "Outbox",
    "OutboxUnavailable",
    "PublishRejected",
    "Relay",
    "Row",
    "Transport",
    "TransportUnavailable",
]
