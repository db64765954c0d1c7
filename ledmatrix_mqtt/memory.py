"""Keeping the long-running service's native heap small (glibc only; a no-op elsewhere).

glibc gives every thread that allocates while the others hold the heap lock an
arena of its own (up to 8 per core), and memory freed into an arena stays
resident. The service starts a thread per plugin load and a dozen workers, so
on a Raspberry Pi budget the arenas alone held about 6 MiB (15 arenas, 10
plugins). :func:`limit_arenas` caps them before any thread starts;
:func:`trim` hands freed heap pages back once start-up work has settled.
An explicit ``MALLOC_ARENA_MAX`` in the environment wins over the cap.

Python's cyclic collector is paused while the service starts
(:func:`pause_collector`) and resumed, after one collection, with what start-up built frozen out
of its reach (:func:`resume_collector`): start-up creates the long-lived bulk of
the heap (modules, classes, config), and collecting over it as it grows cost
about 5 % of the CPU to ``online``; frozen, it is never traversed again, so a
later collection (in the middle of a command) stays short.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any

_LOG = logging.getLogger(__name__)
ARENA_MAX = 2  # the main heap plus one shared by all threads
_M_ARENA_MAX = -8  # mallopt parameter number (malloc.h)
_ENV = "MALLOC_ARENA_MAX"


def _libc() -> Any | None:
    """glibc, or None (another platform or C library: nothing to tune)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: the service pays for it, the CLI does not

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_arenas(arena_max: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas; True when the cap was set.

    Call before the first thread starts (arenas already made stay). False when
    the environment sets ``MALLOC_ARENA_MAX`` itself or the C library is not glibc.
    """
    if _ENV in os.environ:
        return False
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arena_max) == 1)


def trim() -> bool:
    """Return freed heap pages to the system (``malloc_trim(0)``); True if any were."""
    libc = _libc()
    if libc is None:
        return False
    released = bool(libc.malloc_trim(0))
    _LOG.debug("malloc_trim released memory: %s", released)
    return released


def pause_collector() -> None:
    """Stop automatic cyclic collections until :func:`resume_collector`."""
    gc.disable()


def resume_collector() -> None:
    """Collect once (cycles start-up left behind), move every object still alive to the
    collector's permanent generation, then resume automatic collections."""
    gc.collect()
    gc.freeze()
    gc.enable()
