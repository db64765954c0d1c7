"""HTTP for the store: an allow-list of hosts, conditional GETs, capped downloads.

Every request, and every redirect hop, must target a host named in the config
(the registry host and the GitHub web/api/raw/archive URLs); anything else is
refused with ``Forbidden`` before a byte is sent. The GitHub token goes only to
the API origin (same scheme, host and port). ``file://`` URLs and plain paths
are read from disk (local registries).

Every call has a total deadline (``get_deadline``/``download_deadline``), not
only a per-read timeout: a server that trickles a byte at a time cannot hold
the store. Transient failures (network, 5xx, 408, 429) are retried with
back-off (``retry_delays``) while the deadline allows; an untrusted TLS
certificate is not. Bytes move over the standard library's ``http.client``
(``store/http_transport.py``: kept-alive connections, TLS, proxies, gzip).
"""

from __future__ import annotations

import http.client
import io
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

from ledmatrix_mqtt import __version__
from ledmatrix_mqtt.errors import DownloadFailed, Forbidden, PayloadTooLarge
from ledmatrix_mqtt.store.http_transport import Exchange, Transport
from ledmatrix_mqtt.store.net_errors import describe_network_error, lasting

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
USER_AGENT = f"ledmatrix-mqtt/{__version__}"
MAX_REDIRECTS = 5
DRAIN_LIMIT = 64 * 1024  # a redirect or 304 body up to this is read so its connection is kept
GET_DEADLINE = 60.0  # one GET (registry, API), all attempts and redirects included
DOWNLOAD_DEADLINE = 600.0  # one archive download (64 MiB at ~110 kB/s), all attempts
RETRY_DELAYS = (0.25, 0.75)  # 3 attempts in all
_RETRY_STATUSES = frozenset({408, 429})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NETWORK_ERRORS = (OSError, http.client.HTTPException)


class HttpError(DownloadFailed):
    """A request failed. ``status`` is the HTTP status, 0 for a network failure.

    ``retryable`` is True for failures worth an immediate retry (network, 5xx,
    408, 429) and False for answers that will not change (404, 410...) and for
    ``lasting`` network failures (an untrusted certificate).
    """

    def __init__(
        self, message: str, *, status: int = 0, url: str = "", lasting: bool = False
    ) -> None:
        super().__init__(message, details={"status": status} if status else None)
        self.status = status
        self.url = url
        self.lasting = lasting

    @property
    def retryable(self) -> bool:
        """Worth an immediate retry (a rate-limit 403 is not: it lasts until the reset)."""
        if self.lasting:
            return False
        return self.status == 0 or self.status >= 500 or self.status in _RETRY_STATUSES

    @classmethod
    def network(cls, exc: BaseException, what: str, url: str) -> HttpError:
        """``what`` (e.g. "cannot reach host") and one clear phrase for ``exc``."""
        return cls(f"{what}: {describe_network_error(exc)}", url=url, lasting=lasting(exc))


class _Deadline:
    """A monotonic end time for one call, and the longest one wait (connect, receive)
    may take inside it: ``wait()``, cut to what is left."""

    def __init__(self, seconds: float, url: str, wait: float) -> None:
        self.seconds = seconds
        self.url = url
        self.end = time.monotonic() + seconds
        self._wait = wait

    def left(self) -> float:
        return self.end - time.monotonic()

    def wait(self) -> float:
        """The timeout for the next wait (a socket needs more than 0)."""
        return max(0.01, min(self._wait, self.left()))

    def check(self, cause: BaseException | None = None) -> None:
        """Raise once the deadline has passed, also when ``cause`` is a socket timeout
        that ``wait()`` cut short to (about) the end."""
        slack = 0.05 if isinstance(cause, TimeoutError) else 0.0
        if self.left() <= slack:
            raise HttpError(
                f"{_host(self.url)} did not finish within {self.seconds:.0f} s", url=self.url
            ) from cause


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    not_modified: bool = False  # answered 304: ``body`` is the cached copy


ProgressFn = Callable[[int, int | None], None]


class HttpClient:
    """Thread-safe HTTP client bound to an allow-list of hosts.

    ``get`` remembers ETags of successful answers (bounded LRU) and sends
    ``If-None-Match`` next time; a 304 returns the remembered body with
    ``not_modified=True``, which GitHub does not count against rate limits.
    """

    def __init__(
        self,
        allowed_hosts: frozenset[str],
        *,
        token: str = "",
        token_origin: str = "",
        timeout: float = 10.0,
        max_body: int = 16 * 1024 * 1024,
        etag_entries: int = 512,
        get_deadline: float = GET_DEADLINE,
        download_deadline: float = DOWNLOAD_DEADLINE,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        """``token_origin`` is the GitHub API URL: the token is sent only to its exact
        scheme, host and port."""
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self._token = token
        self._token_origin = _origin(token_origin) if token_origin else None
        self.timeout = timeout
        self.get_deadline = get_deadline
        self.download_deadline = download_deadline
        self.retry_delays = retry_delays
        self.max_body = max_body
        self._etags: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._etag_entries = etag_entries
        self._lock = threading.Lock()
        self._transport = Transport()
        self.request_count = 0  # for tests and benchmarks: requests actually sent

    # -- policy ---------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """Raise ``Forbidden`` unless ``url`` is http(s) to an allowed host."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            kind = f"a {parts.scheme[:20]}: URL" if parts.scheme else "a path"
            raise Forbidden(f"refusing to download from {kind}: only http(s) URLs are allowed")
        if host not in self.allowed_hosts:
            raise Forbidden(
                f"refusing to download from host {host!r}: not one of the configured hosts "
                f"({', '.join(sorted(self.allowed_hosts))})"
            )

    def _headers_for(self, url: str) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if self._token_origin is not None and _origin(url) == self._token_origin:
            if self._token:
                headers["Authorization"] = f"token {self._token}"
            headers["Accept"] = "application/vnd.github+json"
        return headers

    def _open(self, url: str, headers: dict[str, str], deadline: _Deadline) -> Exchange:
        """GET following redirects by hand so each hop is checked against the allow-list."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self.check_url(current)
            deadline.check()
            hop_headers = {**self._headers_for(current), **headers}
            with self._lock:
                self.request_count += 1
            try:
                answer = self._transport.send(current, hop_headers, deadline.wait())
            except _NETWORK_ERRORS as exc:
                deadline.check(exc)
                raise HttpError.network(exc, f"cannot reach {_host(current)}", url) from exc
            _LOG.debug("GET %s: HTTP %d", _without_query(current), answer.status)
            if answer.status not in _REDIRECTS:
                return answer
            with answer:
                location = answer.header("Location") or ""
                _drain(answer, deadline)
            if not location:
                raise HttpError("redirect without Location", status=answer.status, url=url)
            current = urljoin(current, location)
            headers = {k: v for k, v in headers.items() if k != "If-None-Match"}
        raise HttpError(f"too many redirects from {_host(url)}", url=url)

    # -- API --------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        conditional: bool = True,
        timeout: float | None = None,
        max_bytes: int | None = None,
        retry_delays: tuple[float, ...] | None = None,
    ) -> HttpResponse:
        """GET ``url`` into memory, at most ``max_bytes`` (default ``max_body``).

        Raises ``HttpError`` on non-2xx/304 or when ``get_deadline`` passes,
        ``PayloadTooLarge`` past the cap. Retryable failures are retried
        (``retry_delays``, default the client's).
        """
        cap = self.max_body if max_bytes is None else max_bytes
        if _is_local(url):
            return HttpResponse(200, _read_local(url, cap))
        deadline = _Deadline(self.get_deadline, url, timeout or self.timeout)
        delays = self.retry_delays if retry_delays is None else retry_delays
        return self._retrying(
            delays, deadline, lambda: self._get_once(url, conditional, cap, deadline)
        )

    @staticmethod
    def _retrying(delays: tuple[float, ...], deadline: _Deadline, attempt: Callable[[], T]) -> T:
        """Run ``attempt``; retry a retryable ``HttpError`` after each back-off delay
        that still fits in the deadline."""
        for delay in delays:
            try:
                return attempt()
            except HttpError as exc:
                if not exc.retryable or deadline.left() <= delay:
                    raise
                _LOG.info("%s; retrying in %.2f s", exc.message, delay)
            time.sleep(delay)
        return attempt()

    def _get_once(self, url: str, conditional: bool, cap: int, deadline: _Deadline) -> HttpResponse:
        headers: dict[str, str] = {}
        with self._lock:
            remembered = self._etags.get(url) if conditional else None
        if remembered:
            headers["If-None-Match"] = remembered[0]
        with self._open(url, headers, deadline) as resp:
            if resp.status == 304 and remembered:
                _drain(resp, deadline)
                return HttpResponse(304, remembered[1], resp.headers, not_modified=True)
            buffer = io.BytesIO()
            _stream(resp, url, buffer, cap, None, deadline)
            body = buffer.getvalue()
            etag = resp.header("ETag")
            if etag and conditional:
                with self._lock:
                    self._etags[url] = (etag, body)
                    self._etags.move_to_end(url)
                    while len(self._etags) > self._etag_entries:
                        self._etags.popitem(last=False)
            return HttpResponse(resp.status, body, resp.headers)

    def download(
        self,
        url: str,
        dest: IO[bytes],
        *,
        max_bytes: int,
        progress: ProgressFn | None = None,
        timeout: float | None = None,
    ) -> int:
        """Stream ``url`` into ``dest`` (seekable; rewound for a retry); refuse more
        than ``max_bytes`` or a transfer past ``download_deadline``. Returns bytes written."""
        if _is_local(url):
            data = _read_local(url, max_bytes)
            dest.write(data)
            return len(data)
        wait = timeout or max(self.timeout, 30.0)
        deadline = _Deadline(self.download_deadline, url, wait)

        def attempt() -> int:
            dest.seek(0)
            dest.truncate()
            with self._open(url, {}, deadline) as resp:
                return _stream(resp, url, dest, max_bytes, progress, deadline)

        return self._retrying(self.retry_delays, deadline, attempt)


def _stream(
    resp: Exchange,
    url: str,
    dest: IO[bytes],
    cap: int,
    progress: ProgressFn | None,
    deadline: _Deadline,
) -> int:
    """Check the status, then copy the decoded body into ``dest``: at most ``cap`` bytes
    (refused from the announced length when it is known, else while streaming),
    complete, within the deadline. Returns the bytes written."""
    _check_status(resp, url)
    total = resp.content_length
    if total is not None and total > cap:
        raise PayloadTooLarge(f"{_host(url)} announced {total} bytes, over the {cap} byte cap")
    written = 0
    for chunk in _body(resp, deadline):
        written += len(chunk)
        if written > cap:
            raise PayloadTooLarge(f"{_host(url)} sent more than the {cap} byte cap")
        dest.write(chunk)
        if progress:
            progress(written, total)
    if not resp.complete:
        raise HttpError(f"the answer from {_host(url)} was truncated", url=url)
    return written


def _body(resp: Exchange, deadline: _Deadline) -> Iterator[bytes]:
    """The decoded body, piece by piece as it arrives, within the deadline.

    Each read takes what one receive brings, so a trickling server is checked
    against the deadline after every receive, not after 64 KiB; the socket's
    timeout shrinks with the time left.
    """
    while True:
        deadline.check()
        try:
            chunk = resp.read(deadline.wait())
        except _NETWORK_ERRORS as exc:
            deadline.check(exc)
            what = f"reading from {_host(deadline.url)} broke off"
            raise HttpError.network(exc, what, deadline.url) from exc
        if chunk is None:
            return
        if chunk:
            yield chunk


def _drain(resp: Exchange, deadline: _Deadline) -> None:
    """Read a small body we do not need (redirect, 304) so the connection can be
    reused; a body that is large, slow or broken just closes it instead."""
    read = 0
    try:
        for chunk in _body(resp, deadline):
            read += len(chunk)
            if read > DRAIN_LIMIT:
                return
    except HttpError:
        return


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _check_status(resp: Exchange, url: str) -> None:
    if not 200 <= resp.status < 300:
        raise HttpError(f"{_host(url)} answered HTTP {resp.status}", status=resp.status, url=url)


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _without_query(url: str) -> str:
    """``url`` for a log line: no user info, query or fragment (where secrets travel)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _is_local(url: str) -> bool:
    return url.startswith("file://") or url.startswith("/")


def _read_local(url: str, cap: int) -> bytes:
    path = Path(unquote(urlsplit(url).path) if url.startswith("file://") else url)
    try:
        size = path.stat().st_size
        if size > cap:
            raise PayloadTooLarge(f"{path} is larger than {cap} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise HttpError(f"cannot read {path}: {exc.strerror or exc}", url=url) from exc
