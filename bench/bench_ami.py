"""AMI parsing throughput: our codec (+ translator) against plain panoramisk, same bytes.

Run:  python -m pytest bench/bench_ami.py --benchmark-enable
(with --benchmark-disable, the default in pyproject, each case runs once as a smoke test.)

The stream is every recording in tests/fixtures/ami (received side, banners removed),
repeated until it holds at least N_FRAMES frames; each repetition gets its own
Uniqueids, call ids, ActionIDs and timestamps, so the translator does the work of
fresh calls rather than suppressing duplicates. It is fed in 64 KiB reads, as a socket
would deliver it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from dialer.ami.codec import Frame, FrameParser, parse_buffer
from dialer.ami.recording import split_recording
from dialer.ami.translate import AmiTranslator

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
N_FRAMES = 50_000
READ = 65536


def _build() -> tuple[bytes, list[tuple[str, str]], int]:
    base: list[tuple[bytes, list[bytes]]] = []
    for path in sorted(FIXTURES.glob("*.txt")):
        if path.name.endswith(".summary.txt"):
            continue
        for session in split_recording(path.read_bytes()).values():
            body = session.received
            if body.startswith(b"Asterisk Call Manager/"):
                body = body.split(b"\r\n", 1)[1]
            base.append((body, session.sent))
    per_rep = sum(len(parse_buffer(body)[0]) for body, _ in base)
    reps = -(-N_FRAMES // per_rep)
    chunks: list[bytes] = []
    originates: list[tuple[str, str]] = []
    for i in range(reps):
        tag = f"{i:06d}".encode()

        def fresh(data: bytes, tag: bytes = tag, i: int = i) -> bytes:
            # 179586xxxx -> <rep>xxxx in Uniqueids, call ids and timestamps alike.
            return data.replace(b"179586", tag).replace(b"-orig\r\n", f"-orig{i}\r\n".encode())

        for body, sent in base:
            chunks.append(fresh(body))
            for raw in sent:
                (frame,), _ = parse_buffer(fresh(raw))
                assert isinstance(frame, Frame)
                if frame.name == "Action:Originate":
                    cid = frame.getall("Variable")[0].split("=", 1)[1]
                    originates.append((cid, frame.get("ActionID")))
    stream = b"".join(chunks)
    return stream, originates, per_rep * reps


STREAM, ORIGINATES, FRAMES = _build()
READS = [STREAM[i:i + READ] for i in range(0, len(STREAM), READ)]


def ours_codec_and_translator() -> int:
    tr = AmiTranslator()
    for cid, aid in ORIGINATES:
        tr.register_originate(cid, aid)
    parser = FrameParser()
    translate = tr.translate
    events = 0
    for data in READS:
        for item in parser.feed(data):
            events += len(translate(item, 1.0))
    assert tr.stats["frames"] == FRAMES and tr.stats["malformed"] == 0
    return events


def ours_codec_only() -> int:
    parser = FrameParser()
    n = 0
    for data in READS:
        n += len(parser.feed(data))
    return n


def panoramisk_data_received() -> int:
    from panoramisk.ami_protocol import AMIProtocol

    count = [0]

    def dispatch(message: Any) -> None:
        count[0] += 1

    proto = AMIProtocol()
    proto.connection_made(mock.MagicMock())
    proto.factory = mock.MagicMock(save_stream=None, dispatch=dispatch)
    proto.encoding = "utf8"  # as panoramisk's Manager configures it
    proto.log.disabled = True  # its per-message debug call is not what we measure
    try:
        for data in READS:
            proto.data_received(data)
    finally:
        proto.log.disabled = False
    return count[0]


def _report(benchmark: Any, frames: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        mean, best = stats.stats.mean, stats.stats.min
        benchmark.extra_info["frames"] = frames
        benchmark.extra_info["frames_per_s_mean"] = round(frames / mean)
        benchmark.extra_info["frames_per_s_best"] = round(frames / best)
        print(f"\n{benchmark.name}: {frames} frames, {frames / mean:,.0f} frames/s mean, "
              f"{frames / best:,.0f} frames/s best round")


@pytest.mark.benchmark(group="ami-parse")
def test_ours_codec_and_translator(benchmark: Any) -> None:
    events = benchmark.pedantic(ours_codec_and_translator, rounds=5, iterations=1,
                                warmup_rounds=1)
    assert events > 0
    _report(benchmark, FRAMES)


@pytest.mark.benchmark(group="ami-parse")
def test_ours_codec_only(benchmark: Any) -> None:
    n = benchmark.pedantic(ours_codec_only, rounds=5, iterations=1, warmup_rounds=1)
    assert n == FRAMES
    _report(benchmark, FRAMES)


@pytest.mark.benchmark(group="ami-parse")
def test_panoramisk_data_received(benchmark: Any) -> None:
    n = benchmark.pedantic(panoramisk_data_received, rounds=5, iterations=1, warmup_rounds=1)
    # panoramisk hands only events to dispatch (responses without a pending action vanish).
    assert 0 < n <= FRAMES
    _report(benchmark, FRAMES)
