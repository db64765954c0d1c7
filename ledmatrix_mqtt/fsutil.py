"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync folder."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.errors import StorageFailed


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half.

    Raises ``StorageFailed`` (disk full, read-only folder...) and leaves the old
    file untouched and no temp file behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
    fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, *, mode: int | None = None) -> None:
    """``atomic_write_bytes`` of ``value`` as UTF-8 JSON.

    Text that UTF-8 cannot hold (a lone surrogate from a hostile document) is
    written as a ``\\uXXXX`` escape, so any value JSON can decode can be saved
    and reads back unchanged.
    """
    data = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        raw = data.encode("utf-8")
    except UnicodeEncodeError:
        raw = (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()
    atomic_write_bytes(path, raw, mode=mode)


def remove_stale_temps(target: Path) -> list[str]:
    """Delete the temp files an interrupted ``atomic_write_bytes(target, ...)`` left
    beside ``target`` (``.<name>.<random>.tmp``); returns their names.

    Call only at start-up, while no writer of ``target`` can be running.
    """
    target = Path(target)
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for path in sorted(target.parent.glob(f".{glob.escape(target.name)}.*.tmp")):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return removed


def sorted_entries(folder: Path) -> list[Path]:
    """The folder's entries sorted by name; empty when it is missing or unreadable."""
    try:
        return sorted(Path(folder).iterdir())
    except OSError:
        return []


def read_json(path: Path, default: Any = None) -> Any:
    """Decoded JSON, or ``default`` when the file is missing, unreadable or corrupt."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
