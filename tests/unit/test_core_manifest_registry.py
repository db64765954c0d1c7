"""Manifest validation, the compatibility gate, registry parsing and aliases."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledmatrix_mqtt.core.manifest import check_compatible, parse_manifest, parse_manifest_bytes
from ledmatrix_mqtt.core.registry_format import AliasTable, filter_entries, parse_registry
from ledmatrix_mqtt.errors import Incompatible, InvalidManifest, InvalidPayload
from tests.support.plugin_factory import manifest


def test_manifest_minimal_defaults() -> None:
    m = parse_manifest(manifest("clock-simple"))
    assert m.id == "clock-simple"
    assert m.entry_point == "manager.py"
    assert m.display_modes == ("clock-simple",)
    assert m.api == "ledmatrix"


@pytest.mark.parametrize("missing", ["id", "name", "class_name", "display_modes"])
def test_manifest_required_fields(missing: str) -> None:
    data = manifest("x")
    del data[missing]
    with pytest.raises(InvalidManifest, match=missing):
        parse_manifest(data)


@pytest.mark.parametrize("bad_id", ["../evil", "a/b", "..", "", "UP"])
def test_manifest_id_must_be_a_valid_plugin_id(bad_id: str) -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest(manifest("x") | {"id": bad_id})


@pytest.mark.parametrize("entry", ["../x.py", "/etc/x.py", "x.sh", "a/../../b.py"])
def test_manifest_entry_point_must_stay_inside(entry: str) -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest(manifest("x") | {"entry_point": entry})


def test_manifest_folder_must_match_id() -> None:
    with pytest.raises(InvalidManifest, match="does not match folder"):
        parse_manifest(manifest("x"), folder_name="y")


def test_manifest_bytes_errors() -> None:
    with pytest.raises(InvalidManifest, match="not valid JSON"):
        parse_manifest_bytes(b"{nope")
    with pytest.raises(InvalidManifest, match="JSON object"):
        parse_manifest_bytes(b"[1, 2]")
    with pytest.raises(InvalidManifest, match="256 KiB"):
        parse_manifest_bytes(b" " * (257 * 1024))


def test_manifest_is_frozen() -> None:
    m = parse_manifest(manifest("x", tags=["a"]))
    with pytest.raises(TypeError):
        m.raw["id"] = "y"  # type: ignore[index]
    assert m.tags == ("a",)


def test_compatibility_gate() -> None:
    ok = parse_manifest(manifest("x", compatible_versions=[">=2.0.0"]))
    check_compatible(ok, "3.1.0")
    upper = parse_manifest(manifest("x", compatible_versions=[">=2.0.0 <3.0.0"]))
    with pytest.raises(Incompatible):
        check_compatible(upper, "3.1.0")
    floor = parse_manifest(manifest("x", min_ledmatrix_version="9.0.0"))
    with pytest.raises(Incompatible, match=r"9\.0\.0"):
        check_compatible(floor, "3.1.0")
    nested = parse_manifest(manifest("x", requires={"min_ledmatrix_version": "4.0"}))
    with pytest.raises(Incompatible):
        check_compatible(nested, "3.1.0")
    unparseable = parse_manifest(manifest("x", compatible_versions=["whatever!"]))
    check_compatible(unparseable, "3.1.0")  # no evidence: allowed
    compatible_release = parse_manifest(manifest("x", compatible_versions=["~=3.2"]))
    with pytest.raises(Incompatible):
        check_compatible(compatible_release, "3.1.0")


REGISTRY = {
    "version": "1",
    "plugins": [
        {"id": "clock-simple", "name": "Clock", "repo": "https://github.com/a/clock-simple",
         "latest_version": "1.2.0", "category": "time", "tags": ["clock"], "verified": True},
        {"id": "weather", "name": "Weather", "repo": "https://github.com/ChuckBuilds/ledmatrix-plugins",
         "plugin_path": "plugins//ledmatrix-weather/", "category": "weather", "tags": ["weather"]},
        {"id": "old-style", "name": "Old", "versions": [
            {"version": "2.0.0", "download_url": "https://github.com/a/b/archive/v2.zip"}]},
        {"id": "../evil", "name": "bad"},
        {"id": "skin-x", "name": "Skin", "type": "skin"},
        "not an object",
    ],
}  # fmt: skip


def test_parse_registry_current_and_legacy_forms() -> None:
    reg = parse_registry(REGISTRY)
    assert [e.id for e in reg.entries] == ["clock-simple", "weather", "old-style"]
    weather = reg.get("weather")
    assert weather is not None and weather.plugin_path == "plugins/ledmatrix-weather"
    old = reg.get("old-style")
    assert old is not None
    assert old.latest_version == "2.0.0"
    assert old.download_url == "https://github.com/a/b/archive/v2.zip"


def test_parse_registry_rejects_non_registry() -> None:
    with pytest.raises(InvalidPayload):
        parse_registry({"nope": 1})


def test_alias_table_resolves_plugin_path_basename_but_exact_id_wins() -> None:
    reg = parse_registry(REGISTRY)
    table = AliasTable.build(reg)
    entry = table.resolve("ledmatrix-weather")
    assert entry is not None and entry.id == "weather"
    assert table.resolve("weather") is entry
    assert table.resolve("nothing") is None
    clash = parse_registry(
        {"plugins": [{"id": "ledmatrix-weather", "name": "exact"}, *REGISTRY["plugins"][:2]]}
    )
    exact = AliasTable.build(clash).resolve("ledmatrix-weather")
    assert exact is not None and exact.name == "exact"


def test_filter_entries_order_and_rules() -> None:
    reg = parse_registry(REGISTRY)
    assert [e.id for e in filter_entries(reg.entries, category="time")] == ["clock-simple"]
    assert [e.id for e in filter_entries(reg.entries, tags=("weather", "x"))] == ["weather"]
    assert [e.id for e in filter_entries(reg.entries, query="OLD")] == ["old-style"]
    assert [e.id for e in filter_entries(reg.entries)] == ["clock-simple", "weather", "old-style"]


def test_registry_entries_are_immutable_copies() -> None:
    source = json.loads(json.dumps(REGISTRY))
    reg = parse_registry(source)
    source["plugins"][0]["name"] = "mutated"
    assert reg.entries[0].name == "Clock"


_CODE_POINTS = st.one_of(st.integers(0xD800, 0xDFFF), st.integers(0, 0x10FFFF))  # surrogates often
_ANY_TEXT = st.lists(_CODE_POINTS.map(chr), max_size=12).map("".join)


@given(field=st.sampled_from(["name", "description", "author", "version", "category"]),
       value=_ANY_TEXT)  # fmt: skip
def test_any_text_in_a_manifest_is_refused_or_publishable(field: str, value: str) -> None:
    """Lone surrogates (valid JSON) in a manifest killed the control plane; every string
    that leaves the parser must be encodable as UTF-8."""
    try:
        parsed = parse_manifest(manifest("x", **{field: value}))
    except InvalidManifest as exc:
        exc.message.encode("utf-8")
        return
    for text in (parsed.name, parsed.description, parsed.author, parsed.version):
        text.encode("utf-8")


@given(value=_ANY_TEXT)
def test_any_text_in_a_registry_entry_is_dropped_or_publishable(value: str) -> None:
    registry = parse_registry({"plugins": [{"id": "x", "name": value, "tags": [value]}]})
    for entry in registry.entries:
        json.dumps([entry.name, *entry.tags], ensure_ascii=False).encode("utf-8")


def test_lone_surrogate_in_a_manifest_key_is_invalid() -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest_bytes(json.dumps(manifest("x")).replace('"author"', '"a\\ud800"').encode())
