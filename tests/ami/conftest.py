from __future__ import annotations

from pathlib import Path

from dialer.ami.codec import Frame, parse_buffer
from dialer.ami.recording import Session, split_recording

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
CALL_RECORDINGS = (
    "human_1", "machine_5", "busy_7", "busy_7_with_channelid", "noanswer_8",
    "human_no_free_agent_abandon",
)


def recording(name: str) -> dict[str, Session]:
    return split_recording((FIXTURES / f"{name}.txt").read_bytes())


def received(name: str, session: str = "") -> bytes:
    return recording(name)[session].received


def sent_frames(name: str, session: str = "") -> list[Frame]:
    out = []
    for raw in recording(name)[session].sent:
        items, rest = parse_buffer(raw)
        assert rest == b"" and len(items) == 1 and isinstance(items[0], Frame)
        out.append(items[0])
    return out
