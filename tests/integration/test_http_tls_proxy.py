"""HttpClient over TLS (a certificate made for the test, its CA trusted through
``SSL_CERT_FILE`` or a hashed ``SSL_CERT_DIR``) and through a local forward proxy
configured the way ``requests`` honoured it: ``*_proxy``/``no_proxy`` in the environment."""

from __future__ import annotations

import http.client
import io
import logging
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ledmatrix_mqtt.errors import Forbidden
from ledmatrix_mqtt.store.http import HttpClient, HttpError
from ledmatrix_mqtt.store.http_transport import hashed_ca_dir, tls_context
from tests.support.fake_github import FakeGitHub
from tests.support.forward_proxy import ForwardProxy
from tests.support.mosquitto import TlsFiles, make_tls

USER, SECRET = "svc", "s3cr:t@pw"  # ':' and '@' must survive URL quoting


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_github(tls: TlsFiles) -> Iterator[FakeGitHub]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    server = FakeGitHub().start(tls=context)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without any proxy setting of the machine running the tests."""
    for name in ("http", "https", "all", "no"):
        monkeypatch.delenv(f"{name}_proxy", raising=False)
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
    return monkeypatch


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    server = ForwardProxy(credentials=(USER, SECRET)).start()
    try:
        yield server
    finally:
        server.stop()


def client(fake: FakeGitHub, **kw: object) -> HttpClient:
    kw.setdefault("retry_delays", ())
    return HttpClient(frozenset({"127.0.0.1"}), token_origin=fake.api_url, **kw)  # type: ignore[arg-type]


# -- TLS --------------------------------------------------------------------------------------
def test_an_untrusted_certificate_is_refused_and_not_retried(
    https_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    https_github.set_registry([])
    with pytest.raises(HttpError) as caught:
        client(https_github, retry_delays=(0.0, 0.0)).get(https_github.registry_url)
    assert caught.value.message.startswith(
        "cannot reach 127.0.0.1: its TLS certificate is not trusted ("
    )
    assert caught.value.status == 0 and not caught.value.retryable
    assert https_github.connections == 1  # one handshake, no retry
    assert https_github.log == []  # no request was sent over it


def test_a_certificate_trusted_through_ssl_cert_file_serves_the_store(
    https_github: FakeGitHub, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))  # read when the client makes its context
    https_github.set_registry([{"id": "a", "name": "A"}])
    https_github.add_repo("tests", "p", {"a": b"b"})
    http = client(https_github)
    assert http.get(https_github.registry_url).status == 200
    assert http.get(https_github.registry_url).not_modified
    sink = io.BytesIO()
    http.download(
        https_github.web_url + "/tests/p/archive/refs/heads/main.zip", sink, max_bytes=10**6
    )
    assert sink.getvalue().startswith(b"PK")
    assert https_github.connections == 1  # one handshake for all four requests


def ca_dir(folder: Path, ca: Path, *, hashed: bool) -> Path:
    """``folder`` holding a link to ``ca``: under its OpenSSL subject-hash name, or not."""
    name = "ca.pem"
    if hashed:
        digest = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        name = f"{digest}.0"
    folder.mkdir()
    (folder / name).symlink_to(ca)
    return folder


def test_a_hashed_ca_directory_is_searched_at_the_handshake_not_loaded_up_front(
    https_github: FakeGitHub, tls: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(ca_dir(tmp_path / "certs", tls.ca, hashed=True)))
    https_github.set_registry([{"id": "a", "name": "A"}])
    assert client(https_github).get(https_github.registry_url).status == 200

    context = tls_context(os.environ, ssl.get_default_verify_paths())
    default = ssl.create_default_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.minimum_version == default.minimum_version
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing parsed before a handshake
    url = urlsplit(https_github.registry_url)
    conn = http.client.HTTPSConnection(url.netloc, context=context)
    try:
        conn.request("GET", url.path)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert context.cert_store_stats()["x509_ca"] == 1  # the one CA the handshake needed


def test_a_ca_directory_without_hash_links_falls_back_to_the_system_store(
    https_github: FakeGitHub, tls: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    plain = ca_dir(tmp_path / "certs", tls.ca, hashed=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(plain))
    paths = ssl.get_default_verify_paths()
    assert hashed_ca_dir(os.environ, paths) is None
    assert hashed_ca_dir({"SSL_CERT_DIR": str(tmp_path / "missing")}, paths) is None
    assert hashed_ca_dir({}, paths._replace(openssl_capath=str(plain))) is None
    fallback = tls_context(os.environ, paths).cert_store_stats()
    assert fallback == ssl.create_default_context().cert_store_stats()  # the same CAs, loaded
    https_github.set_registry([])
    with pytest.raises(HttpError) as caught:
        client(https_github).get(https_github.registry_url)
    assert caught.value.message.startswith(
        "cannot reach 127.0.0.1: its TLS certificate is not trusted ("
    )


def test_ssl_cert_file_wins_over_a_hashed_ca_directory(
    https_github: FakeGitHub, tls: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_tls(tmp_path / "other")  # a CA that did not sign the server's certificate
    hashed = ca_dir(tmp_path / "certs", other.ca, hashed=True)
    paths = ssl.get_default_verify_paths()._replace(openssl_capath=str(hashed))
    assert hashed_ca_dir({}, paths) == str(hashed)  # OpenSSL's default directory is used
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    assert hashed_ca_dir(os.environ, paths) is None
    context = tls_context(os.environ, paths)
    assert context.cert_store_stats()["x509_ca"] == 1  # the file, parsed up front
    https_github.set_registry([])
    assert client(https_github).get(https_github.registry_url).status == 200


# -- proxies ----------------------------------------------------------------------------------
def test_http_goes_to_the_proxy_as_an_absolute_uri_with_basic_auth(
    fake_github: FakeGitHub, proxy: ForwardProxy, proxy_env: pytest.MonkeyPatch
) -> None:
    proxy_env.setenv("http_proxy", proxy.url(USER, SECRET))
    fake_github.set_registry([{"id": "a", "name": "A"}])
    http = client(fake_github)
    assert http.get(fake_github.registry_url).status == 200
    assert http.get(fake_github.registry_url).not_modified
    carried = proxy.carried("GET")
    assert [target for _, target, _ in carried] == [fake_github.registry_url] * 2
    assert all(auth == proxy.auth for _, _, auth in carried)
    assert "Proxy-Authorization" not in fake_github.log[-1][2]  # stays with the proxy
    assert proxy.connections == 1  # the proxy connection is kept alive too


def test_https_goes_through_one_connect_tunnel(
    https_github: FakeGitHub, tls: TlsFiles, proxy: ForwardProxy, proxy_env: pytest.MonkeyPatch
) -> None:
    proxy_env.setenv("SSL_CERT_FILE", str(tls.ca))
    proxy_env.setenv("HTTPS_PROXY", proxy.url(USER, SECRET))
    https_github.set_registry([{"id": "a", "name": "A"}])
    http = client(https_github)
    assert http.get(https_github.registry_url).status == 200
    assert http.get(https_github.registry_url).not_modified
    netloc = https_github.base.removeprefix("https://")
    assert proxy.log == [("CONNECT", netloc, proxy.auth)]
    assert len(https_github.requests("plugins.json")) == 2


def test_no_proxy_and_the_allow_list_judge_the_target_not_the_proxy(
    fake_github: FakeGitHub, proxy: ForwardProxy, proxy_env: pytest.MonkeyPatch
) -> None:
    """The proxy (here on 127.0.0.1 too) needs no place in the allow-list; the target does."""
    fake_github.set_registry([])
    proxy_env.setenv("all_proxy", proxy.url(USER, SECRET))
    proxy_env.setenv("no_proxy", "example.org, 127.0.0.1")
    client(fake_github).get(fake_github.registry_url)
    assert proxy.log == []
    proxy_env.delenv("no_proxy")
    elsewhere = fake_github.registry_url.replace("127.0.0.1", "localhost")
    with pytest.raises(Forbidden, match="localhost"):
        client(fake_github).get(elsewhere)
    assert proxy.log == []
    client(fake_github).get(fake_github.registry_url)
    assert len(proxy.carried("GET")) == 1


def test_proxy_credentials_reach_no_message_and_no_log(
    https_github: FakeGitHub,
    fake_github: FakeGitHub,
    tls: TlsFiles,
    proxy: ForwardProxy,
    proxy_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wr0ng-pa55word"
    proxy_env.setenv("SSL_CERT_FILE", str(tls.ca))
    proxy_env.setenv("https_proxy", proxy.url(USER, wrong))
    proxy_env.setenv("http_proxy", proxy.url(USER, wrong))
    messages = []
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(HttpError) as tunnel:
            client(https_github, retry_delays=(0.0,)).get(https_github.registry_url)
        messages.append(tunnel.value.message)
        assert tunnel.value.message == (
            "cannot reach 127.0.0.1: the proxy refused the tunnel (HTTP 407)"
        )
        with pytest.raises(HttpError) as forward:
            client(fake_github).get(fake_github.registry_url)
        messages.append(forward.value.message)
        assert forward.value.status == 407 and not forward.value.retryable
        proxy_env.setenv("https_proxy", f"socks5://{USER}:{wrong}@127.0.0.1:1080")
        with pytest.raises(HttpError) as socks:
            client(https_github, retry_delays=(0.0,)).get(https_github.registry_url)
        messages.append(socks.value.message)
        assert socks.value.message.endswith("the proxy for https is not an http:// URL")
        assert not socks.value.retryable
    assert len(proxy.carried("CONNECT")) == 2  # the 407 tunnel was retried once, socks never sent
    text = "\n".join(messages + [r.getMessage() for r in caplog.records])
    assert caplog.records  # the retry was logged
    for secret in (wrong, USER + ":"):
        assert secret not in text
