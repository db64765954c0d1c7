"""The pure rotation policy."""

from __future__ import annotations

from ledmatrix_mqtt.runtime.rotation import (
    RotationState,
    Slot,
    choose,
    order_plugins,
    pin,
    positive_duration,
    unpin,
)

A, B, C = Slot("a", "a", 10), Slot("b", "b", 5), Slot("c", "c", 5)
SLOTS = (A, B, C)


def everyone(_: str) -> bool:
    return True


def test_starts_with_first_slot_and_holds_it_for_its_duration() -> None:
    s = choose(RotationState(), SLOTS, 100.0, eligible=everyone)
    assert s.slot == A and s.started_at == 100.0
    assert choose(s, SLOTS, 109.9, eligible=everyone) == s
    assert choose(s, SLOTS, 110.0, eligible=everyone).slot == B


def test_wraps_around_and_skips_ineligible_plugins() -> None:
    s = RotationState(slot=C, started_at=0.0, position=2)
    assert choose(s, SLOTS, 10.0, eligible=everyone).slot == A
    assert choose(s, SLOTS, 10.0, eligible=lambda p: p != "a").slot == B


def test_ineligible_current_plugin_is_left_at_once() -> None:
    s = choose(RotationState(), SLOTS, 0.0, eligible=everyone)
    assert choose(s, SLOTS, 1.0, eligible=lambda p: p != "a").slot == B


def test_advance_moves_on_before_the_dwell_ends() -> None:
    s = choose(RotationState(), SLOTS, 0.0, eligible=everyone)
    assert choose(s, SLOTS, 1.0, eligible=everyone, advance=True).slot == B


def test_nothing_eligible_is_idle() -> None:
    s = choose(RotationState(), SLOTS, 0.0, eligible=lambda p: False)
    assert s.slot is None and s.ends_at() is None
    assert choose(RotationState(), (), 0.0, eligible=everyone).slot is None


def test_removed_current_slot_moves_on_to_its_successor_position() -> None:
    s = RotationState(slot=B, started_at=0.0, position=1)
    assert choose(s, (A, C), 1.0, eligible=everyone).slot == A  # index 1 gone -> after 1 = 0
    s2 = choose(RotationState(slot=A, started_at=0.0, position=0), (A, B, C), 1.0,
                eligible=everyone)  # fmt: skip
    assert s2.slot == A  # list grew, current still valid


def test_timed_pin_holds_plugin_then_resumes_after_it() -> None:
    s = choose(RotationState(), SLOTS, 0.0, eligible=everyone)
    s = choose(pin(s, "c", until=30.0), SLOTS, 1.0, eligible=everyone)
    assert s.slot == C and s.ends_at() == 6.0
    s = choose(s, SLOTS, 6.0, eligible=everyone)  # dwell over: C again while pinned
    assert s.slot == C and s.pin is not None
    s = choose(s, SLOTS, 30.0, eligible=everyone)
    assert s.pin is None and s.slot == A


def test_pin_until_resume_and_unpin() -> None:
    s = choose(pin(RotationState(), "b", until=None), SLOTS, 0.0, eligible=everyone)
    s = choose(s, SLOTS, 10_000.0, eligible=everyone)
    assert s.slot == B
    s = choose(unpin(s), SLOTS, 10_000.0, eligible=everyone, advance=True)
    assert s.slot == C and s.pin is None


def test_pin_of_ineligible_plugin_is_dropped() -> None:
    s = choose(pin(RotationState(), "b", None), SLOTS, 0.0, eligible=lambda p: p != "b")
    assert s.pin is None and s.slot == A


def test_order_plugins_config_order_first_then_sorted() -> None:
    assert order_plugins(["z", "b", "a", "c"], ["c", "unknown", "z"]) == ("c", "z", "a", "b")


def test_positive_duration_rejects_bools_and_non_positive() -> None:
    assert positive_duration("12") == 12.0
    assert positive_duration(True) == 15.0
    assert positive_duration(-3) == 15.0
    assert positive_duration(None, 7.0) == 7.0
