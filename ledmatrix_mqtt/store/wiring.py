"""Build the store stack from the configuration (shared by the service and offline CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ledmatrix_mqtt import BUILTIN_PLUGINS_DIR, LEDMATRIX_API_VERSION
from ledmatrix_mqtt.config_editor import ConfigEditor
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.ids import PluginId
from ledmatrix_mqtt.core.models import InstallResult
from ledmatrix_mqtt.lazy import Lazy
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.http_factory import make_http_client
from ledmatrix_mqtt.store.inventory import PluginInventory
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.operations import OperationQueue
from ledmatrix_mqtt.store.records import UninstallRecords
from ledmatrix_mqtt.store.registry_client import RegistryClient
from ledmatrix_mqtt.store.service import NoHooks, PluginStore, StoreHooks

if TYPE_CHECKING:
    from ledmatrix_mqtt.store.installer import Installer
    from ledmatrix_mqtt.store.reconciler import Reconciler

__all__ = ["BUILTIN_PLUGINS_DIR", "build_store"]


def build_store(
    config: AppConfig,
    *,
    builtin_dir: Path | None = BUILTIN_PLUGINS_DIR,
    hooks: StoreHooks | None = None,
    editor: ConfigEditor | None = None,
) -> PluginStore:
    """Compose the store for ``config``; creates the state dir folders."""
    layout = StateLayout(Path(config.state_dir))
    layout.ensure()
    http = make_http_client(config.store)
    registry = RegistryClient(http, config.store, layout)
    records = UninstallRecords(layout)
    builtins = builtin_dir if builtin_dir is not None and builtin_dir.is_dir() else None
    editor = editor or ConfigEditor(config.path)
    inventory = PluginInventory(
        layout,
        builtins,
        config_blocks=editor.plugin_blocks,
        registry=registry.cached_registry,
    )

    def reconciler() -> Reconciler:
        from ledmatrix_mqtt.store.reconciler import Reconciler  # on first use: not at start-up

        return Reconciler(
            inventory,
            install=lambda plugin_id: _reconcile_install(store, plugin_id),
            resolve=lambda plugin_id: registry.resolve(plugin_id),
            config=editor,
            records=records,
            state_path=layout.records / "unrecoverable.json",
            registry=registry.cached_registry,
        )

    store = PluginStore(
        config.store,
        layout=layout,
        registry=registry,
        lazy_installer=Lazy(lambda: _installer(config, layout, http, records, builtins)),
        inventory=inventory,
        records=records,
        config_editor=editor,
        lazy_reconciler=Lazy(reconciler),
        operations=OperationQueue(),
        hooks=hooks or NoHooks(),
        default_duration=config.display.default_duration,
    )
    if hooks is not None:  # someone republishes: search answers at once, enrichment follows
        registry.set_enrichment_listener(lambda: store.hooks.changed(wait=False))
    return store


def _installer(
    config: AppConfig,
    layout: StateLayout,
    http: HttpClient,
    records: UninstallRecords,
    builtins: Path | None,
) -> Installer:
    """The installer, built on the first install, update or removal (not at start-up)."""
    from ledmatrix_mqtt.store.installer import Installer  # the archive/git/deps machinery

    return Installer(
        layout,
        http,
        GithubUrls.from_config(config.store.github),
        core_version=LEDMATRIX_API_VERSION,
        records=records,
        builtin_dir=builtins,
    )


def _reconcile_install(store: PluginStore, plugin_id: PluginId) -> InstallResult:
    """Auto-repair runs inside the reconcile operation, so it calls the installer directly.

    The installer clears the uninstall records of the manifest and registry ids;
    the reconciler invalidates the inventory after the pass.
    """
    result = store.installer.install_entry(store.registry.resolve(plugin_id, refresh=False))
    # the block the user wrote (under the registry id) now belongs to the canonical id
    store.config_editor.rename_block(plugin_id, result.plugin_id)
    return result
