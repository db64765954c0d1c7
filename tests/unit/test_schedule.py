"""Active hours and dim schedule (core/schedule.py): pure functions at aware times."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ledmatrix_mqtt.core.schedule import parse_dim_schedule, parse_schedule, phase_at
from ledmatrix_mqtt.errors import ConfigError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC


def at(zone: ZoneInfo, *args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone, fold=fold)  # type: ignore[misc]


def hours(start: str, end: str, **extra: object) -> dict[str, object]:
    return {"enabled": True, "start_time": start, "end_time": end, **extra}


def test_global_window_inside_and_outside() -> None:
    s = parse_schedule(hours("07:00", "23:00"))
    noon = phase_at(s, at(BERLIN, 2025, 6, 2, 12, 0))
    assert noon.active
    assert noon.since == at(BERLIN, 2025, 6, 2, 7, 0)
    assert noon.until == at(BERLIN, 2025, 6, 2, 23, 0)
    late = phase_at(s, at(BERLIN, 2025, 6, 2, 23, 30))
    assert not late.active
    assert late.until == at(BERLIN, 2025, 6, 3, 7, 0)
    assert phase_at(s, at(BERLIN, 2025, 6, 2, 23, 0)).active is False  # the end is exclusive
    assert phase_at(s, at(BERLIN, 2025, 6, 2, 7, 0)).active is True


def test_window_across_midnight() -> None:
    s = parse_schedule(hours("22:00", "06:00"))
    night = phase_at(s, at(BERLIN, 2025, 6, 3, 1, 0))
    assert night.active
    assert night.since == at(BERLIN, 2025, 6, 2, 22, 0)
    assert night.until == at(BERLIN, 2025, 6, 3, 6, 0)
    assert not phase_at(s, at(BERLIN, 2025, 6, 3, 12, 0)).active


def test_per_day_mode_disabled_day_and_own_times() -> None:
    s = parse_schedule({
        "enabled": True, "mode": "per-day", "start_time": "07:00", "end_time": "23:00",
        "days": {"saturday": {"enabled": False}, "sunday": {"start_time": "09:00"}},
    })  # fmt: skip
    saturday_noon = phase_at(s, at(BERLIN, 2025, 6, 7, 12, 0))
    assert not saturday_noon.active
    assert saturday_noon.since == at(BERLIN, 2025, 6, 6, 23, 0)  # Friday's end
    assert saturday_noon.until == at(BERLIN, 2025, 6, 8, 9, 0)  # Sunday's own start
    assert phase_at(s, at(BERLIN, 2025, 6, 2, 8, 0)).active  # Monday: the global times


def test_equal_times_mean_the_whole_day_with_no_edges() -> None:
    s = parse_schedule(hours("07:00", "07:00"))
    phase = phase_at(s, at(BERLIN, 2025, 6, 2, 3, 0))
    assert phase.active and phase.since is None and phase.until is None


def test_disabled_schedule_is_always_active() -> None:
    phase = phase_at(parse_schedule({"start_time": "07:00"}), at(BERLIN, 2025, 6, 2, 3, 0))
    assert phase.active and phase.edge is None


def test_start_inside_the_spring_forward_gap_opens_after_the_gap_berlin() -> None:
    s = parse_schedule(hours("02:30", "23:00"))  # 2025-03-30 02:00-03:00 does not exist
    phase = phase_at(s, at(BERLIN, 2025, 3, 30, 4, 0))
    assert phase.active
    assert phase.since == dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # 03:00 CEST
    before = phase_at(s, dt.datetime(2025, 3, 30, 0, 59, tzinfo=UTC).astimezone(BERLIN))
    assert not before.active


def test_end_in_the_repeated_autumn_hour_closes_at_its_first_occurrence_berlin() -> None:
    s = parse_schedule(hours("22:00", "02:30"))  # 2025-10-26 02:00-03:00 happens twice
    first = dt.datetime(2025, 10, 26, 0, 29, tzinfo=UTC).astimezone(BERLIN)  # 02:29 CEST
    assert phase_at(s, first).active
    second = dt.datetime(2025, 10, 26, 1, 29, tzinfo=UTC).astimezone(BERLIN)  # 02:29 CET
    phase = phase_at(s, second)
    assert not phase.active
    # compared as instants: an aware time in the repeated hour never equals another zone's
    assert phase.since.timestamp() == dt.datetime(2025, 10, 26, 0, 30, tzinfo=UTC).timestamp()


def test_overnight_window_over_the_spring_forward_night_new_york() -> None:
    s = parse_schedule(hours("23:00", "07:00"))  # 2025-03-09: 02:00 EST -> 03:00 EDT
    phase = phase_at(s, at(NEW_YORK, 2025, 3, 9, 4, 0))
    assert phase.active
    assert phase.since == dt.datetime(2025, 3, 9, 4, 0, tzinfo=UTC)  # 23:00 EST
    assert phase.until == dt.datetime(2025, 3, 9, 11, 0, tzinfo=UTC)  # 07:00 EDT: 7 h later
    assert not phase_at(s, at(NEW_YORK, 2025, 3, 9, 7, 30)).active


def test_overnight_window_over_the_fall_back_night_new_york() -> None:
    s = parse_schedule(hours("23:00", "07:00"))  # 2025-11-02: 02:00 EDT -> 01:00 EST
    phase = phase_at(s, at(NEW_YORK, 2025, 11, 2, 1, 30, fold=1))  # the second 01:30
    assert phase.active
    assert (
        phase.until.timestamp() - phase.since.timestamp() == 9 * 3600
    )  # aware, same zone: wall-time arithmetic would say 8


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        phase_at(parse_schedule(hours("07:00", "23:00")), dt.datetime(2025, 6, 2, 12, 0))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"start_time": "7am"}, "schedule.start_time"),
        ({"start_time": 700}, "schedule.start_time"),
        ({"mode": "weekly"}, "schedule.mode"),
        ({"enabled": "maybe"}, "schedule.enabled"),
        ({"days": {"monday": {"end_time": "24:00"}}}, "schedule.days.monday.end_time"),
        ({"days": {"funday": {}}}, "schedule.days.funday"),
        ({"start": "07:00"}, "schedule.start"),
    ],
)
def test_bad_schedule_names_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_schedule(raw)
    assert info.value.key == key


def test_schedule_enabled_reads_the_same_words_as_every_other_flag() -> None:
    """``schedule.enabled: off`` was refused while ``plugins.x.enabled: off`` was false."""
    assert parse_schedule({"enabled": "yes"}).enabled is True
    assert parse_schedule({"enabled": "off"}).enabled is False
    per_day = parse_schedule({"mode": "per-day", "days": {"monday": {"enabled": "no"}}})
    assert parse_schedule(per_day.to_dict()) == per_day
    assert per_day.to_dict()["days"]["monday"]["enabled"] is False


def test_dim_schedule_has_a_brightness_and_round_trips() -> None:
    dim = parse_dim_schedule(hours("22:00", "06:00", dim_brightness=10))
    assert dim.brightness == 10
    assert parse_dim_schedule(dim.to_dict()) == dim
    with pytest.raises(ConfigError) as info:
        parse_dim_schedule({"dim_brightness": 101})
    assert info.value.key == "dim_schedule.dim_brightness"
    per_day = parse_schedule({"mode": "per-day", "days": {"friday": {"enabled": False}}})
    assert parse_schedule(per_day.to_dict()) == per_day


def test_config_file_keys_are_checked_and_kept_raw() -> None:
    from ledmatrix_mqtt.core.config_model import parse_config

    block = {"enabled": True, "start_time": "07:00", "end_time": "23:00"}
    config = parse_config({"schedule": block, "dim_schedule": {"dim_brightness": 5}})
    assert dict(config.schedule) == block
    assert parse_dim_schedule(config.dim_schedule).brightness == 5
    with pytest.raises(ConfigError) as info:
        parse_config({"schedule": {"days": {"monday": {"end_time": "25:00"}}}}, path="c.yaml")
    assert (info.value.key, info.value.path) == ("schedule.days.monday.end_time", "c.yaml")
