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
import urllib.parse
from pathlib import Path

import pytest

from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.rendering import RENDER_TIMEOUT_S
from tests.reliability.conftest import ROOT, ServiceEnv, call
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
PLUGINS = Path(__file__).parent / "plugins"
WINDOW_S = 3.0
PROMPT_S = 5.0  # generous bound for a reply while the plugin misbehaves


def _install_by_hand(env: ServiceEnv, plugin_id: str) -> None:
    shutil.copytree(PLUGINS / plugin_id, env.state_dir / "plugins" / plugin_id)


def _loaded(display: DisplayController) -> set[str]:
    return {s.plugin_id for s in display.runtime_status() if s.loaded}


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
    display = svc.display
    assert wait_until(lambda: {"clock", plugin_id} <= _loaded(display), 30), "not loaded"
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
    cap = deadline + 10.0  # a busy machine may need more rounds of `next` to reach the clock
    while time.monotonic() < deadline or ("clock" not in seen and time.monotonic() < cap):
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


def _status(svc, plugin_id: str):  # type: ignore[no-untyped-def]
    return next(s for s in svc.display.runtime_status() if s.plugin_id == plugin_id)


def _clock_frames(svc) -> list[int]:  # type: ignore[no-untyped-def]
    frames: list[int] = []
    svc.display.add_listener(lambda kind: frames.append(1) if kind == "frame" else None)
    return frames


def test_plugin_hanging_in_constructor_delays_neither_startup_nor_store_changes(
    env: ServiceEnv,
) -> None:
    env.plugins = {"clock": {"enabled": True}, "rel-hang-init": {"enabled": True}}
    _install_by_hand(env, "rel-hang-init")
    started = time.monotonic()
    svc = env.start(online=False)
    startup = time.monotonic() - started
    assert svc.display is not None
    assert startup < 1.0, f"start-up took {startup:.2f} s"
    frames = _clock_frames(svc)
    assert wait_until(lambda: svc.display.state().current_plugin == "clock" and frames, 5)
    started = time.monotonic()
    svc.changed()  # what every store change does: reload config, sync plugins
    svc.changed()
    assert time.monotonic() - started < 1.0
    status = _status(svc, "rel-hang-init")
    assert not status.loaded

    def hung_loads() -> int:
        return sum(t.name == "load-rel-hang-init" for t in threading.enumerate())

    # Held loads get their thread once the service is online (at most 10 s after start).
    assert wait_until(lambda: hung_loads() >= 1, 15), "the load never started"
    assert not wait_until(lambda: hung_loads() > 1, 1.0), "the hung load was started twice"


@pytest.mark.parametrize("where", ["init", "update", "display"])
def test_plugin_calling_os_exit_cannot_end_the_service(env: ServiceEnv, where: str) -> None:
    env.plugins = {"clock": {"enabled": True}, "rel-exit": {"enabled": True, "where": where}}
    env.display = {"default_duration": 1}
    _install_by_hand(env, "rel-exit")
    svc = env.start()
    assert svc.display is not None
    assert wait_until(lambda: "os._exit" in _status(svc, "rel-exit").error, 8), _status(
        svc, "rel-exit"
    )
    assert "PluginExitBlocked" in _status(svc, "rel-exit").error
    probe = env.probe(f"{ROOT}/#")
    assert call(probe, "list", timeout=PROMPT_S)["status"] == "ok"
    frames = _clock_frames(svc)
    assert wait_until(lambda: svc.display.state().current_plugin == "clock" and frames, 5)


def test_plugin_print_never_shows_secret_values(
    env: ServiceEnv, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t/k+y=42"  # URL-encodes differently with quote() and quote_plus()
    env.plugins = {"rel-print-secret": {"enabled": True, "api_key": secret}}
    _install_by_hand(env, "rel-print-secret")
    caplog.set_level("INFO", logger="plugin.rel-print-secret")
    svc = env.start(online=False)
    assert svc.display is not None

    def printed() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "plugin.rel-print-secret"]

    assert wait_until(lambda: len(printed()) >= 3, 5)
    out, err = capfd.readouterr()
    encoded = urllib.parse.quote(secret, safe="")
    for text in (out, err, *printed()):
        assert secret not in text
        assert encoded not in text
    assert "fetching https://api.example/v1?key=***" in printed()
    assert "retrying https://api.example/v1?key=***" in printed()
