"""Home Assistant's own ``mqtt`` integration loads every entity the service announces."""

from __future__ import annotations

import pytest

from tests.ha.harness import Watch, discovered_unique_ids
from tests.ha.hass_helpers import UNSET, HaView, assert_clean_log, until


async def test_every_discovered_entity_loads_with_its_value_and_no_log_noise(
    ha: HaView, watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    hass = ha.hass
    announced = discovered_unique_ids(watch)
    assert announced, "the service announced no entity"
    await until(hass, lambda: ha.unique_ids() == set(announced), 30, "every entity registered")
    states = {e.entity_id: ha.value(e.entity_id) for e in ha.entries()}
    print("\n".join(f"{k} = {v!r}" for k, v in sorted(states.items())))
    assert_clean_log(caplog)
