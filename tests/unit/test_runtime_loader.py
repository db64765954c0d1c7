"""Loading plugins: LEDMatrix compatibility, module isolation, config validation, load errors."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from ledmatrix_mqtt.errors import ConfigError, DependencyFailed, InternalError, InvalidManifest
from ledmatrix_mqtt.runtime.cache import PluginCache
from ledmatrix_mqtt.runtime.loaded import LoadedLedMatrix
from ledmatrix_mqtt.runtime.loader import LoadEnvironment, load_plugin
from ledmatrix_mqtt.runtime.spec import spec_from_folder
from tests.support.ledmatrix_style_plugins import copy_plugin, fixture_spec


@pytest.fixture
def env(tmp_path: Path) -> LoadEnvironment:
    return LoadEnvironment(64, 32, "Test", "Europe/Berlin", tmp_path / "state")


def _plain_plugin(root: Path, body: str, *, schema: object = None, cls: str = "P") -> Path:
    folder = root / "plain"
    folder.mkdir()
    manifest = {"id": "plain", "name": "plain", "class_name": cls, "display_modes": ["plain"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "manager.py").write_text(body)
    if schema is not None:
        (folder / "config_schema.json").write_text(json.dumps(schema))
    return folder


GOOD = (
    "from src.plugin_system.base_plugin import BasePlugin\n"
    "class P(BasePlugin):\n    def display(self, force_clear=False):\n        pass\n"
)


def test_ledmatrix_plugin_gets_upstream_constructor_and_services(tmp_path, env) -> None:
    plugin = load_plugin(fixture_spec("lm-clock", tmp_path), env)
    assert isinstance(plugin, LoadedLedMatrix)
    inst = plugin.instance
    assert inst.plugin_id == "lm-clock" and inst.enabled is True
    assert inst.logger.name == "plugin.lm-clock"
    assert inst.config["color"] == [255, 200, 0]  # schema default merged
    assert inst.plugin_manager.config_manager.load_config()["timezone"] == "Europe/Berlin"
    assert inst.cache_manager.config_manager.get_timezone() == "Europe/Berlin"
    assert inst.display_manager.matrix.width == 64 and inst.display_manager.height == 32
    plugin.update()
    assert inst.cache_manager.get("last_update", max_age=60) == {"count": 1}
    inst.cache_manager.delete("last_update")
    assert inst.cache_manager.get("last_update") is None
    plugin.modules.release()


def test_two_plugins_with_utils_py_each_get_their_own(tmp_path, env) -> None:
    """Regression for LEDMatrix b99be88c (#237): same-named sibling modules collided."""
    a = load_plugin(fixture_spec("lm-utils-a", tmp_path), env)
    b = load_plugin(fixture_spec("lm-utils-b", tmp_path), env)
    assert (a.instance.who(), b.instance.who()) == ("a", "b")
    assert "utils" not in sys.modules or not hasattr(sys.modules["utils"], "WHO")
    a.modules.release()
    b.modules.release()
    assert not [n for n in sys.modules if n.startswith(a.modules.package)]


def test_src_alias_does_not_leak_or_shadow_a_real_src_package(tmp_path, env, monkeypatch) -> None:
    real = tmp_path / "elsewhere" / "src"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("MARKER = 'the real src'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "elsewhere"))
    monkeypatch.delitem(sys.modules, "src", raising=False)
    plugin = load_plugin(fixture_spec("lm-clock", tmp_path), env)
    assert plugin.instance.__class__.__mro__[1].__module__.endswith("compat.base_plugin")
    assert "src" not in sys.modules  # loading the plugin imported no `src`
    import src  # type: ignore[import-not-found]

    assert src.MARKER == "the real src"
    assert not any(p.endswith("ledmatrix_style_plugins") for p in sys.path)
    plugin.modules.release()
    sys.modules.pop("src", None)


def test_invalid_config_is_a_config_error_naming_the_key(tmp_path, env) -> None:
    spec = fixture_spec("lm-clock", tmp_path, {"show_seconds": "yes"})
    with pytest.raises(ConfigError) as info:
        load_plugin(spec, env)
    assert info.value.key == "plugins.lm-clock.show_seconds"


def test_unknown_key_rejected_when_schema_forbids_it_but_runtime_keys_pass(tmp_path, env) -> None:
    spec = fixture_spec("lm-clock", tmp_path, {"update_interval": 5, "bogus": 1})
    with pytest.raises(ConfigError):
        load_plugin(spec, env)
    ok = load_plugin(fixture_spec("lm-clock", tmp_path, {"update_interval": 5}), env)
    assert ok.update_interval() == 60.0  # manifest update_interval wins over config
    ok.modules.release()


@pytest.mark.parametrize(
    ("body", "schema", "cls", "error"),
    [
        (GOOD, {"type": "nonsense"}, "P", InvalidManifest),
        ("import no_such_module_xyz\n", None, "P", DependencyFailed),
        (GOOD, None, "Missing", InvalidManifest),
        ("raise ValueError('boom at import')\n", None, "P", InternalError),
        (GOOD.replace("pass", "pass\n    def __init__(self, *a):\n        1 / 0"), None, "P",
         InternalError),
        ("import sys\nsys.exit(2)\n", None, "P", InternalError),
        (GOOD.replace("pass", "pass\n    def __init__(self, *a):\n        raise SystemExit"),
         None, "P", InternalError),
    ],
    ids=["bad-schema", "import-error", "missing-class", "module-raises", "constructor-raises",
         "module-exits", "constructor-exits"],
)  # fmt: skip
def test_load_failures_are_typed_errors(tmp_path, env, body, schema, cls, error) -> None:
    spec = spec_from_folder(_plain_plugin(tmp_path, body, schema=schema, cls=cls))
    with pytest.raises(error):
        load_plugin(spec, env)
    assert not [n for n in sys.modules if n.endswith("_plain.manager")]


def test_validate_config_false_is_a_config_error(tmp_path, env) -> None:
    body = GOOD + "    def validate_config(self):\n        return False\n"
    with pytest.raises(ConfigError):
        load_plugin(spec_from_folder(_plain_plugin(tmp_path, body)), env)


def test_no_bytecode_is_written_into_plugin_folders(tmp_path, env) -> None:
    """Regression for LEDMatrix 158e07c8 (#242): root-owned __pycache__ blocked deletes."""
    plugin = load_plugin(fixture_spec("lm-utils-a", tmp_path), env)
    assert not list((tmp_path / "lm-utils-a").rglob("__pycache__"))
    plugin.modules.release()


def test_copy_plugin_helper_copies(tmp_path) -> None:
    assert (copy_plugin("lm-text", tmp_path) / "manager.py").is_file()


def test_plugin_cache_on_an_unwritable_state_dir_keeps_values_in_memory(tmp_path) -> None:
    """atomic_write_json raises StorageFailed, not OSError: with a full or read-only
    state dir every cache_manager.set() raised into the plugin's update()."""
    (tmp_path / "not-a-folder").write_text("")
    cache = PluginCache(tmp_path / "not-a-folder" / "plugin")
    cache.set("weather", {"temp": 21})
    assert cache.get("weather") == {"temp": 21}
    cache.delete("weather")
    assert cache.get("weather") is None


def test_assigning_display_manager_image_makes_draw_text_draw_on_it(tmp_path, env) -> None:
    """LEDMatrix's countdown plugin assigns ``display_manager.image = canvas`` and then
    calls ``draw_text``: the text went to the old image and the panel showed no text."""
    plugin = load_plugin(fixture_spec("lm-canvas", tmp_path), env)
    try:
        frame = plugin.render("lm-canvas", dt.datetime.now(dt.UTC), 0.0, True)
    finally:
        plugin.modules.release()
    assert frame is not None
    colours = {colour for _count, colour in frame.getcolors(4096) or []}
    assert colours == {(0, 0, 90), (255, 255, 0)}  # the backdrop and the text, nothing else
    text_box = Image.eval(frame, lambda v: 255 if v == 255 else 0).getbbox()
    assert text_box is not None and text_box[0] >= 2 and text_box[1] >= 2
