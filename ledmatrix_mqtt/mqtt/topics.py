"""Every topic the service uses, built from one place.

``ROOT = {mqtt.base_topic}/{device.id}``. Nothing else in the package formats
a topic string, so the contract in the README is this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledmatrix_mqtt.core.config_model import AppConfig

# A command name we answer on ``response/<name>`` (even an unknown one): levels of
# ASCII letters, digits, "_", "." and "-". Anything else is answered on
# ``response/unknown``.
_REPLY_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
MAX_REPLY_NAME = 64

_OBJECT_ID_OK = re.compile(r"[A-Za-z0-9-]")
_OBJECT_ID_SAFE = re.compile(r"[A-Za-z0-9-]*")


def object_id(plugin_id: str) -> str:
    """An HA-safe (``[A-Za-z0-9_-]``), injective form of a plugin id.

    ``_`` becomes ``_u`` and ``.`` becomes ``_d`` so ``a.b`` and ``a_b`` never collide.
    """
    if _OBJECT_ID_SAFE.fullmatch(plugin_id):
        return plugin_id  # most ids: nothing to escape
    out = []
    for ch in plugin_id:
        if _OBJECT_ID_OK.fullmatch(ch):
            out.append(ch)
        elif ch == "_":
            out.append("_u")
        else:
            out.append(f"_x{ord(ch):x}" if ch != "." else "_d")
    return "".join(out)


@dataclass(frozen=True)
class Topics:
    """The topic names for one device."""

    base: str
    device_id: str
    discovery_prefix: str

    @classmethod
    def from_config(cls, config: AppConfig) -> Topics:
        return cls(config.mqtt.base_topic, config.device.id, config.mqtt.discovery_prefix)

    @property
    def root(self) -> str:
        return f"{self.base}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    def command(self, command: str) -> str:
        return f"{self.root}/cmd/{command}"

    @property
    def command_filter(self) -> str:
        """Every level below ``cmd/``, so ``cmd/list/extra`` is answered too."""
        return f"{self.root}/cmd/#"

    def response(self, command: str) -> str:
        """Where a command's response goes; an unsafe name answers on ``response/unknown``."""
        ok = len(command) <= MAX_REPLY_NAME and _REPLY_NAME.fullmatch(command)
        return f"{self.root}/response/{command if ok else 'unknown'}"

    @property
    def state_prefix(self) -> str:
        return f"{self.root}/state/"

    @property
    def state_filter(self) -> str:
        return f"{self.root}/state/#"

    @property
    def state_plugins(self) -> str:
        return f"{self.root}/state/plugins"

    def state_plugin(self, plugin_id: str) -> str:
        return f"{self.root}/state/plugins/{plugin_id}"

    @property
    def fixed_state(self) -> frozenset[str]:
        """The state topics that always exist while the service runs."""
        return frozenset(
            {
                self.state_plugins,
                self.state_store,
                self.state_reconcile,
                self.state_operation,
                self.state_display,
                self.state_rotation,
                self.state_notifications,
                self.state_schedule,
            }
        )

    @property
    def state_store(self) -> str:
        return f"{self.root}/state/store"

    @property
    def state_reconcile(self) -> str:
        return f"{self.root}/state/reconcile"

    @property
    def state_operation(self) -> str:
        return f"{self.root}/state/operation"

    @property
    def state_display(self) -> str:
        return f"{self.root}/state/display"

    @property
    def state_notifications(self) -> str:
        """The notification on the panel and the queue length, retained."""
        return f"{self.root}/state/notifications"

    @property
    def state_schedule(self) -> str:
        """Active hours and dim schedule with their current phase, retained."""
        return f"{self.root}/state/schedule"

    @property
    def frame(self) -> str:
        return f"{self.root}/display/frame"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def state_plugin_settings(self, plugin_id: str) -> str:
        """A plugin's current settings (secrets masked), retained."""
        return f"{self.root}/state/settings/{plugin_id}"

    @property
    def state_rotation(self) -> str:
        return f"{self.root}/state/rotation"

    @property
    def device_discovery(self) -> str:
        """Home Assistant's device-based discovery topic (one config for every entity)."""
        return f"{self.discovery_prefix}/device/{self.device_id}/config"

    def discovery(self, component: str, object_name: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.device_id}/{object_name}/config"

    def command_of(self, topic: str) -> str | None:
        """What follows ``cmd/`` if ``topic`` is one of our command topics, else None.

        It may be any text (``LIST``, ``list/extra``); the codec answers unknown names.
        """
        prefix = f"{self.root}/cmd/"
        if not topic.startswith(prefix):
            return None
        return topic[len(prefix) :]

    def plugin_of_state(self, topic: str) -> str | None:
        prefix = f"{self.root}/state/plugins/"
        if not topic.startswith(prefix):
            return None
        name = topic[len(prefix) :]
        return name if name and "/" not in name else None

    def reply_allowed(self, topic: str) -> bool:
        """True if a client-supplied MQTT 5 response topic may be used.

        Only this device's reply namespace, ``ROOT/response/<something>``, which the
        ACL example lets every client read and only the service write. Anything else
        (another device's topics, discovery, ``$``, other clients' trees) would let a
        client make the service publish where the client itself may not.
        """
        prefix = f"{self.root}/response/"
        rest = topic[len(prefix) :]
        return (
            topic.startswith(prefix)
            and 0 < len(topic) <= 512
            and bool(rest)
            and not any(c in rest for c in "+#\0")
            and "" not in rest.split("/")
        )
