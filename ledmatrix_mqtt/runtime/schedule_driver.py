"""Applies the active-hours and dim schedules to the panel at their edges.

The rule for manual commands: the schedule acts only when its phase changes
(an edge: the start or end of active hours or of the dim hours, or the
schedule itself being changed). Between edges a manual ``power`` or
``brightness`` command stands; at the next edge the schedule takes over
again. So "power on" at 01:00 inside off-hours keeps the panel on until the
hours start (then it stays on, as scheduled) and "brightness 80" during dim
hours lasts until they end. The first tick after start-up applies the
current phase.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.core.schedule import (
    Phase,
    Schedule,
    ScheduleState,
    parse_dim_schedule,
    parse_schedule,
    phase_at,
)

_PhaseKey = tuple[bool, float | None]


@dataclass(frozen=True)
class Changes:
    """What the schedule sets now; None where nothing changed since the last tick."""

    power: bool | None = None
    dimmed: bool | None = None


def _key(phase: Phase) -> _PhaseKey:
    return (phase.active, phase.edge)


class _PhaseCache:
    """``phase_at`` for one schedule, recomputed only outside the phase it last returned
    (the render thread asks up to 60 times a second; a phase lasts hours)."""

    def __init__(self) -> None:
        self._phase: Phase | None = None
        self._schedule: Schedule | None = None

    def get(self, schedule: Schedule, now: dt.datetime) -> Phase:
        phase, instant = self._phase, now.timestamp()
        if phase is not None and schedule is self._schedule:
            after_start = phase.since is None or phase.since.timestamp() <= instant
            before_end = phase.until is None or instant < phase.until.timestamp()
            if after_start and before_end:
                return phase
        self._phase, self._schedule = phase_at(schedule, now), schedule
        return self._phase


class ScheduleDriver:
    """Thread-safe. ``due(now)`` on each render tick, setters from any thread."""

    def __init__(
        self, schedule: Mapping[str, Any] | None = None, dim: Mapping[str, Any] | None = None
    ) -> None:
        """Raw LEDMatrix-shaped blocks; ``ConfigError`` naming the key if invalid."""
        self._lock = threading.Lock()
        self._schedule = parse_schedule(schedule or {})
        self._dim = parse_dim_schedule(dim or {})
        self._applied: tuple[_PhaseKey | None, _PhaseKey | None] = (None, None)
        self._hours_cache = _PhaseCache()
        self._dim_cache = _PhaseCache()

    def set(
        self, schedule: Mapping[str, Any] | None = None, dim: Mapping[str, Any] | None = None
    ) -> None:
        """Replace either schedule (None keeps it); it is applied at the next tick."""
        parsed = parse_schedule(schedule) if schedule is not None else None
        parsed_dim = parse_dim_schedule(dim) if dim is not None else None
        with self._lock:
            if parsed is not None:
                self._schedule = parsed
                self._applied = (None, self._applied[1])
            if parsed_dim is not None:
                self._dim = parsed_dim
                self._applied = (self._applied[0], None)

    @property
    def dim_brightness(self) -> int:
        with self._lock:
            return self._dim.brightness

    def due(self, now: dt.datetime) -> Changes:
        """The settings to apply at ``now`` (aware): only what an edge changed."""
        with self._lock:
            hours = self._hours_cache.get(self._schedule, now)
            dim = self._dim_cache.get(self._dim.hours, now)
            dim = Phase(dim.active and self._dim.hours.enabled, dim.since, dim.until)
            keys = (_key(hours), _key(dim))
            applied, self._applied = self._applied, keys
        return Changes(
            power=hours.active if keys[0] != applied[0] else None,
            dimmed=dim.active if keys[1] != applied[1] else None,
        )

    def state(self, now: dt.datetime) -> ScheduleState:
        with self._lock:
            schedule, dim = self._schedule, self._dim
        hours, dimmed = phase_at(schedule, now), phase_at(dim.hours, now)
        edges = [p.until.timestamp() for p in (hours, dimmed) if p.until is not None]
        return ScheduleState(
            schedule, dim, hours.active, dimmed.active and dim.hours.enabled,
            min(edges) if edges else None,
        )  # fmt: skip
