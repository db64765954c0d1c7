"""HTTP for the store: an allow-list of hosts, conditional GETs, capped downloads.

Every request, and every redirect hop, must target a host named in the config
(the registry host and the GitHub web/api/raw/archive URLs); anything else is
refused with ``Forbidden`` before a byte is sent. The GitHub token goes only to
the API host. ``file://`` URLs and plain paths are read from disk (local
registries).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urljoin, urlsplit

import requests

from ledmatrix_mqtt import __version__
from ledmatrix_mqtt.errors import DownloadFailed, Forbidden, PayloadTooLarge

_LOG = logging.getLogger(__name__)
USER_AGENT = f"ledmatrix-mqtt/{__version__}"
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class HttpError(DownloadFailed):
    """A request failed. ``status`` is the HTTP status, 0 for a network failure.

    ``transient`` is True for failures worth retrying later (network, 5xx, 429,
    rate-limit 403) and False for answers that will not change (404, 410...).
    """

    def __init__(self, message: str, *, status: int = 0, url: str = "") -> None:
        super().__init__(message, details={"status": status} if status else None)
        self.status = status
        self.url = url

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.status in (403, 408, 429)


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
        token_host: str = "",
        timeout: float = 10.0,
        max_body: int = 16 * 1024 * 1024,
        etag_entries: int = 512,
    ) -> None:
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self._token = token
        self._token_host = token_host.lower()
        self.timeout = timeout
        self.max_body = max_body
        self._etags: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._etag_entries = etag_entries
        self._lock = threading.Lock()
        self._local = threading.local()
        self.request_count = 0  # for tests and benchmarks: requests actually sent

    # -- policy ---------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """Raise ``Forbidden`` unless ``url`` is http(s) to an allowed host."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise Forbidden(f"refusing to download from {url!r}: only http(s) URLs are allowed")
        if host not in self.allowed_hosts:
            raise Forbidden(
                f"refusing to download from host {host!r}: not one of the configured hosts "
                f"({', '.join(sorted(self.allowed_hosts))})"
            )

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
        return session

    def _headers_for(self, url: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        host = (urlsplit(url).hostname or "").lower()
        if self._token and host == self._token_host:
            headers["Authorization"] = f"token {self._token}"
        if host == self._token_host:
            headers["Accept"] = "application/vnd.github+json"
        return headers

    def _open(self, url: str, headers: dict[str, str], timeout: float | None) -> requests.Response:
        """GET following redirects by hand so each hop is checked against the allow-list."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self.check_url(current)
            hop_headers = {**self._headers_for(current), **headers}
            with self._lock:
                self.request_count += 1
            try:
                resp = self._session().get(
                    current,
                    headers=hop_headers,
                    timeout=timeout or self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as exc:
                raise HttpError(f"cannot reach {_host(current)}: {_reason(exc)}", url=url) from exc
            if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                location = resp.headers.get("Location", "")
                resp.close()
                if not location:
                    raise HttpError("redirect without Location", status=resp.status_code, url=url)
                current = urljoin(current, location)
                headers = {k: v for k, v in headers.items() if k != "If-None-Match"}
                continue
            return resp
        raise HttpError(f"too many redirects for {url}", url=url)

    # -- API --------------------------------------------------------------------
    def get(
        self, url: str, *, conditional: bool = True, timeout: float | None = None
    ) -> HttpResponse:
        """GET ``url`` into memory (capped). Raises ``HttpError`` on non-2xx/304."""
        if _is_local(url):
            return HttpResponse(200, _read_local(url, self.max_body))
        headers: dict[str, str] = {}
        with self._lock:
            remembered = self._etags.get(url) if conditional else None
        if remembered:
            headers["If-None-Match"] = remembered[0]
        resp = self._open(url, headers, timeout)
        with resp:
            if resp.status_code == 304 and remembered:
                return HttpResponse(304, remembered[1], dict(resp.headers), not_modified=True)
            _check_status(resp, url)
            body = _read_capped(resp, self.max_body, url)
            etag = resp.headers.get("ETag")
            if etag and conditional:
                with self._lock:
                    self._etags[url] = (etag, body)
                    self._etags.move_to_end(url)
                    while len(self._etags) > self._etag_entries:
                        self._etags.popitem(last=False)
            return HttpResponse(resp.status_code, body, dict(resp.headers))

    def download(
        self,
        url: str,
        dest: IO[bytes],
        *,
        max_bytes: int,
        progress: ProgressFn | None = None,
        timeout: float | None = None,
    ) -> int:
        """Stream ``url`` into ``dest``; refuse more than ``max_bytes``. Returns bytes written."""
        if _is_local(url):
            data = _read_local(url, max_bytes)
            dest.write(data)
            return len(data)
        resp = self._open(url, {}, timeout or max(self.timeout, 30.0))
        with resp:
            _check_status(resp, url)
            total = _content_length(resp)
            if total is not None and total > max_bytes:
                raise PayloadTooLarge(f"download of {total} bytes exceeds the {max_bytes} cap")
            written = 0
            try:
                for chunk in resp.iter_content(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise PayloadTooLarge(f"download exceeds the {max_bytes} byte cap")
                    dest.write(chunk)
                    if progress:
                        progress(written, total)
            except requests.RequestException as exc:
                raise HttpError(f"download from {_host(url)} broke off: {_reason(exc)}") from exc
            if total is not None and written < total:
                raise HttpError(f"download from {_host(url)} was truncated", url=url)
            return written


def _check_status(resp: requests.Response, url: str) -> None:
    if not 200 <= resp.status_code < 300:
        raise HttpError(
            f"{_host(url)} answered HTTP {resp.status_code}", status=resp.status_code, url=url
        )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return type(exc).__name__ if not text else f"{type(exc).__name__}: {text[:160]}"


def _content_length(resp: requests.Response) -> int | None:
    value = resp.headers.get("Content-Length")
    if value is None or resp.headers.get("Content-Encoding"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _read_capped(resp: requests.Response, cap: int, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in resp.iter_content(CHUNK):
            size += len(chunk)
            if size > cap:
                raise PayloadTooLarge(f"response from {_host(url)} exceeds {cap} bytes")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise HttpError(f"reading from {_host(url)} failed: {_reason(exc)}", url=url) from exc
    return b"".join(chunks)


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
