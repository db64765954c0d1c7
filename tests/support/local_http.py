"""A loopback HTTP server on a free port, served from a daemon thread: the base of the
test servers that stand in for GitHub (``fake_github``) and a git host (``git_http``).

``stop()`` is a dead host: it stops listening and also cuts the kept-alive connections,
which would otherwise go on answering a client that already holds one. ``connections``
counts the TCP connections accepted (a client that keeps its connection alive opens one).
Given a TLS context the server speaks https; the handshake runs in the request's thread.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.tls = tls
        self.connections = 0
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
            self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # not a refused certificate or hang-up
            super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._open_lock:
            live = list(self._open)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class LocalHttpServer:
    _server: _Server | None = None

    @property
    def base(self) -> str:
        """``http(s)://127.0.0.1:<port>`` of the running server."""
        assert self._server is not None, "the server is not started"
        scheme = "https" if self._server.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        assert self._server is not None, "the server is not started"
        with self._server._open_lock:
            return self._server.connections

    def cut_connections(self) -> None:
        """Close every open connection, as a server's idle timeout would; keep listening."""
        assert self._server is not None, "the server is not started"
        self._server.cut_connections()

    def _serve(
        self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
    ) -> None:
        self._server = _Server(handler, tls)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.cut_connections()
            self._server = None
