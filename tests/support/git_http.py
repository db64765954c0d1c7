"""A real smart-HTTP git server for tests: ``git http-backend`` behind a local HTTP server.

Repositories are bare repos under a root folder; ``publish(owner, name, files)``
commits a tree (a new commit on top of the previous one) and returns its sha.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.local_http import LocalHttpServer

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.invalid",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.invalid",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, **_GIT_ENV}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class GitHttpServer(LocalHttpServer):
    def __init__(self, root: Path) -> None:
        self.root = root

    def url(self, owner: str, name: str) -> str:
        return f"{self.base}/{owner}/{name}.git"

    def publish(self, owner: str, name: str, files: dict[str, bytes], branch: str = "main") -> str:
        bare = self.root / owner / f"{name}.git"
        if not bare.exists():
            bare.mkdir(parents=True)
            _git("init", "--bare", "-q", "-b", branch, str(bare))
        with tempfile.TemporaryDirectory() as work_dir:
            work = Path(work_dir)
            _git("init", "-q", "-b", branch, str(work))
            if _git("ls-remote", str(bare), branch):
                _git("pull", "-q", str(bare), branch, cwd=work)
            for old in work.iterdir():
                if old.name != ".git":
                    _git("rm", "-rq", "--", old.name, cwd=work)
            for rel, data in files.items():
                path = work / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            _git("add", "-A", cwd=work)
            _git("commit", "-qm", "publish", "--allow-empty", cwd=work)
            _git("push", "-q", str(bare), f"HEAD:{branch}", cwd=work)
            return _git("rev-parse", "HEAD", cwd=work)

    def start(self) -> GitHttpServer:
        root = self.root

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._cgi(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._cgi(self.rfile.read(length))

            def _cgi(self, body: bytes) -> None:
                path, _, query = self.path.partition("?")
                env = {
                    **os.environ,
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": "127.0.0.1",
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                }
                out = subprocess.run(
                    [HTTP_BACKEND], input=body, env=env, capture_output=True, check=False
                ).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._serve(Handler)
        return self
