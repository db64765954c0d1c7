"""HTTP/1.1 on the standard library: kept-alive connections, TLS, proxies, gzip.

``Transport.send`` sends one GET and returns an ``Exchange`` whose body is read
chunk by chunk. Policy (allow-list, token, deadlines, caps, retries) is the
caller's (``store/http.py``); this module only moves bytes.

- Keep-alive: one connection per (thread, origin, proxy). A connection goes back to
  the pool only when its response was read to the end; anything else closes it.
  A pooled connection the server has closed is dropped before use, and a reused
  one that breaks before the first byte of the answer is re-sent once on a new
  connection (the server closed it while we were sending).
- TLS: certificate and host name checked as ``ssl.create_default_context()`` does,
  with one context made at the first https request (``tls_context``). Its CAs come
  from the hashed certificate directory (``SSL_CERT_DIR`` or OpenSSL's default),
  where OpenSSL looks one up by subject hash when a handshake needs it; when
  ``SSL_CERT_FILE`` is set or the directory holds no hash link, from the whole
  system CA store, parsed up front.
- Proxies: ``http_proxy``/``https_proxy``/``all_proxy``/``no_proxy`` from the
  environment, read per request as ``requests`` did. https goes through a CONNECT
  tunnel, http as an absolute-URI request to the proxy; ``user:pass@`` in the proxy
  URL becomes ``Proxy-Authorization: Basic``, never part of a message.
- Content-Encoding: gzip and deflate are decoded as they stream, at most ``CHUNK``
  bytes per step, so a small compressed body cannot balloon in memory.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import select
import socket
import ssl
import threading
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from ledmatrix_mqtt.store.net_errors import ProxyError

CHUNK = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"  # what ``requests`` leaves unquoted in a URL
# a kept-alive connection the server closed (RemoteDisconnected is a ConnectionResetError)
_STALE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLEOFError)
_HASH_LINK = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # OpenSSL's <subject hash>.<n> CA name


@dataclass(frozen=True)
class ProxyRoute:
    """An HTTP proxy: where it listens and the ``Proxy-Authorization`` value ("" for none)."""

    host: str
    port: int
    auth: str = field(default="", repr=False)


@dataclass(frozen=True)
class Target:
    """Where one GET goes: scheme, host, port and the path with its query."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise http.client.InvalidURL("the URL has an invalid port") from exc
        scheme = parts.scheme.lower()
        path = quote(parts.path or "/", safe=_URL_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_URL_SAFE)
        default = 443 if scheme == "https" else 80
        return cls(scheme, (parts.hostname or "").lower(), port or default, path)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def proxy_for(target: Target) -> ProxyRoute | None:
    """The environment's proxy for ``target``, None when there is none or ``no_proxy``
    exempts it. ``ProxyError`` for a proxy URL this client cannot use."""
    proxies = urllib.request.getproxies()
    value = proxies.get(target.scheme) or proxies.get("all")
    if not value or urllib.request.proxy_bypass(target.netloc):
        return None
    parts = urlsplit(value if "://" in value else f"http://{value}")
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ProxyError(f"the proxy for {target.scheme} is not an http:// URL")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ProxyError(f"the proxy for {target.scheme} has an invalid port") from exc
    auth = ""
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    return ProxyRoute(parts.hostname, port, auth)


_PoolKey = tuple[Target, ProxyRoute | None]  # Target with its path cleared: the origin


class Exchange:
    """One response being read. ``read`` gives the next decoded chunk, ``None`` at the
    end; ``close`` returns the connection to its pool only when the body was read whole."""

    def __init__(
        self,
        transport: Transport,
        key: _PoolKey,
        conn: http.client.HTTPConnection,
        sock: socket.socket,
        resp: http.client.HTTPResponse,
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn = conn
        self._sock = sock
        self._resp = resp
        self.status = resp.status
        self.headers = dict(resp.getheaders())  # as sent; ``header`` looks up any case
        encoding = (resp.getheader("Content-Encoding") or "").strip().lower()
        self._decoder = _Decoder(encoding) if encoding in _WBITS else None
        self._raw_length = _int_or_none(resp.getheader("Content-Length"))
        self._raw_read = 0
        self._ended = False

    def header(self, name: str) -> str | None:
        """The header ``name``, whatever case the server wrote it in."""
        return self._resp.getheader(name)

    @property
    def content_length(self) -> int | None:
        """The announced length of the decoded body: None when unknown or encoded."""
        return None if self._decoder else self._raw_length

    @property
    def complete(self) -> bool:
        """The body ended where it said it would (length, encoding's end)."""
        if not self._ended:
            return False
        if self._raw_length is not None and self._raw_read < self._raw_length:
            return False
        return self._decoder is None or self._decoder.finished

    def read(self, timeout: float) -> bytes | None:
        """The next piece of the body from at most one receive (``timeout`` for it):
        b"" when that brought nothing decodable yet, None at the end."""
        if self._decoder is not None and self._decoder.pending:
            return self._decoder.decode(b"")
        if self._ended:
            return None
        self._sock.settimeout(timeout)
        raw = self._resp.read1(CHUNK)
        if not raw:
            self._ended = True
            return None
        self._raw_read += len(raw)
        return raw if self._decoder is None else self._decoder.decode(raw)

    def close(self) -> None:
        reusable = self.complete and not self._resp.will_close
        self._resp.close()
        if reusable:
            self._transport.give_back(self._key, self._conn)
        else:
            self._conn.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Decoder:
    """Streaming gzip/deflate decoding that yields at most ``CHUNK`` bytes per step."""

    def __init__(self, encoding: str) -> None:
        self._raw_deflate = encoding == "deflate"  # zlib-wrapped first, raw if that fails
        self._z = zlib.decompressobj(_WBITS[encoding])
        self._tail = b""
        self._started = False

    @property
    def pending(self) -> bool:
        return bool(self._tail)

    @property
    def finished(self) -> bool:
        return self._z.eof

    def decode(self, data: bytes) -> bytes:
        data = self._tail + data
        try:
            out = self._z.decompress(data, CHUNK)
        except zlib.error:
            if not (self._raw_deflate and not self._started):
                raise http.client.HTTPException("the body's encoding is invalid") from None
            self._raw_deflate = False  # servers that send raw deflate without the zlib header
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._z.decompress(data, CHUNK)
        self._started = True
        self._tail = self._z.unconsumed_tail
        return out


class Transport:
    """Kept-alive connections, per thread, for one ``HttpClient``."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()

    def send(self, url: str, headers: dict[str, str], timeout: float) -> Exchange:
        """Send a GET for ``url`` and read the answer's head; ``timeout`` bounds the
        connect and each receive. Raises ``OSError``/``http.client.HTTPException``."""
        target = Target.of(url)
        route = proxy_for(target)
        key: _PoolKey = (Target(target.scheme, target.host, target.port, ""), route)
        headers = {"Accept-Encoding": ACCEPT_ENCODING, **headers}
        path = target.path
        if route is not None and target.scheme == "http":
            path = f"http://{target.netloc}{target.path}"  # absolute URI: a forward proxy
            if route.auth:
                headers["Proxy-Authorization"] = route.auth
        conn = self._checkout(key)
        reused = conn.sock is not None
        try:
            return self._exchange(key, conn, path, headers, timeout)
        except _STALE:
            conn.close()
            if not reused:
                raise
        return self._exchange(key, self._connect(key), path, headers, timeout)

    def _exchange(
        self,
        key: _PoolKey,
        conn: http.client.HTTPConnection,
        path: str,
        headers: dict[str, str],
        timeout: float,
    ) -> Exchange:
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request("GET", path, headers=headers)
            sock = conn.sock
            resp = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        assert sock is not None  # request() connected it
        return Exchange(self, key, conn, sock, resp)

    def give_back(self, key: _PoolKey, conn: http.client.HTTPConnection) -> None:
        pool = self._pool()
        old = pool.get(key)
        if old is not None and old is not conn:
            old.close()
        pool[key] = conn

    def _pool(self) -> dict[_PoolKey, http.client.HTTPConnection]:
        pool: dict[_PoolKey, http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def _checkout(self, key: _PoolKey) -> http.client.HTTPConnection:
        """The pooled connection (taken out until its answer is read) or a new one."""
        conn = self._pool().pop(key, None)
        if conn is None:
            return self._connect(key)
        if conn.sock is not None and _dropped(conn.sock):
            conn.close()  # reconnects on the next request
        return conn

    def _connect(self, key: _PoolKey) -> http.client.HTTPConnection:
        """A new, not yet connected connection for ``key``: direct, to the proxy, or a
        TLS connection through the proxy's CONNECT tunnel."""
        origin, route = key
        host, port = (origin.host, origin.port) if route is None else (route.host, route.port)
        if origin.scheme != "https":
            return http.client.HTTPConnection(host, port)
        conn = http.client.HTTPSConnection(host, port, context=self._tls_context())
        if route is not None:
            tunnel_headers = {"Proxy-Authorization": route.auth} if route.auth else None
            conn.set_tunnel(origin.host, origin.port, headers=tunnel_headers)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        with self._tls_lock:
            if self._tls is None:
                self._tls = tls_context(os.environ, ssl.get_default_verify_paths())
            return self._tls


def tls_context(environ: Mapping[str, str], paths: ssl.DefaultVerifyPaths) -> ssl.SSLContext:
    """A client context that checks certificates and host names exactly as
    ``ssl.create_default_context()`` does. Its CAs are looked up in ``hashed_ca_dir``
    when there is one (nothing parsed up front), else the whole system store is loaded."""
    folder = hashed_ca_dir(environ, paths)
    if folder is None:
        return ssl.create_default_context()
    return ssl.create_default_context(capath=folder)


def hashed_ca_dir(environ: Mapping[str, str], paths: ssl.DefaultVerifyPaths) -> str | None:
    """The certificate directory to look CAs up in by subject hash: ``SSL_CERT_DIR``,
    else OpenSSL's default. None when ``SSL_CERT_FILE`` is set (that file must stay the
    trust) or the directory holds no OpenSSL hash link (it is not a CA directory)."""
    if paths.openssl_cafile_env in environ:
        return None
    folder = environ.get(paths.openssl_capath_env, paths.openssl_capath)
    try:
        with os.scandir(folder) as entries:
            if any(_HASH_LINK.fullmatch(entry.name) for entry in entries):
                return folder
    except OSError:  # missing, unreadable, not a directory, a list of directories
        pass
    return None


def _dropped(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable was closed by the server (or holds
    bytes nobody asked for): either way it cannot carry the next request."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _int_or_none(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None
