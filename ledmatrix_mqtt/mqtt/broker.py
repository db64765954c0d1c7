"""``mqtt.embedded: auto``: a private mosquitto when nothing listens on loopback.

If the configured broker is a loopback host:port where nothing listens and
``mosquitto`` is installed, start one bound to that loopback address with a
generated config under ``state_dir/mosquitto`` and say so in the log. It is the
service's child, stopped by PID on shutdown.

It must never squat the port of a real broker that is merely down at start-up
(the real one could not start afterwards), so it is never started for a remote
host, a unix socket, ``embedded: false``, when broker credentials or TLS are
configured (those name a real, secured broker), or on the standard port 1883
when a system mosquitto unit is enabled under a running systemd. In each of
those cases the log says why, and the service keeps retrying the broker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ledmatrix_mqtt.core.config_model import MqttConfig

_LOG = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
STANDARD_PORT = 1883
_FALLBACK_EXE = "/usr/sbin/mosquitto"
_SYSTEM_UNITS = ("mosquitto.service",)


def system_broker_unit(root: Path = Path("/")) -> str:
    """The enabled system mosquitto unit under a running systemd, or "".

    "Enabled" means a link in some ``/etc/systemd/system/*.wants/`` folder; without
    a running systemd (``/run/systemd/system`` absent, e.g. a container) no unit
    will ever start, so none counts.
    """
    if not (root / "run" / "systemd" / "system").is_dir():
        return ""
    for unit in _SYSTEM_UNITS:
        if any((root / "etc" / "systemd" / "system").glob(f"*.wants/{unit}")):
            return unit
    return ""


def _refusal(config: MqttConfig, root: Path) -> str:
    """Why a private broker must not stand in for this one ("" when it may)."""
    if config.username or config.password or config.tls.enabled:
        return (
            "broker credentials or TLS are configured, so it is a real broker that is down; "
            "a private anonymous one must not take its port"
        )
    unit = system_broker_unit(root) if config.port == STANDARD_PORT else ""
    if unit:
        return (
            f"the system broker ({unit}) is enabled and owns port {STANDARD_PORT}; "
            f"start it (sudo systemctl start {unit})"
        )
    return ""


def is_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_mosquitto() -> str:
    """The mosquitto executable, or "" when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return _FALLBACK_EXE if os.access(_FALLBACK_EXE, os.X_OK) else ""


def render_config(host: str, port: int, folder: Path) -> str:
    """A loopback-only, persistent broker config. ``user root`` is needed when
    running as root: mosquitto otherwise drops to user ``mosquitto`` before it
    opens its files (and ignores the line when not root)."""
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence true",
        "set_tcp_nodelay true",
        f"persistence_location {folder}/",
        f"log_dest file {folder / 'mosquitto.log'}",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


class EmbeddedBroker:
    """A running private mosquitto."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int) -> None:
        self.process = process
        self.host = host
        self.port = port

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def maybe_start(
        cls, config: MqttConfig, state_dir: Path, *, system_root: Path = Path("/")
    ) -> EmbeddedBroker | None:
        """Start one if the rules above allow and require it; None otherwise.

        ``system_root`` is where ``/etc`` and ``/run`` are looked up (tests).
        """
        if config.embedded != "auto" or config.transport != "tcp":
            return None
        if config.host not in LOOPBACK_HOSTS or config.port == 0:
            return None
        if is_listening(config.host, config.port):
            return None
        refusal = _refusal(config, system_root)
        if refusal:
            _LOG.warning(
                "nothing listens at %s:%d; not starting a private mosquitto: %s. "
                "Waiting for the broker.",
                config.host,
                config.port,
                refusal,
            )
            return None
        exe = find_mosquitto()
        if not exe:
            _LOG.warning(
                "nothing listens at %s:%d and mosquitto is not installed; "
                "install it or point mqtt.host at a broker",
                config.host,
                config.port,
            )
            return None
        return cls._spawn(exe, config.host, config.port, Path(state_dir) / "mosquitto")

    @classmethod
    def _spawn(cls, exe: str, host: str, port: int, folder: Path) -> EmbeddedBroker | None:
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "mosquitto.conf"
        conf.write_text(render_config(host, port, folder), encoding="utf-8")
        process = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                _LOG.error("private mosquitto exited at once (rc %s): %s", process.returncode, err)
                return None
            if is_listening(host, port, 0.1):
                _LOG.warning(
                    "no MQTT broker was listening at %s:%d; started a private mosquitto "
                    "(pid %d, config %s). Set mqtt.embedded: false to disable this.",
                    host,
                    port,
                    process.pid,
                    conf,
                )
                return cls(process, host, port)
            time.sleep(0.02)
        _LOG.error("private mosquitto did not start listening within 3 s; stopping it")
        cls(process, host, port).stop()
        return None

    def stop(self, timeout: float = 3.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        if self.process.stderr:
            self.process.stderr.close()
        _LOG.info("stopped the private mosquitto (pid %d)", self.process.pid)
