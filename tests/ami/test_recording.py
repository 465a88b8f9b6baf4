from __future__ import annotations

from dialer.ami.recording import split_recording

from .conftest import recording


def test_single_session_recording_splits_sent_from_received() -> None:
    sessions = recording("busy_7")
    assert list(sessions) == [""]
    s = sessions[""]
    assert s.received.startswith(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n")
    assert b"###" not in s.received and b"Action:" not in s.received
    assert [x.split(b"\r\n", 1)[0] for x in s.sent] == [
        b"Action: Login", b"Action: Originate", b"Action: Logoff"]
    assert all(x.endswith(b"\r\n\r\n") for x in s.sent)


def test_multi_session_recording() -> None:
    sessions = recording("actions")
    assert list(sessions) == ["main", "second"]
    assert len(sessions["main"].sent) == 18 and len(sessions["second"].sent) == 1
    assert sessions["second"].received.endswith(b"Message: Authentication failed\r\n\r\n")


def test_plain_stream_is_one_received_session() -> None:
    assert split_recording(b"Event: A\r\n\r\n")[""].received == b"Event: A\r\n\r\n"
