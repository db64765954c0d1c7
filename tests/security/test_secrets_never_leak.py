"""Secrets (MQTT password, GitHub token, x-secret plugin fields) never leave the service.

The real Service runs against a password-protected mosquitto and FakeGitHub;
everything published on the broker, every response, every log record, the
broker's own log and the files the service writes are grepped for the three
secret values. The plugins are built so that the secret *would* leak through
the known paths (a schema error quoting the value, an update() exception with
the key in a URL), so a zero count means the redaction works, not that the
secret was never used.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from ledmatrix_mqtt.errors import ConfigError
from ledmatrix_mqtt.mqtt.remote import RemoteClient, ServiceUnreachable
from ledmatrix_mqtt.runtime.plugin_config import resolve_config
from tests.security import ROOT, Recorder, running_service, spawn_run, write_config
from tests.support.fake_github import FakeGitHub
from tests.support.mosquitto import MosquittoBroker, Probe, app_config
from tests.support.plugin_factory import plugin_files, registry_entry
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]

MQTT_PASSWORD = "mqtt-pw-Q7v9Lr2x"
GITHUB_TOKEN = "ghp_tok3nZ8w1Yk5Fq0Pd"
PLUGIN_SECRET = "plug-sEcr3t-K4m8Nz"
SECRETS = (MQTT_PASSWORD, GITHUB_TOKEN, PLUGIN_SECRET)

SCHEMA = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "x-secret": True, "description": "weather API key"},
        "log_key": {"type": "boolean", "default": False},
    },
    "required": ["api_key"],
}
STRICT_SCHEMA = {
    "type": "object",
    "properties": {"api_key": {"type": "string", "x-secret": True, "minLength": 64}},
}

# LEDMatrix-style plugin whose update() fails the way a real API client does:
# the exception text carries the request URL, key included.
LEAKY_MANAGER = """\
from src.plugin_system.base_plugin import BasePlugin


class TestPlugin(BasePlugin):
    def update(self):
        key = self.config["api_key"]
        if self.config.get("log_key"):
            self.logger.warning("calling the weather API with key %s", key)
        raise RuntimeError("401 Client Error for url: https://api.weather.example/v1?appid=" + key)

    def display(self, force_clear=False):
        self.display_manager.clear()
        self.display_manager.draw_text("WX", x=1, y=1)
        self.display_manager.update_display()
"""


def publish_plugins(fake: FakeGitHub) -> None:
    weather = plugin_files("weather", schema=SCHEMA, extra_files={})
    weather["manager.py"] = LEAKY_MANAGER.encode()
    fake.add_repo("tests", "weather", weather)
    fake.add_repo("tests", "stocks", plugin_files("stocks", schema=STRICT_SCHEMA))
    fake.set_registry(
        [
            registry_entry(fake, "weather"),
            registry_entry(fake, "stocks"),
            registry_entry(fake, "ghost"),  # in the registry, no repo: a failing install
        ]
    )


def secrets_file(**plugin_extra: object) -> dict[str, object]:
    return {
        "mqtt": {"password": MQTT_PASSWORD},
        "store": {"github": {"token": GITHUB_TOKEN}},
        "plugins": {
            "weather": {"api_key": PLUGIN_SECRET, **plugin_extra},
            "stocks": {"api_key": PLUGIN_SECRET},
        },
    }


def hits(blob: bytes) -> dict[str, int]:
    return {s: blob.count(s.encode()) for s in SECRETS}


def test_schema_error_on_a_secret_field_does_not_quote_the_value(tmp_path: Path) -> None:
    """jsonschema messages quote the failing value ("'abc' is too short"); for an
    ``x-secret`` field that message went to the log and to ``state/plugins``."""
    (tmp_path / "config_schema.json").write_text(json.dumps(STRICT_SCHEMA))
    with pytest.raises(ConfigError) as caught:
        resolve_config(tmp_path, "stocks", {"api_key": PLUGIN_SECRET})
    assert "is too short" in caught.value.message  # the reason survives
    assert PLUGIN_SECRET not in str(caught.value)
    assert PLUGIN_SECRET not in json.dumps(caught.value.to_dict())


def drive_commands(config_path: Path, broker: MosquittoBroker, responses: list[dict]) -> None:
    """Many commands, good and bad, over MQTT; every response is kept."""
    from ledmatrix_mqtt.configfile import load_config

    remote = RemoteClient(load_config(config_path))
    calls: list[tuple[str, dict[str, object]]] = [
        ("list", {}),
        ("search", {"refresh": True}),
        ("install", {"plugin_id": "weather"}),
        ("install", {"plugin_id": "stocks"}),
        ("install", {"plugin_id": "ghost"}),  # fails: repo not found
        ("install", {"plugin_id": "nope-not-there"}),  # fails: not in the registry
        ("install", {"url": "https://127.0.0.1/x/y"}),  # forbidden by policy
        ("show", {"plugin_id": "weather", "duration": 5}),
        ("text", {"text": "hello secrets"}),
        ("disable", {"plugin_id": "weather"}),
        ("enable", {"plugin_id": "weather"}),
        ("update", {"plugin_id": "weather"}),
        ("update", {"all": True}),
        ("reconcile", {"force": True}),
        ("list", {}),
        ("search", {"query": "weather"}),
        ("uninstall", {"plugin_id": "stocks"}),
        ("brightness", {"value": 40}),
        ("list", {}),
    ]
    for command, payload in calls:
        responses.append(remote.call(command, payload, timeout=30))
    probe = Probe(broker, f"{ROOT}/response/#", username="probe", password="probe-pw")
    try:
        for raw in (b"{not json", b"[1,2]", b'{"plugin_id": 5}', b"\x00\xff" * 40):
            probe.publish(f"{ROOT}/cmd/install", raw)
        probe.publish(f"{ROOT}/cmd/frobnicate", b"{}")
        assert wait_until(lambda: len(probe.messages) >= 5, 10), "responses to bad payloads"
        responses.extend(json.loads(p) for _, p, _ in probe.messages)
    finally:
        probe.close()


def start_stack(
    tmp_path: Path, fake_github: FakeGitHub, **weather_secrets: object
) -> tuple[MosquittoBroker, Path, Recorder]:
    """A password-protected broker, a config with every secret set and the weather plugin
    enabled, and a probe recording everything published; the caller stops broker and probe."""
    publish_plugins(fake_github)
    users = {"svc": MQTT_PASSWORD, "probe": "probe-pw"}
    broker = MosquittoBroker(tmp_path / "broker", users=users).start()
    config_path = write_config(
        tmp_path / "cfg",
        broker,
        fake_github,
        mqtt={"username": "svc"},
        plugins={"weather": {"enabled": True, "update_interval": 1}},
        secrets=secrets_file(**weather_secrets),
    )
    return broker, config_path, Recorder.start(broker, username="probe", password="probe-pw")


def test_no_secret_in_anything_published_logged_or_answered(
    tmp_path: Path, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker, config_path, recorder = start_stack(tmp_path, fake_github)
    responses: list[dict] = []
    try:
        with running_service(config_path) as (service, _config):
            assert service.frontend is not None
            assert service.frontend.wait_online(10), service.frontend.connection_error
            assert service.reconcile_done.wait(15)
            drive_commands(config_path, broker, responses)
            # the leak paths were really taken: the secret-bearing errors exist, redacted
            assert wait_until(lambda: "***" in weather_error(recorder), 10), "weather update error"
            # a client with a wrong password is refused without echoing anything
            wrong = app_config(broker, tmp_path / "s2", username="svc", password="wrong-Pw-1")
            with pytest.raises(ServiceUnreachable) as refused:
                RemoteClient(wrong).call("list", {}, timeout=3)
            assert MQTT_PASSWORD not in str(refused.value)
            time.sleep(0.5)
    finally:
        recorder.close()
        broker.stop()

    codes = [r.get("error", {}).get("code") for r in responses if r.get("status") == "error"]
    assert {"not_found", "forbidden", "invalid_payload", "unknown_command"} <= set(codes), codes
    assert any(r.get("command") == "install" and r["status"] == "ok" for r in responses)
    stocks = [r for r in responses if r.get("command") == "list"][1]["data"]["plugins"]
    assert "***" in next(p for p in stocks if p["id"] == "stocks")["error"]  # schema error
    # the token was in use (sent to the API host only), so its absence below means something
    assert any(h.get("Authorization") == f"token {GITHUB_TOKEN}" for _, _, h in fake_github.log)

    published = recorder.blob()
    assert len(recorder.messages()) > 50
    answered = json.dumps(responses).encode()
    logged = (caplog.text + "\n".join(r.getMessage() for r in caplog.records)).encode()
    broker_log = broker.log.read_bytes()
    state_files = b"".join(
        p.read_bytes()
        for p in (tmp_path / "cfg" / "state").rglob("*")
        if p.is_file() and "plugins" not in p.relative_to(tmp_path / "cfg" / "state").parts[:1]
    )
    config_yaml = (tmp_path / "cfg" / "config.yaml").read_bytes()
    assert len(caplog.records) > 20
    for name, blob in {
        "published": published,
        "responses": answered,
        "log records": logged,
        "broker log": broker_log,
        "state dir": state_files,
        "config.yaml (edited by enable/disable)": config_yaml,
    }.items():
        assert hits(blob) == dict.fromkeys(SECRETS, 0), name


def weather_error(recorder: Recorder) -> str:
    for topic, payload, _ in reversed(recorder.messages()):
        if topic == f"{ROOT}/state/plugins/weather" and payload:
            return str(json.loads(payload).get("error", ""))
    return ""


def test_cli_run_installs_the_log_redactor(tmp_path: Path, fake_github: FakeGitHub) -> None:
    """``ledmatrix-mqtt run`` as a subprocess: a plugin that logs its own API key (code
    we cannot fix) still produces no secret on stderr; the line is there, redacted."""
    broker, config_path, recorder = start_stack(tmp_path, fake_github, log_key=True)
    proc = spawn_run(config_path, tmp_path, {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        recorder.probes[0].wait_for(
            lambda t, p, r: t == f"{ROOT}/availability" and p == b"online", 15
        )
        from ledmatrix_mqtt.configfile import load_config

        remote = RemoteClient(load_config(config_path))
        assert remote.call("install", {"plugin_id": "weather"}, timeout=30)["status"] == "ok"
        assert wait_until(lambda: "***" in weather_error(recorder), 15), "weather update error"
        time.sleep(1.5)  # at least one more update() and its log line
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        recorder.close()
        broker.stop()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert b"calling the weather API with key ***" in err  # the plugin's line, redacted
    assert b"appid=***" in err  # the update failure, redacted at the source
    assert hits(out + err) == dict.fromkeys(SECRETS, 0)
    assert hits(recorder.blob()) == dict.fromkeys(SECRETS, 0)
