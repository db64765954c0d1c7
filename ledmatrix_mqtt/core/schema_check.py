"""JSON-schema checks: the port (:class:`SchemaChecker`) and jsonschema behind it.

Pure: no file access, no threads. :data:`IN_PROCESS` runs jsonschema in this
process (imported on its first check). The service runs the same functions in
a child interpreter instead (``ledmatrix_mqtt.schema_worker``), so jsonschema's
memory is not kept for the life of the service and a check that never ends (a
catastrophically backtracking ``pattern``) can be stopped.

A checker returns what is wrong (``None`` when nothing is) and raises
:class:`CheckFailed` only when the check itself could not finish.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # jsonschema (slow to import, ~4 MiB) loads on the first check
    import jsonschema

MAX_DEPTH = 64  # deeper data is refused before it reaches jsonschema's recursion


class CheckFailed(Exception):
    """A check that could not finish; ``reason`` says why (never holds checked values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Violation:
    """The first thing wrong with an instance: jsonschema's message and where it is."""

    message: str
    path: tuple[str | int, ...] = ()


class SchemaChecker(Protocol):
    """Where schema checks run."""

    def schema_problem(self, schema: Mapping[str, Any]) -> str | None:
        """Why ``schema`` is not a valid JSON schema of its declared draft, or ``None``."""
        ...

    def first_violation(
        self, schema: Mapping[str, Any], instance: Mapping[str, Any]
    ) -> Violation | None:
        """The best-matching error of ``instance`` against ``schema``, or ``None``."""
        ...


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """JSON's own types only, so that two values with one JSON text validate alike
    (``{1: x}`` and ``{"1": x}``, or a tuple and a list, do not)."""
    if depth > MAX_DEPTH:
        return False
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(is_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain_json(v, depth + 1) for k, v in value.items())
    return False


class JsonSchemaChecker:
    """jsonschema in this process."""

    def schema_problem(self, schema: Mapping[str, Any]) -> str | None:
        import jsonschema

        try:
            jsonschema.validators.validator_for(schema).check_schema(dict(schema))
        except jsonschema.SchemaError as exc:
            return str(exc.message)
        except RecursionError as exc:
            raise CheckFailed("the schema is nested too deeply") from exc
        except Exception as exc:  # hostile schemas reach jsonschema's internals
            raise CheckFailed(_failure(exc)) from exc
        return None

    def first_violation(
        self, schema: Mapping[str, Any], instance: Mapping[str, Any]
    ) -> Violation | None:
        import jsonschema

        try:
            validator = jsonschema.validators.validator_for(schema)(schema)
            error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        except RecursionError as exc:
            raise CheckFailed("the settings or their schema are nested too deeply") from exc
        except Exception as exc:  # an unresolvable $ref, a bad pattern...
            raise CheckFailed(_failure(exc)) from exc
        if error is None:
            return None
        return Violation(str(error.message), tuple(_error_path(error)))


def _failure(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"the check failed: {type(exc).__name__}" + (f": {text}" if text else "")


def _error_path(error: jsonschema.ValidationError) -> list[str | int]:
    """Where the error is; for a missing or unexpected key, that key (not its parent)."""
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if not isinstance(instance, Mapping):
        return path
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [k for k in error.validator_value if k not in instance]
        return path + [str(k) for k in missing[:1]]
    if error.validator == "additionalProperties" and isinstance(error.schema, Mapping):
        declared = error.schema.get("properties")
        declared = declared if isinstance(declared, Mapping) else {}
        extra = sorted(str(k) for k in instance if k not in declared)
        return path + extra[:1]
    return path


IN_PROCESS: SchemaChecker = JsonSchemaChecker()
