"""Reading a config document: the one boolean rule and a key-naming, error-collecting reader.

Pure: no file access. :mod:`ledmatrix_mqtt.core.config_model` builds the typed
configuration with :class:`Reader`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ledmatrix_mqtt.errors import ConfigError

_TRUE_WORDS = frozenset({"true", "on", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "off", "no", "0"})


def as_flag(value: object) -> bool | None:
    """The package's one boolean rule; None when ``value`` is not a boolean.

    A bool, the integers 0/1, or true/false, on/off, yes/no, 1/0 in any case
    (surrounding blanks ignored). The config file, its ``enabled`` keys, plugin
    specs and MQTT payloads all read booleans through this function.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS | _FALSE_WORDS:
            return word in _TRUE_WORDS
    return None


class ConfigErrors(ConfigError):
    """Several problems in one file, reported together; ``errors`` has one per problem.

    Behaves as its first error (``key``, ``path``, ``message``) for callers that
    show only one.
    """

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.message, path=first.path, key=first.key)
        self.errors: tuple[ConfigError, ...] = tuple(errors)


def error_lines(exc: ConfigError) -> list[str]:
    """One line per problem in ``exc`` (a single error or :class:`ConfigErrors`)."""
    return [str(e) for e in exc.errors] if isinstance(exc, ConfigErrors) else [str(exc)]


class Reader:
    """Typed access to one mapping of the config, with errors naming the key.

    Errors are collected, not raised: a bad value is recorded in ``errors``
    (shared by every reader of one document) and its default is used, so one
    pass finds every problem in the file.
    """

    def __init__(
        self, data: object, prefix: str, path: str, errors: list[ConfigError] | None = None
    ) -> None:
        self.errors: list[ConfigError] = [] if errors is None else errors
        self.prefix = prefix
        self.path = path
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.errors.append(
                ConfigError("must be a mapping", path=path, key=prefix or "(top level)")
            )
            data = {}
        self.data: Mapping[str, Any] = data

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=self.key(name))

    def report(self, name: str, message: str) -> None:
        self.errors.append(self.fail(name, message))

    def child(self, name: str) -> Reader:
        return Reader(self.data.get(name), self.key(name), self.path, self.errors)

    def text(self, name: str, default: str = "", *, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool):
            word = str(value).lower()
            self.report(
                name, f"reads as a boolean ({word}); quote it if you mean the word: '{word}'"
            )
            return default
        if not isinstance(value, str | int | float):
            self.report(name, "must be a string")
            return default
        text = str(value)
        if choices and text not in choices:
            self.report(name, f"must be one of {', '.join(choices)} (got {text!r})")
            return default
        return text

    def flag(self, name: str, default: bool) -> bool:
        value = as_flag(self.data.get(name, default))
        if value is None:
            self.report(name, "must be true or false")
            return default
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.report(name, f"must be an integer from {low} to {high}")
            return default
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.data.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            self.report(name, f"must be a number from {low} to {high}")
            return default
        return float(value)

    def url(self, name: str, default: str, *, allow_file: bool = False) -> str:
        value = self.text(name, default).rstrip("/")
        scheme = urlsplit(value).scheme
        ok = scheme in ("http", "https") and bool(urlsplit(value).hostname)
        if allow_file and (scheme == "file" or value.startswith("/") or scheme == ""):
            ok = True
        if not ok:
            self.report(name, f"must be an http(s) URL (got {value!r})")
            return default
        return value

    def unknown(self, known: tuple[str, ...]) -> None:
        for extra in sorted(set(map(str, self.data)) - set(known)):
            self.report(extra, f"unknown key (known keys: {', '.join(known)})")

    def raise_errors(self) -> None:
        """Raise everything recorded: the one error, or :class:`ConfigErrors`."""
        unique = list({(e.key, e.message): e for e in reversed(self.errors)}.values())[::-1]
        if len(unique) == 1:
            raise unique[0]
        if unique:
            raise ConfigErrors(unique)
