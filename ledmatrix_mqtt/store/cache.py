"""One thread-safe TTL cache for everything the store fetches (registry, GitHub repo info).

LEDMatrix grew four hand-rolled caches with four sets of bugs (a failure that
overwrote good commit info, stale fallbacks that re-hit the network on every
call, failures with no cache re-requested on every browse, no single-flight,
a cached list mutated by callers). This cache owns those rules once:

* A fetched value lives ``ttl`` seconds, counted from when the fetch started.
* ``fetch`` returning ``None`` means "absent" (e.g. commit not found). It is
  remembered for ``negative_ttl`` seconds when given, and never replaces a
  good (non-None) value.
* ``fetch`` raising means "failed". A failure never replaces a held value: the
  held value is served marked ``stale`` and the key backs off for ``backoff``
  seconds, so the network is not re-hit on every call. With nothing held, the
  error is remembered for the backoff and re-raised without fetching.
* Concurrent misses of one key run one fetch; the others wait and share it.
* Only immutable values (frozen dataclasses, tuples of them, scalars) are
  stored, so a cached value can be handed to any caller.

Time comes from an injectable clock so tests advance it instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
Clock = Callable[[], float]

DEFAULT_BACKOFF = 60.0
_SCALARS = (str, bytes, int, float, bool, type(None))


@dataclass(frozen=True)
class CacheResult(Generic[T]):
    """What ``get_or_fetch`` answered.

    ``stale`` is True when a refresh failed (``error`` says why) or the value was
    seeded from an old copy; ``from_cache`` is False only for the caller whose
    own fetch produced the value.
    """

    value: T
    stale: bool = False
    from_cache: bool = False
    fetched_at: float = 0.0
    error: BaseException | None = None


@dataclass
class _Slot:
    value: Any = None
    held: bool = False  # a value (possibly the absent marker None) is held
    fetched_at: float = 0.0
    expires_at: float = 0.0
    stale: bool = False
    error: BaseException | None = None
    retry_at: float = 0.0  # with nothing held: no fetch before this


@dataclass
class _Flight:
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: CacheResult[Any] | None = None
    error: BaseException | None = None


def is_immutable(value: object) -> bool:
    """Scalars, frozen dataclass instances, and tuples/frozensets of immutable values."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, tuple | frozenset):
        return all(is_immutable(v) for v in value)
    params = getattr(type(value), "__dataclass_params__", None)
    return params is not None and bool(params.frozen) and not isinstance(value, type)


class TtlCache:
    """Per-key TTL cache with stale-on-error, negative caching and single-flight.

    Keys are any hashable; one instance may hold several kinds of value under
    namespaced keys. ``max_entries`` bounds memory (least recently stored first
    out). Fetches run in the calling thread, outside the cache lock.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        backoff: float = DEFAULT_BACKOFF,
        max_entries: int = 4096,
    ) -> None:
        self._clock = clock
        self.backoff = backoff
        self._max_entries = max_entries
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._lock = threading.Lock()

    # -- reads without fetching ---------------------------------------------------
    def peek(self, key: Hashable) -> CacheResult[Any] | None:
        """The held value, even if expired, without fetching; None when nothing is held.

        ``stale`` is True only after a failed refresh or for a seeded copy;
        mere expiry does not make a value stale.
        """
        with self._lock:
            slot = self._slots.get(key)
            if slot is None or not slot.held:
                return None
            return CacheResult(slot.value, slot.stale, True, slot.fetched_at, slot.error)

    def cached(self, key: Hashable) -> CacheResult[Any] | None:
        """What ``get_or_fetch`` would answer without fetching; None if it would fetch.

        Raises the remembered error while a failure with nothing held backs off.
        """
        with self._lock:
            return self._answer_from_slot(key)

    def seed(
        self, key: Hashable, value: object, *, fetched_at: float, ttl: float | None = None
    ) -> None:
        """Hold ``value`` loaded from disk at start. Does nothing if a value is held.

        Without ``ttl``: an expired, stale copy; the next ``get_or_fetch`` tries the
        network and this copy answers if that fails. With ``ttl``: a normal value that
        stays fresh until ``fetched_at + ttl``, as if this process had fetched it.
        """
        _check_immutable(value)
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.held:
                return
            if ttl is None:
                self._store(key, _Slot(value, True, fetched_at, 0.0, stale=True))
            else:
                self._store(key, _Slot(value, True, fetched_at, fetched_at + ttl))

    def fresh_items(self) -> list[tuple[Hashable, Any, float]]:
        """``(key, value, fetched_at)`` of every held, unexpired, non-stale value."""
        now = self._clock()
        with self._lock:
            return [
                (key, slot.value, slot.fetched_at)
                for key, slot in self._slots.items()
                if slot.held and not slot.stale and now < slot.expires_at
            ]

    def invalidate(self, key: Hashable) -> None:
        with self._lock:
            self._slots.pop(key, None)

    # -- the one entry point --------------------------------------------------------
    def get_or_fetch(
        self,
        key: Hashable,
        fetch: Callable[[], T],
        ttl: float,
        *,
        force: bool = False,
        negative_ttl: float | None = None,
    ) -> CacheResult[T]:
        """The value for ``key``, fetching it when missing or expired (or ``force``).

        Raises what ``fetch`` raised only when no value is held for ``key``
        (also during the backoff after such a failure, without calling ``fetch``).
        ``force`` skips the freshness and backoff checks but still joins a
        fetch already in flight for ``key``.
        """
        with self._lock:
            if not force:
                cached = self._answer_from_slot(key)
                if cached is not None:
                    return cast(CacheResult[T], cached)
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            return self._follow(flight)
        return self._lead(key, flight, fetch, ttl, negative_ttl)

    def _answer_from_slot(self, key: Hashable) -> CacheResult[Any] | None:
        """Under the lock: a fresh held value, or raise a failure still in backoff."""
        slot = self._slots.get(key)
        if slot is None:
            return None
        now = self._clock()
        if slot.held and now < slot.expires_at:
            return CacheResult(slot.value, slot.stale, True, slot.fetched_at, slot.error)
        if not slot.held and slot.error is not None and now < slot.retry_at:
            # drop the old traceback so re-raising one remembered error does not grow it
            raise slot.error.with_traceback(None)
        return None

    @staticmethod
    def _follow(flight: _Flight) -> CacheResult[T]:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        assert flight.result is not None
        return dataclasses.replace(flight.result, from_cache=True)

    def _lead(
        self,
        key: Hashable,
        flight: _Flight,
        fetch: Callable[[], T],
        ttl: float,
        negative_ttl: float | None,
    ) -> CacheResult[T]:
        started = self._clock()
        try:
            try:
                value = fetch()
            except Exception as exc:
                flight.result = self._on_failure(key, exc)
                if flight.result is None:
                    raise
            else:
                flight.result = self._on_value(key, value, started, ttl, negative_ttl)
            return cast(CacheResult[T], flight.result)
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def _on_value(
        self, key: Hashable, value: object, started: float, ttl: float, neg_ttl: float | None
    ) -> CacheResult[Any]:
        _check_immutable(value)
        with self._lock:
            slot = self._slots.get(key)
            if value is None:
                if slot is not None and slot.held and slot.value is not None:
                    return self._back_off(slot, None)  # absent never replaces a good value
                if neg_ttl is None:
                    self._slots.pop(key, None)
                    return CacheResult(None, False, False, started)
                ttl = neg_ttl
            self._store(key, _Slot(value, True, started, started + ttl))
            return CacheResult(value, False, False, started)

    def _on_failure(self, key: Hashable, exc: BaseException) -> CacheResult[Any] | None:
        """Serve a held value stale (and back off), or remember the failure; None = re-raise."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.held:
                return self._back_off(slot, exc)
            now = self._clock()
            self._store(key, _Slot(error=exc, retry_at=now + self.backoff))
            return None

    def _back_off(self, slot: _Slot, exc: BaseException | None) -> CacheResult[Any]:
        slot.stale = True
        slot.error = exc
        slot.expires_at = self._clock() + self.backoff
        return CacheResult(slot.value, True, True, slot.fetched_at, exc)

    def _store(self, key: Hashable, slot: _Slot) -> None:
        self._slots[key] = slot
        self._slots.move_to_end(key)
        while len(self._slots) > self._max_entries:
            self._slots.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)


def _check_immutable(value: object) -> None:
    if not is_immutable(value):
        raise TypeError(
            f"TtlCache stores only immutable values (frozen dataclasses, tuples, scalars), "
            f"not {type(value).__name__}"
        )
