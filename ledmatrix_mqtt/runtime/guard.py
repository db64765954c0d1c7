"""Process-ending calls from plugin code are turned into exceptions.

A plugin runs in-process, so ``os._exit()`` (or ``os.abort()``) in its
constructor, ``update()`` or ``display()`` would end the whole service and
systemd would restart it into the same crash. ``install()`` replaces those
functions in ``os`` (and ``posix``) with guards: called with a plugin module
(one imported under ``imports.ROOT_PACKAGE``) anywhere on the calling stack,
they raise :class:`PluginExitBlocked` instead, which the runtime records as the
plugin's failure like any other error; called from the service's own code
they behave as before. ``sys.exit()`` needs no guard: it raises
``SystemExit``, which the runtime already catches around every plugin call.

This is the strongest measure available in one process; a plugin that sends
itself SIGKILL or calls into C can still end it (plugins are trusted code the
user chose to install).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from ledmatrix_mqtt.runtime.imports import ROOT_PACKAGE

_PREFIX = ROOT_PACKAGE + "."
_lock = threading.Lock()
_installed = False
_service_pid = os.getpid()


class PluginExitBlocked(SystemExit):
    """A plugin tried to end the process; raised in the plugin's own call instead."""


def called_from_plugin() -> bool:
    """True if a frame of plugin code is on the current thread's stack."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if isinstance(name, str) and name.startswith(_PREFIX):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _guard(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> NoReturn:
        # a forked child (multiprocessing started by a plugin) must be able to exit
        if os.getpid() == _service_pid and called_from_plugin():
            raise PluginExitBlocked(f"a plugin called os.{name}(); plugins cannot end the service")
        real(*args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover - the real call never returns

    guarded.__name__ = name
    guarded.__doc__ = real.__doc__
    return guarded


def install() -> None:
    """Guard ``os._exit`` and ``os.abort`` (idempotent; done before any plugin is imported)."""
    global _installed, _service_pid
    with _lock:
        if _installed:
            return
        _service_pid = os.getpid()
        modules = [os, sys.modules.get("posix") or sys.modules.get("nt")]
        for name in ("_exit", "abort"):
            guarded = _guard(name, getattr(os, name))
            for module in modules:
                if module is not None and hasattr(module, name):
                    setattr(module, name, guarded)
        _installed = True
