"""``ledmatrix-mqtt plugins ...``: offline (direct on the state dir) or via the service.

Both paths produce the same JSON ``data`` for a command: offline results are
serialised with ``ledmatrix_mqtt.mqtt.serialize`` exactly as the MQTT front end does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.api import SearchQuery
from ledmatrix_mqtt.cli.options import SubParsers, add_command
from ledmatrix_mqtt.cli.output import human
from ledmatrix_mqtt.cli.progress import ProgressBar
from ledmatrix_mqtt.cli.service import EXIT_USAGE, Envelope, call_online, ok, run_command
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.ids import validate_plugin_id
from ledmatrix_mqtt.core.models import Progress
from ledmatrix_mqtt.store.layout import StateLayout, StateLock
from ledmatrix_mqtt.store.service import PluginStore

LONG_COMMANDS = ("install", "update", "uninstall", "reconcile")


def add_parser(sub: SubParsers) -> None:
    parser = add_command(sub, "plugins", "manage plugins (store, install, update...)")
    cmds = parser.add_subparsers(dest="plugins_command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        p = add_command(cmds, name, text)
        p.add_argument(
            "--offline",
            action="store_true",
            help="act directly on the state dir instead of asking the service "
            "(the service must not be running)",
        )
        return p

    command("list", "installed plugins")
    search = command("search", "search the plugin store")
    search.add_argument("query", nargs="?", default="", help="words to look for (all: empty)")
    search.add_argument("--category", default="", help="only this category")
    search.add_argument("--tag", action="append", default=[], dest="tags",
                        help="only entries with this tag (repeatable)")  # fmt: skip
    search.add_argument("--refresh", action="store_true", help="re-fetch the registry first")
    install = command("install", "install from the store or a git URL")
    install.add_argument("plugin_id", nargs="?", default="", help="registry id")
    install.add_argument(
        "--url", default="", help="git URL instead of an id (needs store.allow_install_from_url)"
    )
    install.add_argument("--branch", default="", help="branch for --url (the repo's default)")
    install.add_argument(
        "--path", default="", dest="plugin_path", help="plugin folder in the repo for --url"
    )
    for name, text in (("uninstall", "remove a plugin and its config block"),
                       ("enable", "put a plugin in the rotation"),
                       ("disable", "take a plugin out of the rotation")):  # fmt: skip
        command(name, text).add_argument("plugin_id", help="installed plugin id")
    update = command("update", "update one plugin or --all")
    update.add_argument("plugin_id", nargs="?", default="", help="installed plugin id")
    update.add_argument("--all", action="store_true", help="update every plugin with an update")
    rec = command("reconcile", "repair differences between the config file and the disk")
    rec.add_argument("--force", action="store_true", help="retry plugins marked unrecoverable")
    rec.add_argument("--dry-run", action="store_true", help="only print the plan; change nothing")


def payload_of(args: argparse.Namespace) -> dict[str, Any]:
    """The MQTT command payload equivalent to these CLI arguments."""
    cmd = args.plugins_command
    if cmd == "search":
        return {"query": args.query, "category": args.category, "tags": args.tags,
                "refresh": args.refresh}  # fmt: skip
    if cmd == "install" and args.url:
        return {"url": args.url, "branch": args.branch, "plugin_path": args.plugin_path}
    if cmd == "update" and args.all:
        return {"all": True}
    if cmd == "reconcile":
        return {"force": args.force, "dry_run": args.dry_run}
    if cmd in ("install", "uninstall", "update", "enable", "disable"):
        if not args.plugin_id:
            hint = (
                " (or --url URL)" if cmd == "install" else " (or --all)" if cmd == "update" else ""
            )
            print(f"ledmatrix-mqtt plugins {cmd}: a plugin id is required{hint}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
        return {"plugin_id": args.plugin_id}
    return {}


def run_offline(store: PluginStore, command: str, payload: dict[str, Any],
                progress: Callable[[Progress], None]) -> Any:  # fmt: skip
    """Execute one command against the store; returns the result value."""
    pid = payload.get("plugin_id", "")
    actions: dict[str, Callable[[], Any]] = {
        "list": store.list_installed,
        "search": lambda: store.search(
            SearchQuery(
                query=payload["query"],
                category=payload["category"],
                tags=tuple(payload["tags"]),
                refresh=payload["refresh"],
            )
        ),
        "install": lambda: (
            store.install_from_url(
                payload["url"],
                branch=payload["branch"],
                plugin_path=payload["plugin_path"],
                progress=progress,
            )
            if payload.get("url")
            else store.install(pid, progress=progress)
        ),
        "uninstall": lambda: store.uninstall(pid, progress=progress),
        "update": lambda: (
            store.update_all(progress=progress)
            if payload.get("all")
            else store.update(pid, progress=progress)
        ),
        "reconcile": lambda: store.reconcile(force=payload["force"], dry_run=payload["dry_run"]),
        # the store answers not_installed for any id it does not list; say why first
        "enable": lambda: store.set_enabled(validate_plugin_id(pid), True),
        "disable": lambda: store.set_enabled(validate_plugin_id(pid), False),
    }
    return actions[command]()


def execute(args: argparse.Namespace, config: AppConfig) -> int:
    command = args.plugins_command
    payload = payload_of(args)
    bar = ProgressBar()

    def produce() -> Envelope:
        try:
            if args.offline:
                return ok(command, _offline(config, command, payload, bar))
            return call_online(
                config, args, command, payload, bar if command in LONG_COMMANDS else None
            )
        finally:
            bar.close()

    return run_command(args, command, produce, lambda data: human(command, data))


def _offline(config: AppConfig, command: str, payload: dict[str, Any], bar: ProgressBar) -> Any:
    from ledmatrix_mqtt.store.wiring import build_store

    layout = StateLayout(Path(config.state_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    with StateLock(layout, "ledmatrix-mqtt plugins --offline"):
        store = build_store(config)
        try:
            store.recover_at_start(config.path)
            result = run_offline(
                store, command, payload, lambda p: bar.update(p.stage.value, p.percent, p.message)
            )
        finally:
            store.operations.stop()
            store.registry.close()
    return wire_data(config, command, payload, result)


def wire_data(config: AppConfig, command: str, payload: dict[str, Any], result: Any) -> Any:
    """The same ``data`` the MQTT front end answers for this command (for ``list``:
    what the service would report for the same files, see ``offline_status``)."""
    from ledmatrix_mqtt.cli.config_check import offline_status
    from ledmatrix_mqtt.mqtt import serialize as wire

    if command == "update" and payload.get("all"):
        return wire.update_all_data(result)
    encoders: dict[str, Callable[[Any], Any]] = {
        "list": lambda r: {"plugins": wire.plugins_data(r, offline_status(config, r))},
        "search": wire.search_data,
        "uninstall": wire.uninstall_data,
        "install": wire.install_data,
        "update": wire.install_data,
        "reconcile": wire.reconcile_data,
    }
    encode: Callable[[Any], Any] | None = encoders.get(command)
    return encode(result) if encode is not None else wire.plugin_data(result, None)
