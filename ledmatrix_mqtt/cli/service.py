"""Run one command against the service (or offline) and print its one answer.

Every command ends in one *envelope*, the same shape the service answers on
MQTT: ``{"command", "status": "ok", "data"}`` or ``{"command", "status":
"error", "error": {"code", "message"}}``. ``--json`` prints it as is (online:
exactly the MQTT response, ``transaction`` included); otherwise the command's
``human`` renderer prints ``data``, and an error is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ledmatrix_mqtt.cli.output import print_json
from ledmatrix_mqtt.cli.progress import ProgressBar
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.errors import LedMatrixError, ServiceUnreachable

# Exit statuses (stable, documented in the README's Command line section).
EXIT_OK = 0
EXIT_FAILED = 1  # the command answered with an error, or an environment problem
EXIT_USAGE = 2  # bad arguments or an invalid / missing config file
EXIT_UNREACHABLE = 3  # the broker or the service could not be reached in time

Envelope = dict[str, Any]
Human = Callable[[Any], str]


def ok(command: str, data: Any) -> Envelope:
    return {"command": command, "status": "ok", "data": data}


def failed(command: str, exc: LedMatrixError) -> Envelope:
    return {"command": command, "status": "error", "error": exc.to_dict()}


def call_online(
    config: AppConfig,
    args: argparse.Namespace,
    command: str,
    payload: dict[str, Any],
    bar: ProgressBar | None = None,
) -> Envelope:
    """The service's response envelope for one command (progress drawn on ``bar``)."""
    from ledmatrix_mqtt.mqtt.remote import RemoteClient

    def on_progress(state: dict[str, Any]) -> None:
        assert bar is not None
        bar.update(str(state.get("stage", "")), int(state.get("percent", 0) or 0),
                   str(state.get("message", "")))  # fmt: skip

    client = RemoteClient(config, wait=args.timeout)
    return client.call(
        command, payload, on_progress=on_progress if bar else None, idle=args.idle_timeout
    )


def finish(args: argparse.Namespace, envelope: Envelope, human: Human) -> int:
    """Print the envelope (JSON or text); the exit status."""
    if args.json:
        print_json(envelope)
    elif envelope.get("status") == "ok":
        print(human(envelope.get("data")))
    else:
        error = envelope.get("error") or {}
        code = error.get("code", "internal_error")
        print(f"ledmatrix-mqtt: {code}: {error.get('message', '')}", file=sys.stderr)
    return EXIT_OK if envelope.get("status") == "ok" else EXIT_FAILED


def run_command(
    args: argparse.Namespace, command: str, produce: Callable[[], Envelope], human: Human
) -> int:
    """``produce`` the envelope; an unreachable service is exit 3, other errors exit 1."""
    try:
        envelope = produce()
    except ServiceUnreachable as exc:
        if args.json:
            print_json(failed(command, exc))
        else:
            print(f"ledmatrix-mqtt: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except LedMatrixError as exc:
        envelope = failed(command, exc)
    return finish(args, envelope, human)
