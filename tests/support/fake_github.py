"""A real local HTTP server that plays GitHub and the LEDMatrix registry.

One threaded server on 127.0.0.1 serves four "hosts" as path prefixes:
``/web`` (github.com: archive links that redirect), ``/codeload`` (the archive
host), ``/api`` (repo and commit API with ETag/304) and ``/raw``
(raw.githubusercontent.com, where the registry lives). ``start(tls=...)`` serves
https. Extra routes may carry headers (``Content-Encoding`` for a body given
already compressed) and be sent with chunked transfer encoding. Faults (latency, HTTP
status, connection reset, truncated body, stall) can be injected per path
regex. Every request is logged.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import ssl
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_http import LocalHttpServer


@dataclass
class Fault:
    pattern: re.Pattern[str]
    kind: str  # "latency" | "status" | "reset" | "truncate" | "stall" | "content_type" | "trickle"
    value: Any = None
    times: int | None = None  # None = forever

    def take(self) -> bool:
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


PUSHED_AT = "2026-11-01T10:00:00Z"


@dataclass
class Repo:
    owner: str
    name: str
    branches: dict[str, dict[str, bytes]] = field(default_factory=dict)
    default_branch: str = "main"
    stars: int = 0
    pushed_at: str = PUSHED_AT  # the last push to any branch, as GitHub's repo API says
    commits: dict[str, str] = field(default_factory=dict)  # branch -> sha
    tags: dict[str, dict[str, bytes]] = field(default_factory=dict)  # tag -> files


def make_zip(root: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{root}/", b"")
        for path, data in sorted(files.items()):
            zf.writestr(f"{root}/{path}", data)
    return buf.getvalue()


def _real_format(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    if not isinstance(out.get("repo"), str):
        return out
    out.setdefault("branch", "main")
    out.setdefault("plugin_path", "")
    latest = out.get("latest_version")
    if isinstance(latest, str) and "versions" not in out:
        out["versions"] = [
            {
                "version": latest,
                "ledmatrix_min": "2.0.0",
                "released": "2026-10-01",
                "download_url": f"{out['repo']}/archive/refs/tags/v{latest}.zip",
            }
        ]
    return out


class FakeGitHub(LocalHttpServer):
    """Start with ``FakeGitHub().start()``; stop with ``.stop()``."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.registry: dict[str, Any] = {"version": "1", "plugins": []}
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.extra_routes: dict[str, tuple[int, bytes, str]] = {}
        self.redirects: dict[str, str] = {}  # path -> Location
        self.declared_lengths: dict[str, int] = {}  # path -> Content-Length sent (0: none)
        self.extra_headers: dict[str, dict[str, str]] = {}  # path -> headers sent with it
        self.chunked: set[str] = set()  # paths sent with Transfer-Encoding: chunked
        self._lock = threading.Lock()

    # -- URLs (set by ``start``; reading one before is an AttributeError) ----------
    web_url: str
    api_url: str
    raw_url: str
    archive_url: str
    registry_url: str

    def repo_url(self, owner: str, name: str) -> str:
        return f"{self.web_url}/{owner}/{name}"

    def store_config(self) -> dict[str, Any]:
        """The ``store:`` config block pointing at this server."""
        return {
            "registry_url": self.registry_url,
            "github": {
                "web_url": self.web_url,
                "api_url": self.api_url,
                "raw_url": self.raw_url,
                "archive_url": self.archive_url,
            },
        }

    # -- content -----------------------------------------------------------------
    def add_repo(
        self,
        owner: str,
        name: str,
        files: dict[str, bytes],
        *,
        branch: str = "main",
        default_branch: str = "main",
        stars: int = 0,
        pushed_at: str = PUSHED_AT,
    ) -> Repo:
        with self._lock:
            repo = self.repos.setdefault((owner, name), Repo(owner, name))
            repo.branches[branch] = dict(files)
            repo.default_branch = default_branch
            repo.stars = stars
            repo.pushed_at = pushed_at
            digest = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
            repo.commits[branch] = digest
            return repo

    def add_tag(self, owner: str, name: str, tag: str, files: dict[str, bytes]) -> None:
        """A tag archive (``{repo}/archive/refs/tags/{tag}.zip``), e.g. an old release."""
        with self._lock:
            repo = self.repos.setdefault((owner, name), Repo(owner, name))
            repo.tags[tag] = dict(files)

    def set_registry(self, plugins: list[dict[str, Any]]) -> None:
        """Serve ``plugins`` in the real ``plugins.json`` format of ChuckBuilds/ledmatrix-plugins.

        Each entry gets the fields the real registry carries when the test leaves
        them out: ``branch``, ``plugin_path`` and a ``versions[]`` list whose
        ``download_url`` is a tag archive (legacy metadata an install must ignore).
        """
        with self._lock:
            self.registry = {
                "version": "1",
                "last_updated": "2026-11-01",
                "plugins": [_real_format(p) for p in plugins],
            }

    def add_fault(
        self, pattern: str, kind: str, value: Any = None, times: int | None = None
    ) -> Fault:
        fault = Fault(re.compile(pattern), kind, value, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def requests(self, pattern: str = "") -> list[str]:
        rx = re.compile(pattern)
        with self._lock:
            return [p for _, p, _ in self.log if rx.search(p)]

    # -- lifecycle ---------------------------------------------------------------
    def start(self, tls: ssl.SSLContext | None = None) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

        self._serve(Handler, tls)
        self.web_url = f"{self.base}/web"
        self.api_url = f"{self.base}/api"
        self.raw_url = f"{self.base}/raw"
        self.archive_url = f"{self.base}/codeload"
        self.registry_url = f"{self.raw_url}/ChuckBuilds/ledmatrix-plugins/main/plugins.json"
        return self

    # -- request handling ----------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.log.append(("GET", path, dict(h.headers.items())))
            faults = [f for f in self.faults if f.pattern.search(path) and f.take()]
        content_type_override = None
        for fault in faults:
            if fault.kind == "latency":
                time.sleep(float(fault.value))
            elif fault.kind == "stall":
                time.sleep(float(fault.value or 30))
            elif fault.kind == "status":
                return self._send(
                    h, int(fault.value), b'{"message": "injected"}', "application/json"
                )
            elif fault.kind == "reset":
                h.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                h.connection.shutdown(socket.SHUT_RDWR)
                h.close_connection = True
                return None
            elif fault.kind == "content_type":
                content_type_override = str(fault.value)
        status, body, ctype, headers = self._route(path, h)
        truncate = next((f for f in faults if f.kind == "truncate"), None)
        trickle = next((float(f.value) for f in faults if f.kind == "trickle"), 0.0)
        return self._send(
            h,
            status,
            body,
            content_type_override or ctype,
            headers,
            truncate=truncate is not None,
            trickle=trickle,
        )

    def _route(
        self, path: str, h: BaseHTTPRequestHandler
    ) -> tuple[int, bytes, str, dict[str, str]]:
        if path in self.redirects:
            return 302, b"", "text/html", {"Location": self.redirects[path]}
        if path in self.extra_routes:
            status, body, ctype = self.extra_routes[path]
            headers = dict(self.extra_headers.get(path, {}))
            declared = self.declared_lengths.get(path)
            if path in self.chunked:
                headers["Content-Length"] = "chunked"
            elif declared is not None:
                headers["Content-Length"] = str(declared) if declared else "none"
            return status, body, ctype, headers
        if path == "/raw/ChuckBuilds/ledmatrix-plugins/main/plugins.json":
            return self._etagged(h, json.dumps(self.registry).encode(), "application/json")
        m = re.fullmatch(r"/web/([^/]+)/([^/]+)/archive/refs/(heads|tags)/(.+)\.zip", path)
        if m:
            location = f"{self.archive_url}/{m[1]}/{m[2]}/zip/refs/{m[3]}/{m[4]}"
            return 302, b"", "text/html", {"Location": location}
        m = re.fullmatch(r"/codeload/([^/]+)/([^/]+)/zip/refs/(heads|tags)/(.+)", path)
        if m:
            repo = self.repos.get((m[1], m[2]))
            trees = (repo.branches if m[3] == "heads" else repo.tags) if repo else {}
            if m[4] not in trees:
                return 404, b"Not Found", "text/plain", {}
            return 200, make_zip(f"{m[2]}-{m[4]}", trees[m[4]]), "application/zip", {}
        m = re.fullmatch(r"/api/repos/([^/]+)/([^/]+)", path)
        if m:
            repo = self.repos.get((m[1], m[2]))
            if repo is None:
                return 404, b'{"message": "Not Found"}', "application/json", {}
            info = {
                "stargazers_count": repo.stars, "forks_count": 0, "open_issues_count": 0,
                "default_branch": repo.default_branch, "pushed_at": repo.pushed_at,
                "updated_at": repo.pushed_at, "language": "Python",
                "license": {"spdx_id": "MIT"},
            }  # fmt: skip
            return self._etagged(h, json.dumps(info).encode(), "application/json")
        m = re.fullmatch(r"/api/repos/([^/]+)/([^/]+)/commits/(.+)", path)
        if m:
            repo = self.repos.get((m[1], m[2]))
            if repo is None or m[3] not in repo.commits:
                return 404, b'{"message": "No commit found"}', "application/json", {}
            commit = {
                "sha": repo.commits[m[3]],
                "commit": {
                    "author": {"name": "Dev", "date": "2026-11-01T10:00:00Z"},
                    "committer": {"name": "Dev", "date": "2026-11-01T10:00:00Z"},
                    "message": f"update {m[3]}",
                },
            }
            return self._etagged(h, json.dumps(commit).encode(), "application/json")
        m = re.fullmatch(r"/raw/([^/]+)/([^/]+)/([^/]+)/(.+)", path)
        if m:
            repo = self.repos.get((m[1], m[2]))
            files = repo.branches.get(m[3], {}) if repo else {}
            if m[4] in files:
                return 200, files[m[4]], "text/plain", {}
        return 404, b"Not Found", "text/plain", {}

    @staticmethod
    def _etagged(
        h: BaseHTTPRequestHandler, body: bytes, ctype: str
    ) -> tuple[int, bytes, str, dict[str, str]]:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if h.headers.get("If-None-Match") == etag:
            return 304, b"", ctype, {"ETag": etag}
        return 200, body, ctype, {"ETag": etag}

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
        trickle: float = 0.0,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            headers = dict(headers or {})
            length = headers.pop("Content-Length", str(len(body)))
            if length == "none":  # HTTP/1.0 style: no length, the body ends when we close
                h.close_connection = True
            elif length == "chunked":
                h.send_header("Transfer-Encoding", "chunked")
                body = _chunked(body)
            else:
                h.send_header("Content-Length", length)
            for key, value in headers.items():
                h.send_header(key, value)
            h.end_headers()
            if status != 304 and body and trickle:
                for index in range(len(body)):  # one byte per interval, each in its own packet
                    h.wfile.write(body[index : index + 1])
                    h.wfile.flush()
                    time.sleep(trickle)
            elif status != 304 and body:
                h.wfile.write(body[: len(body) // 2] if truncate else body)
            if truncate:
                h.wfile.flush()
                h.connection.shutdown(socket.SHUT_RDWR)
                h.close_connection = True
        except OSError:
            pass


def _chunked(body: bytes, size: int = 1000) -> bytes:
    """``body`` in chunked transfer encoding, ``size`` bytes a chunk."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
