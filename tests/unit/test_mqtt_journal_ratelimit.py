"""Transaction journal, token bucket and the bounded inbound queue."""

from __future__ import annotations

from pathlib import Path

from ledmatrix_mqtt.mqtt.client import Connected, Disconnected, Inbound
from ledmatrix_mqtt.mqtt.dedup import MAX_BYTES, MAX_ENTRIES, TransactionJournal
from ledmatrix_mqtt.mqtt.inbound import EventQueue
from ledmatrix_mqtt.mqtt.ratelimit import TokenBucket


def test_journal_returns_first_response_and_survives_reload(tmp_path: Path) -> None:
    path = tmp_path / "mqtt" / "transactions.json"
    j = TransactionJournal(path)
    assert j.claim("install", "t1", lambda r: None).fresh
    waited: list[bytes] = []
    dup = j.claim("install", "t1", waited.append)
    assert not dup.fresh and dup.response is None
    waiters = j.finish("install", "t1", b'{"status":"ok"}')
    for w in waiters:
        w(b'{"status":"ok"}')
    assert waited == [b'{"status":"ok"}']
    again = TransactionJournal(path).claim("install", "t1", lambda r: None)
    assert (again.fresh, again.response) == (False, b'{"status":"ok"}')
    assert TransactionJournal(path).claim("uninstall", "t1", lambda r: None).fresh


def test_journal_is_bounded_and_ignores_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    j = TransactionJournal(path)
    for i in range(MAX_ENTRIES + 20):
        j.claim("list", str(i), lambda r: None)
        j.finish("list", str(i), b"{}")
    assert TransactionJournal(path).claim("list", "0", lambda r: None).fresh  # evicted
    path.write_text("{corrupt")
    assert TransactionJournal(path).claim("list", "x", lambda r: None).fresh


def test_journal_is_bounded_by_size_not_only_by_count(tmp_path: Path) -> None:
    """The CLI sends a transaction with every call: 500 `list` responses of a device with
    200 plugins (~60 KB each) were kept in memory and the whole ~30 MB rewritten and
    fsynced for every command."""
    path = tmp_path / "j.json"
    j = TransactionJournal(path)
    big = b'{"data":"' + b"x" * 60_000 + b'"}'
    for i in range(100):
        j.claim("list", str(i), lambda r: None)
        j.finish("list", str(i), big)
    assert path.stat().st_size <= 2 * MAX_BYTES
    assert not j.claim("list", "99", lambda r: None).fresh  # the newest are kept


def test_journal_release_allows_a_retry(tmp_path: Path) -> None:
    j = TransactionJournal(tmp_path / "j.json")
    assert j.claim("install", "t", lambda r: None).fresh
    j.release("install", "t")
    assert j.claim("install", "t", lambda r: None).fresh


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, capacity=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 1.0
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_full_inbound_queue_still_delivers_connection_events() -> None:
    """A flood filled the queue and the Connected event of a reconnect was dropped with
    the excess commands: the service never resubscribed its state nor went online."""
    events = EventQueue(max_items=3)
    for i in range(5):
        events.put(Inbound(f"ledmatrix/x/cmd/next{i}", b"{}", False))
    events.put(Disconnected("lost"))
    events.put(Connected(session_present=False))
    got = [events.get() for _ in range(5)]
    assert [type(e) for e in got] == [Inbound] * 3 + [Disconnected, Connected]
    assert events.dropped == 2
