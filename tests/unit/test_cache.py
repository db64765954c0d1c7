"""TtlCache: TTL, stale-on-error with backoff, negative caching, single-flight, immutability.

Time is a fake clock advanced by hand; threads are released by events, never sleeps.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from ledmatrix_mqtt.errors import DownloadFailed
from ledmatrix_mqtt.store.cache import TtlCache, is_immutable
from tests.support.waiting import wait_until


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Info:
    value: int


class Counting:
    """A fetch function whose answers are scripted; counts calls."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> Info | None:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        assert answer is None or isinstance(answer, Info)
        return answer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> TtlCache:
    return TtlCache(clock=clock, backoff=60.0)


def test_value_is_served_from_cache_until_ttl(cache: TtlCache, clock: FakeClock) -> None:
    fetch = Counting(Info(1), Info(2))
    first = cache.get_or_fetch("k", fetch, 900)
    assert first.value == Info(1) and not first.from_cache and not first.stale
    clock.advance(899)
    assert cache.get_or_fetch("k", fetch, 900).value == Info(1)
    assert fetch.calls == 1
    clock.advance(1)
    again = cache.get_or_fetch("k", fetch, 900)
    assert again.value == Info(2) and fetch.calls == 2


def test_ttl_counts_from_fetch_start(cache: TtlCache, clock: FakeClock) -> None:
    def slow_fetch() -> Info:
        clock.advance(100)  # the fetch itself took 100 s
        return Info(1)

    cache.get_or_fetch("k", slow_fetch, 900)
    clock.advance(800)  # 900 s after the fetch started
    assert cache.cached("k") is None


def test_force_fetches_even_when_fresh(cache: TtlCache) -> None:
    fetch = Counting(Info(1), Info(2))
    cache.get_or_fetch("k", fetch, 900)
    assert cache.get_or_fetch("k", fetch, 900, force=True).value == Info(2)
    assert fetch.calls == 2


def test_failure_serves_held_value_stale_and_backs_off(cache: TtlCache, clock: FakeClock) -> None:
    boom = DownloadFailed("offline")
    fetch = Counting(Info(1), boom)
    cache.get_or_fetch("k", fetch, 900)
    clock.advance(901)
    stale = cache.get_or_fetch("k", fetch, 900)
    assert stale.value == Info(1) and stale.stale and stale.from_cache and stale.error is boom
    assert fetch.calls == 2
    clock.advance(59)
    during_backoff = cache.get_or_fetch("k", fetch, 900)
    assert during_backoff.stale and during_backoff.value == Info(1)
    assert fetch.calls == 2, "the backoff must stop re-hitting the network"
    clock.advance(2)
    cache.get_or_fetch("k", fetch, 900)
    assert fetch.calls == 3


def test_success_after_failure_clears_stale(cache: TtlCache, clock: FakeClock) -> None:
    fetch = Counting(Info(1), DownloadFailed("x"), Info(3))
    cache.get_or_fetch("k", fetch, 900)
    clock.advance(901)
    cache.get_or_fetch("k", fetch, 900)
    clock.advance(61)
    fresh = cache.get_or_fetch("k", fetch, 900)
    assert fresh.value == Info(3) and not fresh.stale and fresh.error is None


def test_failure_with_nothing_held_raises_and_backs_off(cache: TtlCache, clock: FakeClock) -> None:
    fetch = Counting(DownloadFailed("rate limited"))
    with pytest.raises(DownloadFailed):
        cache.get_or_fetch("k", fetch, 900)
    with pytest.raises(DownloadFailed):
        cache.get_or_fetch("k", fetch, 900)
    assert fetch.calls == 1, "a failure with no value is remembered for the backoff"
    with pytest.raises(DownloadFailed):
        cache.get_or_fetch("k", fetch, 900, force=True)
    assert fetch.calls == 2, "force skips the backoff"
    clock.advance(61)
    with pytest.raises(DownloadFailed):
        cache.get_or_fetch("k", fetch, 900)
    assert fetch.calls == 3


def test_absent_is_cached_for_negative_ttl(cache: TtlCache, clock: FakeClock) -> None:
    fetch = Counting(None, Info(5))
    assert cache.get_or_fetch("k", fetch, 900, negative_ttl=1800).value is None
    clock.advance(1799)
    assert cache.get_or_fetch("k", fetch, 900, negative_ttl=1800).value is None
    assert fetch.calls == 1
    clock.advance(2)
    assert cache.get_or_fetch("k", fetch, 900, negative_ttl=1800).value == Info(5)


def test_absent_without_negative_ttl_is_not_cached(cache: TtlCache) -> None:
    fetch = Counting(None)
    cache.get_or_fetch("k", fetch, 900)
    cache.get_or_fetch("k", fetch, 900)
    assert fetch.calls == 2
    assert cache.peek("k") is None


def test_absent_never_replaces_a_good_value(cache: TtlCache, clock: FakeClock) -> None:
    fetch = Counting(Info(1), None)
    cache.get_or_fetch("k", fetch, 900, negative_ttl=1800)
    clock.advance(901)
    result = cache.get_or_fetch("k", fetch, 900, negative_ttl=1800)
    assert result.value == Info(1) and result.stale
    clock.advance(30)
    assert cache.get_or_fetch("k", fetch, 900, negative_ttl=1800).value == Info(1)
    assert fetch.calls == 2


def _race(cache: TtlCache, outcome: Info | DownloadFailed, followers: int) -> tuple[int, list[Any]]:
    """A leader enters the fetch and holds it until ``followers`` threads wait in the cache,
    then ends with ``outcome``. Returns the number of fetches and each thread's result
    (or the error it raised)."""
    release, entered = threading.Event(), threading.Event()
    calls: list[int] = []

    def fetch() -> Info:
        calls.append(1)
        entered.set()
        release.wait(10)
        if isinstance(outcome, DownloadFailed):
            raise outcome
        return outcome

    results: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        res: Any
        try:
            res = cache.get_or_fetch("k", fetch, 900)
        except DownloadFailed as exc:
            res = exc
        with lock:
            results.append(res)

    threads = [threading.Thread(target=worker) for _ in range(followers + 1)]
    threads[0].start()
    assert entered.wait(5)
    for t in threads[1:]:
        t.start()
    assert wait_until(lambda: _waiting_threads(threads[1:]) == followers)
    release.set()
    for t in threads:
        t.join(10)
    return len(calls), results


def test_concurrent_misses_share_one_fetch(cache: TtlCache) -> None:
    calls, results = _race(cache, Info(7), followers=7)
    assert calls == 1 and len(results) == 8
    assert all(r.value == Info(7) for r in results)
    assert sum(not r.from_cache for r in results) == 1


def test_concurrent_misses_share_one_failure(cache: TtlCache) -> None:
    calls, results = _race(cache, DownloadFailed("down"), followers=3)
    assert calls == 1 and len(results) == 4
    assert all(isinstance(r, DownloadFailed) for r in results)


def test_only_immutable_values_are_stored(cache: TtlCache) -> None:
    @dataclass
    class Mutable:
        value: int

    with pytest.raises(TypeError):
        cache.get_or_fetch("a", lambda: {"plugins": []}, 900)
    with pytest.raises(TypeError):
        cache.get_or_fetch("b", lambda: Mutable(1), 900)
    assert cache.peek("a") is None and cache.peek("b") is None
    held = cache.get_or_fetch("c", lambda: (Info(1), Info(2)), 900).value
    assert cache.get_or_fetch("c", lambda: (Info(9),), 900).value is held
    with pytest.raises(dataclasses.FrozenInstanceError):
        held[0].value = 5  # type: ignore[misc]
    assert is_immutable((1, "x", None, frozenset({Info(1)})))
    assert not is_immutable([Info(1)])
    assert not is_immutable(Info)  # the class itself is not a value


def test_seeded_copy_answers_only_when_refresh_fails(cache: TtlCache) -> None:
    cache.seed("k", Info(0), fetched_at=5.0)
    assert cache.cached("k") is None, "a seeded copy is never fresh"
    ok = cache.get_or_fetch("k", Counting(Info(1)), 900)
    assert ok.value == Info(1) and not ok.stale

    other = TtlCache(clock=FakeClock())
    other.seed("k", Info(0), fetched_at=5.0)
    assert other.peek("k") is not None and other.peek("k").stale  # type: ignore[union-attr]
    res = other.get_or_fetch("k", Counting(DownloadFailed("offline")), 900)
    assert res.value == Info(0) and res.stale and res.fetched_at == 5.0


def test_seed_does_not_replace_a_held_value(cache: TtlCache) -> None:
    cache.get_or_fetch("k", Counting(Info(1)), 900)
    cache.seed("k", Info(0), fetched_at=0.0)
    assert cache.get_or_fetch("k", Counting(Info(2)), 900).value == Info(1)


def test_oldest_entries_are_evicted_beyond_max(clock: FakeClock) -> None:
    cache = TtlCache(clock=clock, max_entries=2)
    for key in ("a", "b", "c"):
        cache.get_or_fetch(key, Counting(Info(1)), 900)
    assert len(cache) == 2
    assert cache.peek("a") is None and cache.peek("c") is not None


def _waiting_threads(threads: list[threading.Thread]) -> int:
    """Threads blocked inside the cache waiting for the leader's fetch (not fetching)."""
    frames = sys._current_frames()
    count = 0
    for t in threads:
        frame = frames.get(t.ident or -1)
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        count += "_follow" in names
    return count
