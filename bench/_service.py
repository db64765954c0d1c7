"""The real service as a benchmark subject: brokers, installed plugins, the process, a probe.

* ``start_broker(folder, nodelay=...)``: a mosquitto of ours on a free loopback port,
  either stock (no ``set_tcp_nodelay``) or with ``set_tcp_nodelay true``.
* ``populate(state_dir, count, fake)``: ``count`` installed plugins on disk, copies of
  the built-ins and of the LEDMatrix-style plugins in tests/support, each with its
  own id, manifest and the installer's source marker (``source: registry``), and
  each published in FakeGitHub's registry with its repository (so ``list`` shows
  latest versions and a browse enriches every entry).
* ``ServiceProcess``: ``ledmatrix-mqtt --config X run`` (headless backend) as the
  systemd unit starts it: with the unit's environment (its ``Environment=`` lines,
  nothing from this shell) and the bytecode ``scripts/_bootstrap.sh`` compiles;
  optionally under a :class:`_pi.CpuLimit`.
* ``Probe``: a paho v5 client (TCP_NODELAY on its own socket, as the service sets on
  its own) that records live arrivals and times request/response round trips.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _common as c  # first: puts the repo on sys.path
import paho.mqtt.client as paho
from _pi import CpuLimit
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import yamlio
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker
from tests.support.plugin_factory import registry_entry
from tests.support.systemd_unit import UNIT, service_environment, unit_settings

DEVICE = c.DEVICE
ROOT = c.ROOT_TOPIC
SERVICE_EXE = c.SERVICE_EXE
_LM = c.REPO / "tests" / "support" / "ledmatrix_style_plugins"
TEMPLATES = (  # (template folder, id prefix): built-in copies and LEDMatrix-style plugins
    (c.REPO / "plugins" / "clock", "clock"),
    (c.REPO / "plugins" / "text", "text"),
    (_LM / "lm-clock", "lmclock"),
    (_LM / "lm-text", "lmtext"),
    (_LM / "lm-utils-a", "lmutila"),
    (_LM / "lm-utils-b", "lmutilb"),
    (c.REPO / "plugins" / "status", "status"),
)
ONLINE = f"{ROOT}/availability=b'online'"
SOURCE_MARKER = ".ledmatrix-source.json"


class StockMosquitto(MosquittoBroker):
    """mosquitto as installed: Nagle's algorithm on the broker's sockets."""

    def _config(self) -> str:
        return super()._config().replace("set_tcp_nodelay true\n", "")


def start_broker(folder: Path, *, nodelay: bool) -> MosquittoBroker:
    cls = MosquittoBroker if nodelay else StockMosquitto
    return cls(folder, persistence=False).start()


def broker_label(nodelay: bool) -> str:
    return "set_tcp_nodelay true" if nodelay else "stock mosquitto"


# -- installed plugins --------------------------------------------------------------------
def populate(state_dir: Path, count: int, fake: FakeGitHub) -> list[str]:
    """``count`` installed plugins under ``state_dir/plugins`` (cycling through TEMPLATES)."""
    ids = []
    entries = []
    for i in range(count):
        template, prefix = TEMPLATES[i % len(TEMPLATES)]
        plugin_id = f"{prefix}-{i:03d}"
        folder = state_dir / "plugins" / plugin_id
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(template, folder, ignore=shutil.ignore_patterns("__pycache__"))
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest.update(id=plugin_id, name=f"{prefix.title()} {i}", display_modes=[plugin_id])
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        files = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }
        fake.add_repo("tests", plugin_id, files)
        marker = {"source": "registry", "url": fake.repo_url("tests", plugin_id)}
        marker["registry_id"] = plugin_id
        (folder / SOURCE_MARKER).write_text(json.dumps(marker))
        entries.append(registry_entry(fake, plugin_id, latest_version=manifest["version"]))
        ids.append(plugin_id)
    fake.set_registry(entries)
    return ids


def write_config(
    folder: Path,
    broker: MosquittoBroker,
    fake: FakeGitHub,
    enabled: Sequence[str],
    *,
    disabled: Sequence[str] = (),
) -> Path:
    """config.yaml for a headless service; ``enabled``/``disabled`` plugin blocks.

    The inbound rate limit is raised so that a latency run of hundreds of
    sequential commands is measured, not answered ``rate_limited``.
    """
    plugins: dict[str, Any] = {pid: {"enabled": True} for pid in enabled}
    plugins.update({pid: {"enabled": False} for pid in disabled})
    doc = {
        "device": {"id": DEVICE, "name": "Bench Panel", "timezone": "UTC"},
        "state_dir": str(folder / "state"),
        "log_level": "WARNING",
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.port,
            "embedded": False,
            "rate_limit": 10000,
            "rate_burst": 100000,
        },
        "store": fake.store_config(),
        "display": {"backend": "headless", "default_duration": 15},
        "plugins": plugins,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yamlio.dump(doc))
    return path


# -- the service process -------------------------------------------------------------------
class ServiceProcess:
    """``ledmatrix-mqtt --config X run`` as a child with the unit's environment;
    ``limit`` throttles it from exec on."""

    def __init__(self, config: Path, limit: CpuLimit | None = None) -> None:
        self.config = config
        self.limit = limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> ServiceProcess:
        self.started = time.perf_counter()
        argv = [str(SERVICE_EXE), "--config", str(self.config), "run"]
        self.proc = subprocess.Popen(
            self.limit.wrap(argv) if self.limit else argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=service_environment(unit_settings(UNIT.read_text())),
        )
        if self.limit is not None:
            self.limit.attach(self.proc.pid)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> str:
        """SIGTERM, wait; returns the tail of stderr (for error messages)."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case the duty cycle has it stopped
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
        return err.decode(errors="replace")[-800:]


# -- the MQTT probe ---------------------------------------------------------------------
class Probe:
    """Records the first live arrival per topic, and times request/response round trips."""

    def __init__(self, broker: MosquittoBroker, topics: Sequence[str]) -> None:
        self.first: dict[str, float] = {}
        self.last_payload: dict[str, bytes] = {}
        self._count: dict[str, int] = {}
        self._cond = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_socket_open = lambda cl, ud, sock: sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe([(t, 1) for t in topics])
        if not subscribed.wait(10):
            raise RuntimeError("probe could not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        now = time.perf_counter()
        if msg.retain:
            return  # the previous run's retained state, not this run's
        with self._cond:
            self.last_payload[msg.topic] = bytes(msg.payload)
            self._count[msg.topic] = self._count.get(msg.topic, 0) + 1
            self.first.setdefault(f"{msg.topic}={bytes(msg.payload[:16])!r}", now)
            self.first.setdefault(msg.topic, now)
            self._cond.notify_all()

    def counts(self) -> dict[str, int]:
        """Live messages per topic so far."""
        with self._cond:
            return dict(self._count)

    def count(self, topic: str) -> int:
        with self._cond:
            return self._count.get(topic, 0)

    def wait_first(self, key: str, timeout: float) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: key in self.first, timeout):
                raise RuntimeError(f"nothing on {key} within {timeout:.0f} s")
            return self.first[key]

    def wait_count(self, topic: str, n: int, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._count.get(topic, 0) >= n, timeout):
                raise RuntimeError(f"{topic}: {self._count.get(topic, 0)} of {n} messages")

    def roundtrip(self, request: str, response: str, payload: bytes, timeout: float = 30) -> float:
        """Publish ``payload`` on ``request``; ms until the next message on ``response``."""
        n = self.count(response) + 1
        start = time.perf_counter()
        self.client.publish(request, payload, qos=1)
        self.wait_count(response, n, timeout)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


ECHO_REQUEST, ECHO_RESPONSE = "bench/echo/request", "bench/echo/response"
_ECHO = """
import socket, sys, paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
c.on_socket_open = lambda cl, ud, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.on_connect = lambda cl, *a: cl.subscribe(sys.argv[2], qos=1)
c.on_subscribe = lambda *a: print("ready", flush=True)
c.on_message = lambda cl, ud, m: cl.publish(sys.argv[3], m.payload, qos=1)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
"""


class EchoProcess:
    """A bare paho echo in its own process (same CPU limit as the service): the floor."""

    def __init__(self, broker: MosquittoBroker, limit: CpuLimit | None) -> None:
        args = [sys.executable, "-c", _ECHO, str(broker.port), ECHO_REQUEST, ECHO_RESPONSE]
        self.proc = subprocess.Popen(limit.wrap(args) if limit else args, stdout=subprocess.PIPE)
        if limit is not None:
            limit.attach(self.proc.pid)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("echo client did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(10)


# -- a started service and its probe ---------------------------------------------------
def loaded(probe: Probe) -> int:
    raw = probe.last_payload.get(f"{ROOT}/state/plugins") or b"{}"
    return sum(1 for p in json.loads(raw).get("plugins", []) if p.get("loaded"))


def start_service(
    config: Path, broker: MosquittoBroker, limit: CpuLimit | None, expect_loaded: int
) -> tuple[ServiceProcess, Probe, float]:
    """Start, wait for the live ``online`` and for ``expect_loaded`` loaded plugins."""
    topics = [f"{ROOT}/availability", f"{ROOT}/state/#", f"{ROOT}/display/frame"]
    probe = Probe(broker, topics)
    service = ServiceProcess(config, limit).start()
    try:
        online_ms = (probe.wait_first(ONLINE, 60) - service.started) * 1000
        deadline = time.monotonic() + 60
        while loaded(probe) < expect_loaded and time.monotonic() < deadline:
            time.sleep(0.05)  # polls a figure the probe's thread updates; bounded
        if loaded(probe) < expect_loaded:
            raise RuntimeError(f"{loaded(probe)} of {expect_loaded} plugins loaded")
    except RuntimeError as exc:
        probe.close()
        raise RuntimeError(f"{exc}; service said: {service.stop()}") from exc
    return service, probe, online_ms


def wait_quiet(fake: FakeGitHub, quiet_s: float = 0.5, timeout: float = 30) -> None:
    """Until FakeGitHub has seen no request for ``quiet_s`` (background work is over)."""
    seen, changed = len(fake.requests()), time.monotonic()
    deadline = changed + timeout
    while time.monotonic() - changed < quiet_s:
        if time.monotonic() > deadline:
            raise RuntimeError("the service kept talking to the registry")
        time.sleep(0.05)
        if len(fake.requests()) != seen:
            seen, changed = len(fake.requests()), time.monotonic()


def stop_service(service: ServiceProcess, probe: Probe) -> None:
    service.stop()
    probe.close()


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` (``schedstat``: ns, not 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between listing and reading
    return total / 1e9
