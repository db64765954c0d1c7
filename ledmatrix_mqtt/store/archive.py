"""Safe extraction of a plugin ZIP into a fresh staging folder.

Every member is checked before a byte is written: no ``..``, absolute paths,
drive letters or backslashes; no symlinks, devices, FIFOs or other non-regular
entries; no encrypted entries; caps on the archive size, the total
uncompressed size, the per-entry compression ratio (zip bombs) and the number
of entries. Files are written with our own ``os.open`` of a resolved path
(``O_EXCL | O_NOFOLLOW``), never ``ZipFile.extractall``, so nothing can land
outside the staging folder. ``InvalidArchive.details["reason"]`` is a stable
sub-code (``zip_slip``, ``absolute_path``, ``backslash``, ``symlink``,
``special_file``, ``encrypted``, ``too_large``, ``ratio``, ``too_many_entries``,
``empty``, ``corrupt``, ``duplicate``, ``bad_subpath``, ``too_deep``).

Version-control metadata (``.git``, ``.hg``, ``.svn``, ``.bzr`` at any depth) is
never written: a ``.git/config`` from a download could name commands (e.g.
``core.fsmonitor``) that a later git call would run outside the plugin runtime.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ledmatrix_mqtt.errors import InvalidArchive, StorageFailed
from ledmatrix_mqtt.store.staging import STORAGE_ERRNOS, storage_failed

MiB = 1024 * 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CHUNK = 64 * 1024
VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})
MAX_DEPTH = 64  # path components; real plugins nest a handful deep
MAX_NAME = 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps applied to every archive. Defaults fit any real plugin with room to spare."""

    max_archive_bytes: int = 64 * MiB
    max_total_bytes: int = 64 * MiB
    max_entries: int = 5000
    max_ratio: float = 200.0
    ratio_min_bytes: int = 256 * 1024  # small, very compressible files are normal


def _refuse(reason: str, message: str) -> InvalidArchive:
    return InvalidArchive(message, details={"reason": reason})


def normalise_subpath(subpath: str) -> tuple[str, ...]:
    """``"/plugins//weather/"`` -> ``("plugins", "weather")`` (repo-relative); refuse escapes."""
    if "\\" in subpath or _DRIVE_RE.match(subpath):
        raise _refuse("bad_subpath", f"plugin_path {subpath!r} must be a relative POSIX path")
    parts = tuple(p for p in subpath.split("/") if p not in ("", "."))
    if ".." in parts:
        raise _refuse("bad_subpath", f"plugin_path {subpath!r} must not contain '..'")
    return parts


def member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The checked path components of one member; raise ``InvalidArchive`` if hostile."""
    name = info.filename
    if "\x00" in name:
        raise _refuse("zip_slip", "archive member name contains a NUL byte")
    if "\\" in name:
        raise _refuse("backslash", f"archive member {name[:120]!r} uses a backslash path")
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise _refuse("absolute_path", f"archive member {name[:120]!r} is an absolute path")
    if name.count("/") > MAX_DEPTH or len(name) > MAX_NAME:
        raise _refuse("too_deep", f"archive member {name[:120]!r}... nests deeper than {MAX_DEPTH}")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise _refuse("zip_slip", f"archive member {name[:120]!r} escapes the archive (..)")
    _check_mode(info)
    if info.flag_bits & 0x1:
        raise _refuse("encrypted", f"archive member {name[:120]!r} is encrypted")
    return parts


def _check_mode(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    if info.create_system != 3 or not stat.S_IFMT(mode):
        return  # no Unix type bits recorded: a plain file or folder
    if stat.S_ISLNK(mode):
        raise _refuse("symlink", f"archive member {info.filename[:120]!r} is a symlink")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _refuse(
            "special_file",
            f"archive member {info.filename[:120]!r} is not a regular file (mode {mode:o})",
        )


def _check_sizes(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(infos) > limits.max_entries:
        raise _refuse(
            "too_many_entries", f"archive has {len(infos)} entries (cap {limits.max_entries})"
        )
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise _refuse(
                "ratio",
                f"archive member {info.filename[:120]!r} expands {ratio:.0f}x "
                f"(cap {limits.max_ratio:.0f}x): refusing a zip bomb",
            )
    if total > limits.max_total_bytes:
        raise _refuse(
            "too_large", f"archive expands to {total} bytes (cap {limits.max_total_bytes})"
        )


def _archive_root(all_parts: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The single top-level folder every member sits in (GitHub archives), else ``()``."""
    tops = {parts[0] for parts in all_parts if parts}
    if len(tops) != 1:
        return ()
    return (next(iter(tops)),)


def _select(
    infos: list[zipfile.ZipInfo], subpath: str
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Members to write, each with its path relative to the plugin folder."""
    all_parts = [member_parts(info) for info in infos]
    root = _archive_root(all_parts)
    files = [
        (i, p)
        for i, p in zip(infos, all_parts, strict=True)
        if p and not i.is_dir() and VCS_DIRS.isdisjoint(p)
    ]
    if root and any(p == root for _, p in files):
        root = ()  # the single top-level name is a file, not a folder
    prefix = root + normalise_subpath(subpath)
    chosen = [(i, p[len(prefix) :]) for i, p in files if p[: len(prefix)] == prefix]
    chosen = [(i, rel) for i, rel in chosen if rel]
    if not chosen:
        where = f" under {'/'.join(prefix)!r}" if subpath else ""
        raise _refuse("empty", f"archive has no files{where}")
    return chosen


def _target(dest_real: str, rel: tuple[str, ...]) -> str:
    path = os.path.realpath(os.path.join(dest_real, *rel))
    if not path.startswith(dest_real + os.sep):
        raise _refuse("zip_slip", f"archive member {'/'.join(rel)[:120]!r} resolves outside")
    return path


def _storage_or_invalid(exc: OSError, what: str) -> Exception:
    if exc.errno in STORAGE_ERRNOS:
        return storage_failed(exc, f"write {what}")
    return _refuse("duplicate", f"cannot extract {what}: {exc.strerror or exc}")


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, budget: list[int]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    executable = bool((info.external_attr >> 16) & 0o111)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o755 if executable else 0o644)
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while chunk := src.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise _refuse("too_large", "archive expands past its size cap")
            out.write(chunk)


def extract_plugin(
    archive: Path, dest: Path, *, subpath: str = "", limits: ArchiveLimits | None = None
) -> int:
    """Extract the plugin in ``archive`` so its files sit directly in ``dest``.

    The archive's single top-level folder (GitHub's ``repo-branch/``) is
    stripped; with ``subpath`` (a monorepo ``plugin_path``) only members under
    ``<root>/<subpath>/`` are written. ``dest`` is created and must not exist
    or be empty. Returns the number of files written. Raises ``InvalidArchive``
    for hostile or broken archives and ``StorageFailed`` for disk errors; on
    failure ``dest`` may hold a partial tree the caller discards.
    """
    limits = limits or ArchiveLimits()
    try:
        size = archive.stat().st_size
    except OSError as exc:
        raise _refuse("corrupt", f"cannot read archive: {exc.strerror or exc}") from exc
    if size > limits.max_archive_bytes:
        raise _refuse("too_large", f"archive is {size} bytes (cap {limits.max_archive_bytes})")
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_sizes(infos, limits)
            chosen = _select(infos, subpath)
            return _write_all(zf, chosen, dest, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise _refuse("corrupt", f"archive is damaged or truncated: {exc}") from exc


def _write_all(
    zf: zipfile.ZipFile,
    chosen: list[tuple[zipfile.ZipInfo, tuple[str, ...]]],
    dest: Path,
    limits: ArchiveLimits,
) -> int:
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageFailed(f"cannot create {dest}: {exc.strerror or exc}") from exc
    dest_real = os.path.realpath(dest)
    budget = [limits.max_total_bytes]
    for info, rel in chosen:
        path = _target(dest_real, rel)
        try:
            _write_member(zf, info, path, budget)
        except OSError as exc:
            raise _storage_or_invalid(exc, "/".join(rel)) from exc
    return len(chosen)
