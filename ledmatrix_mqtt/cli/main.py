"""The ``ledmatrix-mqtt`` command: ``run``, ``plugins ...``, ``snapshot``, ``config check``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ledmatrix_mqtt import __version__
from ledmatrix_mqtt.cli import plugins as plugins_cli
from ledmatrix_mqtt.configfile import load_config, secret_values
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.errors import ConfigError, LedMatrixError
from ledmatrix_mqtt.logsetup import setup_logging

DEFAULT_CONFIG = os.environ.get("LEDMATRIX_CONFIG", "config/config.yaml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledmatrix-mqtt",
        description="RGB LED matrix display and plugin store, controlled over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"ledmatrix-mqtt {__version__}")
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service (display loop + store + MQTT)")
    plugins_cli.add_parser(sub)
    snap = sub.add_parser("snapshot", help="save the panel's current frame as a PNG")
    snap.add_argument("file")
    snap.add_argument("--timeout", type=float, default=10.0)
    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    cfg_sub.add_parser("check", help="validate the config file and print the result")
    return parser


def _load(path: str) -> AppConfig:
    return load_config(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"ledmatrix-mqtt: invalid configuration: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        config.log_level if args.command == "run" else "WARNING",
        secret_values(config.path, (config.mqtt.password, config.store.github.token)),
    )
    try:
        return _dispatch(args, config)
    except ConfigError as exc:
        print(f"ledmatrix-mqtt: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except LedMatrixError as exc:
        print(f"ledmatrix-mqtt: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, config: AppConfig) -> int:
    if args.command == "run":
        from ledmatrix_mqtt.app import Service

        return Service(config).run()
    if args.command == "plugins":
        return plugins_cli.execute(args, config)
    if args.command == "snapshot":
        from ledmatrix_mqtt.mqtt.remote import RemoteClient

        png = RemoteClient(config).snapshot(timeout=args.timeout)
        Path(args.file).write_bytes(png)
        print(f"saved {len(png)} bytes to {args.file}")
        return 0
    if args.command == "config":
        from ledmatrix_mqtt.cli.config_check import run_check

        return run_check(config)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
