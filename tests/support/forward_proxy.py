"""A forward proxy on loopback: absolute-URI GETs for http, CONNECT tunnels for https.

``log`` holds what it carried: (method, target, the Proxy-Authorization it got).
Given ``credentials`` it answers 407 to any request without the matching Basic
header, as a real authenticating proxy does.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote, urlsplit

from tests.support.local_http import LocalHttpServer

_HOP_HEADERS = frozenset({"proxy-authorization", "proxy-connection", "connection", "keep-alive"})


class ForwardProxy(LocalHttpServer):
    """Start with ``ForwardProxy(...).start()``; stop with ``.stop()``."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.log: list[tuple[str, str, str]] = []
        self.auth = ""  # the Proxy-Authorization it requires ("" for none)
        if credentials is not None:
            pair = f"{credentials[0]}:{credentials[1]}".encode()
            self.auth = "Basic " + base64.b64encode(pair).decode()
        self._lock = threading.Lock()

    def start(self) -> ForwardProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if proxy._admit(self):
                    proxy._forward(self)

            def do_CONNECT(self) -> None:
                if proxy._admit(self):
                    proxy._tunnel(self)

        self._serve(Handler)
        return self

    def url(self, user: str = "", password: str = "") -> str:
        """The proxy's URL, with ``user:password@`` (URL-quoted) when given."""
        if not user:
            return self.base
        userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        return self.base.replace("http://", "http://" + userinfo)

    def carried(self, method: str) -> list[tuple[str, str, str]]:
        with self._lock:
            return [entry for entry in self.log if entry[0] == method]

    def _admit(self, h: BaseHTTPRequestHandler) -> bool:
        auth = h.headers.get("Proxy-Authorization", "")
        with self._lock:
            self.log.append((h.command, h.path, auth))
        if not self.auth or auth == self.auth:
            return True
        h.send_response(407)
        h.send_header("Proxy-Authenticate", 'Basic realm="test"')
        h.send_header("Content-Length", "0")
        h.end_headers()
        h.close_connection = True
        return False

    @staticmethod
    def _forward(h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            upstream.request(
                "GET", parts.path + (f"?{parts.query}" if parts.query else ""), None, headers
            )
            resp = upstream.getresponse()
            status, answer, body = resp.status, resp.getheaders(), resp.read()
        except (OSError, http.client.HTTPException):
            status, answer, body = 502, [], b""
        finally:
            upstream.close()
        h.send_response(status)
        for key, value in answer:
            if key.lower() not in _HOP_HEADERS | {"content-length", "transfer-encoding"}:
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _tunnel(h: BaseHTTPRequestHandler) -> None:
        host, _, port = h.path.rpartition(":")
        h.close_connection = True
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except (OSError, ValueError):
            h.send_response(502)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        upstream.settimeout(None)
        h.send_response(200, "Connection established")
        h.end_headers()
        back = threading.Thread(target=_pipe, args=(upstream, h.connection), daemon=True)
        back.start()
        _pipe(h.connection, upstream)
        back.join(10)
        upstream.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends, then end ``dst``'s sending side."""
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
