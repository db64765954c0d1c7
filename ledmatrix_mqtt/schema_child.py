"""The schema worker's child: answers JSON-schema checks read from stdin, one per line.

Run by ``ledmatrix_mqtt.schema_worker`` as ``python -m ledmatrix_mqtt.schema_child``.
A request is one line of ASCII JSON, ``{"op": "schema", "schema": S}`` or
``{"op": "instance", "schema": S, "instance": I}``; the answer is one line,
``{"problem": str | null}``, ``{"violation": null | {"message", "path"}}`` or
``{"failed": reason}``. It ends at the end of its input. It never writes
anything else to stdout.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any, BinaryIO

from ledmatrix_mqtt.core.schema_check import IN_PROCESS, CheckFailed


def answer(request: Any) -> dict[str, Any]:
    """The answer to one decoded request."""
    if not isinstance(request, dict) or not isinstance(request.get("schema"), dict):
        return {"failed": "the schema worker got a malformed request"}
    try:
        if request.get("op") == "schema":
            return {"problem": IN_PROCESS.schema_problem(request["schema"])}
        instance = request.get("instance")
        if request.get("op") != "instance" or not isinstance(instance, dict):
            return {"failed": "the schema worker got a malformed request"}
        found = IN_PROCESS.first_violation(request["schema"], instance)
    except CheckFailed as exc:
        return {"failed": exc.reason}
    if found is None:
        return {"violation": None}
    return {"violation": {"message": found.message, "path": list(found.path)}}


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    """Answer every line of ``source`` on ``sink`` until the end of ``source``."""
    for line in source:
        try:
            reply = answer(json.loads(line))
        except (ValueError, RecursionError):
            reply = {"failed": "the schema worker got a malformed request"}
        sink.write(json.dumps(reply, ensure_ascii=True).encode("ascii") + b"\n")
        sink.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when this ends
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
