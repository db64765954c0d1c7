"""Notifications: messages that interrupt the rotation (the policy, no threads or drawing).

A notification is shown at once when nothing is showing or when its priority
is higher than the one on the panel; otherwise it waits in a bounded queue
(higher priority first, then arrival order). A pre-empted notification goes
back to the head of its priority in the queue and starts over when it returns.
When one ends (its time is up, or it is dismissed) the next in the queue
starts; when the queue is empty the rotation resumes.

How long one shows (``Board`` asks ``length_of``, which knows the font):
``hold`` until dismissed; else ``repeat`` scroll passes if the text scrolls;
else ``duration`` seconds; else ``DEFAULT_DURATION_S``, stretched to one
full pass for text that scrolls, so it is read to the end.

Notifications live in memory only: a restart or power cut drops them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ledmatrix_mqtt.errors import Busy, InvalidPayload, NotFound

DEFAULT_DURATION_S = 5.0
MAX_DURATION_S = 86_400.0
MAX_REPEAT = 100
MAX_TEXT = 500
MAX_QUEUE = 16
PRIORITY_RANGE = (-10, 10)
WHITE = (255, 255, 255)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ids = itertools.count(1)

Color = tuple[int, int, int]
LengthOf = Callable[["Notification"], float | None]


@dataclass(frozen=True)
class Notification:
    """One message. Build it with :meth:`create` (validated); ``id`` names it for ``dismiss``."""

    id: str
    text: str
    color: Color = WHITE
    duration: float | None = None
    repeat: int | None = None
    priority: int = 0
    hold: bool = False

    @classmethod
    def create(
        cls,
        text: object,
        *,
        id: object = None,
        color: object = None,
        duration: object = None,
        repeat: object = None,
        priority: object = 0,
        hold: object = False,
    ) -> Notification:
        """A checked notification; ``InvalidPayload`` naming the bad field otherwise."""
        clean = clean_text(text, MAX_TEXT) if isinstance(text, str) else ""
        if not clean:
            raise InvalidPayload("text must be a non-empty string")
        if id is None or id == "":
            id = f"n{next(_ids)}"
        if not isinstance(id, str) or not _ID.fullmatch(id):
            raise InvalidPayload("id must be 1-64 letters, digits or _.:-")
        if not isinstance(hold, bool):
            raise InvalidPayload("hold must be true or false")
        return cls(
            id=id,
            text=clean,
            color=parse_color(color),
            duration=_number(duration, "duration", 0.1, MAX_DURATION_S),
            repeat=_integer(repeat, "repeat", 1, MAX_REPEAT),
            priority=_integer(priority, "priority", *PRIORITY_RANGE) or 0,
            hold=hold,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "text": self.text, "color": list(self.color),
            "duration": self.duration, "repeat": self.repeat, "priority": self.priority,
            "hold": self.hold,
        }  # fmt: skip


def clean_text(text: str, limit: int) -> str:
    """``text`` safe to draw and to publish: whitespace runs become one space, other
    control characters are dropped, lone surrogates (valid JSON escapes, not
    encodable as UTF-8) become U+FFFD; at most ``limit`` characters."""
    kept = (
        "\ufffd" if "\ud800" <= c <= "\udfff" else c
        for c in text
        if c.isprintable() or c.isspace() or "\ud800" <= c <= "\udfff"
    )
    return " ".join("".join(kept).split())[:limit]


def parse_color(value: object) -> Color:
    """``None`` (white), ``[r, g, b]`` with 0-255 integers, or ``"#rrggbb"``."""
    if value is None:
        return WHITE
    if isinstance(value, str):
        match = _HEX.fullmatch(value.strip())
        if match:
            raw = int(match.group(1), 16)
            return (raw >> 16 & 255, raw >> 8 & 255, raw & 255)
    elif isinstance(value, list | tuple) and len(value) == 3 and all(_byte(c) for c in value):
        return (value[0], value[1], value[2])
    raise InvalidPayload('color must be [r, g, b] (0-255) or "#rrggbb"')


def _byte(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255


def _number(value: object, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidPayload(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _integer(value: object, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidPayload(f"{name} must be an integer from {low} to {high}")
    return value


@dataclass(frozen=True)
class Showing:
    notification: Notification
    started_at: float  # monotonic
    ends_at: float | None  # None: held until dismissed


@dataclass(frozen=True)
class NotificationState:
    """What ``DisplayController.notifications()`` returns."""

    current: Notification | None
    queued: tuple[Notification, ...]

    @property
    def queue_length(self) -> int:
        return len(self.queued)

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": self.current.to_dict() if self.current else None,
            "queue_length": self.queue_length,
            "queued": [n.id for n in self.queued],
        }


@dataclass(frozen=True)
class Board:
    """The notification on the panel and the queue behind it. Pure transitions below."""

    showing: Showing | None = None
    queue: tuple[Notification, ...] = ()

    def state(self) -> NotificationState:
        return NotificationState(self.showing.notification if self.showing else None, self.queue)


def _start(n: Notification, now: float, length_of: LengthOf) -> Showing:
    length = length_of(n)
    return Showing(n, now, None if length is None else now + length)


def _enqueue(
    queue: tuple[Notification, ...], n: Notification, *, first: bool
) -> tuple[Notification, ...]:
    """Insert by priority (higher first); among equals last, or first when ``first``."""
    for i, queued in enumerate(queue):
        if queued.priority < n.priority or (first and queued.priority == n.priority):
            return (*queue[:i], n, *queue[i:])
    return (*queue, n)


def post(board: Board, n: Notification, now: float, length_of: LengthOf) -> Board:
    """Show ``n`` now or queue it; ``Busy`` if it (or what it pre-empts) finds the queue full."""
    live = [x for x in board.queue if x.id != n.id]  # re-posting an id replaces it
    queue = tuple(live)
    showing = board.showing
    if showing is not None and showing.notification.id == n.id:
        showing = None  # replaced in place
    if showing is None:
        return advance(Board(None, queue), now, length_of, first=n)
    if n.priority > showing.notification.priority:
        if len(queue) >= MAX_QUEUE:
            raise Busy(f"the notification queue is full ({MAX_QUEUE})")
        return Board(_start(n, now, length_of), _enqueue(queue, showing.notification, first=True))
    if len(queue) >= MAX_QUEUE:
        raise Busy(f"the notification queue is full ({MAX_QUEUE})")
    return Board(showing, _enqueue(queue, n, first=False))


def advance(
    board: Board, now: float, length_of: LengthOf, *, first: Notification | None = None
) -> Board:
    """End the showing notification if its time is up and start the next one."""
    showing, queue = board.showing, board.queue
    if first is not None:
        queue = _enqueue(queue, first, first=True)
    elif showing is not None and (showing.ends_at is None or now < showing.ends_at):
        return board
    if not queue:
        return Board(None, ())
    return Board(_start(queue[0], now, length_of), queue[1:])


def dismiss(board: Board, notification_id: str | None, now: float, length_of: LengthOf) -> Board:
    """Remove one notification (showing or queued), or all with ``None``."""
    if notification_id is None:
        return Board()
    showing = board.showing
    if showing is not None and showing.notification.id == notification_id:
        return advance(replace(board, showing=None), now, length_of)
    queue = tuple(n for n in board.queue if n.id != notification_id)
    if len(queue) == len(board.queue):
        raise NotFound(f"no notification {notification_id!r} is showing or queued")
    return replace(board, queue=queue)


def from_payload(data: Mapping[str, Any]) -> Notification:
    """A notification from a command payload's fields (unknown fields are ignored)."""
    fields = ("id", "color", "duration", "repeat", "priority", "hold")
    return Notification.create(data.get("text"), **{k: data[k] for k in fields if k in data})
