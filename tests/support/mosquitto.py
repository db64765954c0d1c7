"""A real mosquitto for tests: free loopback port (or unix socket), generated config.

Never reuses a broker that happens to be running: the port is picked free by
binding to port 0, and the broker is our child, stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1/localhost (IP SAN) signed by it."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca = folder / "ca.key", folder / "ca.crt"
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=localhost",
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return TlsFiles(ca, cert, key)


class MosquittoBroker:
    """Start with ``start()``; ``restart()`` keeps the port; ``stop()`` by PID."""

    def __init__(
        self,
        folder: Path,
        *,
        persistence: bool = True,
        users: dict[str, str] | None = None,
        tls: bool = False,
        unix_socket: bool = False,
        acl_file: Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.users = dict(users or {})
        self.port = 0 if unix_socket else free_port()
        self.socket_path = self.folder / "mqtt.sock" if unix_socket else None
        self.tls_files = make_tls(self.folder / "tls") if tls else None
        self.acl_file = acl_file
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.folder / "mosquitto.log"

    @property
    def host(self) -> str:
        return str(self.socket_path) if self.socket_path else "127.0.0.1"

    def _config(self) -> str:
        lines = [
            f"listener 0 {self.socket_path}"
            if self.socket_path
            else f"listener {self.port} 127.0.0.1"
        ]
        if self.users:
            pwfile = self.folder / "passwd"
            pwfile.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(pwfile), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.tls_files:
            lines += [f"certfile {self.tls_files.cert}", f"keyfile {self.tls_files.key}"]
        lines.append(f"persistence {'true' if self.persistence else 'false'}")
        if self.persistence:
            lines.append(f"persistence_location {self.folder}/")
        # Flood tests send thousands of responses to one probe; mosquitto's default
        # per-client queue (1000) would drop some of them inside the broker.
        lines.append("max_queued_messages 50000")
        lines.append("set_tcp_nodelay true")
        lines.append(f"log_dest file {self.log}")
        lines.append("log_type all")
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto' before opening files
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 5.0) -> MosquittoBroker:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self._config())
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_until(lambda: self._exited() or self._accepting(), timeout):
            raise RuntimeError("mosquitto did not start")
        if self._exited():
            raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')}")
        return self

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def _accepting(self) -> bool:
        family = socket.AF_UNIX if self.socket_path else socket.AF_INET
        address: str | tuple[str, int] = (
            str(self.socket_path) if self.socket_path else ("127.0.0.1", self.port)
        )
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            try:
                s.connect(address)
            except OSError:
                return False
            return True

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.socket_path:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    def restart(self, *, persistence: bool | None = None, down_for: float = 0.0) -> None:
        """Stop and start again on the same port (optionally changing persistence)."""
        self.stop()
        if persistence is not None:
            self.persistence = persistence
        time.sleep(down_for)
        self.start()


class Probe:
    """A plain paho client that records everything on ``topic_filter`` (tests only)."""

    def __init__(
        self,
        broker: MosquittoBroker,
        topic_filter: str = "#",
        *,
        username: str = "",
        password: str = "",
        v5: bool = True,
    ) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"probe-{time.monotonic_ns()}",
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            transport="unix" if broker.socket_path else "tcp",
        )
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls_files:
            self.client.tls_set(ca_certs=str(broker.tls_files.ca))
        self._filter = topic_filter
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port or 1883)
        self.client.loop_start()
        if not self.connected.wait(5):
            raise RuntimeError("probe could not connect and subscribe")

    def _on_connect(self, client, userdata, flags, rc, props=None) -> None:  # type: ignore[no-untyped-def]
        if not rc.is_failure:
            client.subscribe(self._filter, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, props=None) -> None:  # type: ignore[no-untyped-def]
        # Ready once the broker has the subscription (SUBACK), not at CONNACK: a message
        # published between the two would be missed by a test that waits for it.
        if not any(code.is_failure for code in reason_codes):
            self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        retain: bool = False,
        qos: int = 1,
        properties: object = None,
    ) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def wait_for(self, predicate, timeout: float = 5.0):  # type: ignore[no-untyped-def]
        """The first recorded (topic, payload, retain) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.messages:
                    if predicate(*item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for a message")
                self._cond.wait(left)

    def on(self, topic: str) -> list[bytes]:
        with self._cond:
            return [p for t, p, _ in self.messages if t == topic]

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained_snapshot(
    broker: MosquittoBroker, topic_filter: str, settle: float = 0.5
) -> dict[str, bytes]:
    """Everything retained under ``topic_filter``, as a fresh subscriber sees it."""
    probe = Probe(broker, topic_filter)
    try:
        time.sleep(settle)
        return {t: p for t, p, retained in probe.messages if retained}
    finally:
        probe.close()


def app_config(broker: MosquittoBroker, state_dir: Path, **mqtt: object):  # type: ignore[no-untyped-def]
    """An AppConfig pointing at ``broker`` (embedded off); ``mqtt`` overrides keys.

    Discovery uses the per-entity layout (``mode: entity``), whose topics these
    tests name; the default device layout is covered by tests/e2e/test_ha_*.
    """
    from ledmatrix_mqtt.core.config_model import parse_config

    section: dict[str, object] = {
        "host": broker.host,
        "port": broker.port or 1883,
        "embedded": False,
        "keepalive": 5,
        "discovery": {"mode": "entity"},
    }
    if broker.socket_path:
        section["transport"] = "unix"
    if broker.tls_files:
        section["tls"] = {"enabled": True, "ca_certs": str(broker.tls_files.ca)}
    section.update(mqtt)
    return parse_config(
        {
            "device": {"id": "testpanel", "name": "Test Panel"},
            "state_dir": str(state_dir),
            "mqtt": section,
        }
    )
