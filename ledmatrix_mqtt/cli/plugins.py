"""``ledmatrix-mqtt plugins ...``: offline (direct on the state dir) or via the service.

Both paths produce the same JSON ``data`` for a command: offline results are
serialised with ``ledmatrix_mqtt.mqtt.serialize`` exactly as the MQTT front end does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.cli.output import print_json, render_list, render_search, render_summary
from ledmatrix_mqtt.cli.progress import ProgressBar
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.models import Progress
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.store.layout import StateLayout, StateLock
from ledmatrix_mqtt.store.service import PluginStore

COMMANDS = ("list", "search", "install", "uninstall", "update", "reconcile", "enable", "disable")
LONG_COMMANDS = ("install", "update", "uninstall", "reconcile")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("plugins", help="manage plugins (store, install, update...)")
    cmds = parser.add_subparsers(dest="plugins_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--offline",
        action="store_true",
        help="act directly on the state dir (the service must not be running)",
    )
    common.add_argument("--json", action="store_true", help="print the structured result")
    common.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (online)")
    cmds.add_parser("list", parents=[common], help="installed plugins")
    search = cmds.add_parser("search", parents=[common], help="search the plugin store")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--category", default="")
    search.add_argument("--tag", action="append", default=[], dest="tags")
    search.add_argument("--refresh", action="store_true", help="re-fetch the registry")
    install = cmds.add_parser("install", parents=[common], help="install from the store or a URL")
    install.add_argument("plugin_id", nargs="?", default="")
    install.add_argument("--url", default="", help="git/GitHub URL (needs allow_install_from_url)")
    install.add_argument("--branch", default="")
    install.add_argument("--path", default="", dest="plugin_path", help="plugin folder in repo")
    for name in ("uninstall", "enable", "disable"):
        p = cmds.add_parser(name, parents=[common], help=f"{name} a plugin")
        p.add_argument("plugin_id")
    update = cmds.add_parser("update", parents=[common], help="update one plugin or --all")
    update.add_argument("plugin_id", nargs="?", default="")
    update.add_argument("--all", action="store_true")
    rec = cmds.add_parser("reconcile", parents=[common], help="repair config vs disk")
    rec.add_argument("--force", action="store_true", help="retry plugins marked unrecoverable")
    rec.add_argument("--dry-run", action="store_true", help="only show the plan")  # fmt: skip


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
            raise SystemExit(f"ledmatrix-mqtt plugins {cmd}: a plugin id is required")
        return {"plugin_id": args.plugin_id}
    return {}


def run_offline(store: PluginStore, command: str, payload: dict[str, Any],
                progress: Callable[[Progress], None]) -> Any:  # fmt: skip
    """Execute one command against the store; returns the result value."""
    pid = payload.get("plugin_id", "")
    actions: dict[str, Callable[[], Any]] = {
        "list": store.list_installed,
        "search": lambda: store.search(
            query=payload["query"],
            category=payload["category"],
            tags=payload["tags"],
            refresh=payload["refresh"],
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
        "enable": lambda: store.set_enabled(pid, True),
        "disable": lambda: store.set_enabled(pid, False),
    }
    return actions[command]()


def execute(args: argparse.Namespace, config: AppConfig) -> int:
    command = args.plugins_command
    payload = payload_of(args)
    bar = ProgressBar()
    try:
        if args.offline:
            data = _offline(config, command, payload, bar)
        else:
            data = _online(config, command, payload, bar, args.timeout)
    except LedMatrixError as exc:
        bar.close()
        if args.json:
            print_json({"command": command, "status": "error", "error": exc.to_dict()})
        else:
            print(f"error ({exc.code}): {exc.message}")
        return 1
    bar.close()
    if args.json:
        print_json({"command": command, "status": "ok", "data": data})
    else:
        print(_human(command, data))
    return 0


def _human(command: str, data: Any) -> str:
    if command == "list":
        return render_list(data if isinstance(data, list) else data.get("plugins", []))
    if command == "search":
        return render_search(data.get("entries", []))
    return render_summary(command, data)


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
    return wire_data(command, payload, result)


def wire_data(command: str, payload: dict[str, Any], result: Any) -> Any:
    """The same ``data`` the MQTT front end answers for this command."""
    from ledmatrix_mqtt.mqtt import serialize as wire

    if command == "update" and payload.get("all"):
        return wire.update_all_data(result)
    encoders: dict[str, Callable[[Any], Any]] = {
        "list": lambda r: {"plugins": wire.plugins_data(r, ())},
        "search": wire.search_data,
        "uninstall": wire.uninstall_data,
        "install": wire.install_data,
        "update": wire.install_data,
        "reconcile": wire.reconcile_data,
    }
    encode: Callable[[Any], Any] | None = encoders.get(command)
    return encode(result) if encode is not None else wire.plugin_data(result, None)


def _online(
    config: AppConfig, command: str, payload: dict[str, Any], bar: ProgressBar, timeout: float
) -> Any:
    from ledmatrix_mqtt.mqtt.remote import RemoteClient

    def on_progress(state: dict[str, Any]) -> None:
        bar.update(str(state.get("stage", "")), int(state.get("percent", 0) or 0),
                   str(state.get("message", "")))  # fmt: skip

    client = RemoteClient(config)
    response = client.call(
        command, payload, timeout=timeout,
        on_progress=on_progress if command in LONG_COMMANDS else None,
    )  # fmt: skip
    if response.get("status") != "ok":
        error = response.get("error") or {}
        raise _RemoteError(str(error.get("code", "internal_error")), str(error.get("message", "")))
    return response.get("data")


class _RemoteError(LedMatrixError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]
