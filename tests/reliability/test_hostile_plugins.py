"""Hostile LEDMatrix-style plugins installed in the state dir of the real Service.

Each plugin in ``tests/reliability/plugins`` misbehaves one way (raises, hangs in
``update()`` or ``display()``, leaks threads, floods stdout/stderr). With it
enabled next to the built-in clock, the display must keep producing frames
and the MQTT front end must still answer ``list`` and ``next`` promptly.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.runtime.rendering import RENDER_TIMEOUT_S
from tests.reliability.conftest import ROOT, ServiceEnv, call

pytestmark = pytest.mark.broker
PLUGINS = Path(__file__).parent / "plugins"
WINDOW_S = 3.0
PROMPT_S = 5.0  # generous bound for a reply while the plugin misbehaves


def _install_by_hand(env: ServiceEnv, plugin_id: str) -> None:
    shutil.copytree(PLUGINS / plugin_id, env.state_dir / "plugins" / plugin_id)


@pytest.mark.parametrize(
    "plugin_id",
    [
        "rel-raiser",
        "rel-hang-update",
        "rel-thread-leak",
        "rel-printer",
        "rel-hang-display",  # display() blocks: the render watchdog abandons the call
    ],
)
def test_hostile_plugin_does_not_stop_frames_or_mqtt(env: ServiceEnv, plugin_id: str) -> None:
    env.plugins = {"clock": {"enabled": True}, plugin_id: {"enabled": True}}
    env.display = {"default_duration": 1}
    _install_by_hand(env, plugin_id)
    svc = env.start()
    assert svc.display is not None
    frames: list[float] = []
    lock = threading.Lock()

    def on_event(kind: str) -> None:
        if kind == "frame":
            with lock:
                frames.append(time.monotonic())

    svc.display.add_listener(on_event)
    probe = env.probe(f"{ROOT}/#")
    seen: set[str] = set()
    window = WINDOW_S + (RENDER_TIMEOUT_S if plugin_id == "rel-hang-display" else 0.0)
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        listed = call(probe, "list", timeout=PROMPT_S)
        assert listed["status"] == "ok", listed
        assert call(probe, "next", timeout=PROMPT_S)["status"] == "ok"
        seen.add(svc.display.state().current_plugin)
        time.sleep(0.3)
    with lock:
        count = len(frames)
    assert count >= 2, f"only {count} frames in {window} s"
    assert "clock" in seen
    ids = {p["id"] for p in listed["data"]["plugins"]}
    assert plugin_id in ids
