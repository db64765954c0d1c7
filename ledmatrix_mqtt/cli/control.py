"""``ledmatrix-mqtt notify|dismiss|schedule|configure|rotation``: automation commands.

Each sends the MQTT command of the same name to the running service (no
offline form: notifications and live schedules exist only in the running
service) and prints the response; ``--json`` prints the MQTT envelope.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ledmatrix_mqtt.cli.options import SubParsers, add_command
from ledmatrix_mqtt.cli.service import EXIT_USAGE, call_online, run_command
from ledmatrix_mqtt.core.config_model import AppConfig

COMMANDS = ("notify", "dismiss", "schedule", "configure", "rotation")
_HHMM = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")


def _hhmm(text: str) -> str:
    if not _HHMM.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a time HH:MM: {text!r}")
    return text


def _setting(text: str) -> tuple[str, Any]:
    """``key=value``; the value is JSON when it parses (``3``, ``true``, ``[1,2]``), else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def add_parsers(sub: SubParsers) -> None:
    note = add_command(sub, "notify", "show a notification now (it interrupts the rotation)")
    note.add_argument("text", help="the message")
    note.add_argument("--color", metavar="#RRGGBB", help="text colour (default white)")
    note.add_argument("--duration", type=float, metavar="SECONDS", help="how long it shows")
    note.add_argument("--repeat", type=int, metavar="N", help="scroll passes (long text)")
    note.add_argument("--priority", type=int, metavar="-10..10", help="higher pre-empts lower")
    note.add_argument("--hold", action="store_true", help="show until dismissed")
    note.add_argument("--id", metavar="ID", help="a name to dismiss or replace it by")
    gone = add_command(sub, "dismiss", "remove a notification (all of them without an id)")
    gone.add_argument("id", nargs="?", help="the notification's id")
    hours = add_command(sub, "schedule", "change the active hours and the dim schedule")
    for prefix, what in (("", "active hours (panel off outside)"), ("dim-", "dim hours")):
        group = hours.add_mutually_exclusive_group()
        dest = prefix.replace("-", "_") + "enabled"
        group.add_argument(f"--{prefix}on", action="store_const", const=True, dest=dest,
                           help=f"turn the {what} on")  # fmt: skip
        group.add_argument(f"--{prefix}off", action="store_const", const=False, dest=dest,
                           help=f"turn the {what} off")  # fmt: skip
        hours.add_argument(f"--{prefix}start", type=_hhmm, metavar="HH:MM",
                           help=f"when the {what} start, in the device's time zone")  # fmt: skip
        hours.add_argument(f"--{prefix}end", type=_hhmm, metavar="HH:MM",
                           help=f"when the {what} end (may be past midnight)")  # fmt: skip
    hours.add_argument("--dim-brightness", type=int, metavar="0-100",
                       help="the brightness inside the dim hours")  # fmt: skip
    conf = add_command(sub, "configure", "change a plugin's settings (validated, saved)")
    conf.add_argument("plugin_id", help="installed plugin id")
    conf.add_argument("settings", nargs="+", type=_setting, metavar="KEY=VALUE",
                      help="a.b=value sets a nested key; value=null removes one")  # fmt: skip
    rot = add_command(sub, "rotation", "set the rotation order (the rest follow by id)")
    rot.add_argument("order", nargs="*", metavar="PLUGIN_ID", help="none: by id")


def _nested(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _schedule_payload(args: argparse.Namespace) -> dict[str, Any]:
    picks = {
        "schedule": {"enabled": args.enabled, "start_time": args.start, "end_time": args.end},
        "dim_schedule": {
            "enabled": args.dim_enabled, "start_time": args.dim_start,
            "end_time": args.dim_end, "dim_brightness": args.dim_brightness,
        },
    }  # fmt: skip
    out = {}
    for block, fields in picks.items():
        given = {k: v for k, v in fields.items() if v is not None}
        if given:
            out[block] = given
    return out


def payload_of(args: argparse.Namespace) -> dict[str, Any]:
    """The MQTT command payload equivalent to these CLI arguments."""
    command = args.command
    if command == "notify":
        fields = ("color", "duration", "repeat", "priority", "id")
        extra = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
        return {"text": args.text, **extra, **({"hold": True} if args.hold else {})}
    if command == "dismiss":
        return {"id": args.id} if args.id else {}
    if command == "schedule":
        return _schedule_payload(args)
    if command == "configure":
        return {"plugin_id": args.plugin_id, "settings": _nested(args.settings)}
    return {"order": list(args.order)}


def execute(args: argparse.Namespace, config: AppConfig) -> int:
    command = args.command
    payload = payload_of(args)
    if command == "schedule" and not payload:
        print("ledmatrix-mqtt: schedule: nothing to change (see --help)", file=sys.stderr)
        return EXIT_USAGE
    return run_command(
        args, command, lambda: call_online(config, args, command, payload), _HUMAN[command]
    )


def render_notifications(data: Mapping[str, Any]) -> str:
    current = data.get("current")
    queued = data.get("queue_length", 0)
    if not current:
        return "no notification showing; the rotation runs"
    return f"showing {current.get('text')!r} (id {current.get('id')}); {queued} queued"


def _hours(block: Mapping[str, Any]) -> str:
    state = "on" if block.get("enabled") else "off"
    return f"{state} {block.get('start_time')}-{block.get('end_time')}"


def render_schedule(data: Mapping[str, Any]) -> str:
    dim = data.get("dim_schedule", {})
    panel = "inside active hours" if data.get("active") else "outside active hours (panel off)"
    dimmed = ", dimmed" if data.get("dimmed") else ""
    return (
        f"schedule {_hours(data.get('schedule', {}))}; dim schedule {_hours(dim)} "
        f"at {dim.get('dim_brightness')}%; now {panel}{dimmed}"
    )


_HUMAN: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "notify": render_notifications,
    "dismiss": render_notifications,
    "schedule": render_schedule,
    "configure": lambda data: (
        f"{data.get('plugin_id')}: " + json.dumps(data.get("settings", {}), sort_keys=True)
    ),
    "rotation": lambda data: "rotation: " + (", ".join(data.get("order", [])) or "(empty)"),
}
