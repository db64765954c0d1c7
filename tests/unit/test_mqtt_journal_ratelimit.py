"""Transaction journal, token bucket and the bounded inbound queue."""

from __future__ import annotations

import itertools
from pathlib import Path

from ledmatrix_mqtt.mqtt.client import Connected, Disconnected, Inbound
from ledmatrix_mqtt.mqtt.dedup import MAX_ENTRIES, MAX_FILE_BYTES, TransactionJournal
from ledmatrix_mqtt.mqtt.inbound import EventQueue
from ledmatrix_mqtt.mqtt.ratelimit import TokenBucket


def test_journal_returns_first_response_and_survives_reload(tmp_path: Path) -> None:
    folder = tmp_path / "mqtt"
    j = TransactionJournal(folder)
    assert j.claim("install", "t1", lambda r: None).fresh
    waited: list[bytes] = []
    dup = j.claim("install", "t1", waited.append)
    assert not dup.fresh and dup.response is None
    waiters = j.finish("install", "t1", b'{"status":"ok"}')
    for w in waiters:
        w(b'{"status":"ok"}')
    assert waited == [b'{"status":"ok"}']
    again = TransactionJournal(folder).claim("install", "t1", lambda r: None)
    assert (again.fresh, again.response) == (False, b'{"status":"ok"}')
    assert TransactionJournal(folder).claim("uninstall", "t1", lambda r: None).fresh


def test_journal_is_bounded_and_ignores_corrupt_lines(tmp_path: Path) -> None:
    j = TransactionJournal(tmp_path)
    for i in range(MAX_ENTRIES + 20):
        j.claim("install", str(i), lambda r: None)
        j.finish("install", str(i), b"{}")
    assert TransactionJournal(tmp_path).claim("install", "0", lambda r: None).fresh  # evicted
    assert not TransactionJournal(tmp_path).claim("install", "519", lambda r: None).fresh
    j.path.write_bytes(b"{corrupt\n[1]\n\xff\n")
    assert TransactionJournal(tmp_path).claim("install", "x", lambda r: None).fresh


def test_journal_load_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    j = TransactionJournal(tmp_path)
    for tx in ("a", "b"):
        j.claim("install", tx, lambda r: None)
        j.finish("install", tx, b'{"tx":"' + tx.encode() + b'"}')
    data = j.path.read_bytes()
    j.path.write_bytes(data[: len(data) - 7])  # power cut in the middle of the last line
    reloaded = TransactionJournal(tmp_path)
    assert reloaded.claim("install", "a", lambda r: None).response == b'{"tx":"a"}'
    assert reloaded.claim("install", "b", lambda r: None).fresh


def test_journal_writes_only_durable_commands_one_line_each(tmp_path: Path) -> None:
    """Regression for issue 11.2: every command with a transaction rewrote and fsynced
    the whole journal (up to 1 MiB); 200 `list` commands wrote 25 MB."""
    j = TransactionJournal(tmp_path)
    big = b'{"data":"' + b"x" * 60_000 + b'"}'
    for i in range(200):
        j.claim("list", str(i), lambda r: None)
        j.finish("list", str(i), big, durable=False)
    assert not j.path.exists()  # in memory only
    assert not j.claim("list", "199", lambda r: None).fresh
    sizes = []
    for i in range(20):
        j.claim("enable", str(i), lambda r: None)
        j.finish("enable", str(i), b'{"command":"enable","status":"ok","data":{"id":"x"}}')
        sizes.append(j.path.stat().st_size)
    per_command = {b - a for a, b in itertools.pairwise(sizes)}
    assert max(per_command) < 200, per_command  # one short line each, no rewrite


def test_journal_file_is_compacted_past_its_bound(tmp_path: Path) -> None:
    j = TransactionJournal(tmp_path)
    response = b'{"data":"' + b"y" * 4000 + b'"}'
    for i in range(200):  # 200 x ~4 KB = ~800 KB appended in all
        j.claim("install", str(i), lambda r: None)
        j.finish("install", str(i), response)
        assert j.path.stat().st_size <= MAX_FILE_BYTES + 5000
    assert not TransactionJournal(tmp_path).claim("install", "199", lambda r: None).fresh


def test_journal_release_allows_a_retry(tmp_path: Path) -> None:
    j = TransactionJournal(tmp_path)
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
