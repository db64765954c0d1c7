"""Schema checks in a child interpreter (``ledmatrix_mqtt.schema_worker``), with real children.

The worker must answer exactly what jsonschema in this process answers, stop a
check that never ends, and hold its child (and jsonschema's memory) only while
checks come.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pytest

from ledmatrix_mqtt.core.schema_check import IN_PROCESS, CheckFailed
from ledmatrix_mqtt.schema_worker import SchemaWorker
from tests.support.waiting import wait_until

REDOS = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "color": {"type": "array", "items": {"type": "integer", "maximum": 255}},
        "mode": {"enum": ["a", "b"]},
        "nested": {"type": "object", "properties": {"n": {"type": "number"}}, "required": ["n"]},
        "ref": {"$ref": "#/definitions/word"},
    },
    "definitions": {"word": {"type": "string", "minLength": 2}},
    "required": ["mode"],
    "additionalProperties": False,
}
INSTANCES: list[dict[str, Any]] = [
    {"mode": "a"},
    {"mode": "c"},
    {},
    {"mode": "a", "extra": 1},
    {"mode": "a", "color": [1, 2, 999]},
    {"mode": "a", "nested": {}},
    {"mode": "a", "ref": "x"},
    {"mode": "\ud800", "ref": "\udfff\x00"},
    {"mode": "a", "color": [float("nan")]},
]
BAD_SCHEMAS: list[dict[str, Any]] = [
    {"type": "nope"},
    {"type": "object", "properties": {"a": {"pattern": "("}}},
    {"type": "object", "properties": {"\ud800": {"minimum": "x"}}},
    {"type": "object", "required": "a"},
]


@pytest.fixture
def worker() -> Any:
    checker = SchemaWorker(deadline_s=5.0, idle_s=30.0)
    yield checker
    checker.close()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_answers_exactly_what_jsonschema_in_this_process_answers(worker: SchemaWorker) -> None:
    for instance in INSTANCES:
        assert worker.first_violation(SCHEMA, instance) == IN_PROCESS.first_violation(
            SCHEMA, instance
        ), instance
    for schema in [SCHEMA, *BAD_SCHEMAS]:
        assert worker.schema_problem(schema) == IN_PROCESS.schema_problem(schema), schema
    assert worker.first_violation(SCHEMA, {"mode": "c"}) is not None  # the cases do differ
    assert worker.schema_problem({"type": "nope"}) is not None
    assert worker.started == 1  # one child answered all of them


def test_a_check_that_never_ends_is_stopped_at_its_deadline_and_the_next_one_answers() -> None:
    worker = SchemaWorker(deadline_s=1.0, idle_s=30.0)
    try:
        assert worker.first_violation(REDOS, {"name": "aaa"}) is None  # the child is up
        first = worker.pid
        assert first is not None
        started = time.monotonic()
        with pytest.raises(CheckFailed, match="longer than 1 s"):
            worker.first_violation(REDOS, {"name": "a" * 40 + "!"})
        assert time.monotonic() - started < 3.0
        assert wait_until(lambda: gone(first), 5), "the stuck child still runs"
        found = worker.first_violation(REDOS, {"name": "b"})
        assert found is not None and "does not match" in found.message
        assert worker.pid not in (None, first) and worker.started == 2
    finally:
        worker.close()


def test_the_child_ends_when_checks_stop_coming_and_a_new_one_starts_for_the_next() -> None:
    worker = SchemaWorker(deadline_s=5.0, idle_s=0.3)
    try:
        assert worker.schema_problem(SCHEMA) is None
        first = worker.pid
        assert first is not None
        assert wait_until(lambda: worker.pid is None and gone(first), 5), "the idle child lives on"
        assert not psutil.pid_exists(first) or gone(first)
        assert worker.schema_problem({"type": "nope"}) is not None
        assert worker.started == 2
    finally:
        worker.close()


def test_a_child_killed_between_checks_is_replaced_within_the_next_check(
    worker: SchemaWorker,
) -> None:
    assert worker.first_violation(SCHEMA, {"mode": "a"}) is None
    first = worker.pid
    assert first is not None
    psutil.Process(first).kill()
    assert wait_until(lambda: gone(first), 5)
    assert worker.first_violation(SCHEMA, {"mode": "c"}) is not None
    assert worker.started == 2


def test_close_ends_and_reaps_the_child(worker: SchemaWorker) -> None:
    assert worker.schema_problem(SCHEMA) is None
    pid = worker.pid
    assert pid is not None
    worker.close()
    assert worker.pid is None
    assert not psutil.pid_exists(pid), "the child was left running or unreaped"


def test_checks_from_many_threads_each_get_their_own_answer(worker: SchemaWorker) -> None:
    answers: dict[int, Any] = {}

    def check(i: int) -> None:
        answers[i] = worker.first_violation(SCHEMA, {"mode": "a", "color": [i]})

    threads = [threading.Thread(target=check, args=(i,)) for i in range(250, 262)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(i for i, found in answers.items() if found is None) == list(range(250, 256))
    assert all("greater than the maximum" in answers[i].message for i in range(256, 262))


def test_data_that_is_not_plain_json_is_checked_here_with_its_own_meaning(
    worker: SchemaWorker,
) -> None:
    schema = {"type": "object", "properties": {"1": {"type": "string"}}}
    assert worker.first_violation(schema, {1: 5}) is None  # an int key is not the property "1"
    assert worker.first_violation(schema, {"1": 5}) is not None
    assert worker.started == 1


def test_the_service_side_never_imports_jsonschema() -> None:
    probe = (
        "import sys\n"
        "from ledmatrix_mqtt.schema_worker import SchemaWorker\n"
        "w = SchemaWorker()\n"
        "print(w.first_violation({'required': ['a']}, {}).path, w.schema_problem({'type': 1}) "
        "is not None, 'jsonschema' in sys.modules)\n"
        "w.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["('a',)", "True", "False"], done.stdout + done.stderr
