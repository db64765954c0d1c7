"""Reading Home Assistant from a test: the device, its entities, their states, HA's log.

Waits go through the project's one ``wait_until``, run in HA's executor so the event
loop stays free to process MQTT; each poll evaluates its predicate on the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util.async_ import run_callback_threadsafe

from tests.ha.harness import BASE, DEVICE_ID, IDENTIFIER, PREFIX
from tests.support.waiting import wait_until

UNSET = ("unknown", "unavailable")


async def until(
    hass: HomeAssistant,
    predicate: Callable[[], object],
    timeout: float = 15.0,
    what: str | Callable[[], object] = "",
) -> None:
    """Wait (bounded) until ``predicate`` holds; it runs on HA's event loop.

    ``what`` describes the wait; a callable is evaluated only on failure (diagnostics
    such as the service's last response).
    """

    def on_loop() -> object:
        return run_callback_threadsafe(hass.loop, predicate).result()

    ok = await hass.async_add_executor_job(wait_until, on_loop, timeout)
    if not ok:
        detail = what() if callable(what) else what
        raise AssertionError(f"timed out after {timeout}s waiting until {detail or predicate}")


class HaView:
    """Our device as HA's registries and state machine hold it."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass

    def device(self) -> dr.DeviceEntry | None:
        return dr.async_get(self.hass).async_get_device(identifiers={("mqtt", IDENTIFIER)})

    def entries(self) -> list[er.RegistryEntry]:
        device = self.device()
        if device is None:
            return []
        return er.async_entries_for_device(
            er.async_get(self.hass), device.id, include_disabled_entities=True
        )

    def unique_ids(self) -> set[str]:
        return {e.unique_id for e in self.entries()}

    def entity_id(self, key: str, domain: str) -> str:
        """The entity id of our entity whose unique_id is ``ledmatrix_<device>_<key>``."""
        unique_id = f"{IDENTIFIER}_{key}"
        entity_id = er.async_get(self.hass).async_get_entity_id(domain, "mqtt", unique_id)
        assert entity_id, f"no {domain} entity with unique_id {unique_id}: {self.unique_ids()}"
        return entity_id

    def state(self, entity_id: str) -> State:
        state = self.hass.states.get(entity_id)
        assert state is not None, f"{entity_id} has no state"
        return state

    def value(self, entity_id: str) -> str | None:
        state = self.hass.states.get(entity_id)
        return None if state is None else state.state

    def attr(self, entity_id: str, name: str) -> Any:
        state = self.hass.states.get(entity_id)
        return None if state is None else state.attributes.get(name)

    async def call(self, domain: str, service: str, entity_id: str, **data: Any) -> None:
        """Call ``domain.service`` on ``entity_id`` as the UI does, once it is available
        (HA silently skips entity service calls to unavailable entities)."""
        await until(
            self.hass,
            lambda: self.value(entity_id) not in (None, "unavailable"),
            15,
            f"{entity_id} available for {domain}.{service}",
        )
        await self.hass.services.async_call(
            domain, service, {"entity_id": entity_id, **data}, blocking=True
        )


def concerns_us(record: logging.LogRecord) -> bool:
    """True for a HA log record about this device: its ids, its topics, or MQTT itself."""
    text = f"{record.name} {record.getMessage()}"
    needles = (DEVICE_ID, IDENTIFIER, f"{BASE}/", f"{PREFIX}/", "ledmatrix")
    return record.name.startswith("homeassistant.components.mqtt") or any(
        n in text for n in needles
    )


def problems(records: Sequence[logging.LogRecord]) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in records
        if r.levelno >= logging.WARNING and concerns_us(r)
    ]


def assert_clean_log(caplog: pytest.LogCaptureFixture) -> None:
    """No WARNING or ERROR in HA's log concerns our device."""
    found = problems(caplog.records)
    assert not found, "\n".join(found)
