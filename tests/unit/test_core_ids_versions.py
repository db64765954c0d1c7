"""Plugin-id rule and version logic (pure core)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledmatrix_mqtt.core.ids import (
    device_id_from_hostname,
    is_valid_device_id,
    is_valid_plugin_id,
    validate_plugin_id,
)
from ledmatrix_mqtt.core.versions import is_update_available, parse_version, satisfies
from ledmatrix_mqtt.errors import InvalidPluginId


@pytest.mark.parametrize(
    "good", ["clock", "clock-simple", "ledmatrix-weather", "a", "x.y_z-1", "9lives", "a" * 64]
)
def test_valid_plugin_ids(good: str) -> None:
    assert validate_plugin_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden", "-x", "Upper", "a..b", "a.",
     "a" * 65, "a b", "é", None, 3, ["x"]],
)  # fmt: skip
def test_invalid_plugin_ids_are_refused(bad: object) -> None:
    assert not is_valid_plugin_id(bad)
    with pytest.raises(InvalidPluginId) as info:
        validate_plugin_id(bad)
    assert info.value.code == "invalid_plugin_id"


@given(st.text(max_size=80))
def test_valid_ids_never_escape_a_folder(text: str) -> None:
    if is_valid_plugin_id(text):
        assert "/" not in text and "\\" not in text and ".." not in text
        assert not text.startswith(".")


def test_device_id_from_hostname() -> None:
    assert device_id_from_hostname("My-Pi.local") == "my-pi-local"
    assert device_id_from_hostname("!!!") == "ledmatrix"
    assert is_valid_device_id(device_id_from_hostname("x" * 100))


@pytest.mark.parametrize(
    ("installed", "latest", "expected"),
    [
        ("1.0.0", "1.0.1", True),
        ("1.0.1", "1.0.0", False),  # a local version ahead is never downgraded
        ("v1.2.0", "1.2.0", False),
        ("1.2.0", "1.2.0", False),
        ("", "1.0.0", False),
        ("1.0.0", "", False),
        ("1.0", "1.0.0", False),
        ("garbage", "garbage", False),  # no reinstall loop on unparseable equal text
        ("garbage", "1.0.0", True),
        ("1.0.0rc1", "1.0.0", True),
    ],
)
def test_is_update_available(installed: str, latest: str, expected: bool) -> None:
    assert is_update_available(installed, latest) is expected


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ("3.1.0", ">=2.0.0", True),
        ("3.1.0", ">=2.0.0 <3.0.0", False),  # upstream #433: upper bounds count
        ("3.1.0", "<=3.1.0", True),
        ("3.1.0", "~3.1.0", True),
        ("3.2.0", "~3.1.0", False),
        ("3.9.0", "^3.1.0", True),
        ("4.0.0", "^3.1.0", False),
        ("3.1.0", "2.0.0 - 3.5.0", True),
        ("3.1.0", "3.x", True),
        ("3.1.0", "3.1.0", True),
        ("3.1.0", "nonsense!!", None),
        ("3.1.0", "~=3.2", False),  # PEP 440 compatible release was "unknown", so allowed
        ("3.2.5", "~=3.2", True),
        ("3.1.0", ">=2,<3", False),
        ("3.1.0", ">=2.0.0, <4", True),
        ("3.1.0", "==3.*", True),
        ("3.1.0", "!=3.1.0", False),
        ("3.0.0rc1", ">=2.0", True),  # a pre-release core is judged like any version
        ("2.0.0b1", ">=2.0.0", False),
        ("3.1.0", "3.x.1", None),
    ],
)
def test_satisfies_ranges(version: str, spec: str, expected: bool | None) -> None:
    assert satisfies(version, spec) is expected


def test_parse_version_accepts_v_prefix() -> None:
    assert str(parse_version("v2.0.1")) == "2.0.1"
    assert parse_version("") is None
    assert parse_version(None) is None
