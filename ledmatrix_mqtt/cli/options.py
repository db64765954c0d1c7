"""Options every ``ledmatrix-mqtt`` command accepts, before or after the subcommand.

The top-level parser holds the real defaults; each subcommand parser holds the
same options with ``argparse.SUPPRESS`` as default, so a value given after the
subcommand overrides the top-level one and an absent one leaves it alone.
``ledmatrix-mqtt --config F run`` and ``ledmatrix-mqtt run --config F`` are the same.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TypeAlias

from ledmatrix_mqtt.mqtt.remote import DEFAULT_IDLE, DEFAULT_WAIT

DEFAULT_CONFIG = os.environ.get("LEDMATRIX_CONFIG", "config/config.yaml")

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only when it says something (not for flags or empty values)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, "", [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default(DEFAULT_CONFIG),
        help=f"config file; must exist (default: {DEFAULT_CONFIG}, or $LEDMATRIX_CONFIG)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print the command's MQTT response envelope as JSON instead of text",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=default(DEFAULT_WAIT),
        help="seconds to wait for the broker, for the service to be online and for a "
        f"short command's answer (default: {DEFAULT_WAIT:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        default=default(DEFAULT_IDLE),
        help="a long operation (install, update, uninstall, reconcile) waits as long as "
        f"progress arrives at least this often (default: {DEFAULT_IDLE:g})",
    )


def add_command(sub: SubParsers, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand parser with the global options and the shared help format."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=text, formatter_class=HelpFormatter
    )
    add_global_options(parser, top=False)
    return parser
