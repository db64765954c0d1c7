"""``ledmatrix-mqtt text|show|next|brightness|power``: the display commands.

Each sends the MQTT command of the same name to the running service (there is
no offline form: only the running service drives the panel) and prints the
panel's state from the response.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from ledmatrix_mqtt.cli.options import SubParsers, add_command
from ledmatrix_mqtt.cli.output import render_display
from ledmatrix_mqtt.cli.service import call_online, run_command
from ledmatrix_mqtt.core.config_model import AppConfig

COMMANDS = ("text", "show", "next", "brightness", "power")


def _percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be from 0 to 100 (got {value})")
    return value


def add_parsers(sub: SubParsers) -> None:
    text = add_command(sub, "text", "show a message with the built-in text plugin")
    text.add_argument("text", help="the message (at most 255 characters)")
    show = add_command(sub, "show", "show one plugin now")
    show.add_argument("plugin_id", help="installed plugin id")
    show.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                      help="then resume the rotation (default: until 'next')")  # fmt: skip
    add_command(sub, "next", "skip to the next plugin (and resume the rotation after 'show')")
    bright = add_command(sub, "brightness", "set the panel brightness")
    bright.add_argument("value", type=_percent, help="0-100")
    power = add_command(sub, "power", "turn the panel on or off")
    power.add_argument("state", type=str.upper, choices=("ON", "OFF"), help="on or off")


def payload_of(args: argparse.Namespace) -> dict[str, Any]:
    """The MQTT command payload equivalent to these CLI arguments."""
    command = args.command
    if command == "text":
        return {"text": args.text}
    if command == "show":
        extra = {"duration": args.duration} if args.duration is not None else {}
        return {"plugin_id": args.plugin_id, **extra}
    if command == "brightness":
        return {"value": args.value}
    if command == "power":
        return {"state": args.state}
    return {}


def execute(args: argparse.Namespace, config: AppConfig) -> int:
    command = args.command
    payload = payload_of(args)
    return run_command(
        args, command, lambda: call_online(config, args, command, payload), _human(command)
    )


def _human(command: str) -> Callable[[Mapping[str, Any]], str]:
    if command == "text":  # the text plugin shows it in its turn (or now, after 'show text')
        return lambda data: f"text set to {data.get('text', '')!r}; {render_display(data)}"
    return render_display
