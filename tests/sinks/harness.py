"""The service the delivery tests drive: DialerService itself, which wires dialer.delivery
(outbox before the ledger, recovery after the gate opens, back-pressure into the core)."""

from __future__ import annotations

from dialer.service import DialerService as DeliveringService

__all__ = ["DeliveringService"]
