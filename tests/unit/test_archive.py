"""Hostile and normal archives against ``store.archive.extract_plugin``."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledmatrix_mqtt.errors import InvalidArchive
from ledmatrix_mqtt.store.archive import ArchiveLimits, extract_plugin


def _zip(tmp_path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    path = tmp_path / "a.zip"
    path.write_bytes(buf.getvalue())
    return path


def _unix(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _refused(tmp_path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], reason: str,
             **kw: object) -> None:  # fmt: skip
    archive = _zip(tmp_path, members)
    dest = tmp_path / "stage" / "plugin"
    with pytest.raises(InvalidArchive) as err:
        extract_plugin(archive, dest, **kw)  # type: ignore[arg-type]
    assert err.value.code == "invalid_archive"
    assert err.value.details["reason"] == reason
    # Nothing anywhere in tmp_path besides the archive and (empty) staging.
    written = {p for p in _files_under(tmp_path) if p != "a.zip"}
    assert written == set()


def test_extracts_github_archive_stripping_root(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [("repo-main/", b""), ("repo-main/manifest.json", b"{}"),
                              ("repo-main/lib/x.py", b"x = 1")])  # fmt: skip
    count = extract_plugin(archive, tmp_path / "out")
    assert count == 2
    assert _files_under(tmp_path / "out") == {"manifest.json", "lib/x.py"}


def test_archive_without_root_folder_is_taken_as_is(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [("manifest.json", b"{}"), ("manager.py", b"")])
    extract_plugin(archive, tmp_path / "out")
    assert _files_under(tmp_path / "out") == {"manifest.json", "manager.py"}


def test_monorepo_subpath_extracts_only_that_plugin(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [
        ("mono-main/plugins/weather/manifest.json", b"{}"),
        ("mono-main/plugins/weather/sub/a.py", b""),
        ("mono-main/plugins/weather-extra/manifest.json", b"{}"),
        ("mono-main/plugins/clock/manifest.json", b"{}"),
        ("mono-main/README.md", b"hi"),
    ])  # fmt: skip
    extract_plugin(archive, tmp_path / "out", subpath="/plugins//weather/")
    assert _files_under(tmp_path / "out") == {"manifest.json", "sub/a.py"}


def test_monorepo_subpath_with_dotdot_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("r/a/manifest.json", b"{}")], "bad_subpath", subpath="../etc")


def test_missing_subpath_is_empty(tmp_path: Path) -> None:
    _refused(tmp_path, [("r/a/manifest.json", b"{}")], "empty", subpath="plugins/nope")


def test_zip_slip_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("r/manifest.json", b"{}"), ("r/../../evil.py", b"x")], "zip_slip")
    assert not (tmp_path.parent / "evil.py").exists()


def test_absolute_path_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("/tmp/evil.py", b"x")], "absolute_path")


def test_drive_letter_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("C:evil.py", b"x")], "absolute_path")


def test_backslash_path_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("r\\..\\..\\evil.py", b"x")], "backslash")


def test_symlink_entry_refused(tmp_path: Path) -> None:
    link = _unix("r/link", stat.S_IFLNK | 0o777)
    _refused(tmp_path, [("r/manifest.json", b"{}"), (link, b"/etc/passwd")], "symlink")


@pytest.mark.parametrize("kind", [stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK])
def test_device_and_special_entries_refused(tmp_path: Path, kind: int) -> None:
    """Hard links and devices have no place in a plugin: any non-regular mode is refused."""
    _refused(tmp_path, [(_unix("r/dev", kind | 0o644), b"")], "special_file")


def test_zip_bomb_ratio_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("r/bomb.bin", b"\0" * (4 * 1024 * 1024))], "ratio")


def test_small_compressible_files_are_fine(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [("r/zeros.txt", b"\0" * 10_000)])
    assert extract_plugin(archive, tmp_path / "out") == 1


def test_oversize_archive_refused(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    limits = ArchiveLimits(max_archive_bytes=10_000)
    _refused(tmp_path, [("r/big.bin", data)], "too_large", limits=limits)


def test_oversize_uncompressed_total_refused(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_total_bytes=100_000)
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
        (f"r/f{i}.bin", os.urandom(40_000)) for i in range(3)
    ]
    _refused(tmp_path, members, "too_large", limits=limits)


def test_too_many_entries_refused(tmp_path: Path) -> None:
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = [(f"r/f{i}.txt", b"") for i in range(30)]
    _refused(tmp_path, members, "too_many_entries", limits=ArchiveLimits(max_entries=20))


def test_empty_archive_refused(tmp_path: Path) -> None:
    _refused(tmp_path, [("r/", b"")], "empty")


def test_duplicate_member_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf, pytest.warns(UserWarning):
        zf.writestr("r/a.py", b"1")
        zf.writestr("r/a.py", b"2")
    with pytest.raises(InvalidArchive) as err:
        extract_plugin(archive, tmp_path / "out")
    assert err.value.details["reason"] == "duplicate"


def test_truncated_archive_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [("r/manifest.json", os.urandom(5000))])
    archive.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(InvalidArchive) as err:
        extract_plugin(archive, tmp_path / "out")
    assert err.value.details["reason"] == "corrupt"


def test_not_a_zip_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(InvalidArchive):
        extract_plugin(archive, tmp_path / "out")


def test_existing_symlink_in_dest_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "lib").symlink_to(outside)
    archive = _zip(tmp_path, [("r/lib/x.py", b"x")])
    with pytest.raises(InvalidArchive) as err:
        extract_plugin(archive, dest)
    assert err.value.details["reason"] == "zip_slip"
    assert list(outside.iterdir()) == []


def test_executable_bit_kept_and_setuid_dropped(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [(_unix("r/run.sh", stat.S_IFREG | 0o4755), b"#!/bin/sh\n"),
                              (_unix("r/data.txt", stat.S_IFREG | 0o666), b"x")])  # fmt: skip
    extract_plugin(archive, tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / "run.sh").stat().st_mode) & 0o7000 == 0
    assert os.access(tmp_path / "out" / "run.sh", os.X_OK)
    assert stat.S_IMODE((tmp_path / "out" / "data.txt").stat().st_mode) & 0o111 == 0


_segment = st.sampled_from(["..", ".", "", "a", "b.py", "/", "\\", "C:", "~", "\x00", "é"])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(st.lists(_segment, min_size=1, max_size=6).map("/".join), min_size=1,
                      max_size=5))  # fmt: skip
def test_random_member_names_never_write_outside_staging(tmp_path: Path, names: list[str]) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    dest = work / "stage" / "plugin"
    archive = work / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the fuzzing
        for i, name in enumerate(names):
            info = zipfile.ZipInfo(name)
            zf.writestr(info, f"{i}".encode())
    with contextlib.suppress(InvalidArchive):
        extract_plugin(archive, dest)
    for path in work.rglob("*"):
        if path.is_file() and path != archive:
            real = os.path.realpath(path)
            assert real.startswith(os.path.realpath(dest) + os.sep), real


def test_encrypted_entry_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [("r/secret.py", b"x")])
    raw = bytearray(archive.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= 0x1  # general-purpose flag bit 0: encrypted
    archive.write_bytes(bytes(raw))
    with pytest.raises(InvalidArchive) as err:
        extract_plugin(archive, tmp_path / "out")
    assert err.value.details["reason"] == "encrypted"


def test_two_thousand_deep_member_path_is_invalid_archive_not_internal_error(
    tmp_path: Path,
) -> None:
    deep = "repo-main/" + "d/" * 2000 + "x.py"
    _refused(tmp_path, [("repo-main/manifest.json", b"{}"), (deep, b"x")], "too_deep")


def test_vcs_metadata_in_an_archive_is_never_written(tmp_path: Path) -> None:
    archive = _zip(tmp_path, [("repo-main/manifest.json", b"{}"),
                              ("repo-main/.git/config", b"[core]\n\tfsmonitor = touch /x\n"),
                              ("repo-main/lib/.git/HEAD", b"ref: x"),
                              ("repo-main/.hg/hgrc", b"[hooks]"),
                              ("repo-main/lib/ok.py", b"x = 1")])  # fmt: skip
    extract_plugin(archive, tmp_path / "out")
    assert _files_under(tmp_path / "out") == {"manifest.json", "lib/ok.py"}
