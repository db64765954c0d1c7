"""Which plugin loads at once at start-up, before the service is online."""

from __future__ import annotations

import dataclasses

from ledmatrix_mqtt.app import boot_plugins
from ledmatrix_mqtt.runtime.spec import PluginSpec, builtin_specs


def _specs() -> list[PluginSpec]:
    """The built-ins (clock, status, text) plus a third-party copy of the clock."""
    builtins = builtin_specs({})
    third = dataclasses.replace(builtins[0], id="aaa-weather", builtin=False)
    return [*builtins, third]


def test_first_enabled_builtin_of_the_rotation_loads_at_once() -> None:
    assert boot_plugins(_specs(), ()) == {"clock"}
    assert boot_plugins(_specs(), ("aaa-weather", "text")) == {"text"}


def test_disabled_builtins_leave_the_first_enabled_plugin() -> None:
    specs = [dataclasses.replace(s, enabled=not s.builtin) for s in _specs()]
    assert boot_plugins(specs, ()) == {"aaa-weather"}


def test_nothing_enabled_loads_nothing_early() -> None:
    specs = [dataclasses.replace(s, enabled=False) for s in _specs()]
    assert boot_plugins(specs, ()) == frozenset()
