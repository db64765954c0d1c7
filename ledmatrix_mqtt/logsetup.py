"""Logging set-up with a redaction filter: known secret values never reach a log line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from ledmatrix_mqtt.core.redact import REDACTED, Redactor

__all__ = ["REDACTED", "REDACTOR", "SecretRedactor", "setup_logging"]


class SecretRedactor(logging.Filter):
    """Replaces every registered secret value (in any encoding, see ``core.redact``)
    in a record's final message and traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redactor = Redactor(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._redactor.add(secrets)

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(REDACTOR)
    handler.addFilter(_Mute(mute))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
