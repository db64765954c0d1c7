"""Real small and read-only filesystems for disk-full tests (needs root; else skip)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*argv: str) -> bool:
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (skips the test when mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _run(
        "mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)
    ):
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


def fill(path: Path) -> None:
    """Fill the filesystem holding ``path`` completely."""
    with open(path / ".filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)


def remount_read_only(path: Path) -> None:
    assert _run("mount", "-o", "remount,ro", str(path)), "remount read-only failed"
