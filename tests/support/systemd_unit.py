"""The shipped systemd unit, read the way systemd reads the parts we rely on.

One reader for the e2e test that runs the unit's ``ExecStart`` and for the
benchmarks that start the service as deployed: ``unit_settings`` gives every
``Key=value`` line, ``environment`` what the unit's ``Environment=`` lines set,
and ``service_environment`` the whole environment a unit's process starts with
(systemd passes no login shell's variables: only ``PATH`` and ``LANG`` of its own,
plus the unit's ``Environment=``).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "config" / "ledmatrix-mqtt.service"
# systemd's default PATH for system services (systemd.exec(5), "Environment variables").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file (comments and section headers skipped)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def environment(unit: dict[str, list[str]]) -> dict[str, str]:
    """What the unit's ``Environment=`` lines set (each line holds quoted ``NAME=value`` words)."""
    env: dict[str, str] = {}
    for assignment in unit.get("Environment", []):
        for pair in shlex.split(assignment):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def service_environment(unit: dict[str, list[str]], *, path: str = "") -> dict[str, str]:
    """The environment of the unit's process: systemd's own ``PATH`` (or ``path``: a test's
    venv may have to come first), ``LANG`` as the system has it, and the unit's
    ``Environment=``; nothing from the caller's shell (``PYTHONDONTWRITEBYTECODE``...)."""
    env = {"PATH": path or SYSTEMD_PATH}
    if os.environ.get("LANG"):
        env["LANG"] = os.environ["LANG"]
    env.update(environment(unit))
    return env
