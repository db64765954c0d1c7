"""Request/response over MQTT to a running service (used by the CLI and tests).

On MQTT 5 a request carries a private response topic and correlation data; on
3.1.1 the client listens on ``ROOT/response/<command>`` and matches its
``transaction``. Every request carries a transaction, so a retry after a lost
response gets the first answer instead of running the command twice.
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Callable
from typing import Any

from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.errors import ServiceUnreachable
from ledmatrix_mqtt.mqtt.client import (
    BrokerConnection,
    ConnectFailed,
    Event,
    Inbound,
    Subscribed,
    Subscription,
)
from ledmatrix_mqtt.mqtt.messages import Message, encode_json
from ledmatrix_mqtt.mqtt.topics import Topics

ProgressCallback = Callable[[dict[str, Any]], None]


class RemoteClient:
    def __init__(self, config: AppConfig) -> None:
        self._config = config
        self._topics = Topics.from_config(config)
        self._v5 = config.mqtt.protocol == "5"

    def call(
        self,
        command: str,
        payload: dict[str, Any],
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Send one command; the response envelope (``status`` ok or error).

        Raises ``ServiceUnreachable`` if the broker refuses or nothing answers.
        """
        token = uuid.uuid4().hex
        transaction = str(payload.get("transaction") or f"cli-{token[:24]}")
        body = {**payload, "transaction": transaction}
        reply_topic = f"{self._topics.root}/response/client-{token[:12]}"
        listen = reply_topic if self._v5 else self._topics.response(command)
        subs = [listen] + ([self._topics.state_operation] if on_progress else [])
        with _Session(self._config, subs, timeout) as session:
            session.connection.publish(
                Message(self._topics.command(command), encode_json(body), 1, False),
                correlation=token.encode() if self._v5 else None,
                response_topic=reply_topic if self._v5 else "",
            )
            deadline = time.monotonic() + timeout
            while True:
                msg = session.next_message(deadline)
                data = _decode(msg.payload)
                if msg.topic == self._topics.state_operation:
                    if on_progress and data.get("transaction") == transaction:
                        on_progress(data)
                    continue
                if msg.topic == listen and data.get("transaction") == transaction:
                    return data

    def snapshot(self, timeout: float) -> bytes:
        """The retained panel frame (PNG bytes)."""
        with _Session(self._config, [self._topics.frame], timeout) as session:
            msg = session.next_message(time.monotonic() + timeout)
            return msg.payload


def _decode(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Session:
    """One short-lived connection with a message queue."""

    def __init__(self, config: AppConfig, subscriptions: list[str], timeout: float) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        self._timeout = timeout
        self.connection = BrokerConnection(
            config.mqtt,
            f"ledmatrix-cli-{config.device.id}-{uuid.uuid4().hex[:8]}",
            self._events.put,
            subscriptions=[Subscription(s) for s in subscriptions],
        )

    def __enter__(self) -> _Session:
        self.connection.start()
        deadline = time.monotonic() + self._timeout
        while True:
            event = self._get(deadline, "cannot reach the MQTT broker")
            if isinstance(event, ConnectFailed):
                self.connection.stop()
                raise ServiceUnreachable(f"MQTT connection failed: {event.reason}")
            if isinstance(event, Subscribed):  # SUBACKs are in: the answer cannot be missed
                return self

    def __exit__(self, *exc: object) -> None:
        self.connection.stop()

    def _get(self, deadline: float, what: str) -> Event:
        try:
            return self._events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.connection.stop()
            raise ServiceUnreachable(f"{what} (timed out)") from None

    def next_message(self, deadline: float) -> Inbound:
        while True:
            event = self._get(deadline, "no answer from the ledmatrix service; is it running?")
            if isinstance(event, Inbound):
                return event
