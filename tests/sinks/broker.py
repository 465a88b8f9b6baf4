"""The real RabbitMQ on 127.0.0.1:5672 for the integration tests: reachability and outages.

Never skipped: when the broker is down the test fails and says how to start it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

URL = "amqp://guest:guest@127.0.0.1:5672/"
HOST, PORT = "127.0.0.1", 5672


def port_open(host: str = HOST, port: int = PORT, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def require_broker() -> None:
    if not port_open():
        pytest.fail("RabbitMQ is not reachable on 127.0.0.1:5672: run scripts/services-up.sh (or make services)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ctl(*args: str, timeout: float = 60.0) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.fail("rabbitmqctl not found: run scripts/services-up.sh on a machine with RabbitMQ")
    subprocess.run([ctl, *args], check=True, capture_output=True, timeout=timeout)


def wait_port(up: bool, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while port_open() != up:
        if time.monotonic() > deadline:
            raise TimeoutError(f"RabbitMQ port did not {'open' if up else 'close'} in {timeout} s")
        time.sleep(0.1)


def stop_broker() -> None:
    _ctl("stop_app")
    wait_port(False)


def start_broker() -> None:
    _ctl("start_app", timeout=120)
    wait_port(True, 120)
    _ctl("await_startup", timeout=120)


@contextlib.contextmanager
def broker_restored() -> Iterator[None]:
    """Whatever happens inside, the broker's app is running again afterwards."""
    try:
        yield
    finally:
        if not port_open():
            start_broker()
