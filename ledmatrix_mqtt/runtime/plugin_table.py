"""The set of known and loaded plugins, kept in step with the specs it is given.

``sync`` and ``unload`` run on the caller's thread (the store's, the composition
root's), serialised by one lock, while the render thread keeps reading through
``get``/``slots``.

Loads never block the caller beyond a short grace (``sync_wait``, so quick
plugins are on the panel when ``sync`` returns): each load runs on its own
daemon thread and joins the rotation when it finishes. A load still running
after ``load_timeout`` is reported as failed in ``status()``; it is not
started again while its thread runs (a later ``sync`` with the same files
and config leaves it alone), and if it does finish after all it joins late.
A load whose spec changed or was removed meanwhile is cleaned up on arrival.
While loads are held (``hold_loads``, used during service start-up so that
getting online has the CPU), ``sync`` parks them without a thread until
``release_loads`` lets them go (it may let a few go first), and ``sync`` does
not wait for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

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
SYNC_WAIT_S = 0.5
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


@dataclass(eq=False)
class _Load:
    """One background load; ``done`` is set when its thread has handed over its result."""

    fingerprint: _Fingerprint
    done: threading.Event = field(default_factory=threading.Event)
    timed_out: bool = False


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
        sync_wait: float = SYNC_WAIT_S,
    ) -> None:
        """``on_change``: the rotation changed; ``on_status``: a plugin's health changed."""
        self._env = env
        self._scheduler = scheduler
        self._default_duration = default_duration
        self._order = tuple(order)
        self._on_change = on_change
        self._on_status = on_status
        self._load_timeout = load_timeout
        self._sync_wait = sync_wait
        self._loading: dict[str, _Load] = {}
        self._sync_lock = threading.Lock()
        self._lock = threading.Lock()
        self._specs: dict[str, PluginSpec] = {}
        self._loaded: dict[str, LoadedPlugin] = {}
        self._prints: dict[str, _Fingerprint] = {}
        self._errors: dict[str, str] = {}
        self._slots: tuple[Slot, ...] = ()
        self._gate = threading.Lock()
        self._held = False  # loads wait, except those of the plugins in _let_through
        self._let_through: set[str] = set()
        self._parked: dict[str, tuple[PluginSpec, _Load]] = {}  # held loads, no thread yet
        self.sink_factory: Callable[[str], Callable[..., None]] | None = None

    def hold_loads(self) -> None:
        """Loads started from now on wait for ``release_loads`` (their timeout too)."""
        with self._gate:
            self._held, self._let_through = True, set()

    def release_loads(self, plugin_ids: Collection[str] | None = None) -> None:
        """Let every held load go, or only those of ``plugin_ids`` (the rest keep waiting)."""
        with self._gate:
            if plugin_ids is None:
                self._held = False
            else:
                self._let_through.update(plugin_ids)
            going = [k for k in self._parked if self._may_go(k)]
            loads = [self._parked.pop(k) for k in going]
        for spec, load in loads:
            self._start(spec, load)

    def _may_go(self, plugin_id: str) -> bool:
        return not self._held or plugin_id in self._let_through

    def _launch(self, spec: PluginSpec, load: _Load) -> None:
        """Start the load, or park it until ``release_loads`` lets it go: a held load has
        no thread yet, so holding fifty loads costs no thread starts before ``online``."""
        with self._gate:
            if not self._may_go(spec.id):
                self._parked[spec.id] = (spec, load)
                return
            self._parked.pop(spec.id, None)
        self._start(spec, load)

    def _start(self, spec: PluginSpec, load: _Load) -> None:
        with self._lock:
            if self._loading.get(spec.id) is not load:  # replaced or dropped while parked
                load.done.set()
                return
        worker = threading.Thread(
            target=self._load, args=(spec, load), name=f"load-{spec.id}", daemon=True
        )
        worker.start()

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
        """Unload removed or disabled plugins, start loads of new or changed enabled ones.

        Returns once those loads finished or ``sync_wait`` passed, whichever is first.
        """
        started: list[_Load] = []
        with self._sync_lock:
            wanted = {s.id: s for s in specs}
            for plugin_id in [p for p in self._loaded if p not in wanted]:
                self._unload(plugin_id)
            with self._lock:
                self._specs = dict(wanted)
                self._errors = {k: v for k, v in self._errors.items() if k in wanted}
                self._loading = {k: v for k, v in self._loading.items() if k in wanted}
            for spec in specs:
                load = self._sync_one(spec)
                if load is not None:
                    started.append(load)
            self._rebuild()
        with self._gate:
            wait = 0.0 if self._held else self._sync_wait
        deadline = time.monotonic() + wait
        for load in started:
            load.done.wait(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no load is in flight (timed-out ones excepted); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [x for x in self._loading.values() if not x.timed_out]
            if not pending:
                return True
            if not pending[0].done.wait(max(0.0, deadline - time.monotonic())):
                return False

    def _sync_one(self, spec: PluginSpec) -> _Load | None:
        fingerprint = _fingerprint(spec)
        if spec.id in self._loaded and self._prints.get(spec.id) == fingerprint and spec.enabled:
            return None
        with self._lock:
            running = self._loading.get(spec.id)
        if running is not None and running.fingerprint == fingerprint and spec.enabled:
            return None  # in flight, or hung past its deadline: never started twice
        if spec.id in self._loaded:
            self._unload(spec.id)
        with self._lock:
            self._loading.pop(spec.id, None)  # a stale load is discarded when it returns
            if not spec.enabled:
                with self._gate:
                    self._parked.pop(spec.id, None)
                return None
            load = _Load(fingerprint)
            self._loading[spec.id] = load
        self._launch(spec, load)
        return load

    def _load(self, spec: PluginSpec, load: _Load) -> None:
        """Load thread: build the plugin, then hand it over (or record the error)."""
        timer = threading.Timer(self._load_timeout, self._overdue, args=(spec.id, load))
        timer.name = f"load-deadline-{spec.id}"
        timer.daemon = True
        timer.start()
        try:
            plugin: LoadedPlugin | None = load_plugin(spec, self._env)
            error = ""
        except LedMatrixError as exc:
            plugin, error = None, self._describe_error(spec, exc)
        except PLUGIN_ERRORS as exc:
            plugin = None
            error = self._describe_error(spec, InternalError(f"plugin failed to load: {exc}"))
        finally:  # a finished load needs no deadline: its thread (and stack) ends now
            timer.cancel()
        try:
            with self._sync_lock:
                self._finish(spec, load, plugin, error)
        finally:
            load.done.set()

    def _describe_error(self, spec: PluginSpec, exc: LedMatrixError) -> str:
        # A constructor may quote its API key ("invalid key abc..."): hide x-secret values.
        message = redact(str(exc), plugin_secrets(spec.path, spec.config))
        _LOG.warning("plugin %s failed to load: %s (%s)", spec.id, message, exc.code)
        return f"{exc.code}: {message}"

    def _finish(
        self, spec: PluginSpec, load: _Load, plugin: LoadedPlugin | None, error: str
    ) -> None:
        with self._lock:
            current = self._loading.get(spec.id) is load
            if current:
                del self._loading[spec.id]
                if plugin is None:
                    self._errors[spec.id] = error
        if plugin is None:
            self._on_status()
            return
        if not current:  # unloaded, disabled or changed while loading
            _LOG.info("plugin %s finished loading after it was replaced; discarding it", spec.id)
            self._dispose(plugin)
            return
        if self.sink_factory is not None:
            plugin.set_sink(self.sink_factory(spec.id))
        plugin.health.on_change = self._on_status
        with self._lock:
            self._loaded[spec.id] = plugin
            self._prints[spec.id] = load.fingerprint
            self._errors.pop(spec.id, None)
        self._scheduler.track(plugin)
        late = " (after its load deadline)" if load.timed_out else ""
        _LOG.info("plugin %s loaded (%s API)%s", spec.id, spec.manifest.api, late)
        self._rebuild()
        self._on_status()

    def _overdue(self, plugin_id: str, load: _Load) -> None:
        with self._lock:
            if self._loading.get(plugin_id) is not load or load.done.is_set():
                return
            load.timed_out = True
            message = f"load did not finish within {self._load_timeout:g} s"
            self._errors[plugin_id] = f"{InternalError.code}: {message}"
        _LOG.warning("plugin %s: %s; it stays out of the rotation", plugin_id, message)
        self._on_status()

    def unload(self, plugin_id: str) -> None:
        """Take ``plugin_id`` out of the rotation and run its ``cleanup()`` (bounded wait)."""
        with self._sync_lock:
            with self._lock:
                self._loading.pop(plugin_id, None)
            self._unload(plugin_id)
            self._rebuild()

    def unload_all(self) -> None:
        with self._sync_lock:
            with self._lock:
                self._loading.clear()  # loads still running are discarded when they return
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
        self._dispose(plugin)
        _LOG.info("plugin %s unloaded", plugin_id)

    def _dispose(self, plugin: LoadedPlugin) -> None:
        """Run ``cleanup()`` (bounded) and forget the plugin's modules."""
        plugin_id = plugin.plugin_id
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
            loading = {k for k, v in self._loading.items() if not v.timed_out}
        out = []
        for plugin_id in order_plugins(list(specs), self._order):
            plugin = loaded.get(plugin_id)
            if plugin is None:
                error = errors.get(plugin_id, "")
                busy = plugin_id in loading
                out.append(PluginRuntimeStatus(plugin_id, False, False, error, loading=busy))
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
