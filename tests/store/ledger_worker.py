"""A stand-alone dialer process for the crash and concurrency tests.

python ledger_worker.py crash URL BORROWER PHONE AT       reserve one attempt, say so, hang
python ledger_worker.py hammer URL SEED SECONDS BASE T0 N  reserve/complete in a loop
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid

from dialer.compliance import load_preset
from dialer.core.compliance import Candidate
from dialer.store import open_ledger

CALLER = "+861012345678"


def rules():  # type: ignore[no-untyped-def]
    return load_preset("cn").with_overrides(
        {"rules": {"all.caller_id": {"allowed": {"*": [CALLER]}}}}
    )


def phone_of(i: int) -> str:
    return f"+86138{i % 20:08d}"  # 30 borrowers share 20 numbers


async def crash(url: str, borrower: str, phone: str, at: float) -> None:
    led = open_ledger(url)
    await led.start()
    c = Candidate(borrower=borrower, phone=phone, campaign="c1", debt="d1", caller_id=CALLER)
    d = await led.reserve(c, f"crash-{uuid.uuid4().hex}", at, rules())
    print("RESERVED" if d.allowed else "REFUSED " + ",".join(d.rules), flush=True)
    await asyncio.sleep(3600)  # "about to originate": killed here


async def hammer(url: str, seed: int, seconds: float, base: float, t0: float, n: int) -> None:
    rng = random.Random(seed)
    led = open_ledger(url)
    await led.start()
    r = rules()
    speed = 600.0  # one real second is ten virtual minutes

    def now() -> float:
        return base + (time.time() - t0) * speed

    stats = {"reserves": 0, "allowed": 0}
    end = time.time() + seconds
    while time.time() < end:
        i = rng.randrange(n)
        c = Candidate(
            borrower=f"b{i}",
            phone=phone_of(i),
            campaign=f"c{seed % 2}",
            debt="d1",
            purpose=rng.choice(["collection", "notice"]),
            caller_id=CALLER,
        )
        attempt_id = uuid.uuid4().hex
        d = await led.reserve(c, attempt_id, now(), r)
        stats["reserves"] += 1
        if d.allowed:
            stats["allowed"] += 1
            await asyncio.sleep(rng.random() * 0.003)
            result = rng.choice(
                ["conversation", "no_answer", "no_connect", "voicemail", "refused_by_party"]
            )
            await led.complete(attempt_id, result, now())
        assert "gate.ledger_unavailable" not in d.rules, d.reasons
    await led.close()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "crash":
        asyncio.run(crash(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
    else:
        asyncio.run(
            hammer(
                sys.argv[2],
                int(sys.argv[3]),
                float(sys.argv[4]),
                float(sys.argv[5]),
                float(sys.argv[6]),
                int(sys.argv[7]),
            )
        )
