"""AMI wire format: bytes in, frames out; pairs in, bytes out. No IO, no asyncio, no logging.

Why our own parser instead of panoramisk's `data_received`: panoramisk decodes every TCP
read on its own with `errors='ignore'`, so a UTF-8 character split across two reads is
silently dropped; it only knows CRLF; it has no bound on a frame's size; and it throws
frames it cannot classify away without telling anyone. Here the unit of decoding is a
*complete* frame, so a split character simply stays in the leftover bytes until the rest
arrives, and everything odd comes back as a `MalformedFrame` record for the caller to
count and log (this module never logs: it cannot know what is personal data).

Wire facts this parser relies on (Asterisk 1.8 .. 22, see tests/fixtures/ami):

* a frame is `Key: value` lines ended by an empty line; Asterisk sends CRLF, but some
  proxies and test tools send bare LF, so both are accepted (CR LF is normalised to LF);
* right after connecting the server sends one banner line `Asterisk Call Manager/x.y.z`
  that is *not* followed by an empty line;
* keys repeat (`Variable`, `ChanVariable`, `Output`): order and duplicates are kept;
* `Response: Follows` (Command action before Asterisk 14) carries a raw body ended by
  `--END COMMAND--`; Asterisk 14+ sends `Response: Success` with `Output:` lines instead.
  Old bodies are turned into `Output` pairs so callers see one shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from .errors import AmiEncodeError

__all__ = [
    "DEFAULT_MAX_FRAME", "Banner", "Frame", "FrameParser", "Item", "MalformedFrame",
    "encode_action", "encode_frame", "parse_buffer",
]

#: Largest frame accepted, in bytes. Real frames are < 2 KiB; a long `Command` output
#: (e.g. `core show channels` on a busy PBX) can reach a few hundred KiB.
DEFAULT_MAX_FRAME: Final = 1 << 20

BANNER_PREFIX: Final = b"Asterisk Call Manager/"
_FOLLOWS: Final = b"Response: Follows"
_END_COMMAND: Final = "--END COMMAND--"
_END_COMMAND_B: Final = b"--END COMMAND--\n\n"
_NL_FOLLOWS: Final = b"\n\n" + _FOLLOWS
_NL_BANNER: Final = b"\n\n" + BANNER_PREFIX

# Malformed-frame reasons (stable strings: counted in metrics and asserted in tests).
GARBAGE: Final = "garbage"  # no `Key: value` line at all
UNKNOWN: Final = "unknown"  # key/value pairs, but no Event, Response or Action header
OVERSIZED: Final = "oversized"  # larger than max_frame; discarded up to the next frame end
TRUNCATED: Final = "truncated"  # the stream ended in the middle of a frame


class Frame:
    """One AMI event, response or action, with its header lines in wire order.

    `kind` is "event", "response" or "action". `name` is the event name
    (`Newchannel`), `Response:<value>` (`Response:Success`) or `Action:<value>`.
    Note that `OriginateResponse` is an *event* that also carries a `Response` header:
    the header on the first line decides.

    Lookup is case-insensitive and returns the first value of a repeated key; `getall`
    returns every value. `defects` lists what was wrong with an otherwise usable frame
    ("invalid utf-8", "2 lines without ': '"); values of an invalid-UTF-8 frame were
    decoded with U+FFFD replacements.

    `repr()` shows the name and the header *names* only: frames carry phone numbers and
    a frame printed into a log must not leak them.
    """

    __slots__ = ("_map", "defects", "kind", "name", "pairs")

    def __init__(
        self,
        pairs: tuple[tuple[str, str], ...],
        kind: str,
        name: str,
        defects: tuple[str, ...] = (),
    ) -> None:
        self.pairs = pairs
        self.kind = kind
        self.name = name
        self.defects = defects
        self._map: dict[str, str] | None = None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Frame:
        """Build a frame from pairs (tests, the simulated PBX). Raises ValueError if it
        has no Event, Response or Action header."""
        tup = tuple((str(k), str(v)) for k, v in pairs)
        kind, name = _classify(tup)
        if kind is None:
            raise ValueError("an AMI frame needs an Event, Response or Action header")
        return cls(tup, kind, name)

    # --- lookup ---------------------------------------------------------------------
    def _lookup(self) -> dict[str, str]:
        m = self._map
        if m is None:
            m = self._map = {k.lower(): v for k, v in reversed(self.pairs)}
        return m

    def get(self, key: str, default: str = "") -> str:
        return self._lookup().get(key.lower(), default)

    def getall(self, key: str) -> list[str]:
        lk = key.lower()
        return [v for k, v in self.pairs if k.lower() == lk]

    def __getitem__(self, key: str) -> str:
        return self._lookup()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def is_event(self) -> bool:
        return self.kind == "event"

    @property
    def is_response(self) -> bool:
        return self.kind == "response"

    @property
    def action_id(self) -> str:
        return self._lookup().get("actionid", "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self.pairs == other.pairs and self.defects == other.defects

    def __hash__(self) -> int:
        return hash(self.pairs)

    def __repr__(self) -> str:
        keys = ",".join(k for k, _ in self.pairs[1:9])
        more = ",..." if len(self.pairs) > 9 else ""
        bad = f" defects={list(self.defects)}" if self.defects else ""
        return f"<Frame {self.name} [{keys}{more}]{bad}>"


@dataclass(frozen=True, slots=True)
class Banner:
    """The greeting line; `version` is the AMI protocol version (11.0.0 on Asterisk 22)."""

    version: str


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """A frame that was skipped. `keys` are the header names seen (never values: those
    may be personal data), so the caller can log something useful safely."""

    reason: str
    size: int
    keys: tuple[str, ...] = ()


Item = Frame | MalformedFrame | Banner


def _classify(pairs: tuple[tuple[str, str], ...]) -> tuple[str | None, str]:
    if pairs:
        k, v = pairs[0]
        if k == "Event":
            return "event", v
        if k == "Response":
            return "response", "Response:" + v
        if k == "Action":
            return "action", "Action:" + v
    found: dict[str, str] = {}
    for k, v in pairs:
        lk = k.lower()
        if lk in ("event", "response", "action") and lk not in found:
            found[lk] = v
    if "event" in found:
        return "event", found["event"]
    if "response" in found:
        return "response", "Response:" + found["response"]
    if "action" in found:
        return "action", "Action:" + found["action"]
    return None, ""


def _frame_from_text(text: str, size: int, defects: tuple[str, ...] = ()) -> Frame | MalformedFrame:
    if text[:1] == "\n":
        text = text.lstrip("\n")
    if text.startswith("Response: Follows"):
        return _follows_frame(text, size, defects)
    lines = text.split("\n")
    plist: list[tuple[str, str]] = []
    append = plist.append
    for line in lines:
        k, sep, v = line.partition(": ")
        if sep:
            append((k, v))
    if len(plist) == len(lines):
        pairs = tuple(plist)
    else:
        pairs, bad = _lenient_pairs(lines)
        if bad:
            defects = (*defects, f"{bad} line(s) without ': '")
    if not pairs:
        return MalformedFrame(GARBAGE, size)
    k0, v0 = pairs[0]
    if k0 == "Event":
        return Frame(pairs, "event", v0, defects)
    if k0 == "Response":
        return Frame(pairs, "response", "Response:" + v0, defects)
    kind, name = _classify(pairs)
    if kind is None:
        return MalformedFrame(UNKNOWN, size, tuple(k for k, _ in pairs))
    return Frame(pairs, kind, name, defects)


def _lenient_pairs(lines: list[str]) -> tuple[tuple[tuple[str, str], ...], int]:
    """Slow path: `Key:` with an empty value (trailing space trimmed by a proxy) is a
    pair; anything else without ': ' is counted as a bad line and skipped."""
    pairs: list[tuple[str, str]] = []
    bad = 0
    for line in lines:
        k, sep, v = line.partition(": ")
        if sep:
            pairs.append((k, v))
        elif line.endswith(":") and len(line) > 1:
            pairs.append((line[:-1], ""))
        elif line.strip("\r "):
            bad += 1
    return tuple(pairs), bad


def _follows_frame(text: str, size: int, defects: tuple[str, ...]) -> Frame:
    """Pre-14 `Response: Follows`: headers, then raw output lines, then --END COMMAND--."""
    pairs: list[tuple[str, str]] = []
    in_body = False
    for line in text.split("\n"):
        if line == _END_COMMAND or line.endswith(_END_COMMAND):
            head = line[: -len(_END_COMMAND)]
            if head:
                pairs.append(("Output", head))
            break
        if not in_body:
            k, sep, v = line.partition(": ")
            if sep and " " not in k:
                pairs.append((k, v))
                continue
            in_body = True
        pairs.append(("Output", line))
    return Frame(tuple(pairs), "response", "Response:Follows", defects)


def _decode(raw: bytes) -> tuple[str, tuple[str, ...]]:
    try:
        return raw.decode("utf-8"), ()
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), ("invalid utf-8",)


def parse_buffer(
    data: bytes, *, max_frame: int = DEFAULT_MAX_FRAME
) -> tuple[list[Item], bytes]:
    """Split `data` into complete items and the bytes of the incomplete tail.

    Feed the returned leftover back in front of the next read. The leftover is returned
    with CR LF already normalised to LF (a trailing lone CR is kept, so a CR LF split
    across reads still pairs up). It never raises on peer input.

    A complete frame larger than `max_frame` comes back as `MalformedFrame("oversized")`.
    An *incomplete* tail larger than `max_frame` is not detected here (this function has
    no memory); `FrameParser` does that and discards the rest of such a frame.
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    items: list[Item] = []
    pos = 0
    n = len(data)
    while pos < n:
        # Skip blank lines between frames.
        if data[pos] == 10:  # b"\n"
            while pos < n and data[pos] == 10:
                pos += 1
            continue
        if data.startswith(BANNER_PREFIX, pos):
            eol = data.find(b"\n", pos)
            if eol < 0:
                break
            line, _ = _decode(data[pos:eol])
            items.append(Banner(line[len(BANNER_PREFIX):].strip()))
            pos = eol + 1
            continue
        if data.startswith(_FOLLOWS, pos):
            end = data.find(_END_COMMAND_B, pos)
            if end < 0:
                break
            end += len(_END_COMMAND_B) - 2
            raw = data[pos:end]
            pos = end + 2
            if len(raw) > max_frame:
                items.append(MalformedFrame(OVERSIZED, len(raw)))
            else:
                text, defects = _decode(raw)
                items.append(_frame_from_text(text, len(raw), defects))
            continue
        # Fast path: every complete frame up to the last frame end, decoded in one go,
        # stopping early where a frame needs special handling (banner, Follows body).
        last = data.rfind(b"\n\n", pos)
        if last < 0:
            break
        stop = last
        for needle in (_NL_FOLLOWS, _NL_BANNER):
            hit = data.find(needle, pos, stop + len(needle))
            if hit >= 0:
                stop = hit
        region = data[pos:stop]
        pos = stop + 2
        try:
            text = region.decode("utf-8")
        except UnicodeDecodeError:
            for raw in region.split(b"\n\n"):
                if raw.strip(b"\n"):
                    _append_raw(items, raw, max_frame)
            continue
        for chunk in text.split("\n\n"):
            if len(chunk) > max_frame:
                items.append(MalformedFrame(OVERSIZED, len(chunk.encode("utf-8"))))
            elif chunk and chunk != "\n":
                items.append(_frame_from_text(chunk, len(chunk)))
    return items, data[pos:]


def _append_raw(items: list[Item], raw: bytes, max_frame: int) -> None:
    if len(raw) > max_frame:
        items.append(MalformedFrame(OVERSIZED, len(raw)))
        return
    text, defects = _decode(raw)
    items.append(_frame_from_text(text, len(raw), defects))


class FrameParser:
    """Incremental parser for one connection: `feed()` each read, `close()` at EOF.

    Adds what `parse_buffer` cannot do without memory: a tail that grows past
    `max_frame` without ending is reported once as oversized and the rest of that
    frame is skipped up to its end, so an endless frame costs at most `max_frame` bytes.
    """

    __slots__ = ("_buf", "_discarded", "_discarding", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 64:
            raise ValueError("max_frame must be at least 64 bytes")
        self.max_frame = max_frame
        self._buf = b""
        self._discarding = False
        self._discarded = 0

    def feed(self, data: bytes) -> list[Item]:
        if self._discarding:
            data = self._skip(data)
            if self._discarding:
                return []
        buf = self._buf + data if self._buf else data
        items, self._buf = parse_buffer(buf, max_frame=self.max_frame)
        if len(self._buf) > self.max_frame:
            size = len(self._buf)
            self._buf = b""
            self._discarding = True
            self._discarded = size
            items.append(MalformedFrame(OVERSIZED, size))
        return items

    def _skip(self, data: bytes) -> bytes:
        """Drop bytes up to and including the end of the oversized frame."""
        # Keep up to 3 bytes of the previous read: "\r\n\r" + "\n" must still match.
        tail = self._buf + data
        norm = tail.replace(b"\r\n", b"\n")
        end = norm.find(b"\n\n")
        if end < 0:
            self._buf = tail[-3:]
            self._discarded += len(data)
            return b""
        self._discarding = False
        self._buf = b""
        return norm[end + 2:]

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete frame."""
        return 0 if self._discarding else len(self._buf)

    def close(self) -> list[Item]:
        """The stream ended: an incomplete frame left over is reported as truncated."""
        rest, self._buf = self._buf, b""
        if self._discarding:
            self._discarding = False
            return []
        if rest.strip(b"\r\n"):
            keys = tuple(
                line.split(b":", 1)[0].decode("ascii", "replace")
                for line in rest.replace(b"\r\n", b"\n").split(b"\n")[:16]
                if b": " in line
            )
            return [MalformedFrame(TRUNCATED, len(rest), keys)]
        return []


def encode_frame(pairs: Iterable[tuple[str, object]]) -> bytes:
    """Serialise `Key: value` pairs (CRLF, empty line at the end).

    Raises `AmiEncodeError` when a key or value would break the framing (CR or LF in
    it, ': ' in a key): a value with a line break could inject a second action.
    """
    out: list[str] = []
    for key, value in pairs:
        v = value if isinstance(value, str) else str(value)
        if not key or "\n" in key or "\r" in key or ":" in key:
            raise AmiEncodeError(
                f"AMI header name {key!r} is empty or contains ':' or a line break")
        if "\n" in v or "\r" in v:
            raise AmiEncodeError(f"AMI header {key!r}: value contains a line break")
        out.append(f"{key}: {v}\r\n")
    if not out:
        raise AmiEncodeError("an AMI frame needs at least one header")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


def encode_action(pairs: Iterable[tuple[str, object]]) -> bytes:
    """Serialise an action; the first pair must be `Action: <name>`."""
    pairs = list(pairs)
    if not pairs or pairs[0][0].lower() != "action" or not str(pairs[0][1]):
        raise AmiEncodeError("an AMI action must start with an 'Action: <name>' header")
    return encode_frame(pairs)
