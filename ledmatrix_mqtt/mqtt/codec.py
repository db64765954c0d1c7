"""Command payloads into typed requests, and responses into envelopes. Pure.

A payload is a JSON object; for Home Assistant's convenience a bare value is
accepted where a command has one obvious field (``commands.COMMANDS``). Every
string in a payload (keys and values, at any depth) is checked here, at the
boundary: a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON) is
``invalid_payload``, so nothing past the codec ever holds a string it cannot
encode. Every failure raises :class:`Rejected`, which carries the typed error
and the request's ``transaction`` when one could be read, so the error
response can echo it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledmatrix_mqtt.errors import (
    InternalError,
    InvalidPayload,
    LedMatrixError,
    PayloadTooLarge,
    UnknownCommand,
)
from ledmatrix_mqtt.mqtt.command_args import CommandArgs, Fields, coerce_bool
from ledmatrix_mqtt.mqtt.commands import COMMANDS, CommandSpec
from ledmatrix_mqtt.mqtt.limits import MAX_HINT_BYTES, MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS
from ledmatrix_mqtt.mqtt.messages import encode_json

__all__ = ["MAX_HINT_BYTES", "MAX_PAYLOAD_BYTES", "MAX_TEXT_CHARS", "coerce_bool"]

MAX_TRANSACTION_CHARS = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Request:
    command: str
    args: CommandArgs
    transaction: str = ""


class Rejected(Exception):
    """A command that will not run: the typed error and the transaction to echo."""

    def __init__(self, error: LedMatrixError, transaction: str = "") -> None:
        super().__init__(error.message)
        self.error = error
        self.transaction = transaction


def decode_request(command: str, payload: bytes) -> Request:
    """Size, encoding, JSON shape, surrogates, ``transaction``, then the command's fields."""
    spec = COMMANDS.get(command)
    transaction = ""
    try:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"payload is larger than the {MAX_PAYLOAD_BYTES}-byte limit")
        value = _decode(payload, verbatim=spec is not None and spec.verbatim)
        if isinstance(value, dict):
            transaction = _transaction(value)
        _check_strings(value)
        if spec is None:
            known = ", ".join(COMMANDS)
            raise UnknownCommand(f"unknown command {_shown(command)}; known: {known}")
        fields = _fields_of(spec, value)
        args = spec.parse(Fields(command, fields))
    except LedMatrixError as exc:
        raise Rejected(exc, transaction) from None
    return Request(command, args, transaction)


def transaction_of(payload: bytes) -> str:
    """The ``transaction`` of a small payload, for a refusal that does no other parsing.

    Bounded work (at most ``MAX_HINT_BYTES`` are parsed), so a rate-limited client
    can still match its ``rate_limited`` answer; "" when there is none to read.
    """
    if len(payload) > MAX_HINT_BYTES:
        return ""
    try:
        value = json.loads(payload.decode("utf-8"))
        return _transaction(value) if isinstance(value, dict) else ""
    except (ValueError, RecursionError, LedMatrixError):
        return ""


def encode_response(
    command: str,
    *,
    data: Mapping[str, Any] | None = None,
    error: LedMatrixError | None = None,
    transaction: str = "",
) -> bytes:
    """The response envelope: ``status`` ok with ``data``, or error with ``{code, message}``.

    Never raises: data that cannot be encoded becomes an ``internal_error`` envelope,
    so a command still gets its one response.
    """
    out: dict[str, Any] = {"command": command, "transaction": transaction or None}
    if error is None:
        out.update(status="ok", data=dict(data or {}))
    else:
        out.update(status="error", error={"code": error.code, "message": error.message})
    try:
        return encode_json(out)
    except (TypeError, ValueError):
        failed = InternalError("internal error: the response could not be encoded")
        out.update(status="error", error={"code": failed.code, "message": failed.message})
        out.pop("data", None)
        return encode_json(out)


def encode_ok_raw(command: str, data: bytes, transaction: str = "") -> bytes:
    """``encode_response(command, data=..., transaction=...)`` for already encoded data.

    ``data`` must be ``encode_json`` of a dict; the result is byte for byte what
    ``encode_response`` gives for that dict (same compact, key-sorted form), without
    re-encoding it.
    """
    head = b'{"command":' + encode_json(command) + b',"data":'
    return head + data + b',"status":"ok","transaction":' + encode_json(transaction or None) + b"}"


def _decode(payload: bytes, *, verbatim: bool) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("payload is not UTF-8 text") from None
    if verbatim and not text.lstrip().startswith("{"):
        return text  # "true", "42", "[1, 2]" or "" sent to ``text`` are words to show
    if not text.strip():
        raise InvalidPayload("empty payload; send {} for a command without arguments")
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidPayload("JSON nested too deeply") from None
    except ValueError:
        stripped = text.strip()
        if stripped[:1] in ("{", "["):
            raise InvalidPayload("payload is not valid JSON") from None
        return stripped  # a bare string such as a plugin id or ON
    return value


def _check_strings(value: Any) -> None:
    """Every key and string value, at any depth, must be encodable text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise InvalidPayload("payload contains a lone UTF-16 surrogate (\\ud800-\\udfff)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _fields_of(spec: CommandSpec, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "transaction"}
    if spec.verbatim:
        return {spec.bare_field: value}
    if not spec.bare_field or value is None or isinstance(value, list | dict):
        raise InvalidPayload(f"{spec.name} expects a JSON object")
    return {spec.bare_field: value}


def _transaction(value: Mapping[str, Any]) -> str:
    tx = value.get("transaction")
    if tx is None:
        return ""
    if not isinstance(tx, str) or not 0 < len(tx) <= MAX_TRANSACTION_CHARS:
        raise InvalidPayload(f"transaction must be a string of 1-{MAX_TRANSACTION_CHARS} chars")
    if _SURROGATE.search(tx):
        raise InvalidPayload("transaction contains a lone UTF-16 surrogate")
    return tx


def _shown(command: str) -> str:
    """A command name for a message: cut, with anything unencodable escaped."""
    return ascii(command[:64])
