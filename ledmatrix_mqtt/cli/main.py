"""The ``ledmatrix-mqtt`` command: ``run``, ``plugins ...``, display commands, automation
commands (``notify``, ``schedule``...), ``snapshot``, ``config check``.

Global options (``--config``, ``--json``, ``--timeout``, ``--idle-timeout``) work before
or after the subcommand. Every failure a user can cause or meet (bad arguments, a
bad or missing config file, an unreachable service, an unwritable path, a port in
use) ends in one line on stderr and a documented exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ledmatrix_mqtt import __version__
from ledmatrix_mqtt.cli import control as control_cli
from ledmatrix_mqtt.cli import display as display_cli
from ledmatrix_mqtt.cli import plugins as plugins_cli
from ledmatrix_mqtt.cli.options import HelpFormatter, add_command, add_global_options
from ledmatrix_mqtt.cli.service import EXIT_FAILED, EXIT_USAGE, run_command
from ledmatrix_mqtt.configfile import load_config, secret_values
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.config_reader import error_lines
from ledmatrix_mqtt.errors import ConfigError, LedMatrixError
from ledmatrix_mqtt.logsetup import setup_logging

PROG = "ledmatrix-mqtt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="RGB LED matrix display and plugin store, controlled over MQTT.",
        formatter_class=HelpFormatter,
        epilog="exit status: 0 ok, 1 the command failed, 2 bad arguments or configuration, "
        "3 the broker or the service could not be reached",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command(sub, "run", "run the service (display loop + store + MQTT)")
    plugins_cli.add_parser(sub)
    display_cli.add_parsers(sub)
    control_cli.add_parsers(sub)
    snap = add_command(sub, "snapshot", "save the panel's current frame as a PNG")
    snap.add_argument("file", help="where to write the PNG")
    cfg = add_command(sub, "config", "configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    add_command(cfg_sub, "check", "validate the config file and every plugin block, then exit")
    return parser


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


def _config_failed(exc: ConfigError) -> int:
    """Every problem in the file, one line each."""
    for line in error_lines(exc):
        _fail(f"invalid configuration: {line}", EXIT_USAGE)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, must_exist=True)
    except ConfigError as exc:
        return _config_failed(exc)
    service = args.command == "run"
    setup_logging(
        config.log_level if service else "WARNING",
        secret_values(config.path, (config.mqtt.password, config.store.github.token)),
        # The CLI reports a failed broker connection itself, in one line.
        mute=() if service else ("ledmatrix_mqtt.mqtt.client",),
    )
    try:
        return _dispatch(args, config)
    except ConfigError as exc:
        return _config_failed(exc)
    except LedMatrixError as exc:
        return _fail(f"{exc.code}: {exc.message}", EXIT_FAILED)
    except OSError as exc:  # the environment: a path, a permission, a port
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", EXIT_FAILED)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, config: AppConfig) -> int:
    if args.command == "run":
        from ledmatrix_mqtt.app import Service

        return Service(config).run()
    if args.command == "plugins":
        return plugins_cli.execute(args, config)
    if args.command in display_cli.COMMANDS + control_cli.COMMANDS:
        remote = display_cli if args.command in display_cli.COMMANDS else control_cli
        return int(remote.execute(args, config))
    if args.command == "snapshot":
        return _snapshot(args, config)
    if args.command == "config":
        from ledmatrix_mqtt.cli.config_check import run_check

        return run_check(config)
    return EXIT_USAGE


def _snapshot(args: argparse.Namespace, config: AppConfig) -> int:
    from ledmatrix_mqtt.fsutil import atomic_write_bytes
    from ledmatrix_mqtt.mqtt.remote import RemoteClient

    target = Path(args.file)
    if not target.parent.is_dir():
        return _fail(f"cannot write {target}: folder {target.parent} does not exist", EXIT_FAILED)

    def produce() -> dict[str, object]:
        png = RemoteClient(config, wait=args.timeout).snapshot()
        atomic_write_bytes(target, png)  # StorageFailed names the problem
        return {"command": "snapshot", "status": "ok", "data": {"file": str(target),
                "bytes": len(png)}}  # fmt: skip

    return run_command(
        args, "snapshot", produce, lambda d: f"saved {d['bytes']} bytes to {d['file']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
