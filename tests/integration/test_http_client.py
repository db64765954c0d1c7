"""HttpClient against the real local fake GitHub server."""

from __future__ import annotations

import io
import time

import pytest

from ledmatrix_mqtt.errors import Forbidden, PayloadTooLarge
from ledmatrix_mqtt.store.http import HttpClient, HttpError
from tests.support.fake_github import FakeGitHub


def client(fake: FakeGitHub, **kw: object) -> HttpClient:
    kw.setdefault("retry_delays", ())
    return HttpClient(frozenset({"127.0.0.1"}), token_origin=fake.api_url, **kw)  # type: ignore[arg-type]


def test_refuses_hosts_outside_the_allow_list(fake_github: FakeGitHub) -> None:
    http = client(fake_github)
    other = fake_github.base.replace("127.0.0.1", "localhost")
    with pytest.raises(Forbidden, match="localhost"):
        http.get(other + "/raw/x")
    with pytest.raises(Forbidden):
        http.get("ftp://127.0.0.1/x")
    assert fake_github.requests() == []  # nothing was sent


def test_redirects_are_followed_only_to_allowed_hosts(fake_github: FakeGitHub) -> None:
    """An allowed host must not be able to bounce a download to any other host."""
    fake_github.add_repo("tests", "p", {"a": b"b"})
    http = client(fake_github)
    buf = io.BytesIO()
    http.download(
        fake_github.web_url + "/tests/p/archive/refs/heads/main.zip", buf, max_bytes=10**6
    )
    assert buf.getvalue().startswith(b"PK")  # web -> codeload redirect followed
    other = fake_github.base.replace("127.0.0.1", "localhost")
    fake_github.redirects["/web/bounce"] = other + "/codeload/tests/p/zip/refs/heads/main"
    with pytest.raises(Forbidden, match="localhost"):
        http.download(fake_github.web_url + "/bounce", io.BytesIO(), max_bytes=10**6)
    assert not any("localhost" in h.get("Host", "") for _, _, h in fake_github.log)


def test_conditional_get_uses_etag_and_304(fake_github: FakeGitHub) -> None:
    fake_github.set_registry([{"id": "a", "name": "A"}])
    http = client(fake_github)
    first = http.get(fake_github.registry_url)
    second = http.get(fake_github.registry_url)
    assert first.status == 200 and not first.not_modified
    assert second.status == 304 and second.not_modified
    assert second.body == first.body
    headers = [h for _, p, h in fake_github.log if p.endswith("plugins.json")]
    assert "If-None-Match" not in headers[0] and headers[1]["If-None-Match"]


def test_token_goes_only_to_the_api_host(fake_github: FakeGitHub) -> None:
    fake_github.set_registry([])
    other = fake_github.api_url.replace("127.0.0.1", "localhost")
    http = HttpClient(frozenset({"127.0.0.1", "localhost"}), token="sekrit", token_origin=other)
    http.get(fake_github.registry_url)
    assert "Authorization" not in fake_github.log[-1][2]
    http2 = HttpClient(frozenset({"127.0.0.1"}), token="sekrit", token_origin=fake_github.api_url)
    http2.get(fake_github.registry_url, conditional=False)
    assert fake_github.log[-1][2]["Authorization"] == "token sekrit"


def test_token_is_not_sent_to_the_api_host_name_on_another_port_or_scheme(
    fake_github: FakeGitHub,
) -> None:
    """The token went to any configured URL with the API host's name, whatever the port or
    scheme: here the API is configured as https on port 443 of the same host name."""
    fake_github.set_registry([])
    http = HttpClient(
        frozenset({"127.0.0.1"}), token="sekrit", token_origin="https://127.0.0.1/api"
    )
    http.get(fake_github.registry_url, conditional=False)
    assert "Authorization" not in fake_github.log[-1][2]
    port = fake_github.base.rsplit(":", 1)[1]
    elsewhere = fake_github.api_url.replace(port, str(int(port) + 1))
    http = HttpClient(frozenset({"127.0.0.1"}), token="sekrit", token_origin=elsewhere)
    http.get(fake_github.registry_url, conditional=False)
    assert "Authorization" not in fake_github.log[-1][2]


def test_status_errors_are_typed(fake_github: FakeGitHub) -> None:
    http = client(fake_github)
    with pytest.raises(HttpError) as missing:
        http.get(fake_github.raw_url + "/nope")
    assert missing.value.status == 404 and not missing.value.retryable
    fake_github.add_fault("/raw/boom", "status", 503)
    with pytest.raises(HttpError) as boom:
        http.get(fake_github.raw_url + "/boom")
    assert boom.value.status == 503 and boom.value.retryable
    assert boom.value.code == "download_failed"


def test_network_failures_are_transient(fake_github: FakeGitHub) -> None:
    http = client(fake_github, timeout=0.3)
    fake_github.add_fault("/raw/reset", "reset")
    with pytest.raises(HttpError) as reset:
        http.get(fake_github.raw_url + "/reset")
    assert reset.value.status == 0 and reset.value.retryable
    fake_github.add_fault("/raw/slow", "stall", 2)
    with pytest.raises(HttpError) as slow:
        http.get(fake_github.raw_url + "/slow")
    assert slow.value.retryable


def test_download_cap_and_truncation(fake_github: FakeGitHub) -> None:
    http = client(fake_github)
    fake_github.extra_routes["/raw/big"] = (200, b"x" * 5000, "application/zip")
    with pytest.raises(PayloadTooLarge):
        http.download(fake_github.raw_url + "/big", io.BytesIO(), max_bytes=1000)
    fake_github.add_fault("/raw/big", "truncate")
    with pytest.raises(HttpError, match="truncated|broke off"):
        http.download(fake_github.raw_url + "/big", io.BytesIO(), max_bytes=10**6)


def test_local_files_and_file_urls(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "reg.json"
    path.write_text('{"plugins": []}')
    http = HttpClient(frozenset())
    assert http.get(str(path)).body == b'{"plugins": []}'
    assert http.get(path.as_uri()).body == b'{"plugins": []}'
    with pytest.raises(HttpError):
        http.get(str(path) + ".missing")


def test_a_1gb_download_is_refused_before_any_body_is_read(fake_github: FakeGitHub) -> None:
    """Issue 5: a registry entry pointing at a 1 GB archive is refused by the size cap
    from its Content-Length, without transferring it; nothing is written."""
    from ledmatrix_mqtt.store.installer import DEFAULT_MAX_ARCHIVE_BYTES

    fake_github.extra_routes["/raw/huge.zip"] = (200, b"PK" + b"\0" * 1000, "application/zip")
    fake_github.declared_lengths["/raw/huge.zip"] = 1024**3
    sink = io.BytesIO()
    with pytest.raises(PayloadTooLarge, match="1073741824"):
        client(fake_github).download(
            fake_github.raw_url + "/huge.zip", sink, max_bytes=DEFAULT_MAX_ARCHIVE_BYTES
        )
    assert sink.getvalue() == b""


def test_an_endless_body_without_length_is_cut_at_the_cap(fake_github: FakeGitHub) -> None:
    """A server that does not declare a length cannot stream past the cap either."""
    fake_github.extra_routes["/raw/stream.zip"] = (200, b"x" * 300_000, "application/zip")
    fake_github.declared_lengths["/raw/stream.zip"] = 0  # no Content-Length header at all
    sink = io.BytesIO()
    with pytest.raises(PayloadTooLarge, match="byte cap"):  # cut while streaming
        client(fake_github).download(fake_github.raw_url + "/stream.zip", sink, max_bytes=100_000)
    assert len(sink.getvalue()) <= 100_000


def test_a_trickling_download_is_cut_at_its_total_deadline(fake_github: FakeGitHub) -> None:
    """Each byte arrives well inside the per-read timeout, so only a total deadline ends it
    (a trickle held an install, and the store, for ~200 s)."""
    fake_github.extra_routes["/raw/slow.zip"] = (200, b"x" * 400, "application/zip")
    fake_github.add_fault("/raw/slow.zip", "trickle", 0.05)
    http = client(fake_github, timeout=2.0, download_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(HttpError, match="did not finish within 1 s"):
        http.download(fake_github.raw_url + "/slow.zip", io.BytesIO(), max_bytes=10**6)
    assert time.monotonic() - started < 1.0 + 2.0  # the deadline plus at most one read


def test_a_trickling_get_is_cut_at_its_total_deadline(fake_github: FakeGitHub) -> None:
    fake_github.set_registry([{"id": "a", "name": "A" * 200}])
    fake_github.add_fault(r"plugins\.json$", "trickle", 0.05)
    http = client(fake_github, timeout=2.0, get_deadline=0.5)
    with pytest.raises(HttpError, match="did not finish"):
        http.get(fake_github.registry_url)


def test_get_refuses_a_body_over_its_cap_while_streaming(fake_github: FakeGitHub) -> None:
    fake_github.extra_routes["/raw/big.json"] = (200, b"x" * 50_000, "application/json")
    fake_github.declared_lengths["/raw/big.json"] = 0  # no length: cut while streaming
    with pytest.raises(PayloadTooLarge):
        client(fake_github).get(fake_github.raw_url + "/big.json", max_bytes=10_000)


def test_downloads_are_retried_after_a_transient_failure(fake_github: FakeGitHub) -> None:
    fake_github.extra_routes["/raw/flaky.zip"] = (200, b"PK" + b"z" * 1000, "application/zip")
    fake_github.add_fault("/raw/flaky.zip", "truncate", times=1)
    sink = io.BytesIO()
    http = client(fake_github, retry_delays=(0.0, 0.0))
    assert http.download(fake_github.raw_url + "/flaky.zip", sink, max_bytes=10**6) == 1002
    assert sink.getvalue() == b"PK" + b"z" * 1000  # the broken first attempt left nothing
    assert len(fake_github.requests("flaky")) == 2
    fake_github.add_fault("/raw/flaky.zip", "status", 503, times=2)
    assert http.download(fake_github.raw_url + "/flaky.zip", sink, max_bytes=10**6) == 1002
    assert len(fake_github.requests("flaky")) == 5
    fake_github.add_fault("/raw/gone.zip", "status", 404)
    with pytest.raises(HttpError):
        http.download(fake_github.raw_url + "/gone.zip", io.BytesIO(), max_bytes=10**6)
    assert len(fake_github.requests("gone")) == 1  # a definite answer is not retried


def test_an_unresolvable_host_is_one_clear_line(fake_github: FakeGitHub) -> None:
    http = HttpClient(frozenset({"no-such-host.invalid"}), retry_delays=())
    with pytest.raises(HttpError) as caught:
        http.get("https://no-such-host.invalid/plugins.json")
    assert caught.value.message == (
        "cannot reach no-such-host.invalid: its name does not resolve (offline or no DNS?)"
    )
