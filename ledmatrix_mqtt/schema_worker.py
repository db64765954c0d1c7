"""JSON-schema checks in a child interpreter: the service's ``SchemaChecker``.

- The child (``ledmatrix_mqtt.schema_child``) starts on the first check and is
  ended after ``idle_s`` without one, so jsonschema's memory is held only while
  checks come (a start-up's loads, a burst of ``configure`` commands).
- Every check has a deadline. A check that misses it (a ``pattern`` that
  backtracks without end) kills the child and raises ``CheckFailed``; the next
  check starts a new child. One check runs at a time.
- A child that ended between checks is replaced, once per check.
- Data that is not plain JSON (``{1: x}``) is checked in this process: its
  meaning would change on the way through JSON.
- The child's stderr is discarded: a traceback there could quote a secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledmatrix_mqtt.core.schema_check import IN_PROCESS, CheckFailed, Violation, is_plain_json

CHECK_DEADLINE_S = 10.0  # a child's start and jsonschema's import included (Pi Zero 2: ~2 s)
IDLE_EXIT_S = 60.0
_REAP_S = 5.0  # how long an ended child gets to exit before it is killed
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class _ChildGone(Exception):
    """The child ended (or its pipes closed) before it answered."""


class SchemaWorker:
    """A ``core.schema_check.SchemaChecker`` whose checks run in a child; thread-safe."""

    def __init__(self, *, deadline_s: float | None = None, idle_s: float | None = None) -> None:
        """``deadline_s`` and ``idle_s``: ``CHECK_DEADLINE_S`` and ``IDLE_EXIT_S`` by default."""
        self._deadline_s = CHECK_DEADLINE_S if deadline_s is None else deadline_s
        self._idle_s = IDLE_EXIT_S if idle_s is None else idle_s
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._child: subprocess.Popen[bytes] | None = None
        self._last_use = 0.0
        self.started = 0  # children started so far (what a test or a log line may want)

    @property
    def pid(self) -> int | None:
        """The running child's PID (None while there is none)."""
        with self._lock:
            return self._child.pid if self._child is not None else None

    def schema_problem(self, schema: Mapping[str, Any]) -> str | None:
        reply = self._ask({"op": "schema", "schema": schema})
        problem = reply.get("problem")
        if "problem" not in reply or not (problem is None or isinstance(problem, str)):
            raise _garbled()
        return problem

    def first_violation(
        self, schema: Mapping[str, Any], instance: Mapping[str, Any]
    ) -> Violation | None:
        if not is_plain_json(instance):
            return IN_PROCESS.first_violation(schema, instance)
        reply = self._ask({"op": "instance", "schema": schema, "instance": instance})
        found = reply.get("violation", False)
        if found is None:
            return None
        if not isinstance(found, dict) or not isinstance(found.get("message"), str):
            raise _garbled()
        path = found.get("path")
        parts = path if isinstance(path, list) else []
        return Violation(found["message"], tuple(p for p in parts if isinstance(p, str | int)))

    def close(self) -> None:
        """End the child (if any); a later check starts a new one."""
        with self._lock:
            child = self._child
            self._drop()
        if child is not None:
            _reap(child)

    # -- the child ----------------------------------------------------------------
    def _ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            line = json.dumps(request, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
        except (ValueError, TypeError, RecursionError) as exc:
            raise CheckFailed("the settings or their schema are not plain JSON") from exc
        with self._lock:
            for attempt in (1, 2):
                child = self._child if self._child is not None else self._spawn()
                try:
                    reply = self._exchange(child, line)
                except _ChildGone:
                    self._drop()
                    if attempt == 2:
                        raise CheckFailed("the schema worker ended during the check") from None
                    continue
                self._last_use = time.monotonic()
                break
        if "failed" in reply:
            raise CheckFailed(str(reply["failed"]))
        return reply

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "ledmatrix_mqtt.schema_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
                cwd="/",
                env=env,
            )
        except OSError as exc:
            raise CheckFailed(f"the schema worker could not start: {exc.strerror or exc}") from exc
        self._child, self._last_use = child, time.monotonic()
        self.started += 1
        watcher = threading.Thread(target=self._watch, args=(child,), name="schema-worker")
        watcher.daemon = True
        watcher.start()
        return child

    def _exchange(self, child: subprocess.Popen[bytes], line: bytes) -> dict[str, Any]:
        """Send one request and read its answer before the deadline."""
        assert child.stdin is not None and child.stdout is not None
        deadline = time.monotonic() + self._deadline_s
        try:
            view = memoryview(line)
            while view:
                view = view[child.stdin.write(view) or 0 :]
        except (BrokenPipeError, ValueError):
            raise _ChildGone from None
        received = b""
        while not received.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([child.stdout], [], [], remaining)[0]:
                _kill(child)
                self._drop()
                raise CheckFailed(f"the check took longer than {self._deadline_s:g} s")
            chunk = child.stdout.read(1 << 16)
            if not chunk:
                raise _ChildGone
            received += chunk
        try:
            reply = json.loads(received)
        except ValueError:
            _kill(child)
            self._drop()
            raise _garbled() from None
        if not isinstance(reply, dict):
            raise _garbled()
        return reply

    def _drop(self) -> None:
        """Forget the current child (its watcher reaps it); the lock is held."""
        child, self._child = self._child, None
        if child is not None and child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()  # the child ends at the end of its input
        self._wake.notify_all()

    def _watch(self, child: subprocess.Popen[bytes]) -> None:
        """End ``child`` after ``idle_s`` without a check, then reap it."""
        with self._lock:
            while self._child is child:
                idle_for = time.monotonic() - self._last_use
                if idle_for >= self._idle_s:
                    self._drop()
                    break
                self._wake.wait(self._idle_s - idle_for)
        _reap(child)


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):  # it ended meanwhile
        child.kill()


def _reap(child: subprocess.Popen[bytes]) -> None:
    try:
        child.wait(_REAP_S)
    except subprocess.TimeoutExpired:
        _kill(child)
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


def _garbled() -> CheckFailed:
    return CheckFailed("the schema worker gave an answer that is not one")
