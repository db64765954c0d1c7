"""The notification policy (runtime/notifications.py): pure transitions over ``Board``."""

from __future__ import annotations

import json

import pytest

from ledmatrix_mqtt.core import notifications as notes
from ledmatrix_mqtt.core.notifications import Board, Notification
from ledmatrix_mqtt.errors import Busy, InvalidPayload


def length(n: Notification) -> float | None:
    return None if n.hold else (n.duration or 5.0)


def note(nid: str, priority: int = 0, **kw: object) -> Notification:
    return Notification.create(nid, id=nid, priority=priority, **kw)


def test_pre_empted_notification_returns_first_and_starts_over() -> None:
    board = notes.post(Board(), note("a", duration=10), 0.0, length)
    board = notes.post(board, note("b", priority=1, duration=2), 3.0, length)
    assert board.showing is not None and board.showing.notification.id == "b"
    assert [n.id for n in board.queue] == ["a"]
    board = notes.advance(board, 5.0, length)
    assert board.showing is not None and board.showing.notification.id == "a"
    assert (board.showing.started_at, board.showing.ends_at) == (5.0, 15.0)  # full time again


def test_equal_priority_waits_its_turn_in_arrival_order() -> None:
    board = Board()
    for nid in ("a", "b", "c"):
        board = notes.post(board, note(nid), 0.0, length)
    assert board.showing is not None and board.showing.notification.id == "a"
    assert [n.id for n in board.queue] == ["b", "c"]
    board = notes.post(board, note("urgent", priority=3), 1.0, length)
    board = notes.post(board, note("soon", priority=2), 1.0, length)
    assert [n.id for n in board.queue] == ["soon", "a", "b", "c"]  # higher priority first


def test_reposting_an_id_replaces_it() -> None:
    board = notes.post(Board(), note("door", duration=5), 0.0, length)
    board = notes.post(board, Notification.create("Door (again)", id="door"), 1.0, length)
    assert board.showing is not None and board.showing.notification.text == "Door (again)"
    assert board.queue == ()


def test_held_notification_never_ends_by_itself() -> None:
    board = notes.post(Board(), note("h", hold=True), 0.0, length)
    assert notes.advance(board, 1e9, length) == board


def test_full_queue_is_busy_and_changes_nothing() -> None:
    board = Board()
    for i in range(notes.MAX_QUEUE + 1):
        board = notes.post(board, note(f"n{i}"), 0.0, length)
    with pytest.raises(Busy):
        notes.post(board, note("more"), 0.0, length)
    with pytest.raises(Busy):  # pre-empting would push the current one into a full queue
        notes.post(board, note("urgent", priority=9), 0.0, length)


def test_payload_fields_and_whitespace() -> None:
    n = notes.from_payload({"text": "  two\nlines ", "color": "#FF8000", "priority": 2, "x": 1})
    assert (n.text, n.color, n.priority) == ("two lines", (255, 128, 0), 2)
    with pytest.raises(InvalidPayload, match="hold"):
        notes.from_payload({"text": "x", "hold": "yes"})
    assert notes.NotificationState(n, ()).to_dict()["current"]["color"] == [255, 128, 0]


def test_lone_surrogate_and_control_characters_never_reach_the_panel_or_the_wire() -> None:
    n = Notification.create("ring\ud800 the\x00 bell\x1b[31m")
    assert n.text == "ring\ufffd the bell[31m"
    json.dumps(n.to_dict(), ensure_ascii=False).encode("utf-8")  # raised before: surrogate
    with pytest.raises(InvalidPayload):
        Notification.create("\x00\x07 \t")
