"""HttpClient's transport against the real local fake GitHub: keep-alive, body encodings,
network failures, and a store that never loads ``requests``."""

from __future__ import annotations

import gzip
import io
import json
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib

import pytest

from ledmatrix_mqtt.errors import PayloadTooLarge
from ledmatrix_mqtt.store.http import HttpClient, HttpError
from tests.support.fake_github import FakeGitHub

DATA = json.dumps([{"id": f"p{i}", "name": "x" * 40} for i in range(400)]).encode()


def client(fake: FakeGitHub, **kw: object) -> HttpClient:
    kw.setdefault("retry_delays", ())
    return HttpClient(frozenset({"127.0.0.1"}), token_origin=fake.api_url, **kw)  # type: ignore[arg-type]


def route(fake: FakeGitHub, name: str, body: bytes, **headers: str) -> str:
    fake.extra_routes[f"/raw/{name}"] = (200, body, "application/octet-stream")
    if headers:
        fake.extra_headers[f"/raw/{name}"] = {k.replace("_", "-"): v for k, v in headers.items()}
    return f"{fake.raw_url}/{name}"


# -- keep-alive -------------------------------------------------------------------------------
def test_requests_from_one_thread_share_one_connection_and_each_thread_has_its_own(
    fake_github: FakeGitHub,
) -> None:
    fake_github.add_repo("tests", "p", {"a": b"b"})
    fake_github.set_registry([{"id": "a", "name": "A"}])
    http = client(fake_github)
    http.get(fake_github.registry_url)
    assert http.get(fake_github.registry_url).not_modified  # 304: its empty body read too
    http.get(fake_github.api_url + "/repos/tests/p", conditional=False)
    sink = io.BytesIO()
    http.download(
        fake_github.web_url + "/tests/p/archive/refs/heads/main.zip", sink, max_bytes=10**6
    )
    assert sink.getvalue().startswith(b"PK")  # through the web -> codeload redirect
    assert fake_github.connections == 1
    other = threading.Thread(target=http.get, args=(fake_github.registry_url,))
    other.start()
    other.join(10)
    assert fake_github.connections == 2
    http.get(fake_github.registry_url)
    assert fake_github.connections == 2  # the first thread's connection is still the one


def test_an_answer_not_read_to_its_end_closes_its_connection(fake_github: FakeGitHub) -> None:
    big = route(fake_github, "big", b"x" * 5000)
    http = client(fake_github)
    with pytest.raises(PayloadTooLarge):  # refused from its Content-Length, body left unread
        http.download(big, io.BytesIO(), max_bytes=1000)
    assert http.get(big).body == b"x" * 5000
    assert fake_github.connections == 2
    with pytest.raises(HttpError):  # a 404: its body is not read
        http.get(fake_github.raw_url + "/missing")
    assert http.get(big).body == b"x" * 5000
    assert fake_github.connections == 3


def test_a_kept_alive_connection_the_server_closed_is_replaced(fake_github: FakeGitHub) -> None:
    fake_github.set_registry([])
    http = client(fake_github)
    http.get(fake_github.registry_url, conditional=False)
    fake_github.cut_connections()  # as a server's idle timeout does
    assert http.get(fake_github.registry_url, conditional=False).status == 200
    assert fake_github.connections == 2
    assert len(fake_github.requests("plugins.json")) == 2  # nothing failed and was re-sent


def test_a_reused_connection_cut_before_the_answer_is_sent_again_once(
    fake_github: FakeGitHub,
) -> None:
    """The server closing a kept-alive connection just as we send is not a failed attempt
    (there are no retries here); on a new connection the same cut is a failure."""
    body = route(fake_github, "body", DATA)
    http = client(fake_github)
    http.get(body)
    fake_github.add_fault("/raw/body", "reset", times=1)
    assert http.get(body).body == DATA
    assert len(fake_github.requests("/raw/body")) == 3  # ok, cut, sent again
    assert fake_github.connections == 2
    fake_github.add_fault("/raw/body", "reset", times=1)
    with pytest.raises(HttpError, match="the connection broke off") as cut:
        client(fake_github).get(body)  # a new client: a new connection
    assert cut.value.retryable
    assert len(fake_github.requests("/raw/body")) == 4


# -- body encodings ---------------------------------------------------------------------------
def test_gzip_and_deflate_answers_are_decoded(fake_github: FakeGitHub) -> None:
    http = client(fake_github)
    encoded = {
        "gz": (gzip.compress(DATA), "gzip"),
        "zlib": (zlib.compress(DATA), "deflate"),
        "raw": (zlib.compress(DATA)[2:-4], "deflate"),  # raw deflate, as some servers send
    }
    for name, (body, encoding) in encoded.items():
        url = route(fake_github, name, body, Content_Encoding=encoding)
        assert http.get(url).body == DATA, name
        sink = io.BytesIO()
        assert http.download(url, sink, max_bytes=len(DATA)) == len(DATA)
        assert sink.getvalue() == DATA
    assert "gzip" in fake_github.log[-1][2]["Accept-Encoding"]
    assert fake_github.connections == 1  # each encoded answer was read to its end


def test_a_gzip_bomb_is_cut_at_the_cap_without_being_decoded_whole(
    fake_github: FakeGitHub,
) -> None:
    """64 MiB of zeros is 64 KiB gzipped; decoding stops at the 1 MiB cap and never holds
    more than a few pieces in memory (one unbounded step would be tens of MiB)."""
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
    url = route(fake_github, "bomb", bomb, Content_Encoding="gzip")
    sink = io.BytesIO()
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="1048576 byte cap"):
            client(fake_github).download(url, sink, max_bytes=1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(sink.getvalue()) <= 1024 * 1024
    assert peak < 8 * 1024 * 1024, peak


def test_a_compressed_answer_cut_short_is_truncated(fake_github: FakeGitHub) -> None:
    whole = gzip.compress(DATA)
    url = route(fake_github, "cut.gz", whole[: len(whole) // 2], Content_Encoding="gzip")
    fake_github.declared_lengths["/raw/cut.gz"] = 0  # no length: only the gzip end can tell
    with pytest.raises(HttpError, match="truncated"):
        client(fake_github).get(url)


def test_chunked_and_read_to_close_answers(fake_github: FakeGitHub) -> None:
    http = client(fake_github)
    chunked = route(fake_github, "chunked", DATA)
    fake_github.chunked.add("/raw/chunked")
    assert http.get(chunked).body == DATA
    assert http.get(chunked).body == DATA
    assert fake_github.connections == 1  # a chunked answer read to its end keeps the connection
    to_close = route(fake_github, "to-close", DATA)
    fake_github.declared_lengths["/raw/to-close"] = 0  # no length: the body ends at close
    assert http.get(to_close).body == DATA
    fake_github.add_fault("/raw/chunked", "truncate")
    with pytest.raises(HttpError, match="broke off|truncated"):
        http.get(chunked)


def test_headers_are_read_whatever_their_case(fake_github: FakeGitHub) -> None:
    tagged = route(fake_github, "tagged", DATA, etag='"v1"')
    fake_github.extra_routes["/raw/moved"] = (302, b"", "text/html")
    fake_github.extra_headers["/raw/moved"] = {"location": "/raw/tagged"}
    http = client(fake_github)
    assert http.get(fake_github.raw_url + "/moved").body == DATA
    http.get(tagged)
    http.get(tagged)
    assert fake_github.log[-1][2].get("If-None-Match") == '"v1"'


# -- failures ---------------------------------------------------------------------------------
def test_network_failures_are_one_clear_line(fake_github: FakeGitHub) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    http = client(fake_github, timeout=0.3)
    with pytest.raises(HttpError) as refused:
        http.get(f"http://127.0.0.1:{closed}/plugins.json")
    assert refused.value.message == "cannot reach 127.0.0.1: the connection was refused"
    assert refused.value.retryable
    fake_github.add_fault("/raw/slow", "stall", 2)
    with pytest.raises(HttpError) as slow:
        http.get(fake_github.raw_url + "/slow")
    assert slow.value.message == "cannot reach 127.0.0.1: it stopped answering"
    fake_github.add_fault("/raw/reset", "reset")
    with pytest.raises(HttpError) as reset:
        client(fake_github).get(fake_github.raw_url + "/reset")
    assert reset.value.message == "cannot reach 127.0.0.1: the connection broke off"


def test_the_socket_timeout_shrinks_with_the_deadline(fake_github: FakeGitHub) -> None:
    """Bytes come every 0.9 s, inside the 1 s read timeout: the wait after the second byte
    is cut to the 0.1 s left of the 1 s deadline, not left to run until the third (1.8 s)."""
    url = route(fake_github, "pause", b"wxyz")
    fake_github.add_fault("/raw/pause", "trickle", 0.9)
    http = client(fake_github, timeout=1.0, get_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(HttpError, match="did not finish within 1 s"):
        http.get(url)
    assert time.monotonic() - started < 1.5


_NO_REQUESTS_PROBE = """
import io, sys
from ledmatrix_mqtt.store.http import HttpClient
http = HttpClient(frozenset({"127.0.0.1"}), retry_delays=())
assert http.get(sys.argv[1]).status == 200
sink = io.BytesIO()
http.download(sys.argv[2], sink, max_bytes=10**6)
assert sink.getvalue().startswith(b"PK")
print(",".join(m for m in ("requests", "urllib3") if m in sys.modules))
"""


def test_the_store_http_client_loads_neither_requests_nor_urllib3(
    fake_github: FakeGitHub,
) -> None:
    """A real registry fetch and archive download in a fresh interpreter: the store's HTTP
    costs no module beyond the standard library (paho already loads http.client and ssl)."""
    fake_github.add_repo("tests", "p", {"a": b"b"})
    fake_github.set_registry([{"id": "a", "name": "A"}])
    archive = fake_github.web_url + "/tests/p/archive/refs/heads/main.zip"
    done = subprocess.run(
        [sys.executable, "-c", _NO_REQUESTS_PROBE, fake_github.registry_url, archive],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"loaded: {done.stdout.strip()}"
    assert len(fake_github.requests()) == 3  # registry, archive link, archive
