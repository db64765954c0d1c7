"""DisplayController end to end on the headless backend: rotation survives bad plugins."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig
from ledmatrix_mqtt.errors import Busy, InvalidPayload, NotInstalled
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.spec import builtin_specs
from tests.support.golden import check_golden
from tests.support.headless_display import headless_controllers
from tests.support.ledmatrix_style_plugins import fixture_spec
from tests.support.load import install_like_load
from tests.support.waiting import wait_until

DEVICE = DeviceConfig("panel", "Test Panel", "UTC")


@pytest.fixture
def make(tmp_path):
    with headless_controllers(
        tmp_path / "state", DEVICE,
        service_info=lambda: {"installed_plugins": 2, "ip": "10.0.0.2"}, update_timeout=0.5,
    ) as build:  # fmt: skip
        yield lambda **display: build(display)


class Recorder:
    """Listener recording which plugin was current at each state event."""

    def __init__(self, controller: DisplayController) -> None:
        self.controller = controller
        self.seen: list[str] = []
        self.frames = 0
        controller.add_listener(self)

    def __call__(self, kind: str) -> None:
        if kind == "frame":
            self.frames += 1
        else:
            self.seen.append(self.controller.state().current_plugin)


def test_start_returns_at_once_and_rotation_shows_plugins(make, tmp_path) -> None:
    c = make(default_duration=1.0)
    c.sync_plugins([*builtin_specs({}), fixture_spec("lm-clock", tmp_path)])
    c.set_text("hi")
    rec = Recorder(c)
    c.start()
    assert wait_until(lambda: {"clock", "lm-clock", "status", "text"} <= set(rec.seen), 8)
    assert c.frame_png().startswith(b"\x89PNG")
    assert c.frame_image().size == (64, 32)
    assert list(c.rotation()) == ["clock", "lm-clock", "status", "text"]


def test_raising_plugin_is_skipped_at_once_and_marked_unhealthy(make, tmp_path) -> None:
    """LEDMatrix swallowed display() errors into False, so "skip broken plugin" was unreachable."""
    c = make(default_duration=30.0, rotation_order=("lm-raising", "lm-clock"))
    c.sync_plugins([fixture_spec("lm-raising", tmp_path), fixture_spec("lm-clock", tmp_path)])
    c.start()
    assert wait_until(lambda: c.state().current_plugin == "lm-clock")
    status = {s.plugin_id: s for s in c.runtime_status()}
    assert status["lm-raising"].loaded and not status["lm-raising"].healthy
    assert "display exploded" in status["lm-raising"].error
    assert status["lm-clock"].healthy
    # asking to show it while it cools down is answered, not silently dropped
    with pytest.raises(Busy, match="skipped after failing"):
        c.show("lm-raising", 30)


def test_hanging_update_cannot_stop_the_rotation(make, tmp_path) -> None:
    c = make(default_duration=0.3, rotation_order=("lm-slow", "clock"))
    c.sync_plugins(
        [
            fixture_spec("lm-slow", tmp_path, {"update_seconds": -1}),
            *builtin_specs({"text": {"enabled": False}, "status": {"enabled": False}}),
        ]
    )
    rec = Recorder(c)
    c.start()
    assert wait_until(lambda: rec.seen.count("clock") >= 3, 8)
    assert "timed out" in {s.plugin_id: s for s in c.runtime_status()}["lm-slow"].error


def test_slow_update_does_not_overlap_render_and_last_frame_is_held(make, tmp_path) -> None:
    c = make(default_duration=0.5)
    c.sync_plugins(
        [
            fixture_spec("lm-slow", tmp_path, {"update_seconds": 0.3}),
            fixture_spec("lm-clock", tmp_path),
        ]
    )
    rec = Recorder(c)
    c.start()
    assert wait_until(lambda: rec.seen.count("lm-clock") >= 3, 8)
    slow = c.plugins.get("lm-slow")
    assert slow is not None
    assert wait_until(lambda: slow.instance.display_calls >= 1, 8)  # shown once its update ended
    assert slow.instance.overlaps == 0


def test_no_content_plugin_moves_on_and_a_lone_one_does_not_spin(make, tmp_path) -> None:
    c = make(default_duration=30.0)
    c.sync_plugins([fixture_spec("lm-empty", tmp_path)])
    c.start()
    time.sleep(0.5)
    assert c.frames.pushed <= 2  # blank idle frame, not a busy loop of pushes
    c.sync_plugins([fixture_spec("lm-empty", tmp_path), fixture_spec("lm-clock", tmp_path)])
    assert wait_until(lambda: c.state().current_plugin == "lm-clock")


def test_show_next_resume_brightness_power(make, tmp_path) -> None:
    c = make(default_duration=30.0)
    c.sync_plugins(builtin_specs({}))
    c.start()
    state = c.show("status", 60)
    assert state.current_plugin == "status" and state.pinned_until and state.pinned_until > 0
    assert c.show("clock").pinned_until == 0.0  # until resume
    assert c.resume().pinned_until is None
    before = c.state().current_plugin
    assert c.next().current_plugin != before
    with pytest.raises(NotInstalled):
        c.show("nope")
    with pytest.raises(InvalidPayload):
        c.set_brightness(101)
    with pytest.raises(InvalidPayload):
        c.show("clock", 0)
    assert c.set_brightness(40).brightness == 40
    assert c.set_power(False).power is False
    assert wait_until(lambda: c.frame_image().getbbox() is None)  # panel blanked
    c.set_power(True)
    assert wait_until(lambda: c.frame_image().getbbox() is not None)


def test_sync_adds_and_removes_plugins_while_rendering(make, tmp_path) -> None:
    c = make(default_duration=30.0)
    c.sync_plugins([fixture_spec("lm-clock", tmp_path)])
    c.start()
    assert wait_until(lambda: c.state().current_plugin == "lm-clock")
    c.sync_plugins([fixture_spec("lm-clock", tmp_path), fixture_spec("lm-text", tmp_path)])
    assert "lm-text" in c.rotation()
    c.show("lm-text")
    assert wait_until(lambda: c.state().current_plugin == "lm-text")
    c.sync_plugins([fixture_spec("lm-clock", tmp_path)])  # "uninstalled"
    assert wait_until(lambda: c.state().current_plugin == "lm-clock")
    assert list(c.rotation()) == ["lm-clock"]


def test_unload_calls_cleanup_before_returning(make, tmp_path) -> None:
    c = make()
    c.sync_plugins([fixture_spec("lm-clock", tmp_path)])
    c.start()
    instance = c.plugins.get("lm-clock").instance
    cleaned = threading.Event()
    instance.cleanup = cleaned.set
    c.unload("lm-clock")
    assert cleaned.is_set() and instance.enabled is False  # cleanup() then on_disable()
    assert c.plugins.get("lm-clock") is None
    status = {s.plugin_id: s for s in c.runtime_status()}
    assert status["lm-clock"].loaded is False


def test_load_errors_are_listed_not_raised(make, tmp_path) -> None:
    c = make()
    c.sync_plugins([fixture_spec("lm-clock", tmp_path, {"show_seconds": 3}),
                    *builtin_specs({})])  # fmt: skip
    status = {s.plugin_id: s for s in c.runtime_status()}
    assert not status["lm-clock"].loaded and status["lm-clock"].error.startswith("invalid_config")
    assert "lm-clock" not in c.rotation()
    with pytest.raises(NotInstalled):
        c.show("lm-clock")


def test_install_running_in_parallel_does_not_stall_frames(make, tmp_path) -> None:
    c = make(default_duration=60.0)
    c.sync_plugins(builtin_specs({"clock": {"enabled": False}, "status": {"enabled": False}}))
    c.set_text("A long message that has to scroll across the whole panel")
    rec = Recorder(c)
    c.start()
    assert wait_until(lambda: rec.frames >= 3)
    stop = threading.Event()
    workers = [threading.Thread(target=install_like_load, args=(stop, tmp_path / f"x{i}"))
               for i in range(2)]  # fmt: skip
    for w in workers:
        w.start()
    try:
        before = rec.frames
        c.sync_plugins(
            [*builtin_specs({"clock": {"enabled": False}}), fixture_spec("lm-clock", tmp_path)]
        )  # an "install" landing mid-scroll
        time.sleep(1.0)
        produced = rec.frames - before
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert produced >= 10  # a stalled loop would produce ~0 new frames in this window
    assert "lm-clock" in c.rotation()


def test_frames_are_pushed_only_when_they_change(make, tmp_path) -> None:
    c = make(default_duration=60.0)
    frozen = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC).timestamp()
    c._wall = lambda: frozen  # the clock never moves
    c.sync_plugins(builtin_specs({"text": {"enabled": False}, "status": {"enabled": False}}))
    c.start()
    assert wait_until(lambda: c.frames.pushed >= 1)
    time.sleep(1.5)  # at least one more re-render of the 1 fps clock
    assert c.frames.pushed == 1
    assert isinstance(c.frame_image(), Image.Image)


def test_a_plugin_turning_unhealthy_is_announced_to_listeners(make, tmp_path) -> None:
    """Health changes were never announced: an update() that started failing after the
    last store change left the retained state/plugins/<id> saying healthy for good."""
    c = make(default_duration=30.0)
    c.sync_plugins([fixture_spec("lm-slow", tmp_path, {"update_seconds": -1})])
    kinds: list[str] = []
    c.add_listener(kinds.append)
    c.start()
    assert wait_until(lambda: "plugins" in kinds)
    assert not {s.plugin_id: s for s in c.runtime_status()}["lm-slow"].healthy


def _hanging_plugin(root: Path, where: str) -> Path:
    """A plugin whose module import or constructor never returns."""
    folder = root / "hang-init"
    folder.mkdir()
    (folder / "manifest.json").write_text(
        '{"id": "hang-init", "name": "hang-init", "class_name": "P", "entry_point": "manager.py",'
        ' "display_modes": ["hang-init"]}'
    )
    hang = "threading.Event().wait()"
    (folder / "manager.py").write_text(
        "import threading\n"
        "from src.plugin_system.base_plugin import BasePlugin\n"
        f"{hang if where == 'import' else ''}\n"
        "class P(BasePlugin):\n"
        "    def __init__(self, *args):\n"
        f"        {hang}\n"
    )
    return folder


def test_finished_load_leaves_no_deadline_thread_running(make, tmp_path) -> None:
    """A load's deadline timer outlived the load by the whole timeout (30 s): a thread and
    its stack per plugin, kept through the service's settled memory."""
    c = make()

    def deadlines() -> list[threading.Thread]:
        return [
            t for t in threading.enumerate()
            if isinstance(t, threading.Timer) and getattr(t.function, "__self__", None) is c.plugins
        ]  # fmt: skip

    c.sync_plugins([*builtin_specs({}), fixture_spec("lm-clock", tmp_path)])
    c.start()
    assert wait_until(
        lambda: {s.plugin_id for s in c.runtime_status() if s.loaded} >= {"clock", "lm-clock"}, 8
    )
    assert wait_until(lambda: not deadlines(), 2), [t.name for t in deadlines()]


@pytest.mark.parametrize("where", ["import", "constructor"])
def test_plugin_hanging_in_constructor_blocks_neither_start_nor_sync(tmp_path, where) -> None:
    from ledmatrix_mqtt.runtime.spec import spec_from_folder

    cfg = DisplayConfig(backend="headless", default_duration=0.5)
    c = DisplayController(
        cfg, device=DEVICE, state_dir=tmp_path / "state",
        backend=HeadlessBackend(cfg.width, cfg.height), load_timeout=0.5,
    )  # fmt: skip
    try:
        hang = spec_from_folder(_hanging_plugin(tmp_path, where), {})
        hung_before = sum(t.name == "load-hang-init" for t in threading.enumerate())
        specs = [hang, fixture_spec("lm-clock", tmp_path)]
        started = time.monotonic()
        c.sync_plugins(specs)
        c.start()
        assert time.monotonic() - started < 1.0
        rec = Recorder(c)
        assert wait_until(lambda: "lm-clock" in rec.seen and rec.frames > 0, 5)

        def hang_status() -> str:
            return next(s.error for s in c.runtime_status() if s.plugin_id == "hang-init")

        assert wait_until(lambda: "did not finish within 0.5 s" in hang_status(), 3)
        started = time.monotonic()
        c.sync_plugins(specs)  # a store change: the hung load is neither waited on nor retried
        c.sync_plugins(specs)
        assert time.monotonic() - started < 0.2
        assert "did not finish" in hang_status()
        assert list(c.rotation()) == ["lm-clock"]
        hung = sum(t.name == "load-hang-init" for t in threading.enumerate())
        assert hung == hung_before + 1  # one load, never retried
    finally:
        c.stop()


def test_status_screen_counts_plugins_like_the_plugins_state_not_zero(tmp_path) -> None:
    """The status screen said "0 plugins" (built-ins not counted) while HA's sensor said 3."""
    cfg = DisplayConfig(backend="headless")
    c = DisplayController(
        cfg, device=DEVICE, state_dir=tmp_path / "state",
        backend=HeadlessBackend(cfg.width, cfg.height),
        service_info=lambda: {"installed_plugins": 0, "ip": "10.0.0.2"},
    )  # fmt: skip
    try:
        c.sync_plugins(builtin_specs({"text": {"enabled": False}}))
        status = c.plugins.get("status")
        assert status is not None
        status.update()
        assert status.instance.installed == len(c.runtime_status()) == 3
        frame = status.render("status", dt.datetime(2025, 3, 14, tzinfo=dt.UTC), 0.0, True)
        assert frame is not None
        check_golden(frame, "status-controller-count-64x32")  # "3 plugins" on the panel
    finally:
        c.stop()


def test_plugin_config_error_in_runtime_status_names_the_key(make, tmp_path) -> None:
    c = make()
    c.sync_plugins([fixture_spec("lm-clock", tmp_path, {"show_seconds": "yes"})])
    [status] = c.runtime_status()
    assert not status.loaded
    assert status.error.startswith("invalid_config: plugins.lm-clock.show_seconds: ")


def test_surrogate_in_text_keeps_the_text_publishable(make) -> None:
    c = make()
    c.set_text("hi \ud800 there")
    assert c.text() == "hi \ufffd there"
    c.text().encode("utf-8")


def test_slow_plugin_joins_the_rotation_when_its_load_finishes(make, tmp_path) -> None:
    from ledmatrix_mqtt.runtime.spec import spec_from_folder

    folder = tmp_path / "slow-init"
    folder.mkdir()
    (folder / "manifest.json").write_text(
        '{"id": "slow-init", "name": "slow-init", "class_name": "P", "entry_point": "m.py",'
        ' "display_modes": ["slow-init"]}'
    )
    (folder / "m.py").write_text(
        "import time\n"
        "from src.plugin_system.base_plugin import BasePlugin\n"
        "class P(BasePlugin):\n"
        "    def __init__(self, *args):\n"
        "        time.sleep(1.5)\n"
        "        super().__init__(*args)\n"
        "    def display(self, force_clear=False):\n"
        "        self.display_manager.update_display()\n"
    )
    c = make()
    started = time.monotonic()
    c.sync_plugins([spec_from_folder(folder, {}), fixture_spec("lm-clock", tmp_path)])
    assert time.monotonic() - started < 1.0
    assert list(c.rotation()) == ["lm-clock"]
    assert c.wait_loaded(5)
    assert list(c.rotation()) == ["lm-clock", "slow-init"]
    assert all(s.loaded and not s.error for s in c.runtime_status())
