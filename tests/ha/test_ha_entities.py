"""Home Assistant's own ``mqtt`` integration loads every entity the service announces,
each with its value, and follows the service's availability."""

from __future__ import annotations

import signal

import pytest

from tests.ha.harness import BASE, BUILTINS, ServiceProcess, Watch, discovered_unique_ids, retained
from tests.ha.hass_helpers import UNSET, HaView, assert_clean_log, until
from tests.support.mosquitto import MosquittoBroker


def stateful(ha: HaView) -> list[str]:
    """Entities that must hold a value: all enabled ones except buttons and the notify
    entity, whose state in HA is the time of the last press or message (``unknown``
    until used, by design)."""
    return [
        e.entity_id
        for e in ha.entries()
        if e.disabled_by is None and e.domain not in ("button", "notify")
    ]


def unset(ha: HaView) -> dict[str, str | None]:
    return {e: ha.value(e) for e in stateful(ha) if ha.value(e) in (*UNSET, None)}


def all_loaded(ha: HaView, announced: set[str]) -> bool:
    return ha.unique_ids() == announced and all(
        ha.value(e.entity_id) is not None for e in ha.entries() if e.disabled_by is None
    )


async def test_every_discovered_entity_loads_with_the_right_state_and_no_log_noise(
    ha: HaView, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    announced = discovered_unique_ids(watch)
    assert len(announced) >= 10, announced
    await until(ha.hass, lambda: all_loaded(ha, set(announced)), 30, "every entity loaded")
    light = ha.entity_id("panel", "light")
    show = ha.entity_id("show", "select")
    count = ha.entity_id("installed_count", "sensor")
    updates = [ha.entity_id(f"plugin_{p}_update", "update") for p in BUILTINS]
    switches = [ha.entity_id(f"plugin_{p}_enabled", "switch") for p in BUILTINS]
    await until(
        ha.hass,
        lambda: all(ha.value(e) not in UNSET for e in (light, show, count, *updates, *switches)),
        20,
        lambda: f"the panel and plugin entities have values; without: {unset(ha)}",
    )
    for entry in ha.entries():
        if entry.domain in ("button", "notify") and entry.disabled_by is None:
            assert ha.value(entry.entity_id) == "unknown", entry.entity_id  # available
    assert ha.value(light) == "on"
    assert ha.attr(light, "brightness") == round(80 * 255 / 100)  # the configured 80 %
    assert ha.value(count) == str(len(BUILTINS))
    assert ha.value(show) in BUILTINS and set(BUILTINS) <= set(ha.attr(show, "options"))
    for update in updates:
        assert ha.value(update) == "off", (update, ha.state(update).attributes)
        assert ha.attr(update, "installed_version") == ha.attr(update, "latest_version")
        assert ha.attr(update, "installed_version"), update
    assert all(ha.value(s) == "on" for s in switches)
    assert_clean_log(caplog)


async def test_every_entity_has_its_value_after_start_up(ha: HaView, watch: Watch) -> None:
    """Nothing a user sees right after start-up is ``unknown`` (buttons aside)."""
    await until(ha.hass, lambda: all_loaded(ha, set(discovered_unique_ids(watch))), 30, "loaded")
    try:
        await until(
            ha.hass,
            lambda: all(ha.value(e) not in UNSET for e in stateful(ha)),
            20,
            lambda: f"every entity has its value; without: {unset(ha)}",
        )
    finally:
        # What a user sees right after start-up (shown with -s, or when this fails).
        print("\n".join(f"{e.entity_id:45} {ha.value(e.entity_id)!r}" for e in ha.entries()))


async def test_service_offline_makes_every_entity_unavailable_and_back(
    ha: HaView,
    watch: Watch,
    broker: MosquittoBroker,
    service: ServiceProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    announced = set(discovered_unique_ids(watch))
    await until(ha.hass, lambda: all_loaded(ha, announced), 30, "every entity loaded")
    enabled = [e.entity_id for e in ha.entries() if e.disabled_by is None]
    light = ha.entity_id("panel", "light")
    await until(ha.hass, lambda: ha.value(light) == "on", 20, "the light is on")
    had_value = [e for e in stateful(ha) if ha.value(e) not in UNSET]

    # A clean stop publishes "offline" itself.
    assert service.stop(signal.SIGTERM) == 0, service.log()
    assert retained(broker, f"{BASE}/availability") == b"offline"
    await until(
        ha.hass,
        lambda: all(ha.value(e) == "unavailable" for e in enabled),
        15,
        "every entity unavailable after a clean stop",
    )

    # Back online: the same entities (no duplicates), with their values again.
    service.start()
    await until(ha.hass, lambda: ha.value(light) == "on", 30, "the light back on")
    await until(
        ha.hass,
        lambda: all(ha.value(e) not in UNSET for e in had_value),
        20,
        lambda: f"every entity has its value again; without: {unset(ha)}",
    )
    assert ha.unique_ids() == announced

    # A crash: the broker publishes the service's last will.
    service.stop(signal.SIGKILL)
    await until(
        ha.hass,
        lambda: all(ha.value(e) == "unavailable" for e in enabled),
        30,
        "every entity unavailable after a crash (last will)",
    )
    assert_clean_log(caplog)


async def test_home_assistant_restart_loads_every_entity_from_retained_discovery(
    ha: HaView, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    """HA restarting while the service runs: everything comes from retained messages."""
    hass = ha.hass
    announced = set(discovered_unique_ids(watch))
    (entry,) = hass.config_entries.async_entries("mqtt")
    had_value = [e for e in stateful(ha) if ha.value(e) not in UNSET]
    caplog.clear()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await until(hass, lambda: all_loaded(ha, announced), 30, "every entity loaded again")
    await until(
        hass,
        lambda: all(ha.value(e) not in UNSET for e in had_value),
        20,
        lambda: f"every entity has its value again; without: {unset(ha)}",
    )
    assert ha.unique_ids() == announced
    assert_clean_log(caplog)


@pytest.mark.parametrize("ha", ["service_first"], indirect=True)
async def test_home_assistant_starting_after_the_service_loads_every_entity(
    ha: HaView, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    """The usual morning: the panel ran all night, HA boots and reads retained discovery."""
    announced = set(discovered_unique_ids(watch))
    await until(ha.hass, lambda: all_loaded(ha, announced), 30, "every entity loaded")
    assert ha.value(ha.entity_id("panel", "light")) == "on"
    assert_clean_log(caplog)
