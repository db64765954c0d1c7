"""The persistent uninstall record and the uninstall tombstone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.records import UninstallRecords
from tests.support.plugin_factory import fresh_state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def layout(tmp_path: Path) -> StateLayout:
    return fresh_state(tmp_path)


def test_record_and_forget_persist_across_instances(layout: StateLayout) -> None:
    UninstallRecords(layout).record_uninstalled("clock")
    UninstallRecords(layout).record_uninstalled("weather")
    fresh = UninstallRecords(layout)
    assert fresh.uninstalled() == {"clock", "weather"}
    assert json.loads((layout.records / "uninstalled.json").read_text()) == ["clock", "weather"]
    fresh.forget("clock", "not-there")
    assert UninstallRecords(layout).uninstalled() == {"weather"}
    assert not UninstallRecords(layout).is_uninstalled("clock")


def test_forget_without_change_does_not_write(layout: StateLayout) -> None:
    records = UninstallRecords(layout)
    records.forget("clock")
    assert not (layout.records / "uninstalled.json").exists()


def test_empty_id_in_file_is_dropped_regression_d22d0a37(
    layout: StateLayout, caplog: pytest.LogCaptureFixture
) -> None:
    """Upstream d22d0a37 (#368): an empty id in the record would have purged the whole
    plugins folder. Invalid ids in the file are dropped with a warning."""
    (layout.records / "uninstalled.json").write_text(json.dumps(["", "..", "/", "ok", 7]))
    with caplog.at_level(logging.WARNING):
        assert UninstallRecords(layout).uninstalled() == {"ok"}
    assert "invalid plugin id" in caplog.text


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "null", "\x00\xff"])
def test_corrupt_file_reads_as_empty(
    layout: StateLayout, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (layout.records / "uninstalled.json").write_text(content, encoding="latin-1")
    with caplog.at_level(logging.WARNING):
        records = UninstallRecords(layout)
        assert records.uninstalled() == frozenset()
    assert caplog.records
    records.record_uninstalled("clock")  # and a corrupt file is replaced by a good one
    assert UninstallRecords(layout).uninstalled() == {"clock"}


def test_tombstone_expires_after_ttl_and_survives_restart(layout: StateLayout) -> None:
    clock = Clock()
    UninstallRecords(layout, clock=clock).record_uninstalled("clock")
    restarted = UninstallRecords(layout, clock=clock, tombstone_seconds=300)
    assert restarted.tombstoned("clock")
    clock.now += 299
    assert restarted.tombstoned("clock")
    clock.now += 2
    assert not restarted.tombstoned("clock")
    assert restarted.is_uninstalled("clock")  # the record outlives the tombstone
    restarted.prune_tombstones()
    assert json.loads((layout.records / "tombstones.json").read_text()) == {}


def test_tombstone_with_explicit_now(layout: StateLayout) -> None:
    records = UninstallRecords(layout, clock=Clock())
    records.record_uninstalled("clock")
    assert records.tombstoned("clock", now=1100.0)
    assert not records.tombstoned("clock", now=2000.0)
    assert not records.tombstoned("clock", now=500.0)  # clock went backwards: not trusted
    assert not records.tombstoned("weather", now=1000.0)


def test_forget_clears_tombstone(layout: StateLayout) -> None:
    records = UninstallRecords(layout, clock=Clock())
    records.record_uninstalled("clock")
    records.forget("clock")
    assert not records.tombstoned("clock")
    assert not records.is_uninstalled("clock")


def test_corrupt_tombstones_ignored(layout: StateLayout) -> None:
    (layout.records / "tombstones.json").write_text(json.dumps({"": 1, "ok": "x", "b": 1000}))
    records = UninstallRecords(layout, clock=Clock())
    assert records.tombstoned("b")
    assert not records.tombstoned("ok")


def test_tombstones_file_does_not_grow_with_every_uninstall(layout: StateLayout) -> None:
    """prune_tombstones was never called, so tombstones.json kept every id ever removed."""
    clock = Clock()
    records = UninstallRecords(layout, clock=clock, tombstone_seconds=300)
    for index in range(50):
        records.record_uninstalled(f"plugin-{index}")
        clock.now += 301
    stones = json.loads((layout.records / "tombstones.json").read_text())
    assert list(stones) == ["plugin-49"]
    assert len(records.uninstalled()) == 50  # the record itself is kept
