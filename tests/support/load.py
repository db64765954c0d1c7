"""Install-like load for timing tests and benchmarks: CPU and disk work in a loop."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from pathlib import Path


def install_like_load(
    stop: threading.Event, folder: Path, *, members: int = 8, member_bytes: int = 1 << 20
) -> int:
    """What an install does, until ``stop``: build, extract and hash a ZIP of
    ``members`` files of ``member_bytes`` each in ``folder``. Returns the rounds done."""
    payload = bytes(range(256)) * (member_bytes // 256)
    rounds = 0
    while not stop.is_set():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(members):
                archive.writestr(f"plugin/file{i}.bin", payload)
        with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
            archive.extractall(folder)
        for file in folder.rglob("*.bin"):
            hashlib.sha256(file.read_bytes()).hexdigest()
        rounds += 1
    return rounds
