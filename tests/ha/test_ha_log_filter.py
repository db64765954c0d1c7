"""The log check the suite relies on flags what concerns the device, and only that."""

from __future__ import annotations

import logging

from tests.ha.hass_helpers import problems


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_log_check_flags_warnings_about_the_device_its_topics_and_mqtt() -> None:
    ha = "homeassistant.components"
    flagged = problems(
        [
            record("homeassistant.helpers.template", logging.ERROR, "ledmatrix/hapanel/state/x"),
            record(f"{ha}.mqtt.update", logging.WARNING, "Schema violation"),
            record(f"{ha}.sensor", logging.WARNING, "sensor.ha_panel_x of hapanel"),
            record("homeassistant.setup", logging.ERROR, "homeassistant/device/x/config"),
        ]
    )
    assert len(flagged) == 4, flagged


def test_log_check_ignores_info_and_other_integrations() -> None:
    flagged = problems(
        [
            record("homeassistant.components.mqtt.client", logging.INFO, "hapanel connected"),
            record("aiohttp_fast_zlib", logging.WARNING, "zlib_ng and isal are not available"),
            record("homeassistant.helpers.frame", logging.WARNING, "integration http is slow"),
        ]
    )
    assert flagged == []
