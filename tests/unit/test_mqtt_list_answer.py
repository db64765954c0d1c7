"""The kept ``list`` answer: invalidation wins over a build that raced it; rebuilds when old."""

from __future__ import annotations

from ledmatrix_mqtt.mqtt.listcache import ListAnswer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_build_that_raced_an_invalidation_is_not_kept() -> None:
    answer = ListAnswer(lambda: b"fresh")
    generation = answer.generation
    answer.invalidate()  # the plugins changed while the old data was being built
    answer.offer(generation, b"old")
    assert answer.cached() == (None, False)
    assert answer.refresh() == b"fresh"
    assert answer.cached() == (b"fresh", False)


def test_an_old_answer_is_served_and_one_rebuild_is_asked_for() -> None:
    clock = Clock()
    builds = iter([b"v1", b"v2"])
    answer = ListAnswer(lambda: next(builds), max_age=1.0, clock=clock)
    answer.refresh()
    clock.now += 1.5
    assert answer.cached() == (b"v1", True)
    assert answer.cached() == (b"v1", False)  # one rebuild at a time
    answer.rebuild()
    assert answer.cached() == (b"v2", False)


def test_a_rebuild_that_could_not_be_scheduled_is_asked_for_again() -> None:
    clock = Clock()
    answer = ListAnswer(lambda: b"v1", max_age=1.0, clock=clock)
    answer.refresh()
    clock.now += 2.0
    assert answer.cached() == (b"v1", True)
    answer.refresh_not_started()
    assert answer.cached() == (b"v1", True)
