"""The set of known and loaded plugins, kept in step with the specs it is given.

``sync`` and ``unload`` run on the caller's thread (the store's, the composition
root's), serialised by one lock, while the render thread keeps reading through
``get``/``slots``. Loading is bounded by a timeout so a plugin whose
constructor hangs becomes an error entry instead of a stuck caller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledmatrix_mqtt.api import PluginRuntimeStatus
from ledmatrix_mqtt.errors import InternalError, LedMatrixError
from ledmatrix_mqtt.runtime.loaded import PLUGIN_ERRORS, LoadedPlugin
from ledmatrix_mqtt.runtime.loader import LoadEnvironment, load_plugin
from ledmatrix_mqtt.runtime.plugin_config import plugin_secrets, redact
from ledmatrix_mqtt.runtime.rotation import Slot, order_plugins
from ledmatrix_mqtt.runtime.scheduler import UpdateScheduler
from ledmatrix_mqtt.runtime.spec import PluginSpec

_LOG = logging.getLogger(__name__)
LOAD_TIMEOUT_S = 30.0
UNLOAD_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _Fingerprint:
    spec: PluginSpec
    files: tuple[int, ...]


def _fingerprint(spec: PluginSpec) -> _Fingerprint:
    stamps = []
    for name in ("manifest.json", spec.manifest.entry_point, "config_schema.json"):
        try:
            stamps.append((spec.path / name).stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return _Fingerprint(spec, tuple(stamps))


def _run_bounded(label: str, fn: Callable[[], object], timeout: float) -> object:
    """Run ``fn`` on a helper thread; ``InternalError`` if it raises or overruns ``timeout``."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=label, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise InternalError(f"{label} did not finish within {timeout:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


class PluginTable:
    def __init__(
        self,
        env: LoadEnvironment,
        scheduler: UpdateScheduler,
        *,
        default_duration: float,
        order: Sequence[str],
        on_change: Callable[[], None],
        on_status: Callable[[], None] = lambda: None,
        load_timeout: float = LOAD_TIMEOUT_S,
    ) -> None:
        """``on_change``: the rotation changed; ``on_status``: a plugin's health changed."""
        self._env = env
        self._scheduler = scheduler
        self._default_duration = default_duration
        self._order = tuple(order)
        self._on_change = on_change
        self._on_status = on_status
        self._load_timeout = load_timeout
        self._sync_lock = threading.Lock()
        self._lock = threading.Lock()
        self._specs: dict[str, PluginSpec] = {}
        self._loaded: dict[str, LoadedPlugin] = {}
        self._prints: dict[str, _Fingerprint] = {}
        self._errors: dict[str, str] = {}
        self._slots: tuple[Slot, ...] = ()
        self.sink_factory: Callable[[str], Callable[..., None]] | None = None

    def get(self, plugin_id: str) -> LoadedPlugin | None:
        with self._lock:
            return self._loaded.get(plugin_id)

    def slots(self) -> tuple[Slot, ...]:
        with self._lock:
            return self._slots

    def loaded_ids(self) -> tuple[str, ...]:
        with self._lock:
            return order_plugins(list(self._loaded), self._order)

    def all_loaded(self) -> list[LoadedPlugin]:
        with self._lock:
            return list(self._loaded.values())

    def sync(self, specs: Sequence[PluginSpec]) -> None:
        """Load new or changed enabled specs, unload removed or disabled ones."""
        with self._sync_lock:
            wanted = {s.id: s for s in specs}
            for plugin_id in [p for p in self._loaded if p not in wanted]:
                self._unload(plugin_id)
            with self._lock:
                self._specs = dict(wanted)
                self._errors = {k: v for k, v in self._errors.items() if k in wanted}
            for spec in specs:
                self._sync_one(spec)
            self._rebuild()

    def _sync_one(self, spec: PluginSpec) -> None:
        fingerprint = _fingerprint(spec)
        if spec.id in self._loaded and self._prints.get(spec.id) == fingerprint and spec.enabled:
            return
        if spec.id in self._loaded:
            self._unload(spec.id)
        if not spec.enabled:
            return
        try:
            plugin = _run_bounded(
                f"load-{spec.id}", lambda: load_plugin(spec, self._env), self._load_timeout
            )
        except LedMatrixError as exc:
            # A constructor may quote its API key ("invalid key abc..."): hide x-secret values.
            message = redact(exc.message, plugin_secrets(spec.path, spec.config))
            _LOG.warning("plugin %s failed to load: %s (%s)", spec.id, message, exc.code)
            with self._lock:
                self._errors[spec.id] = f"{exc.code}: {message}"
            return
        assert isinstance(plugin, LoadedPlugin)
        if self.sink_factory is not None:
            plugin.set_sink(self.sink_factory(spec.id))
        plugin.health.on_change = self._on_status
        with self._lock:
            self._loaded[spec.id] = plugin
            self._prints[spec.id] = fingerprint
            self._errors.pop(spec.id, None)
        self._scheduler.track(plugin)
        _LOG.info("plugin %s loaded (%s API)", spec.id, spec.manifest.api)

    def unload(self, plugin_id: str) -> None:
        """Take ``plugin_id`` out of the rotation and run its ``cleanup()`` (bounded wait)."""
        with self._sync_lock:
            self._unload(plugin_id)
            self._rebuild()

    def unload_all(self) -> None:
        with self._sync_lock:
            for plugin_id in list(self._loaded):
                self._unload(plugin_id)
            self._rebuild()

    def _unload(self, plugin_id: str) -> None:
        with self._lock:
            plugin = self._loaded.pop(plugin_id, None)
            self._prints.pop(plugin_id, None)
        if plugin is None:
            return
        self._rebuild()
        self._scheduler.forget(plugin_id)
        held = plugin.lock.acquire(timeout=UNLOAD_TIMEOUT_S)
        plugin.unloaded = True
        try:
            _run_bounded(f"cleanup-{plugin_id}", plugin.cleanup, UNLOAD_TIMEOUT_S)
        except PLUGIN_ERRORS as exc:  # a failing cleanup must not block an uninstall
            _LOG.warning("plugin %s cleanup failed: %s", plugin_id, exc)
        finally:
            if held:
                plugin.lock.release()
        plugin.set_sink(None)
        plugin.modules.release()
        _LOG.info("plugin %s unloaded", plugin_id)

    def _rebuild(self) -> None:
        with self._lock:
            ordered = order_plugins(list(self._loaded), self._order)
            plugins = [self._loaded[p] for p in ordered]
        slots: list[Slot] = []
        for plugin in plugins:
            try:
                slots.extend(plugin.slots(self._default_duration))
            except PLUGIN_ERRORS as exc:  # plugin code (get_display_duration)
                _LOG.warning("plugin %s: cannot list display modes: %s", plugin.plugin_id, exc)
        with self._lock:
            self._slots = tuple(slots)
        self._on_change()

    def status(self) -> list[PluginRuntimeStatus]:
        with self._lock:
            specs = dict(self._specs)
            loaded = dict(self._loaded)
            errors = dict(self._errors)
        out = []
        for plugin_id in order_plugins(list(specs), self._order):
            plugin = loaded.get(plugin_id)
            if plugin is None:
                out.append(PluginRuntimeStatus(plugin_id, False, False, errors.get(plugin_id, "")))
                continue
            health = plugin.health.snapshot()
            out.append(PluginRuntimeStatus(plugin_id, True, health.healthy, health.last_error))
        return out

    def set_order(self, order: Sequence[str]) -> None:
        """Show these plugins first, in this order (the rest by id); the rotation follows."""
        with self._sync_lock:
            with self._lock:
                unchanged, self._order = self._order == tuple(order), tuple(order)
            if not unchanged:
                self._rebuild()
