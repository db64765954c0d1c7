"""The one test wait: what it answers, and that every test uses it and its answer."""

from __future__ import annotations

import ast
import time
from pathlib import Path

from tests.support.waiting import wait_until

TESTS = Path(__file__).resolve().parents[1]


def test_a_condition_that_holds_answers_truthy_with_its_value_and_time() -> None:
    ready_at = time.monotonic() + 0.05
    waited = wait_until(lambda: time.monotonic() >= ready_at and "ready", timeout=2)
    assert waited and waited.value == "ready"
    assert 0.04 <= waited.seconds < 2


def test_a_condition_that_never_holds_answers_falsy_after_the_timeout() -> None:
    waited = wait_until(lambda: [], timeout=0.1)
    assert not waited and waited.value == []
    assert waited.seconds >= 0.1


def _test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "ledmatrix_style_plugins" not in p.parts)


def test_wait_until_is_defined_once_in_the_test_tree() -> None:
    defined = [
        str(path.relative_to(TESTS))
        for path in _test_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "wait_until"
    ]
    assert defined == ["support/waiting.py"]


def test_no_test_ignores_the_answer_of_a_wait() -> None:
    """A bare ``wait_until(...)`` statement cannot fail: its timeout passes silently."""
    ignored = [
        f"{path.relative_to(TESTS)}:{node.lineno}"
        for path in _test_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", getattr(node.value.func, "attr", "")) == "wait_until"
    ]
    assert ignored == []
