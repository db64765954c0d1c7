"""ScheduleDriver: settings change only at schedule edges (manual commands stand between)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ledmatrix_mqtt.runtime.schedule_driver import Changes, ScheduleDriver

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = {"enabled": True, "start_time": "07:00", "end_time": "23:00"}
DIM = {"enabled": True, "start_time": "22:00", "end_time": "06:00", "dim_brightness": 10}


def at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, minute, tzinfo=BERLIN)


def test_first_tick_applies_the_phase_then_only_edges_change_anything() -> None:
    driver = ScheduleDriver(HOURS, DIM)
    assert driver.due(at(12)) == Changes(power=True, dimmed=False)
    assert driver.due(at(13)) == Changes()  # same phases: manual settings stand
    assert driver.due(at(22, 30)) == Changes(dimmed=True)
    assert driver.due(at(23, 30)) == Changes(power=False)
    assert driver.due(at(6, 30, day=3)) == Changes(dimmed=False)
    assert driver.due(at(7, 0, day=3)) == Changes(power=True)


def test_a_clock_set_back_is_a_new_phase_not_a_stale_cached_one() -> None:
    driver = ScheduleDriver(HOURS)
    driver.due(at(12))
    assert driver.due(at(23, 30)) == Changes(power=False)
    assert driver.due(at(12)) == Changes(power=True)


def test_changing_the_schedule_reapplies_it_at_once() -> None:
    driver = ScheduleDriver(HOURS)
    driver.due(at(12))
    driver.set({"enabled": True, "start_time": "13:00", "end_time": "14:00"})
    assert driver.due(at(12)) == Changes(power=False)
    assert driver.state(at(12)).next_change == at(13).timestamp()
    driver.set(dim=DIM)
    assert driver.due(at(12)) == Changes(dimmed=False)
    assert driver.dim_brightness == 10


def test_disabled_schedules_never_turn_the_panel_off_or_dim_it() -> None:
    driver = ScheduleDriver()
    assert driver.due(at(3)) == Changes(power=True, dimmed=False)
    assert driver.due(at(23)) == Changes()
    state = driver.state(at(3))
    assert (state.active, state.dimmed, state.next_change) == (True, False, None)
