"""The RGBMatrixEmulator backend (raw adapter) and backend selection."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from ledmatrix_mqtt.core.config_model import DeviceConfig, DisplayConfig
from ledmatrix_mqtt.core.notifications import Notification
from ledmatrix_mqtt.errors import DisplayUnavailable
from ledmatrix_mqtt.runtime.backends.hardware import HardwareBackend, is_raspberry_pi
from ledmatrix_mqtt.runtime.backends.headless import HeadlessBackend
from ledmatrix_mqtt.runtime.backends.select import select_backend
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.frames import FrameStore
from ledmatrix_mqtt.runtime.snapshot import FrameSnapshot
from ledmatrix_mqtt.runtime.spec import builtin_specs
from tests.support.golden import check_golden
from tests.support.waiting import wait_until


@pytest.fixture
def reset_raw_adapter():
    yield
    from RGBMatrixEmulator.adapters.raw_adapter import RawAdapter

    RawAdapter.INSTANCE = None


def test_emulator_raw_adapter_receives_the_frames(tmp_path, reset_raw_adapter) -> None:
    cwd = os.getcwd()
    handler = signal.getsignal(signal.SIGTERM)
    cfg = DisplayConfig(backend="emulator", emulator_adapter="raw", brightness=100)
    backend = select_backend(cfg, tmp_path / "state")
    assert backend.name == "emulator"
    assert os.getcwd() == cwd  # chdir only around the import
    assert not Path(cwd, "emulator_config.json").exists() or cwd == str(tmp_path)
    assert (tmp_path / "state" / "emulator" / "emulator_config.json").is_file()
    assert signal.getsignal(signal.SIGTERM) is handler
    controller = DisplayController(
        cfg, device=DeviceConfig("p", "P", "UTC"), state_dir=tmp_path / "state", backend=backend
    )
    controller.sync_plugins(builtin_specs({"text": {"enabled": False}}))
    controller.show("status")
    controller._tick()  # one render, on this thread
    frame = np.asarray(controller.frame_image())
    shown = backend.adapter._last_frame()  # type: ignore[attr-defined]
    assert shown.shape == (32, 64, 3)
    assert (shown == frame).all() and frame.any()
    controller.stop()
    # the frame file exists with this backend too, not only with headless
    assert (tmp_path / "state" / "frames" / "current.png").read_bytes().startswith(b"\x89PNG")


def test_dimmed_panel_shows_a_notification_at_the_dim_brightness(
    tmp_path, reset_raw_adapter
) -> None:
    """What the (emulated) panel shows at 23:00 with a 22:00-06:00 dim schedule at 20 %."""
    cfg = DisplayConfig(backend="emulator", emulator_adapter="raw", brightness=90)
    backend = select_backend(cfg, tmp_path / "state")
    night = dt.datetime(2025, 6, 2, 23, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    dim = {"enabled": True, "start_time": "22:00", "end_time": "06:00", "dim_brightness": 20}
    controller = DisplayController(
        cfg, device=DeviceConfig("p", "P", "Europe/Berlin"), state_dir=tmp_path / "state",
        backend=backend, wall_clock=lambda: night, dim_schedule=dim,
    )  # fmt: skip
    try:
        controller.sync_plugins(builtin_specs({"text": {"enabled": False}}))
        controller.notify(Notification.create("Night", color=[255, 200, 100], hold=True))
        controller._tick()  # one render, on this thread
        assert controller.state().brightness == 20
        full = np.asarray(controller.frame_image()).astype(int)
        shown = backend.adapter._last_frame()  # type: ignore[attr-defined]
        assert full.max() == 255 and shown.max() == 51  # 20 % of full
        assert (np.abs(shown - full * 20 // 100) <= 1).all()
        check_golden(Image.fromarray(shown.astype("uint8")), "notification-dimmed-64x32")
    finally:
        controller.stop()


def test_auto_falls_back_to_headless_without_hardware_or_emulator(tmp_path, monkeypatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "RGBMatrixEmulator" else real_find_spec(name, *a),
    )  # fmt: skip
    backend = select_backend(DisplayConfig(backend="auto"), tmp_path)
    assert isinstance(backend, HeadlessBackend)


def test_hardware_needs_a_raspberry_pi_not_just_an_import(tmp_path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"QEMU Virtual Machine\0")
    assert not is_raspberry_pi(model)
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    assert is_raspberry_pi(model)
    with pytest.raises(DisplayUnavailable):
        select_backend(DisplayConfig(backend="hardware"), tmp_path, model_file=model)


def test_headless_backend_writes_a_png_snapshot(tmp_path) -> None:
    backend = select_backend(DisplayConfig(backend="headless"), tmp_path)
    controller = DisplayController(
        DisplayConfig(backend="headless"), device=DeviceConfig("p", "P", "UTC"),
        state_dir=tmp_path, backend=backend,
    )  # fmt: skip
    controller.sync_plugins(builtin_specs({}))
    controller._tick()
    assert (tmp_path / "frames" / "current.png").read_bytes().startswith(b"\x89PNG")
    controller.stop()


def test_headless_snapshot_catches_up_with_a_frame_that_came_too_soon(tmp_path) -> None:
    """A frame pushed within a second of the last snapshot was never written: after a
    `next` onto a static plugin, current.png kept showing the previous plugin for good."""
    snapshot = tmp_path / "frames" / "current.png"
    backend = FrameSnapshot(snapshot, min_interval=0.2)
    backend.offer(Image.new("RGB", (4, 2), "red"))
    backend.offer(Image.new("RGB", (4, 2), "blue"))  # too soon: written later

    def shows_blue() -> bool:
        with Image.open(snapshot) as image:
            return image.convert("RGB").getpixel((0, 0)) == (0, 0, 255)

    assert wait_until(shows_blue)
    backend.close()


def test_headless_snapshot_that_cannot_be_written_does_not_break_rendering(tmp_path) -> None:
    """atomic_write_bytes raises StorageFailed, not OSError: a full or read-only state
    dir made every show() raise, so the render loop logged a traceback each frame."""
    (tmp_path / "not-a-folder").write_text("")
    backend = HeadlessBackend(4, 2)
    store = FrameStore(backend, 4, 2, FrameSnapshot(tmp_path / "not-a-folder" / "current.png"))
    assert store.push(Image.new("RGB", (4, 2), "red"))
    assert backend.frames_shown == 1
    store.close()


def test_auto_falls_back_to_headless_when_the_emulator_config_cannot_be_written(
    tmp_path,
) -> None:
    """atomic_write_json raises StorageFailed, not OSError: on a full or read-only state
    dir the emulator's config write escaped select_backend and start-up failed."""
    (tmp_path / "emulator" / "emulator_config.json").mkdir(parents=True)  # cannot be replaced
    backend = select_backend(DisplayConfig(backend="auto"), tmp_path)
    assert isinstance(backend, HeadlessBackend)


def test_hardware_backend_drives_an_rgbmatrix_module(tmp_path) -> None:
    """The hardware backend against a stand-in ``rgbmatrix`` module (the real one needs a Pi)."""

    class Canvas:
        def __init__(self) -> None:
            self.image: Image.Image | None = None
            self.brightness = 0

        def SetImage(self, image: Image.Image) -> None:  # rgbmatrix API names
            self.image = image

    class Matrix:
        def __init__(self, options: object) -> None:
            self.options = options
            self.brightness = 0
            self.shown: list[Image.Image | None] = []
            self.cleared = 0

        def CreateFrameCanvas(self) -> Canvas:
            return Canvas()

        def SwapOnVSync(self, canvas: Canvas) -> Canvas:
            self.shown.append(canvas.image)
            return Canvas()

        def Clear(self) -> None:
            self.cleared += 1

    class Options:
        pass

    module = type("rgbmatrix", (), {"RGBMatrixOptions": Options, "RGBMatrix": Matrix})
    cfg = DisplayConfig(rows=16, cols=32, chain_length=2, brightness=40, gpio_slowdown=4)
    backend = HardwareBackend(cfg, module)
    matrix = backend._matrix
    opts = matrix.options
    assert (opts.rows, opts.cols, opts.chain_length, opts.brightness) == (16, 32, 2, 40)
    assert (opts.gpio_slowdown, opts.drop_privileges) == (4, False)
    red = Image.new("RGB", (64, 16), "red")
    backend.show(red)
    backend.set_brightness(70)
    assert matrix.shown == [red] and matrix.brightness == 70
    backend.close()
    assert matrix.cleared == 1


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port held by a listening test socket (a second instance, say)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _select_in_child(tmp_path: Path, backend: str, port: int) -> subprocess.CompletedProcess[str]:
    """Backend selection in a fresh interpreter (RGBMatrixEmulator keeps process singletons)."""
    script = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "logging.basicConfig(level='INFO', format='%(message)s')\n"
        "from ledmatrix_mqtt.core.config_model import DisplayConfig\n"
        "from ledmatrix_mqtt.errors import LedMatrixError\n"
        "from ledmatrix_mqtt.runtime.backends.select import select_backend\n"
        f"cfg = DisplayConfig(backend={backend!r}, emulator_port={port})\n"
        "try:\n"
        f"    print('BACKEND', select_backend(cfg, Path({str(tmp_path)!r})).name)\n"
        "except LedMatrixError as exc:\n"
        "    print('ERROR', exc.code, exc.message)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


def test_auto_falls_back_to_headless_when_the_emulator_port_is_taken(
    tmp_path: Path, taken_port: int
) -> None:
    done = _select_in_child(tmp_path, "auto", taken_port)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "BACKEND headless"
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if "display backend" in x]
    assert f"127.0.0.1:{taken_port} is in use" in line


def test_explicit_emulator_with_its_port_taken_is_one_clear_error(
    tmp_path: Path, taken_port: int
) -> None:
    done = _select_in_child(tmp_path, "emulator", taken_port)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("ERROR display_unavailable display.backend emulator:")
    assert f"127.0.0.1:{taken_port} is in use" in done.stdout


def test_emulator_logs_the_browser_preview_address(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _select_in_child(tmp_path, "emulator", port)
    assert done.stdout.strip() == "BACKEND emulator", done.stderr
    assert f"browser preview: http://127.0.0.1:{port}/" in done.stderr


def test_run_with_the_emulator_port_taken_prints_one_line_and_no_traceback(
    tmp_path: Path, taken_port: int
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "mqtt: {host: 127.0.0.1, port: 1, embedded: false}\n"
        f"display: {{backend: emulator, emulator: {{port: {taken_port}}}}}\n"
    )
    cli = Path(sys.executable).parent / "ledmatrix-mqtt"
    done = subprocess.run(
        [str(cli), "--config", str(config), "run"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [x for x in done.stderr.splitlines() if x.startswith("ledmatrix-mqtt:")]
    assert errors == [
        f"ledmatrix-mqtt: display_unavailable: display.backend emulator: the browser preview "
        f"address 127.0.0.1:{taken_port} is in use (another instance running?); stop it or "
        "set display.emulator.port"
    ]


def test_every_backend_writes_the_frame_file_only_for_changed_frames(tmp_path: Path) -> None:
    snapshot = FrameSnapshot(tmp_path / "frames" / "current.png", min_interval=0.0)
    store = FrameStore(HeadlessBackend(4, 2), 4, 2, snapshot)
    red = Image.new("RGB", (4, 2), "red")
    assert store.push(red)
    assert not store.push(red.copy())  # same pixels: no panel write, no file write
    assert store.push(Image.new("RGB", (4, 2), "blue"))
    store.close()
    assert snapshot.writes == 2
    with Image.open(tmp_path / "frames" / "current.png") as image:
        assert image.convert("RGB").getpixel((0, 0)) == (0, 0, 255)
