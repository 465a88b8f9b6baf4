"""Outcome delivery throughput: the outbox path against the raw aio-pika ceiling, same run.

    python bench/bench_outbox.py [--n 20000] [--rounds 3] [--window 1000] [--no-outage]

Against the real RabbitMQ on 127.0.0.1:5672 (guest/guest, or DIALER_AMQP_URL). Every case
publishes the same N outcome events (JSON bodies of the real size) to the durable topic
exchange `dialer.events`, persistent, routed to one durable queue, with publisher confirms
and ~1,000 publishes in flight:

- ceiling: plain aio-pika, the messages prebuilt in memory, a semaphore of `window`
  publishes, one task per publish (what an application without an outbox would do);
- raw with building: the same, but each event is built from its Outcome in the publish
  loop, as the service would publish without an outbox;
- batch publisher: the relay's own publishing path (`AmqpTransport.publish_nowait`: a batch
  of frames per write, a confirmation future per message, no task per message), the messages
  prebuilt, the same window, no outbox: what the outbox costs, measured against the publisher
  it feeds;
- outbox, end to end: N calls end, 100 per event-loop iteration, each in its own task as in
  the service; each `Delivery.emit_outcome` builds the event, writes it to the SQLite outbox
  (group commit, fsync) and returns; the relay publishes and marks confirmed. Time from the
  first emit to the last confirm mark;
- outbox replay: N unconfirmed rows already on disk (a restart after an outage), drained.

Then the call path with the broker stopped (`rabbitmqctl stop_app`, restored at the end):
`emit_outcome` latency while nothing can be published, and the drain after `start_app`.
Cases alternate over `--rounds` rounds; the table shows medians. This script is not a pytest
benchmark (it needs the broker and stops it); `make bench` collects nothing from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.config import DEMO_CALLER_ID, Secret
from dialer.core.model import CampaignConfig, Disposition, Outcome
from dialer.delivery import Delivery, DeliverySettings
from dialer.sinks.amqp import EXCHANGE, AmqpTransport
from dialer.sinks.events import OutcomeLabels, outcome_message
from dialer.sinks.outbox import Row

URL = os.environ.get("DIALER_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
QUEUE = "bench.outbox"
CAMPAIGN = CampaignConfig(name="bench", caller_id=DEMO_CALLER_ID)
KEY = b"bench-key"
DISPOSITIONS = [Disposition.CONNECTED, Disposition.NO_ANSWER, Disposition.BUSY, Disposition.MACHINE]


def outcomes(n: int, run: str) -> list[Outcome]:
    t = time.time()
    out = []
    for i in range(n):
        d = DISPOSITIONS[i % 4]
        c = d is Disposition.CONNECTED
        out.append(Outcome(
            attempt_id=f"{run}-{i:06d}", campaign="bench", borrower_id=f"B-{i}", phone=f"+86138{i:08d}",
            attempt_no=1, disposition=d, abandoned=False, amd_status="HUMAN" if c else None,
            amd_cause="HUMAN-800-800" if c else None, hangup_cause=16, hangup_cause_txt="Normal Clearing",
            agent="agent7" if c else None, originate_at=t - 60, answer_at=t - 50 if c else None,
            amd_at=t - 48 if c else None, connect_at=t - 47 if c else None, hangup_at=t, ended_at=t + 0.1,
        ))
    return out


async def queue_setup(purge: bool = True) -> None:
    import aio_pika

    conn = await aio_pika.connect(URL, timeout=5)
    async with conn:
        ch = await conn.channel()
        ex = await ch.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        q = await ch.declare_queue(QUEUE, durable=True)
        await q.bind(ex, "outcome.bench.#")
        if purge:
            await q.purge()


async def queue_count() -> int:
    import aio_pika

    conn = await aio_pika.connect(URL, timeout=5)
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(QUEUE, durable=True, passive=True)
        return int(q.declaration_result.message_count or 0)


async def ceiling(n: int, window: int, *, build: bool = False) -> float:
    """Plain aio-pika: the same messages, confirms, `window` publishes in flight.

    build=False: the messages are built before the clock starts (the pure publishing ceiling).
    build=True: each event is built from its Outcome in the publish loop, as a service
    publishing straight to the broker without an outbox would do.
    """
    import aio_pika

    items = outcomes(n, "ceil")
    msgs = [] if build else [outcome_message(o, KEY, OutcomeLabels()) for o in items]
    conn = await aio_pika.connect(URL, timeout=5)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        ex = await ch.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        sem = asyncio.Semaphore(window)

        async def one(m) -> None:  # type: ignore[no-untyped-def]
            try:
                await ex.publish(
                    aio_pika.Message(m.body, message_id=m.message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                     content_type="application/json", type=m.kind),
                    m.routing_key, mandatory=False,
                )
            finally:
                sem.release()

        t0 = time.perf_counter()
        tasks = []
        for m in msgs or (outcome_message(o, KEY, OutcomeLabels()) for o in items):
            await sem.acquire()
            tasks.append(asyncio.ensure_future(one(m)))
        await asyncio.gather(*tasks)
        return n / (time.perf_counter() - t0)


async def batch_publisher(n: int, window: int) -> float:
    """The relay's publishing path alone: prebuilt rows, `window` in flight, no outbox."""
    rows = [Row(i + 1, m.message_id, m.kind, m.routing_key, m.body)
            for i, m in enumerate(outcome_message(o, KEY, OutcomeLabels()) for o in outcomes(n, "bp"))]
    t = AmqpTransport(Secret(URL))
    await t.connect()
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    state = {"next": 0, "in_flight": 0, "confirmed": 0, "due": False}

    def launch() -> None:
        state["due"] = False
        k = min(window - state["in_flight"], n - state["next"])
        if k <= 0:
            return
        futs = t.publish_nowait(rows[state["next"] : state["next"] + k])
        state["next"] += len(futs)
        state["in_flight"] += len(futs)
        if len(futs) < k:
            loop.call_later(0.001, launch)
        for f in futs:
            f.add_done_callback(done)

    def done(f: asyncio.Future[object]) -> None:
        f.result()
        state["in_flight"] -= 1
        state["confirmed"] += 1
        if state["confirmed"] == n:
            finished.set_result(None)
        elif not state["due"]:
            state["due"] = True
            loop.call_soon(launch)

    t0 = time.perf_counter()
    launch()
    await finished
    rate = n / (time.perf_counter() - t0)
    await t.close()
    return rate


def settings(tmp: str, url: str | None = URL, **kw: object) -> DeliverySettings:
    return DeliverySettings(outbox_path=os.path.join(tmp, "outbox.sqlite3"), amqp_url=url and Secret(url),
                            dispositions_queue=None, stats_interval_s=0, max_backlog=10**9, drain_timeout_s=120,
                            **kw)  # type: ignore[arg-type]


async def through_outbox(n: int, window: int) -> tuple[float, list[float]]:
    """N calls end together: emit each (durable write), the relay publishes; until all confirmed."""
    tmp = tempfile.mkdtemp(prefix="bench-outbox-")
    d = Delivery(settings(tmp, window=window), run_id="ob", campaigns=[CAMPAIGN], pseudonym_key=KEY)
    await d.start()
    items = outcomes(n, f"ob{time.monotonic_ns()}")
    lat: list[float] = []

    async def emit(o: Outcome) -> None:
        t = time.perf_counter()
        await d.emit_outcome(o)
        lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    # Calls close continuously: like the service (one task per EmitOutcome, nobody waits for
    # another's write), 100 calls end per loop iteration; their writes share group commits.
    tasks = []
    for k in range(0, n, 100):
        tasks.extend(asyncio.ensure_future(emit(o)) for o in items[k : k + 100])
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    while d.outbox_depth > 0 or d.relay._confirmed:
        await asyncio.sleep(0.002)
    rate = n / (time.perf_counter() - t0)
    await d.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return rate, lat


async def replay(n: int, window: int) -> float:
    """N unconfirmed rows on disk (written with no broker), then a start that publishes them."""
    tmp = tempfile.mkdtemp(prefix="bench-replay-")
    d = Delivery(settings(tmp, None, window=window), run_id="rp", campaigns=[CAMPAIGN], pseudonym_key=KEY)
    await d.outbox.start()
    items = outcomes(n, f"rp{time.monotonic_ns()}")
    for k in range(0, n, 1000):
        await asyncio.gather(*(d.emit_outcome(o) for o in items[k : k + 1000]))
    await d.outbox.close()
    d = Delivery(settings(tmp, window=window), run_id="rp2", campaigns=[CAMPAIGN], pseudonym_key=KEY)
    t0 = time.perf_counter()
    await d.start()
    while d.outbox_depth > 0 or d.relay._confirmed:
        await asyncio.sleep(0.002)
    rate = n / (time.perf_counter() - t0)
    await d.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return rate


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


async def port_open() -> bool:
    try:
        _r, w = await asyncio.open_connection("127.0.0.1", 5672)
    except OSError:
        return False
    w.close()
    return True


async def outage(n: int) -> dict[str, float]:
    """emit_outcome latency with the broker stopped, then the drain after it comes back."""
    tmp = tempfile.mkdtemp(prefix="bench-outage-")
    rabbitmqctl("stop_app")
    try:
        d = Delivery(settings(tmp, backoff_max_s=0.5), run_id="ou", campaigns=[CAMPAIGN], pseudonym_key=KEY)
        await d.start()  # the broker is down: it starts and buffers
        items = outcomes(n, f"ou{time.monotonic_ns()}")
        seq = []
        for o in items[: n // 2]:  # one call at a time: the latency a lone call sees
            t = time.perf_counter()
            await d.emit_outcome(o)
            seq.append(time.perf_counter() - t)
        conc: list[float] = []

        async def emit(o: Outcome) -> None:
            t = time.perf_counter()
            await d.emit_outcome(o)
            conc.append(time.perf_counter() - t)

        for k in range(n // 2, n, 200):  # 200 calls ending at once
            await asyncio.gather(*(emit(o) for o in items[k : k + 200]))
        assert d.outbox_depth == n, d.outbox_depth
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
    t0 = time.perf_counter()
    while d.outbox_depth > 0:
        await asyncio.sleep(0.005)
    drain = time.perf_counter() - t0
    await d.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "seq_p50": statistics.median(seq), "seq_p99": q99(seq), "seq_max": max(seq),
        "conc_p50": statistics.median(conc), "conc_p99": q99(conc), "conc_max": max(conc),
        "drain_s": drain, "n": n,
    }


def q99(xs: list[float]) -> float:
    return sorted(xs)[int(0.99 * (len(xs) - 1))]


def ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--no-outage", action="store_true", help="skip the case that stops the broker")
    a = p.parse_args()
    if not await port_open():
        print("RabbitMQ is not reachable on 127.0.0.1:5672: run scripts/services-up.sh", file=sys.stderr)
        return 2
    await queue_setup()
    ceil, built, bp, ob, rp, lat_all = [], [], [], [], [], []
    for r in range(a.rounds):
        ceil.append(await ceiling(a.n, a.window))
        await queue_setup()
        built.append(await ceiling(a.n, a.window, build=True))
        await queue_setup()
        bp.append(await batch_publisher(a.n, a.window))
        await queue_setup()
        rate, lat = await through_outbox(a.n, a.window)
        ob.append(rate)
        lat_all.extend(lat)
        await queue_setup()
        rp.append(await replay(a.n, a.window))
        await queue_setup()
        print(f"round {r + 1}: ceiling {ceil[-1]:,.0f}/s  built {built[-1]:,.0f}/s  batch publisher {bp[-1]:,.0f}/s"
              f"  outbox {ob[-1]:,.0f}/s"
              f"  replay {rp[-1]:,.0f}/s",
              file=sys.stderr)
    c, o, y = statistics.median(ceil), statistics.median(ob), statistics.median(rp)
    # The machine is shared: pair each outbox case with the ceiling of its own round.
    ro = statistics.median(x / z for x, z in zip(ob, ceil, strict=True))
    rb = statistics.median(x / z for x, z in zip(built, ceil, strict=True))
    rob = statistics.median(x / z for x, z in zip(ob, built, strict=True))
    rbp = statistics.median(x / z for x, z in zip(bp, ceil, strict=True))
    robp = statistics.median(x / z for x, z in zip(ob, bp, strict=True))
    ry = statistics.median(x / z for x, z in zip(rp, ceil, strict=True))
    print(f"\nN = {a.n:,} outcome events per case, window {a.window}, {a.rounds} rounds"
          " (median rate; ratio = median of the per-round ratios to that round's ceiling)\n")
    print("| case | confirmed/s | vs ceiling | rounds (rate, ratio) |")
    print("| --- | ---: | ---: | --- |")
    print(f"| raw aio-pika, confirms, {a.window} in flight (ceiling) | {c:,.0f} | 100% |"
          f" {', '.join(f'{x:,.0f}' for x in ceil)} |")
    print(f"| raw aio-pika, building each event in the publish loop (no outbox) | {statistics.median(built):,.0f} |"
          f" {rb:.0%} | {', '.join(f'{x:,.0f} ({x / z:.0%})' for x, z in zip(built, ceil, strict=True))} |")
    print(f"| batch publisher of the relay, prebuilt, no outbox | {statistics.median(bp):,.0f} | {rbp:.0%} |"
          f" {', '.join(f'{x:,.0f} ({x / z:.0%})' for x, z in zip(bp, ceil, strict=True))} |")
    print(f"| outbox end to end (emit: build + fsync; relay: publish + confirm mark) | {o:,.0f} | {ro:.0%} |"
          f" {', '.join(f'{x:,.0f} ({x / z:.0%})' for x, z in zip(ob, ceil, strict=True))} |")
    print(f"| outbox replay of a backlog on disk | {y:,.0f} | {ry:.0%} |"
          f" {', '.join(f'{x:,.0f} ({x / z:.0%})' for x, z in zip(rp, ceil, strict=True))} |")
    print(f"\noutbox end to end vs the raw publisher that also builds each event: {rob:.0%}"
          f" (per round: {', '.join(f'{x / z:.0%}' for x, z in zip(ob, built, strict=True))})")
    print(f"outbox end to end vs the same batch publisher without the outbox: {robp:.0%}"
          f" (per round: {', '.join(f'{x / z:.0%}' for x, z in zip(ob, bp, strict=True))})")
    print(f"\nemit_outcome latency, broker up, during that burst (100 calls ending per loop iteration):"
          f" p50 {ms(statistics.median(lat_all))},"
          f" p99 {ms(q99(lat_all))}, max {ms(max(lat_all))}")
    if not a.no_outage:
        with contextlib.suppress(Exception):
            await queue_setup()
        st = await outage(min(a.n, 10_000))
        await queue_setup()
        print(f"\nbroker stopped (rabbitmqctl stop_app), {st['n']:,.0f} outcomes emitted:")
        print(f"  one call at a time:   p50 {ms(st['seq_p50'])}, p99 {ms(st['seq_p99'])}, max {ms(st['seq_max'])}")
        print(f"  200 calls at once:    p50 {ms(st['conc_p50'])}, p99 {ms(st['conc_p99'])}, max {ms(st['conc_max'])}")
        print(f"  after start_app: backlog of {st['n']:,.0f} confirmed in {st['drain_s']:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        import uvloop

        sys.exit(uvloop.run(main()))
    except ImportError:
        sys.exit(asyncio.run(main()))
