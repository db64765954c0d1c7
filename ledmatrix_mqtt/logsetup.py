"""Logging set-up with a redaction filter: known secret values never reach a log line,
nor ``sys.stdout``/``sys.stderr`` once :func:`redact_stdio` has run.

``REDACTOR`` is the process's one set of secrets: the secrets file's values at
start-up, and each plugin's ``x-secret`` values when it loads (``runtime.imports``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import TextIO

from ledmatrix_mqtt.core.redact import REDACTED, Redactor
from ledmatrix_mqtt.redacting_stream import RedactingStream

__all__ = ["REDACTED", "REDACTOR", "SecretRedactor", "redact_stdio", "setup_logging"]


class SecretRedactor(logging.Filter):
    """Replaces every registered secret value (in any encoding, see ``core.redact``)
    in a record's final message and traceback; also the redactor of the standard
    streams (``redact``, ``unfinished_start``), so a secret added later covers both."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redactor = Redactor(secrets)
        self._adding = threading.Lock()  # two plugins loading at once: neither's secrets lost

    def add(self, secrets: Iterable[str]) -> None:
        with self._adding:
            self._redactor.add(secrets)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def unfinished_start(self, text: str) -> int:
        return self._redactor.unfinished_start(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._redactor:
            return True
        message = record.getMessage()
        redacted = self._redactor.redact(message)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACTOR = SecretRedactor()


class _Mute(logging.Filter):
    """Drops records of the named loggers (and their children) on one handler."""

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__()
        self._prefixes = tuple(names)

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in self._prefixes
        )


def setup_logging(
    level: str = "INFO", secrets: Iterable[str] = (), *, mute: Iterable[str] = ()
) -> None:
    """Log to stderr (journald picks it up) with secrets redacted.

    ``mute``: loggers whose records this handler drops (the CLI reports those events
    itself, in one line); the loggers themselves are left as they are.
    """
    REDACTOR.add(secrets)
    handler = logging.StreamHandler(_real(sys.stderr))  # records are redacted by the filter
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(REDACTOR)
    handler.addFilter(_Mute(mute))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def _real(stream: TextIO) -> TextIO:
    return stream.wrapped if isinstance(stream, RedactingStream) else stream


def redact_stdio() -> None:
    """Replace ``sys.stdout`` and ``sys.stderr`` with :class:`RedactingStream` s over them
    that redact with ``REDACTOR``, for the rest of the process (threads of a plugin may
    outlive the service). Calling it again changes nothing."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream, REDACTOR))
