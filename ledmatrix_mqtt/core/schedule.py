"""Active hours and the dim schedule: LEDMatrix's config shapes, evaluated at an aware time.

Pure: no clock, no I/O. Accepted shapes (LEDMatrix's ``schedule`` and
``dim_schedule`` blocks)::

    schedule:
      enabled: true
      mode: global            # or per-day
      start_time: "07:00"     # HH:MM in the device's time zone
      end_time: "23:00"       # an end at or before the start spans midnight
      days:                   # per-day mode only
        monday: {enabled: true, start_time: "06:30", end_time: "22:00"}
        ...
    dim_schedule:             # the same shape, plus
      dim_brightness: 20      # 0-100, used while inside its hours

Rules: a window opens on day D at ``start_time`` and closes at ``end_time`` on
D (or D+1 when the end is not after the start, e.g. 22:00-07:00); equal times
mean the whole day. In per-day mode a day not listed uses the global times, a
day with ``enabled: false`` has no window (the panel stays off that day). Wall
times are resolved in the given zone on each date, so windows follow DST: a
start inside a spring-forward gap opens at the first instant after the gap,
and an end in the repeated autumn hour closes at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.config_reader import as_flag
from ledmatrix_mqtt.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MODES = ("global", "per-day")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_KEYS = ("enabled", "mode", "start_time", "end_time", "days")
_DAY_KEYS = ("enabled", "start_time", "end_time")
DEFAULT_START = dt.time(7, 0)
DEFAULT_END = dt.time(23, 0)
DIM_DEFAULT_START = dt.time(22, 0)  # dim hours default to the night
DIM_DEFAULT_END = dt.time(7, 0)


@dataclass(frozen=True)
class DayWindow:
    enabled: bool
    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class Schedule:
    """One parsed ``schedule`` (or the hours of a ``dim_schedule``)."""

    enabled: bool = False
    mode: str = "global"
    start: dt.time = DEFAULT_START
    end: dt.time = DEFAULT_END
    days: tuple[DayWindow, ...] = ()  # seven entries (Monday first) in per-day mode

    def window_on(self, day: dt.date) -> DayWindow:
        if self.mode == "per-day" and self.days:
            return self.days[day.weekday()]
        return DayWindow(True, self.start, self.end)

    def to_dict(self) -> dict[str, Any]:
        """The LEDMatrix shape again (what ``parse_schedule`` reads)."""
        out: dict[str, Any] = {
            "enabled": self.enabled, "mode": self.mode,
            "start_time": _hhmm(self.start), "end_time": _hhmm(self.end),
        }  # fmt: skip
        if self.days:
            out["days"] = {
                name: {"enabled": d.enabled, "start_time": _hhmm(d.start), "end_time": _hhmm(d.end)}
                for name, d in zip(WEEKDAYS, self.days, strict=True)
            }
        return out


@dataclass(frozen=True)
class DimSchedule:
    hours: Schedule = Schedule(start=DIM_DEFAULT_START, end=DIM_DEFAULT_END)
    brightness: int = 30

    def to_dict(self) -> dict[str, Any]:
        return {**self.hours.to_dict(), "dim_brightness": self.brightness}


@dataclass(frozen=True)
class Phase:
    """Whether ``now`` is inside the hours, and the edges around it (None: no edge)."""

    active: bool
    since: dt.datetime | None
    until: dt.datetime | None

    @property
    def edge(self) -> float | None:
        """The instant the phase began (POSIX seconds): identifies the phase."""
        return None if self.since is None else self.since.timestamp()


def _hhmm(value: dt.time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(message, key=key)


def _time(value: object, key: str, default: dt.time) -> dt.time:
    if value is None:
        return default
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(key, 'must be a time "HH:MM" (00:00-23:59), quoted in YAML')
    return dt.time(int(match.group(1)), int(match.group(2)))


def _flag(value: object, key: str, default: bool) -> bool:
    if value is None:
        return default
    flag = as_flag(value)  # the package's one boolean rule
    if flag is None:
        raise _fail(key, "must be true or false")
    return flag


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(key, "must be a mapping")
    return value


def _unknown(data: Mapping[str, Any], known: tuple[str, ...], key: str) -> None:
    extra = sorted(str(k) for k in set(data) - set(known))
    if extra:
        raise _fail(f"{key}.{extra[0]}", f"unknown key (known keys: {', '.join(known)})")


def parse_schedule(
    raw: object,
    key: str = "schedule",
    extra: tuple[str, ...] = (),
    defaults: tuple[dt.time, dt.time] = (DEFAULT_START, DEFAULT_END),
) -> Schedule:
    """A ``Schedule`` from LEDMatrix's shape; ``ConfigError`` naming the key otherwise."""
    data = _mapping(raw, key)
    _unknown(data, _KEYS + extra, key)
    mode = data.get("mode", "global")
    if mode not in MODES:
        raise _fail(f"{key}.mode", f"must be one of {', '.join(MODES)}")
    start = _time(data.get("start_time"), f"{key}.start_time", defaults[0])
    end = _time(data.get("end_time"), f"{key}.end_time", defaults[1])
    days_raw = _mapping(data.get("days"), f"{key}.days")
    _unknown(days_raw, WEEKDAYS, f"{key}.days")
    days = []
    for name in WEEKDAYS:
        where = f"{key}.days.{name}"
        day = _mapping(days_raw.get(name), where)
        _unknown(day, _DAY_KEYS, where)
        days.append(
            DayWindow(
                _flag(day.get("enabled"), f"{where}.enabled", True),
                _time(day.get("start_time"), f"{where}.start_time", start),
                _time(day.get("end_time"), f"{where}.end_time", end),
            )
        )
    return Schedule(
        enabled=_flag(data.get("enabled"), f"{key}.enabled", False),
        mode=mode, start=start, end=end,
        days=tuple(days) if mode == "per-day" else (),
    )  # fmt: skip


def parse_dim_schedule(raw: object, key: str = "dim_schedule") -> DimSchedule:
    night = (DIM_DEFAULT_START, DIM_DEFAULT_END)
    hours = parse_schedule(raw, key, extra=("dim_brightness",), defaults=night)
    level = _mapping(raw, key).get("dim_brightness", 30)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
        raise _fail(f"{key}.dim_brightness", "must be an integer from 0 to 100")
    return DimSchedule(hours, level)


def _at(day: dt.date, clock: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """The instant wall time ``clock`` happens on ``day`` (first occurrence; after a gap)."""
    naive = dt.datetime.combine(day, clock)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # in a spring-forward gap: the first minute whose wall time is at or past ``clock``
    instant = naive.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    while instant < first and instant.astimezone(zone).replace(tzinfo=None) < naive:
        instant += dt.timedelta(minutes=1)
    return instant


Window = tuple[dt.datetime, dt.datetime]


def _windows(schedule: Schedule, around: dt.date, zone: dt.tzinfo) -> list[Window]:
    out = []
    for offset in range(-8, 9):  # a week either side: per-day mode may skip six days
        day = around + dt.timedelta(days=offset)
        window = schedule.window_on(day)
        if not window.enabled:
            continue
        start = _at(day, window.start, zone)
        end_day = day if window.end > window.start else day + dt.timedelta(days=1)
        end = _at(end_day, window.end, zone)
        out.append((start, end))
    return out


def phase_at(schedule: Schedule, now: dt.datetime) -> Phase:
    """The phase of ``schedule`` at ``now`` (timezone-aware, in the device's zone).

    A disabled schedule is always active with no edges.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not schedule.enabled:
        return Phase(True, None, None)
    zone = now.tzinfo
    instant = now.astimezone(dt.UTC)
    windows = _windows(schedule, now.date(), zone)

    def inside(t: dt.datetime) -> bool:
        return any(start <= t < end for start, end in windows)

    tick = dt.timedelta(microseconds=1)
    near = dt.timedelta(days=7)  # the outermost windows' far ends are not real edges
    # only boundaries where the state changes are edges (touching windows are not)
    edges = sorted(
        t for w in windows for t in w
        if abs(t - instant) <= near and inside(t) != inside(t - tick)
    )  # fmt: skip
    active = inside(instant)
    since = max((t for t in edges if t <= instant), default=None)
    until = min((t for t in edges if t > instant), default=None)
    return Phase(
        active,
        since.astimezone(zone) if since else None,
        until.astimezone(zone) if until else None,
    )


@dataclass(frozen=True)
class ScheduleState:
    """What ``DisplayController.schedule_state()`` returns."""

    schedule: Schedule
    dim_schedule: DimSchedule
    active: bool  # inside active hours (always, when the schedule is off)
    dimmed: bool  # inside dim hours
    next_change: float | None  # POSIX seconds of the next edge of either schedule

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_dict(),
            "dim_schedule": self.dim_schedule.to_dict(),
            "active": self.active,
            "dimmed": self.dimmed,
            "next_change": self.next_change,
        }
