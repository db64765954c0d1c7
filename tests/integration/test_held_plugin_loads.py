"""Plugin loads held while the service gets online: parked without a thread, then released
(all at once, or the boot plugin first), each loading once with its latest config."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledmatrix_mqtt.core.config_model import DeviceConfig
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.spec import builtin_specs
from tests.support.headless_display import headless_controllers
from tests.support.waiting import wait_until


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[DisplayController]:
    device = DeviceConfig("panel", "Test Panel", "UTC")
    with headless_controllers(tmp_path / "state", device) as build:
        yield build({})


def test_held_loads_wait_for_release_and_sync_returns_without_waiting(
    controller: DisplayController,
) -> None:
    """At service start-up 50 plugin loads competed with getting online on a slow CPU
    (5 s to online under a 25 % quota); held, they start once the service is online."""
    c = controller
    c.hold_loads()
    started = time.monotonic()
    c.sync_plugins(builtin_specs({}))
    assert time.monotonic() - started < 0.4, "sync waited for held loads"
    assert not wait_until(lambda: c.plugins.loaded_ids(), timeout=1.0), "loaded while held"
    assert not load_threads(), "a held load started a thread before its release"
    c.release_loads()
    assert wait_until(lambda: set(c.plugins.loaded_ids()) == {"clock", "status", "text"}, 10)


def load_threads() -> list[str]:
    """Load threads of the built-ins (an earlier test's hung load may still be running)."""
    mine = {f"load-{p}" for p in ("clock", "status", "text")}
    return [t.name for t in threading.enumerate() if t.name in mine]


def test_a_held_load_changed_before_its_release_loads_once_with_the_new_config(
    controller: DisplayController,
) -> None:
    c = controller
    c.hold_loads()
    c.sync_plugins(builtin_specs({}))
    c.sync_plugins(builtin_specs({"text": {"enabled": False}}))
    c.release_loads()
    assert wait_until(lambda: set(c.plugins.loaded_ids()) == {"clock", "status"}, 10)
    assert not wait_until(lambda: "text" in c.plugins.loaded_ids(), timeout=0.5), "disabled"
    assert not any(s.loading for s in c.runtime_status())


def test_released_boot_plugin_loads_while_the_other_held_loads_keep_waiting(
    controller: DisplayController,
) -> None:
    c = controller
    c.hold_loads()
    c.sync_plugins(builtin_specs({}))
    c.release_loads({"clock"})
    assert wait_until(lambda: c.plugins.loaded_ids() == ("clock",), 10)
    assert not wait_until(lambda: len(c.plugins.loaded_ids()) > 1, timeout=0.5), "not released"
    loading = {s.plugin_id for s in c.runtime_status() if s.loading}
    assert loading == {"status", "text"}
    c.release_loads()
    assert wait_until(lambda: set(c.plugins.loaded_ids()) == {"clock", "status", "text"}, 10)
    assert not any(s.loading for s in c.runtime_status())
