"""Reading the service's processes from outside (tests and benchmarks)."""

from __future__ import annotations

import psutil

SCHEMA_CHILD = "ledmatrix_mqtt.schema_child"  # the schema worker's module (``schema_worker``)


def schema_workers(pid: int) -> list[psutil.Process]:
    """The schema worker children of the process ``pid`` (none, or one)."""
    found = []
    for kid in psutil.Process(pid).children():
        try:
            if SCHEMA_CHILD in " ".join(kid.cmdline()):
                found.append(kid)
        except psutil.NoSuchProcess:
            continue  # it ended between listing and reading
    return found
