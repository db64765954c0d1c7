"""Typed errors with stable, snake_case codes.

Every failure a caller may want to branch on is one of these. The code is a
public contract (MQTT responses, ``--json`` CLI output, README); messages are
for people and may change. This module imports nothing internal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class LedMatrixError(Exception):
    """Base of all expected errors. ``code`` is stable; ``message`` is for humans."""

    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The ``{"code", "message"[, "details"]}`` form used on the wire."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = dict(self.details)
        return out


class ConfigError(LedMatrixError):
    """The configuration file (or a plugin's block) is invalid."""

    code = "invalid_config"

    def __init__(self, message: str, *, path: str = "", key: str = "") -> None:
        super().__init__(message, details={"file": path, "key": key} if path or key else None)
        self.path = path
        self.key = key

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class InvalidPayload(LedMatrixError):
    code = "invalid_payload"


class InvalidPluginId(LedMatrixError):
    code = "invalid_plugin_id"


class UnknownCommand(LedMatrixError):
    code = "unknown_command"


class NotFound(LedMatrixError):
    """The plugin id is not in the registry (the registry itself was reachable)."""

    code = "not_found"


class NotInstalled(LedMatrixError):
    code = "not_installed"


class RegistryUnavailable(LedMatrixError):
    """The registry could not be fetched and no usable cached copy exists."""

    code = "registry_unavailable"


class DownloadFailed(LedMatrixError):
    code = "download_failed"


class InvalidArchive(LedMatrixError):
    code = "invalid_archive"


class InvalidManifest(LedMatrixError):
    code = "invalid_manifest"


class Incompatible(LedMatrixError):
    code = "incompatible"


class DependencyFailed(LedMatrixError):
    code = "dependency_failed"


class Busy(LedMatrixError):
    """Another operation holds the plugin, the queue, or the state directory."""

    code = "busy"


class Forbidden(LedMatrixError):
    """Refused by policy: a host outside the allow-list, install-from-URL disabled..."""

    code = "forbidden"


class IdConflict(LedMatrixError):
    """The plugin id belongs to another source (a built-in, another registry entry or
    repository); uninstall the installed plugin first to replace it on purpose."""

    code = "id_conflict"


class PayloadTooLarge(LedMatrixError):
    code = "payload_too_large"


class RateLimited(LedMatrixError):
    code = "rate_limited"


class StorageFailed(LedMatrixError):
    """Disk full, read-only state dir, or another filesystem failure."""

    code = "storage_failed"


class DisplayUnavailable(LedMatrixError):
    """The configured display backend cannot run here (port in use, no panel driver...)."""

    code = "display_unavailable"


class ServiceUnreachable(LedMatrixError):
    """CLI only: the broker or the running service did not answer in time."""

    code = "service_unreachable"


class InternalError(LedMatrixError):
    code = "internal_error"


ALL_ERROR_TYPES: tuple[type[LedMatrixError], ...] = (
    LedMatrixError,
    ConfigError,
    InvalidPayload,
    InvalidPluginId,
    UnknownCommand,
    NotFound,
    NotInstalled,
    RegistryUnavailable,
    DownloadFailed,
    InvalidArchive,
    InvalidManifest,
    Incompatible,
    DependencyFailed,
    Busy,
    Forbidden,
    IdConflict,
    PayloadTooLarge,
    RateLimited,
    StorageFailed,
    DisplayUnavailable,
    ServiceUnreachable,
    InternalError,
)

ERROR_CODES: frozenset[str] = frozenset(t.code for t in ALL_ERROR_TYPES)
