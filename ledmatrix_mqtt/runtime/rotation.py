"""The rotation policy: which plugin (and display mode) is on the panel, and until when.

Pure functions over frozen values; no clock, threads or plugins. The render
loop asks :func:`choose` on every tick with the current time and a predicate
telling which plugins may be shown now (loaded, not cooling down).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

DEFAULT_DURATION_S = 15.0


@dataclass(frozen=True)
class Slot:
    """One rotation entry: a plugin's display mode shown for ``duration`` seconds."""

    plugin_id: str
    mode: str
    duration: float = DEFAULT_DURATION_S


@dataclass(frozen=True)
class Pin:
    """An on-demand "show this plugin": until ``until`` (monotonic) or, if None, until resumed."""

    plugin_id: str
    until: float | None = None


@dataclass(frozen=True)
class RotationState:
    slot: Slot | None = None
    started_at: float = 0.0
    pin: Pin | None = None
    position: int = -1  # index of ``slot`` in the slot list it was chosen from

    def ends_at(self) -> float | None:
        """When the current slot's dwell ends, or None if idle."""
        if self.slot is None:
            return None
        end = self.started_at + self.slot.duration
        if self.pin is not None and self.pin.until is not None:
            end = min(end, self.pin.until)
        return end


def order_plugins(plugin_ids: Sequence[str], preferred: Sequence[str]) -> tuple[str, ...]:
    """Plugins in ``preferred`` order first (unknown ids ignored), then the rest sorted."""
    known = set(plugin_ids)
    head = [p for p in dict.fromkeys(preferred) if p in known]
    tail = sorted(known - set(head))
    return tuple(head + tail)


def positive_duration(value: object, default: float = DEFAULT_DURATION_S) -> float:
    """A usable dwell time: positive numbers (or numeric strings) pass, anything else -> default."""
    if isinstance(value, bool):
        return default
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _index_of(slots: Sequence[Slot], slot: Slot | None, fallback: int) -> int:
    if slot is not None:
        for i, candidate in enumerate(slots):
            if (candidate.plugin_id, candidate.mode) == (slot.plugin_id, slot.mode):
                return i
    return fallback


def _next_slot(
    slots: Sequence[Slot], after: int, allowed: Callable[[Slot], bool]
) -> tuple[int, Slot] | None:
    count = len(slots)
    for step in range(1, count + 1):
        i = (after + step) % count
        if allowed(slots[i]):
            return i, slots[i]
    return None


def _expire_pin(state: RotationState, now: float, eligible: Callable[[str], bool]) -> Pin | None:
    pin = state.pin
    if pin is None:
        return None
    if pin.until is not None and now >= pin.until:
        return None
    if not eligible(pin.plugin_id):
        return None
    return pin


def choose(
    state: RotationState,
    slots: Sequence[Slot],
    now: float,
    *,
    eligible: Callable[[str], bool],
    advance: bool = False,
) -> RotationState:
    """The rotation state for ``now``.

    Keeps the current slot while its dwell lasts, it is still listed and its
    plugin eligible; otherwise (or when ``advance``) moves to the next eligible
    slot in order. A live pin restricts the choice to the pinned plugin's modes;
    an expired pin, or one whose plugin became ineligible, is dropped.
    """
    pin = _expire_pin(state, now, eligible)
    pin_changed = pin != state.pin
    if pin is not None:

        def allowed(s: Slot) -> bool:
            return s.plugin_id == pin.plugin_id

    else:

        def allowed(s: Slot) -> bool:
            return eligible(s.plugin_id)

    index = _index_of(slots, state.slot, state.position)
    current_ok = (
        state.slot is not None
        and index < len(slots)
        and slots[index] == state.slot
        and allowed(state.slot)
    )
    end = state.started_at + state.slot.duration if state.slot else now
    if current_ok and not advance and not pin_changed and now < end:
        return replace(state, pin=pin, position=index)
    if not slots:
        return RotationState(pin=pin)
    found = _next_slot(slots, index if index >= 0 else -1, allowed)
    if found is None:
        return RotationState(pin=pin, position=index)
    position, slot = found
    return RotationState(slot=slot, started_at=now, pin=pin, position=position)


def pin(state: RotationState, plugin_id: str, until: float | None) -> RotationState:
    """Hold ``plugin_id`` on the panel; the next :func:`choose` switches to it."""
    return RotationState(
        slot=state.slot, started_at=state.started_at, pin=Pin(plugin_id, until),
        position=state.position,
    )  # fmt: skip


def unpin(state: RotationState) -> RotationState:
    """Drop any pin; the rotation resumes after the current plugin."""
    return replace(state, pin=None)
