"""Golden images per panel size for the built-ins and the LEDMatrix compatibility layer.

Regenerate after an intended visual change with ``UPDATE_GOLDEN=1 pytest ...``
and review the PNGs in ``tests/golden/`` before committing them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from ledmatrix_mqtt.runtime.loaded import LoadedPlugin
from ledmatrix_mqtt.runtime.loader import LoadEnvironment, load_plugin
from ledmatrix_mqtt.runtime.spec import BUILTIN_PLUGINS_DIR, spec_from_folder
from tests.support.golden import check_golden
from tests.support.ledmatrix_style_plugins import fixture_spec

FROZEN = dt.datetime(2025, 3, 14, 21, 7, 26, tzinfo=dt.UTC)  # injected clock time
SIZES = [(64, 32), (128, 32)]


def _env(tmp_path: Path, width: int, height: int) -> LoadEnvironment:
    return LoadEnvironment(
        width, height, "Kitchen", "UTC", tmp_path / "state",
        service_info=lambda: {"installed_plugins": 5, "ip": "192.168.1.23"},
        text=lambda: "Dinner!",
    )  # fmt: skip


def _render(plugin: LoadedPlugin, elapsed: float = 0.0) -> Image.Image:
    try:
        if plugin.update_interval() is not None:
            plugin.update()
        frame = plugin.render(plugin.modes()[0], FROZEN, elapsed, True)
    finally:
        plugin.modules.release()
    assert frame is not None
    return frame


def _crisp(frame: Image.Image) -> bool:
    """Bitmap text drawn without anti-aliasing uses only the few colours it was given."""
    return len(frame.getcolors(4096) or []) <= 6


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    ("plugin_id", "config"),
    [
        ("clock", {}),
        ("clock", {"format_24h": False, "timezone": "America/New_York", "show_date": False}),
        ("status", {}),
        ("text", {}),
    ],
    ids=["clock-24h", "clock-12h-ny", "status", "text"],
)
def test_builtin_golden(tmp_path, size, plugin_id, config) -> None:
    spec = spec_from_folder(BUILTIN_PLUGINS_DIR / plugin_id, config, builtin=True)
    frame = _render(load_plugin(spec, _env(tmp_path, *size)))
    variant = "-".join(f"{k}_{v}" for k, v in sorted(config.items())).replace("/", "_")
    check_golden(frame, f"{plugin_id}{'-' + variant if variant else ''}-{size[0]}x{size[1]}")
    assert _crisp(frame)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_scrolling_text_golden(tmp_path, size) -> None:
    env = _env(tmp_path, *size)
    env = LoadEnvironment(**{**env.__dict__, "text": lambda: "A message far too long to fit"})
    spec = spec_from_folder(BUILTIN_PLUGINS_DIR / "text", {}, builtin=True)
    plugin = load_plugin(spec, env)
    assert plugin.fps() > 1  # scrolls, so it asks for frames
    check_golden(_render(plugin, elapsed=1.5), f"text-scrolling-{size[0]}x{size[1]}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("plugin_id", ["lm-clock", "lm-text", "lm-utils-b"])
def test_ledmatrix_compat_golden(tmp_path, size, plugin_id) -> None:
    plugin = load_plugin(fixture_spec(plugin_id, tmp_path), _env(tmp_path, *size))
    check_golden(_render(plugin), f"compat-{plugin_id}-{size[0]}x{size[1]}")


def test_status_name_too_wide_for_the_panel_scrolls_instead_of_being_cut(tmp_path) -> None:
    env = LoadEnvironment(
        **{**_env(tmp_path, 64, 32).__dict__, "device_name": "LED Matrix raspberrypi"}
    )
    spec = spec_from_folder(BUILTIN_PLUGINS_DIR / "status", {}, builtin=True)
    plugin = load_plugin(spec, env)
    try:
        plugin.update()
        assert plugin.fps() > 1  # scrolls, so it asks for frames
        first = plugin.render("status", FROZEN, 0.0, True)
        later = plugin.render("status", FROZEN, 2.0, True)
    finally:
        plugin.modules.release()
    assert first is not None and later is not None
    check_golden(first, "status-long-name-64x32")
    check_golden(later, "status-long-name-scrolled-64x32")
    name_rows = (0, 0, 64, 12)  # 6x10 name line from y=1
    assert ImageChops.difference(first.crop(name_rows), later.crop(name_rows)).getbbox()
    assert first.crop((0, 12, 64, 32)).tobytes() == later.crop((0, 12, 64, 32)).tobytes()
    assert _crisp(first)
