"""Importing a plugin's modules in isolation.

Each loaded plugin gets a private package name ``_ledmatrix_plugins.p<n>_<id>``
whose ``__path__`` is the plugin folder. Its modules run with their own
``__builtins__`` whose ``__import__``

- resolves a top-level import of a sibling module (``import utils``) to the
  plugin's own copy, so two plugins with a ``utils.py`` never collide (#237);
- resolves ``src``, ``src.plugin_system`` and ``src.plugin_system.base_plugin``
  to the compatibility layer *for that plugin's modules only*: nothing named
  ``src`` is put on ``sys.path`` or in ``sys.modules``, so a real ``src``
  package elsewhere keeps importing normally;
- hands everything else to the normal import system.

``print()`` in plugin modules goes to the ``plugin.<id>`` logger (INFO; WARNING
for ``file=sys.stderr``) with the plugin's x-secret values redacted, so a
debugging print of an API URL never reaches stdout or the journal verbatim.
The x-secret values also join the process's redactor (``logsetup.REDACTOR``):
the plugin's log records and its direct writes to ``sys.stdout``/``sys.stderr``
are redacted too, wherever the value is set (config or secrets file).

Bytecode is never written into plugin folders (LEDMatrix #242: root-owned
``__pycache__`` blocked later deletes).
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import logging
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.logsetup import REDACTOR
from ledmatrix_mqtt.runtime.compat import base_plugin
from ledmatrix_mqtt.runtime.plugin_config import redact

ROOT_PACKAGE = "_ledmatrix_plugins"
_counter = itertools.count(1)
_lock = threading.Lock()


def _alias_modules() -> dict[str, types.ModuleType]:
    src = types.ModuleType("src")
    system = types.ModuleType("src.plugin_system")
    system.base_plugin = base_plugin  # type: ignore[attr-defined]
    src.plugin_system = system  # type: ignore[attr-defined]
    return {"src": src, "src.plugin_system": system, "src.plugin_system.base_plugin": base_plugin}


_ALIASES = _alias_modules()


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """Executes a plugin module with the plugin's builtins; never writes ``__pycache__``."""

    def __init__(self, fullname: str, path: str, plugin_builtins: dict[str, Any]) -> None:
        super().__init__(fullname, path)
        self._builtins = plugin_builtins

    def set_data(self, path: str, data: Any, *, _mode: int = 0o666) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self._builtins
        super().exec_module(module)


class _PluginFinder(importlib.abc.MetaPathFinder):
    """Finds modules under a registered plugin package, and only those."""

    def __init__(self) -> None:
        self.roots: dict[str, tuple[Path, dict[str, Any]]] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if len(parts) < 3 or parts[0] != ROOT_PACKAGE:
            return None
        root = ".".join(parts[:2])
        entry = self.roots.get(root)
        if entry is None:
            return None
        folder, plugin_builtins = entry
        base = folder.joinpath(*parts[2:])
        for file, is_pkg in ((base / "__init__.py", True), (base.with_suffix(".py"), False)):
            if file.is_file():
                loader = _NoBytecodeLoader(fullname, str(file), plugin_builtins)
                return importlib.util.spec_from_file_location(
                    fullname,
                    file,
                    loader=loader,
                    submodule_search_locations=[str(base)] if is_pkg else None,
                )
        return None


_FINDER = _PluginFinder()


def _install_finder() -> None:
    if ROOT_PACKAGE not in sys.modules:
        root = types.ModuleType(ROOT_PACKAGE)
        root.__path__ = []
        sys.modules[ROOT_PACKAGE] = root
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def _siblings(folder: Path) -> frozenset[str]:
    names = set()
    for child in folder.iterdir():
        if child.suffix == ".py" and child.stem.isidentifier():
            names.add(child.stem)
        elif child.is_dir() and (child / "__init__.py").is_file() and child.name.isidentifier():
            names.add(child.name)
    return frozenset(names)


def _make_import(package: str, siblings: frozenset[str]) -> Any:
    real_import = builtins.__import__

    def plugin_import(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level == 0:
            if name in _ALIASES:
                return _ALIASES[name] if fromlist else _ALIASES["src"]
            top = name.partition(".")[0]
            if top in siblings:
                module = importlib.import_module(f"{package}.{name}")
                return module if fromlist else importlib.import_module(f"{package}.{top}")
        return real_import(name, globals, locals, fromlist or (), level)

    return plugin_import


def _make_print(logger: logging.Logger, secrets: frozenset[str]) -> Any:
    real_print = builtins.print

    def plugin_print(
        *args: object, sep: str | None = " ", end: str | None = "\n", file: Any = None,
        flush: bool = False,
    ) -> None:  # fmt: skip
        if file is not None and file not in (sys.stdout, sys.stderr):
            real_print(*args, sep=sep, end=end, file=file, flush=flush)  # the plugin's own file
            return
        text = redact((" " if sep is None else sep).join(str(a) for a in args), secrets)
        level = logging.WARNING if file is sys.stderr else logging.INFO
        logger.log(level, "%s", text.rstrip("\n"))

    return plugin_print


class PluginModules:
    """The private module namespace of one loaded plugin."""

    def __init__(self, plugin_id: str, folder: Path, secrets: frozenset[str] = frozenset()) -> None:
        """``secrets``: values this plugin's output (``print()``, log records, the standard
        streams) must never show; they join ``logsetup.REDACTOR``."""
        self.folder = folder.resolve()
        safe_id = plugin_id.replace("-", "_").replace(".", "_")
        self.package = f"{ROOT_PACKAGE}.p{next(_counter)}_{safe_id}"
        plugin_builtins = dict(vars(builtins))
        plugin_builtins["__import__"] = _make_import(self.package, _siblings(self.folder))
        plugin_builtins["print"] = _make_print(logging.getLogger(f"plugin.{plugin_id}"), secrets)
        REDACTOR.add(secrets)
        with _lock:
            _install_finder()
            package = types.ModuleType(self.package)
            package.__path__ = [str(self.folder)]
            package.__file__ = None
            sys.modules[self.package] = package
            _FINDER.roots[self.package] = (self.folder, plugin_builtins)

    def import_entry(self, entry_point: str) -> types.ModuleType:
        """Import ``entry_point`` (a ``.py`` path relative to the plugin folder)."""
        dotted = entry_point.removesuffix(".py").replace("/", ".")
        importlib.invalidate_caches()
        return importlib.import_module(f"{self.package}.{dotted}")

    def release(self) -> None:
        """Forget every module of this plugin (after ``cleanup()``)."""
        with _lock:
            _FINDER.roots.pop(self.package, None)
            prefix = self.package + "."
            for name in [n for n in sys.modules if n == self.package or n.startswith(prefix)]:
                del sys.modules[name]
