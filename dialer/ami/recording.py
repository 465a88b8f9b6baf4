"""Read the AMI recordings in tests/fixtures/ami (copies of shared/asterisk/transcripts).

A recording is the byte stream read from the AMI socket with the client's own frames
inserted between `### >>> [session] SENT (t=...)` and `### <<< END SENT` marker lines;
`### --- session RECEIVED (t=...)` lines switch the session in multi-session files.
The markers are not protocol. Pure: the simulated PBX and the tests replay these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Session", "split_recording"]


@dataclass(slots=True)
class Session:
    name: str
    received: bytes = b""
    sent: list[bytes] = field(default_factory=list)  # each a complete frame, CRLF kept


def split_recording(data: bytes) -> dict[str, Session]:
    """Sessions by name ("" for single-session recordings), in order of appearance."""
    sessions: dict[str, Session] = {}
    current = ""
    received: dict[str, list[bytes]] = {}
    sending: list[bytes] | None = None
    for line in data.splitlines(keepends=True):
        if line.startswith(b"### "):
            words = line[4:].split()
            if line.startswith(b"### >>> "):
                name = words[1].decode() if len(words) > 2 and words[1] != b"SENT" else current
                current = name
                sessions.setdefault(name, Session(name))
                sending = []
            elif line.startswith(b"### <<< END SENT"):
                if sending is not None:
                    sessions[current].sent.append(b"".join(sending))
                sending = None
            elif line.startswith(b"### --- "):
                current = words[1].decode()
                sessions.setdefault(current, Session(current))
            continue
        if sending is not None:
            sending.append(line)
        else:
            sessions.setdefault(current, Session(current))
            received.setdefault(current, []).append(line)
    for name, chunks in received.items():
        sessions[name].received = b"".join(chunks)
    return sessions
