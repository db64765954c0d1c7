"""The composition root: builds the store, the display and the MQTT front end, and runs them.

This is the only module that knows all three. Store changes flow to the
display (``sync_plugins``) and to MQTT (``plugins_changed``) through the
:class:`StoreHooks` this service implements; an uninstall unloads the plugin
from the display (its ``cleanup()`` runs) before its files are removed.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ledmatrix_mqtt import __version__, memory
from ledmatrix_mqtt.configfile import load_config
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.models import PluginSource
from ledmatrix_mqtt.core.schema_check import SchemaChecker
from ledmatrix_mqtt.errors import ConfigError, LedMatrixError
from ledmatrix_mqtt.logsetup import redact_stdio
from ledmatrix_mqtt.mqtt.frontend import MqttFrontend
from ledmatrix_mqtt.passed_checks import PASSED
from ledmatrix_mqtt.runtime.backends.base import PanelBackend
from ledmatrix_mqtt.runtime.controller import DisplayController
from ledmatrix_mqtt.runtime.rotation import order_plugins
from ledmatrix_mqtt.runtime.spec import PluginSpec
from ledmatrix_mqtt.schema_worker import SchemaWorker
from ledmatrix_mqtt.store.layout import StateLayout, StateLock
from ledmatrix_mqtt.store.service import PluginStore
from ledmatrix_mqtt.store.wiring import BUILTIN_PLUGINS_DIR, build_store

_LOG = logging.getLogger(__name__)
SYNC_DEBOUNCE_S = 0.1
# Plugin loads and the start-up reconcile wait at most this long for ``online``: a broker
# may be down for long.
STARTUP_WORK_DELAY_S = 10.0
# ... and the boot plugin at most this long for the first connect attempt to end (a connect
# to an unreachable host can hang until its TCP timeout).
BOOT_LOAD_DELAY_S = 1.0


class Service:
    """The running appliance. ``start``/``stop`` for tests, ``run`` for the CLI."""

    def __init__(
        self,
        config: AppConfig,
        *,
        builtin_dir: Path | None = BUILTIN_PLUGINS_DIR,
        backend: PanelBackend | None = None,
        startup_reconcile: bool = True,
    ) -> None:
        self.config = config
        self.layout = StateLayout(Path(config.state_dir))
        self._builtin_dir = builtin_dir
        self._backend = backend
        self._startup_reconcile = startup_reconcile
        self._lock = StateLock(self.layout, "ledmatrix-mqtt service")
        self._plugin_config: Mapping[str, Mapping[str, Any]] = config.plugins
        self._rotation_order: tuple[str, ...] = config.display.rotation_order
        self._stopped = threading.Event()
        self._sync_lock = threading.Lock()
        self._sync_wanted = threading.Event()  # set by changed(wait=False) and by stop()
        self._syncer = threading.Thread(target=self._background_sync, name="sync", daemon=True)
        self.store: PluginStore | None = None
        self.display: DisplayController | None = None
        self.frontend: MqttFrontend | None = None
        self.reconcile_done = threading.Event()
        self._own_process = False  # `run` turns it on: heap and collector tuning are ours
        self._boot: frozenset[str] = frozenset()
        self._schema_worker = SchemaWorker()  # jsonschema in a child, only while checks come
        self._in_process_checks: SchemaChecker | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Bring everything up; returns quickly (broker connect and reconcile run behind)."""
        self.layout.ensure()
        self._lock.acquire()
        PASSED.persist_in(self.layout.cache)  # plugins unchanged since: loaded without jsonschema
        self._in_process_checks = PASSED.check_with(self._schema_worker)
        self.store = build_store(self.config, builtin_dir=self._builtin_dir, hooks=self)
        recovered = self.store.recover_at_start(self.config.path)
        if recovered:
            _LOG.warning("recovered from an interrupted operation: %s", ", ".join(recovered))
        self.display = DisplayController(
            self.config.display,
            device=self.config.device,
            state_dir=self.layout.root,
            backend=self._backend,
            service_info=self._service_info,
            main_config={"timezone": self.config.device.timezone},
            schedule=self.config.schedule,
            dim_schedule=self.config.dim_schedule,
        )
        specs = self._specs()
        self._boot = boot_plugins(specs, self._rotation_order)
        self.display.hold_loads()  # the plugins are known (their state waits for the load)
        self.display.sync_plugins(specs)
        self.display.start()
        self._syncer.start()
        self.frontend = MqttFrontend(
            self.config, self.store, self.display, state_dir=self.layout.root, version=__version__
        )
        self.frontend.start()
        if not self._startup_reconcile:
            self.reconcile_done.set()
        threading.Thread(target=self._after_online, name="startup-work", daemon=True).start()

    def stop(self) -> None:
        """Offline on MQTT, plugins cleaned up, panel cleared, lock released."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._sync_wanted.set()
        if self._syncer.is_alive():
            self._syncer.join(15.0)
        if self.frontend is not None:
            self.frontend.stop()
        if self.store is not None:
            self.store.operations.stop()
            self.store.registry.close()
        if self.display is not None:
            self.display.stop()
        PASSED.flush()
        if self._in_process_checks is not None:
            PASSED.check_with(self._in_process_checks)
        self._schema_worker.close()
        self._lock.release()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; ``sys.stdout``/``sys.stderr`` redact secrets from here on."""
        memory.limit_arenas()  # before the first thread starts
        memory.pause_collector()  # resumed once online (or its wait is over)
        self._own_process = True
        redact_stdio()  # plugins write there directly, past the log filter
        with StopSignals() as stop_signals:
            self.start()
            _LOG.info("ledmatrix-mqtt %s running as %s", __version__, self.config.device.id)
            try:
                received = stop_signals.wait()
                _LOG.info("received %s; stopping", received.name)
            finally:
                self.stop()
        return 0

    # -- StoreHooks ---------------------------------------------------------------------
    def before_remove(self, plugin_id: str) -> None:
        if self.display is not None:
            self.display.unload(plugin_id)

    def changed(self, *, wait: bool = True) -> None:
        if not wait:  # coalesced: one background sync covers any number of switches
            self._sync_wanted.set()
            return
        self._sync()

    def _sync(self) -> None:
        if self.display is not None:
            self._reload_plugin_config()
            with self._sync_lock:
                self.display.sync_plugins(self._specs())
                self.display.set_rotation_order(self._rotation_order)
        if self.frontend is not None:
            self.frontend.plugins_changed()

    def _background_sync(self) -> None:
        while True:
            self._sync_wanted.wait()
            # A short pause lets the switch's answer leave first (the reload would share
            # the interpreter with it) and folds a burst of switches into one sync.
            self._stopped.wait(SYNC_DEBOUNCE_S)
            self._sync_wanted.clear()
            if self._stopped.is_set():
                return
            try:
                self._sync()
            except Exception:  # the next change tries again; the service keeps running
                _LOG.exception("applying a plugin change failed")

    # -- helpers ------------------------------------------------------------------------
    def _after_online(self) -> None:
        """Start-up work that waits (bounded) for ``online``: the collector resumes, plugin
        loads go, then the reconcile; once the loads are done, the passed schema checks are
        saved and the heap trimmed.

        Loading plugins, the registry fetch and the reconcile (which loads the HTTP stack)
        would otherwise compete with getting online on a slow CPU. The plugin the panel
        shows first goes as soon as the first connect attempt is over: at once when the
        broker is down, without delaying ``online`` when it is up.
        """
        assert self.frontend is not None and self.display is not None
        self.frontend.wait_attempted(BOOT_LOAD_DELAY_S)
        self.display.release_loads(self._boot)
        self.frontend.wait_online(STARTUP_WORK_DELAY_S)
        if self._own_process:
            memory.resume_collector()
        if self._stopped.is_set():
            return  # stopped before online: nothing to load into
        self.display.release_loads()
        if self._startup_reconcile:
            self._reconcile_once()
        settled = self.display.wait_loaded(STARTUP_WORK_DELAY_S)
        PASSED.flush()  # the checks the loads passed, for the next start
        if settled and self._own_process:
            memory.trim()  # what loading and the reconcile freed goes back to the system

    def _reconcile_once(self) -> None:
        """The start-up reconcile: exactly once, in the background, never looping."""
        assert self.store is not None
        try:  # the store summary (HA's store select and problem sensor) needs a registry copy
            self.store.registry.fetch_registry()
        except LedMatrixError as exc:
            _LOG.warning("plugin store unavailable at start-up: %s", exc.message)
        try:
            report = self.store.reconcile()
            if self.frontend is not None:
                self.frontend.reconcile_finished(report)
            _LOG.info(
                "start-up reconcile: %d inconsistencies, %d fixed, %d need a person",
                len(report.inconsistencies), len(report.fixed), len(report.needs_attention),
            )  # fmt: skip
        except LedMatrixError as exc:
            _LOG.warning("start-up reconcile failed: %s (%s)", exc.message, exc.code)
        finally:
            if self.frontend is not None:  # queued before reconcile_done: waiters see it
                self.frontend.plugins_changed()
            self.reconcile_done.set()

    def _reload_plugin_config(self) -> None:
        try:
            fresh = load_config(self.config.path) if self.config.path else None
        except ConfigError as exc:
            _LOG.error("config file became invalid; keeping the previous plugin settings: %s", exc)
            return
        self._plugin_config = fresh.plugins if fresh is not None else {}
        if fresh is not None:  # the `rotation` command writes display.rotation_order
            self._rotation_order = fresh.display.rotation_order

    def _specs(self) -> list[PluginSpec]:
        assert self.store is not None
        specs = []
        for plugin in self.store.inventory.list():
            if plugin.manifest is None or plugin.error:
                continue
            specs.append(
                PluginSpec(
                    id=plugin.id,
                    path=Path(plugin.path),
                    manifest=plugin.manifest,
                    config=self._plugin_config.get(plugin.id, {}),
                    enabled=plugin.enabled,
                    builtin=plugin.source == PluginSource.BUILTIN,
                )
            )
        return specs

    def _service_info(self) -> Mapping[str, Any]:
        installed = self.store.inventory.list() if self.store is not None else ()
        return {
            "device_name": self.config.device.name,
            "device_id": self.config.device.id,
            "ip": local_ip(),
            "installed_plugins": len(installed),  # the same count as state/plugins
            "version": __version__,
        }


def boot_plugins(specs: Sequence[PluginSpec], order: Sequence[str]) -> frozenset[str]:
    """The plugin that loads first at start-up while the rest wait for ``online``: the
    first enabled built-in of the rotation (small, ours, never hangs), else the first
    enabled plugin, so the panel shows something even while the broker is down."""
    enabled = [s for s in specs if s.enabled]
    for candidates in ([s for s in enabled if s.builtin], enabled):
        if candidates:
            return frozenset(order_plugins([s.id for s in candidates], order)[:1])
    return frozenset()


def local_ip() -> str:
    """The address of the interface with the default route (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


class StopSignals:
    """SIGTERM and SIGINT as bytes on a socket the main thread sleeps on.

    CPython runs signal handlers in the main thread, but the kernel may hand a
    process signal to any thread, and then a main thread asleep in a lock or event
    wait is never woken. The wakeup fd is written by the C-level handler whichever
    thread takes the signal, so ``wait`` returns for each (with no wake-ups while
    idle). Enter from the main thread.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self) -> StopSignals:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous = [signal.signal(s, _note_signal) for s in self.SIGNALS]
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        return self

    def wait(self) -> signal.Signals:
        """Block until SIGTERM or SIGINT arrives; returns which."""
        while True:
            for byte in self._reader.recv(64):
                if byte in self.SIGNALS:
                    return signal.Signals(byte)

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in zip(self.SIGNALS, self._previous, strict=True):
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._reader.close()
        self._writer.close()


def _note_signal(signum: int, _frame: object) -> None:
    """The Python-level handler: the wakeup fd has already told ``StopSignals.wait``."""
