"""A plugin writing its secrets to ``sys.stdout``/``sys.stderr`` directly (past ``print()``
and the log filter) leaves no form of them in the output of ``ledmatrix-mqtt run``.

The plugin lies on disk in the state dir of the real service, started as a subprocess
the way systemd starts it (no ``PYTHONUNBUFFERED``: the output is a block-buffered
pipe). One x-secret value is in ``secrets.yaml`` (known from start-up), the other in
``config.yaml`` (known only once the plugin loads). Every line the plugin writes
must come through, with the secret as ``***``, so the test fails both on a leak and
on a line that vanished.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import IO

import pytest

from ledmatrix_mqtt.core.redact import secret_forms
from tests.security import spawn_run, write_config
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import plugin_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

CONFIG_KEY = "cfg-k3y/Vb9+Rw2="  # URL-encodes differently with quote() and quote_plus()
FILE_TOKEN = "file-t0ken-Hq4Zp7"
SCHEMA = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "x-secret": True},
        "token": {"type": "string", "x-secret": True},
    },
}
DONE = b"stdio-leak: all written"

# Every way a plugin (or a library it calls) reaches the standard streams without print().
LEAKY_MANAGER = """\
import base64
import sys
import threading
import traceback
import urllib.parse
import warnings

from src.plugin_system.base_plugin import BasePlugin


class TestPlugin(BasePlugin):
    def update(self):
        if getattr(self, "written", False):
            return
        self.written = True
        key, token = self.config["api_key"], self.config["token"]
        sys.stdout.write("out-direct key=" + key + "\\n")
        sys.stdout.write("out-split key=" + key[:6])
        sys.stdout.flush()
        sys.stdout.write(key[6:] + " end\\n")
        sys.stdout.buffer.write(b"out-bytes b64=" + base64.b64encode(token.encode()) + b"\\n")
        sys.stderr.write("err-direct token=" + token + "\\n")
        sys.stderr.write("err-url " + urllib.parse.quote_plus(key) + "\\n")
        try:
            raise RuntimeError("err-traceback token=" + token)
        except RuntimeError:
            traceback.print_exc()
        warnings.warn("err-warning key=" + key)
        writer = threading.Thread(target=lambda: sys.stdout.write("out-thread key=" + key + "\\n"))
        writer.start()
        writer.join()
        sys.stdout.write("stdio-leak: all written\\n")

    def display(self, force_clear=False):
        self.display_manager.clear()
        self.display_manager.draw_text("IO", x=1, y=1)
        self.display_manager.update_display()
"""


def put_plugin(state_dir: Path) -> None:
    folder = state_dir / "plugins" / "stdio-leak"
    files = plugin_files("stdio-leak", schema=SCHEMA)
    files["manager.py"] = LEAKY_MANAGER.encode()
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def collect(stream: IO[bytes], into: bytearray) -> threading.Thread:
    def run() -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
            into.extend(chunk)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    return reader


def test_direct_writes_to_stdout_and_stderr_never_show_a_secret(
    tmp_path: Path, fake_github: FakeGitHub, broker: MosquittoBroker
) -> None:
    config_path = write_config(
        tmp_path / "cfg",
        broker,
        fake_github,
        plugins={"stdio-leak": {"enabled": True, "update_interval": 1, "api_key": CONFIG_KEY}},
        secrets={"plugins": {"stdio-leak": {"token": FILE_TOKEN}}},
        log_level="INFO",
    )
    put_plugin(tmp_path / "cfg" / "state")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = spawn_run(config_path, tmp_path, env)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    readers = [collect(proc.stdout, out), collect(proc.stderr, err)]
    try:
        # the marker arrives while the service runs: whole lines are not held in a buffer
        assert wait_until(lambda: DONE in out, 30), bytes(err[-3000:]).decode(errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        for reader in readers:
            reader.join(5)
    text = (out + err).decode("utf-8", errors="replace")
    assert proc.returncode == 0, text[-3000:]
    for line in (
        "out-direct key=***\n",
        "out-split key=*** end\n",
        "out-bytes b64=***\n",
        "out-thread key=***\n",
    ):
        assert line in out.decode(), line
    for line in (
        "err-direct token=***\n",
        "err-url ***\n",
        "Traceback (most recent call last):",
        "RuntimeError: err-traceback token=***\n",
        "UserWarning: err-warning key=***\n",
    ):
        assert line in err.decode(), line
    for secret in (CONFIG_KEY, FILE_TOKEN):
        leaked = sorted(form for form in secret_forms(secret) if form in text)
        assert not leaked, f"{secret!r} appears as {leaked}"
