from __future__ import annotations

import pytest

from dialer.ami.codec import (
    Banner,
    Frame,
    FrameParser,
    MalformedFrame,
    encode_action,
    encode_frame,
    parse_buffer,
)
from dialer.ami.errors import AmiEncodeError

from .conftest import CALL_RECORDINGS, received


def feed_all(chunks: list[bytes], max_frame: int = 1 << 20) -> list[object]:
    p = FrameParser(max_frame)
    out: list[object] = []
    for c in chunks:
        out += p.feed(c)
    out += p.close()
    return out


ALL_STREAMS = [
    *((name, "") for name in CALL_RECORDINGS), ("actions", "main"), ("actions", "second")]


@pytest.fixture(scope="module")
def streams() -> dict[tuple[str, str], bytes]:
    return {key: received(*key) for key in ALL_STREAMS}


# --- basics -----------------------------------------------------------------------------

def test_crlf_frames_banner_and_leftover() -> None:
    data = (b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a1\r\n"
            b"Message: Authentication accepted\r\n\r\nEvent: Newchannel\r\nUniq")
    items, rest = parse_buffer(data)
    assert items[0] == Banner("11.0.0")
    resp = items[1]
    assert isinstance(resp, Frame) and resp.kind == "response" and resp.is_response
    assert resp.name == "Response:Success"
    assert resp["actionid"] == "a1" and resp.get("MESSAGE") == "Authentication accepted"
    assert rest == b"Event: Newchannel\nUniq"


def test_bare_lf_and_mixed_line_endings() -> None:
    data = b"Event: A\nKey: 1\n\nEvent: B\r\nKey: 2\r\n\r\nEvent: C\nKey: 3\r\n\n"
    items, rest = parse_buffer(data)
    assert [i.name for i in items] == ["A", "B", "C"]  # type: ignore[union-attr]
    assert rest == b""


def test_banner_alone_is_reported_before_any_frame() -> None:
    items, rest = parse_buffer(b"Asterisk Call Manager/11.0.0\r\n")
    assert items == [Banner("11.0.0")] and rest == b""
    items, rest = parse_buffer(b"Asterisk Call Manager/11.0")
    assert items == [] and rest == b"Asterisk Call Manager/11.0"


def test_repeated_keys_are_kept_in_order() -> None:
    items, _ = parse_buffer(
        b"Event: VarSet\r\nVariable: A=1\r\nvariable: B=2\r\nVariable: C=3\r\n\r\n")
    f = items[0]
    assert isinstance(f, Frame)
    assert f.get("Variable") == "A=1"
    assert f.getall("VARIABLE") == ["A=1", "B=2", "C=3"]
    assert [k for k, _ in f.pairs] == ["Event", "Variable", "variable", "Variable"]
    assert len(f) == 4 and "variable" in f and "Missing" not in f
    with pytest.raises(KeyError):
        f["Missing"]


def test_originate_response_is_an_event_despite_its_response_header() -> None:
    items, _ = parse_buffer(b"Event: OriginateResponse\r\nActionID: x\r\nResponse: Failure\r\n\r\n")
    f = items[0]
    assert isinstance(f, Frame) and f.kind == "event" and f.name == "OriginateResponse"
    assert f.action_id == "x"


def test_actions_are_parsed_too() -> None:
    items, _ = parse_buffer(encode_action([("Action", "Ping"), ("ActionID", "a2")]))
    assert isinstance(items[0], Frame) and items[0].kind == "action"
    assert items[0].name == "Action:Ping"


def test_values_keep_colons_and_empty_values() -> None:
    items, _ = parse_buffer(b"Event: X\r\nAccountCode: \r\nAppData: a: b: c\r\nTrimmed:\r\n\r\n")
    f = items[0]
    assert isinstance(f, Frame)
    assert f.get("AccountCode") == "" and f.get("AppData") == "a: b: c"
    assert f.get("Trimmed") == "" and "Trimmed" in f and f.defects == ()


def test_repr_shows_no_values() -> None:
    items, _ = parse_buffer(b"Event: Newchannel\r\nCallerIDNum: 8613812345678\r\n\r\n")
    assert "8613812345678" not in repr(items[0])
    assert "Newchannel" in repr(items[0])


# --- Command output ---------------------------------------------------------------------

def test_asterisk_22_command_output_lines(streams: dict[tuple[str, str], bytes]) -> None:
    items, _ = parse_buffer(streams[("actions", "main")])
    cmd = next(i for i in items if isinstance(i, Frame) and i.get("ActionID") == "a4")
    assert cmd.name == "Response:Success"
    assert cmd.getall("Output") == [
        "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-28 10:35:51 UTC"
    ]


def test_old_response_follows_body_with_blank_lines() -> None:
    data = (b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n"
            b"Name/username   Host\nfoo: not a header\n\nline after blank\n--END COMMAND--\r\n\r\n"
            b"Event: After\r\n\r\n")
    for chunks in ([data], [data[:40], data[40:90], data[90:]], [bytes([b]) for b in data]):
        got = feed_all(chunks)
        assert [getattr(i, "name", None) for i in got] == ["Response:Follows", "After"]
        f = got[0]
        assert isinstance(f, Frame) and f.get("ActionID") == "c1"
        assert f.getall("Output") == ["Name/username   Host", "foo: not a header", "",
                                      "line after blank"]


def test_follows_end_marker_on_the_last_output_line() -> None:
    data = b"Response: Follows\r\nActionID: c2\r\nNo such command 'x'\n--END COMMAND--\r\n\r\n"
    (f,), rest = parse_buffer(data)
    assert isinstance(f, Frame) and f.getall("Output") == ["No such command 'x'"] and rest == b""


# --- splitting ---------------------------------------------------------------------------

def test_every_byte_offset_of_every_recording_gives_the_same_frames(
        streams: dict[tuple[str, str], bytes]) -> None:
    """Byte-by-byte feeding puts a read boundary at every offset at once."""
    for key, data in streams.items():
        ref, rest = parse_buffer(data)
        assert rest == b"" and all(not isinstance(i, MalformedFrame) for i in ref), key
        assert feed_all([data[i:i + 1] for i in range(len(data))]) == ref, key


def test_two_part_split_at_sampled_offsets(streams: dict[tuple[str, str], bytes]) -> None:
    for key, data in streams.items():
        ref = feed_all([data])
        for cut in range(0, len(data) + 1, 89):
            assert feed_all([data[:cut], data[cut:]]) == ref, (key, cut)


def test_utf8_character_split_across_reads_is_kept() -> None:
    name = "José 张伟 👋"
    data = f"Event: UserEvent\r\nCallerIDName: {name}\r\n\r\n".encode()
    for cut in range(len(data) + 1):
        got = feed_all([data[:cut], data[cut:]])
        assert len(got) == 1 and isinstance(got[0], Frame), cut
        assert got[0].get("CallerIDName") == name and got[0].defects == ()


def test_crlf_split_between_cr_and_lf() -> None:
    data = b"Event: A\r\nK: v\r\n\r\nEvent: B\r\n\r\n"
    for cut in range(len(data) + 1):
        got = feed_all([data[:cut], data[cut:]])
        assert [g.name for g in got] == ["A", "B"]  # type: ignore[union-attr]
        assert got[0].get("K") == "v"  # type: ignore[union-attr]


# --- bad input ----------------------------------------------------------------------------

def test_invalid_utf8_is_replaced_and_marked() -> None:
    items, _ = parse_buffer(b"Event: A\r\nName: ab\xff\xfecd\r\n\r\nEvent: B\r\nName: ok\r\n\r\n")
    a, b = items
    assert isinstance(a, Frame) and a.name == "A" and a.get("Name") == "ab\ufffd\ufffdcd"
    assert a.defects == ("invalid utf-8",)
    assert isinstance(b, Frame) and b.defects == ()


def test_garbage_unknown_and_defective_frames() -> None:
    data = (b"this is not AMI at all\r\n\r\n"
            b"Foo: bar\r\nBaz: 1\r\n\r\n"
            b"Event: Hangup\r\nCause: 16\r\nGARBAGE LINE\r\n\r\n"
            b"Event: Good\r\n\r\n")
    items, rest = parse_buffer(data)
    assert rest == b""
    assert isinstance(items[0], MalformedFrame) and items[0].reason == "garbage"
    assert items[0].keys == ()  # never any content of a frame
    assert isinstance(items[1], MalformedFrame) and items[1].reason == "unknown"
    assert items[1].keys == ("Foo", "Baz")
    hangup = items[2]
    assert isinstance(hangup, Frame) and hangup.get("Cause") == "16"
    assert hangup.defects == ("1 line(s) without ': '",)
    assert isinstance(items[3], Frame) and items[3].name == "Good"


def test_truncated_frame_at_end_of_stream() -> None:
    p = FrameParser()
    assert p.feed(b"Event: A\r\n\r\nEvent: Hangup\r\nUniqueid: 17") != []
    assert p.pending > 0
    assert p.close() == [MalformedFrame("truncated", 26, ("Event", "Uniqueid"))]
    assert p.close() == []


def test_oversized_complete_frame_is_reported_and_skipped() -> None:
    big = b"Event: Big\r\n" + b"Variable: x=" + b"y" * 500 + b"\r\n\r\n"
    items, rest = parse_buffer(big + b"Event: Next\r\n\r\n", max_frame=200)
    assert isinstance(items[0], MalformedFrame) and items[0].reason == "oversized"
    assert isinstance(items[1], Frame) and items[1].name == "Next" and rest == b""


def test_endless_frame_is_bounded_and_the_stream_recovers() -> None:
    p = FrameParser(max_frame=1024)
    out = p.feed(b"Event: Endless\r\n")
    for _ in range(1000):  # 100 kB of one frame that never ends
        out += p.feed(b"Variable: " + b"z" * 88 + b"\r\n")
        assert len(p._buf) <= 1024 + 100
    out += p.feed(b"Variable: last\r\n\r")
    out += p.feed(b"\nEvent: After\r\n\r\n")
    assert [type(i).__name__ for i in out] == ["MalformedFrame", "Frame"]
    assert out[0].reason == "oversized"  # type: ignore[union-attr]
    assert out[1].name == "After"  # type: ignore[union-attr]


def test_blank_lines_between_frames_are_ignored() -> None:
    items, rest = parse_buffer(b"\r\n\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n\r\n")
    assert [i.name for i in items] == ["A", "B"] and rest == b""  # type: ignore[union-attr]


def test_never_raises_on_random_bytes() -> None:
    import random

    rng = random.Random(7)
    alphabet = b"Event: Response\r\n:\xff\xc3\xa9 Asterisk Call Manager/--END COMMAND--"
    for _ in range(300):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        p = FrameParser(max_frame=128)
        for i in range(0, len(data), 7):
            p.feed(data[i:i + 7])
        p.close()


# --- encoding -----------------------------------------------------------------------------

def test_encode_action_round_trip() -> None:
    pairs = [("Action", "Originate"), ("ActionID", "c-1"), ("Variable", "A=1"),
             ("Variable", "B=张"), ("Priority", 1)]
    data = encode_action(pairs)
    assert data.startswith(b"Action: Originate\r\nActionID: c-1\r\n") and data.endswith(b"\r\n\r\n")
    (f,), rest = parse_buffer(data)
    assert isinstance(f, Frame) and rest == b""
    assert f.pairs == tuple((k, str(v)) for k, v in pairs)


@pytest.mark.parametrize("pairs", [
    [("Action", "Originate"), ("Channel", "Local/1@x\r\nAction: Hangup")],
    [("Action", "Ping"), ("Bad:Key", "v")],
    [("Action", "Ping"), ("", "v")],
    [("ActionID", "x")],
    [],
])
def test_encode_refuses_injection_and_bad_headers(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(AmiEncodeError):
        encode_action(pairs)


def test_encode_frame_for_events() -> None:
    assert encode_frame([("Event", "X"), ("A", "")]) == b"Event: X\r\nA: \r\n\r\n"
    assert Frame.from_pairs([("Event", "X")]).name == "X"
    with pytest.raises(ValueError):
        Frame.from_pairs([("Foo", "X")])
