"""The service configuration: parsed from plain dicts into frozen dataclasses.

Pure: no file access. ``ledmatrix_mqtt.configfile`` reads YAML, merges the
secrets file and calls :func:`parse_config`. Every error names the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ledmatrix_mqtt.core.ids import DEVICE_ID_PATTERN, is_valid_device_id, is_valid_plugin_id
from ledmatrix_mqtt.core.models import frozen_mapping
from ledmatrix_mqtt.errors import ConfigError

DEFAULT_REGISTRY_URL = (
    "https://raw.githubusercontent.com/ChuckBuilds/ledmatrix-plugins/main/plugins.json"
)
BACKENDS = ("auto", "hardware", "emulator", "headless")


@dataclass(frozen=True)
class DeviceConfig:
    id: str
    name: str
    timezone: str


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = False
    ca_certs: str = ""
    certfile: str = ""
    keyfile: str = ""
    insecure: bool = False


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    tls: TlsConfig = TlsConfig()
    base_topic: str = "ledmatrix"
    discovery_enabled: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_mode: str = "device"  # "device" (HA 2024.11+) | "entity" (one config per entity)
    embedded: str = "auto"  # "auto" | "false"
    protocol: str = "5"  # "5" | "3.1.1"
    client_id: str = ""
    keepalive: int = 30
    transport: str = "tcp"  # "tcp" | "unix" (host is then a socket path)
    rate_limit: float = 20.0  # inbound commands per second, sustained
    rate_burst: int = 60


@dataclass(frozen=True)
class GithubConfig:
    web_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    raw_url: str = "https://raw.githubusercontent.com"
    archive_url: str = "https://codeload.github.com"
    token: str = field(default="", repr=False)


@dataclass(frozen=True)
class StoreConfig:
    registry_url: str = DEFAULT_REGISTRY_URL
    github: GithubConfig = GithubConfig()
    allow_install_from_url: bool = False
    registry_ttl: float = 900.0
    search_deadline: float = 3.0

    def allowed_hosts(self) -> frozenset[str]:
        """Hosts downloads may come from: the registry and the GitHub URLs."""
        urls = (
            self.registry_url,
            self.github.web_url,
            self.github.api_url,
            self.github.raw_url,
            self.github.archive_url,
        )
        return frozenset(h for h in (_host_of(u) for u in urls) if h)


@dataclass(frozen=True)
class DisplayConfig:
    backend: str = "auto"
    rows: int = 32
    cols: int = 64
    chain_length: int = 1
    parallel: int = 1
    brightness: int = 80
    hardware_mapping: str = "regular"
    gpio_slowdown: int = 2
    default_duration: float = 15.0
    rotation_order: tuple[str, ...] = ()
    emulator_adapter: str = "browser"
    emulator_host: str = "127.0.0.1"
    emulator_port: int = 8888

    @property
    def width(self) -> int:
        return self.cols * self.chain_length

    @property
    def height(self) -> int:
        return self.rows * self.parallel


@dataclass(frozen=True)
class AppConfig:
    """The whole validated configuration. ``path`` is the file it came from."""

    device: DeviceConfig
    state_dir: str
    mqtt: MqttConfig
    store: StoreConfig
    display: DisplayConfig
    plugins: Mapping[str, Mapping[str, Any]]
    path: str = ""
    log_level: str = "INFO"

    def plugin_block(self, plugin_id: str) -> Mapping[str, Any]:
        return self.plugins.get(plugin_id, frozen_mapping({}))


_TRUE_WORDS = ("true", "on", "yes")
_FALSE_WORDS = ("false", "off", "no")


def as_flag(value: object) -> bool | None:
    """A config boolean: a YAML bool or true/false/on/off/yes/no in any case; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE_WORDS + _FALSE_WORDS:
        return value.lower() in _TRUE_WORDS
    return None


def _host_of(url: str) -> str:
    if not url or "://" not in url or url.startswith("file://"):
        return ""
    return (urlsplit(url).hostname or "").lower()


class _Reader:
    """Typed access to one mapping of the config, with errors naming the key."""

    def __init__(self, data: object, prefix: str, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError("must be a mapping", path=path, key=prefix or "(top level)")
        self.data: Mapping[str, Any] = data
        self.prefix = prefix
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=self.key(name))

    def child(self, name: str) -> _Reader:
        return _Reader(self.data.get(name), self.key(name), self.path)

    def text(self, name: str, default: str = "", *, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(name, "must be a string")
        text = str(value)
        if choices and text not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)} (got {text!r})")
        return text

    def flag(self, name: str, default: bool) -> bool:
        value = as_flag(self.data.get(name, default))
        if value is None:
            raise self.fail(name, "must be true or false")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(name, f"must be an integer from {low} to {high}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.data.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise self.fail(name, f"must be a number from {low} to {high}")
        return float(value)

    def url(self, name: str, default: str, *, allow_file: bool = False) -> str:
        value = self.text(name, default).rstrip("/")
        scheme = urlsplit(value).scheme
        ok = scheme in ("http", "https") and bool(urlsplit(value).hostname)
        if allow_file and (scheme == "file" or value.startswith("/") or scheme == ""):
            ok = True
        if not ok:
            raise self.fail(name, f"must be an http(s) URL (got {value!r})")
        return value

    def unknown(self, known: tuple[str, ...]) -> None:
        extra = sorted(set(self.data) - set(known))
        if extra:
            raise self.fail(extra[0], f"unknown key (known keys: {', '.join(known)})")


def _device(r: _Reader, hostname_id: str, system_tz: str) -> DeviceConfig:
    r.unknown(("id", "name", "timezone"))
    device_id = r.text("id", hostname_id) or hostname_id
    if not is_valid_device_id(device_id):
        raise r.fail("id", f"must match {DEVICE_ID_PATTERN} (got {device_id!r})")
    return DeviceConfig(
        id=device_id,
        name=r.text("name", f"LED Matrix {device_id}") or f"LED Matrix {device_id}",
        timezone=r.text("timezone", system_tz) or system_tz,
    )


def _mqtt(r: _Reader) -> MqttConfig:
    r.unknown((
        "host", "port", "username", "password", "tls", "base_topic", "discovery",
        "embedded", "protocol", "client_id", "keepalive", "transport", "rate_limit", "rate_burst",
    ))  # fmt: skip
    t = r.child("tls")
    t.unknown(("enabled", "ca_certs", "certfile", "keyfile", "insecure"))
    d = r.child("discovery")
    d.unknown(("enabled", "prefix", "mode"))
    base = r.text("base_topic", "ledmatrix").strip("/")
    prefix = d.text("prefix", "homeassistant").strip("/")
    for key, topic in (("base_topic", base), ("discovery.prefix", prefix)):
        if not topic or any(c in topic for c in "+#\0"):
            raise r.fail(key, "must be a non-empty topic without wildcards")
    if base == prefix:
        raise r.fail("base_topic", "must differ from mqtt.discovery.prefix")
    embedded = r.data.get("embedded", "auto")
    return MqttConfig(
        host=r.text("host", "127.0.0.1") or "127.0.0.1",
        port=r.integer("port", 1883, 0, 65535),
        username=r.text("username"),
        password=r.text("password"),
        tls=TlsConfig(
            enabled=t.flag("enabled", False),
            ca_certs=t.text("ca_certs"),
            certfile=t.text("certfile"),
            keyfile=t.text("keyfile"),
            insecure=t.flag("insecure", False),
        ),
        base_topic=base,
        discovery_enabled=d.flag("enabled", True),
        discovery_prefix=prefix,
        discovery_mode=d.text("mode", "device", choices=("device", "entity")),
        embedded="false"
        if embedded is False
        else r.text("embedded", "auto", choices=("auto", "false")),
        protocol=r.text("protocol", "5", choices=("5", "3.1.1")),
        client_id=r.text("client_id"),
        keepalive=r.integer("keepalive", 30, 5, 3600),
        transport=r.text("transport", "tcp", choices=("tcp", "unix")),
        rate_limit=r.number("rate_limit", 20.0, 0.1, 10000),
        rate_burst=r.integer("rate_burst", 60, 1, 100000),
    )


def _store(r: _Reader) -> StoreConfig:
    r.unknown(
        ("registry_url", "github", "allow_install_from_url", "registry_ttl", "search_deadline")
    )
    g = r.child("github")
    g.unknown(("web_url", "api_url", "raw_url", "archive_url", "token"))
    return StoreConfig(
        registry_url=r.url("registry_url", DEFAULT_REGISTRY_URL, allow_file=True),
        github=GithubConfig(
            web_url=g.url("web_url", "https://github.com"),
            api_url=g.url("api_url", "https://api.github.com"),
            raw_url=g.url("raw_url", "https://raw.githubusercontent.com"),
            archive_url=g.url("archive_url", "https://codeload.github.com"),
            token=g.text("token"),
        ),
        allow_install_from_url=r.flag("allow_install_from_url", False),
        registry_ttl=r.number("registry_ttl", 900.0, 0, 86400),
        search_deadline=r.number("search_deadline", 3.0, 0.1, 60),
    )


def _display(r: _Reader) -> DisplayConfig:
    r.unknown((
        "backend", "rows", "cols", "chain_length", "parallel", "brightness", "hardware_mapping",
        "gpio_slowdown", "default_duration", "rotation_order", "emulator",
    ))  # fmt: skip
    e = r.child("emulator")
    e.unknown(("adapter", "host", "port"))
    order = r.data.get("rotation_order") or []
    if not isinstance(order, list) or not all(is_valid_plugin_id(x) for x in order):
        raise r.fail("rotation_order", "must be a list of plugin ids")
    return DisplayConfig(
        backend=r.text("backend", "auto", choices=BACKENDS),
        rows=r.integer("rows", 32, 8, 256),
        cols=r.integer("cols", 64, 8, 256),
        chain_length=r.integer("chain_length", 1, 1, 16),
        parallel=r.integer("parallel", 1, 1, 3),
        brightness=r.integer("brightness", 80, 0, 100),
        hardware_mapping=r.text("hardware_mapping", "regular"),
        gpio_slowdown=r.integer("gpio_slowdown", 2, 0, 5),
        default_duration=r.number("default_duration", 15.0, 1, 86400),
        rotation_order=tuple(order),
        emulator_adapter=e.text(
            "adapter", "browser", choices=("browser", "raw", "terminal", "pygame")
        ),
        emulator_host=e.text("host", "127.0.0.1"),
        emulator_port=e.integer("port", 8888, 1, 65535),
    )


def _plugins(r: _Reader) -> Mapping[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for plugin_id, block in r.data.items():
        if not is_valid_plugin_id(plugin_id):
            raise r.fail(str(plugin_id), "is not a valid plugin id")
        b = r.child(plugin_id)
        b.flag("enabled", True)
        if "display_duration" in b.data:
            b.number("display_duration", 15.0, 1, 86400)
        if "update_interval" in b.data:
            b.number("update_interval", 60.0, 1, 86400)
        out[plugin_id] = frozen_mapping(block or {})
    return frozen_mapping(out)


TOP_LEVEL_KEYS = ("device", "state_dir", "mqtt", "store", "display", "plugins", "log_level")


def parse_config(
    data: object, *, path: str = "", hostname_id: str = "ledmatrix", system_tz: str = "UTC"
) -> AppConfig:
    """Validate a merged (config + secrets) document into an :class:`AppConfig`.

    ``state_dir`` is returned as written; the loader resolves it against the
    config file's folder.
    """
    root = _Reader(data, "", path)
    root.unknown(TOP_LEVEL_KEYS)
    return AppConfig(
        device=_device(root.child("device"), hostname_id, system_tz),
        state_dir=root.text("state_dir", "../state") or "../state",
        mqtt=_mqtt(root.child("mqtt")),
        store=_store(root.child("store")),
        display=_display(root.child("display")),
        plugins=_plugins(root.child("plugins")),
        path=path,
        log_level=root.text("log_level", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    )
