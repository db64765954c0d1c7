"""``Lazy``: built once on first use, whatever the number of threads asking."""

from __future__ import annotations

import threading

import pytest

from ledmatrix_mqtt.lazy import Lazy


def test_concurrent_first_uses_build_the_value_once() -> None:
    builds: list[object] = []
    gate = threading.Barrier(8)

    def build() -> object:
        builds.append(object())
        return builds[-1]

    lazy = Lazy(build)
    seen: list[object] = []

    def use() -> None:
        gate.wait()
        seen.append(lazy.get())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(builds) == 1
    assert seen == [builds[0]] * 8


def test_a_failed_build_is_tried_again_on_next_use() -> None:
    attempts: list[int] = []

    def build() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk not ready")
        return 42

    lazy = Lazy(build)
    with pytest.raises(OSError):
        lazy.get()
    assert not lazy.built
    assert lazy.get() == 42
    assert lazy.built and len(attempts) == 2


def test_none_is_a_built_value() -> None:
    calls: list[int] = []
    lazy: Lazy[None] = Lazy(lambda: calls.append(1))
    assert lazy.get() is None and lazy.get() is None
    assert calls == [1]
