"""Request/response over MQTT to a running service (used by the CLI and tests).

A call first waits a short time (``wait``) for the broker and for the service's
retained ``ROOT/availability`` to say ``online``; only then is the command sent,
so a stopped service or a wrong device id fails in seconds with a message that
says what to check, instead of waiting for an answer that cannot come.

On MQTT 5 a request carries a private response topic and correlation data; on
3.1.1 the client listens on ``ROOT/response/<command>`` and matches its
``transaction``. Every request carries a transaction, so a retry after a lost
response gets the first answer instead of running the command twice.

A short command must be answered within ``wait`` seconds of being sent. A long
operation (one with ``on_progress``) waits as long as the service stays online
and any operation progress arrives at least every ``idle`` seconds (it may be
queued behind another operation, whose progress also counts).
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

DEFAULT_WAIT = 5.0  # seconds for the broker, the service's availability and a short answer
DEFAULT_IDLE = 120.0  # seconds a long operation may go without any progress


class RemoteClient:
    def __init__(self, config: AppConfig, *, wait: float = DEFAULT_WAIT) -> None:
        self._config = config
        self._topics = Topics.from_config(config)
        self._v5 = config.mqtt.protocol == "5"
        self._wait = wait

    def call(
        self,
        command: str,
        payload: dict[str, Any],
        *,
        on_progress: ProgressCallback | None = None,
        idle: float = DEFAULT_IDLE,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one command; the response envelope (``status`` ok or error).

        ``timeout``, when given, replaces both the start-up wait and the answer
        window (long operations included). Raises ``ServiceUnreachable`` (with
        what to check) if the broker cannot be reached, the service is not
        online, or no answer comes in time.
        """
        if timeout is not None:
            return RemoteClient(self._config, wait=timeout).call(
                command, payload, on_progress=on_progress, idle=timeout
            )
        token = uuid.uuid4().hex
        transaction = str(payload.get("transaction") or f"cli-{token[:24]}")
        body = {**payload, "transaction": transaction}
        reply_topic = f"{self._topics.root}/response/client-{token[:12]}"
        listen = reply_topic if self._v5 else self._topics.response(command)
        subs = [listen] + ([self._topics.state_operation] if on_progress else [])
        with _Session(self._config, subs, self._wait) as session:
            self._wait_online(session)
            session.connection.publish(
                Message(self._topics.command(command), encode_json(body), 1, False),
                correlation=token.encode() if self._v5 else None,
                response_topic=reply_topic if self._v5 else "",
            )
            window = idle if on_progress else self._wait
            deadline = time.monotonic() + window
            while True:
                msg = session.next_message(deadline, self._no_answer(command, window, on_progress))
                if msg.topic == self._topics.availability:
                    if msg.payload != b"online":
                        raise ServiceUnreachable(
                            f"the ledmatrix service '{self._config.device.id}' went offline "
                            f"before answering {command!r}; see its log "
                            "(journalctl -u ledmatrix-mqtt)"
                        )
                    continue
                data = _decode(msg.payload)
                if msg.topic == self._topics.state_operation:
                    deadline = time.monotonic() + window  # the queue is moving
                    if on_progress and data.get("transaction") == transaction:
                        on_progress(data)
                    continue
                if msg.topic == listen and data.get("transaction") == transaction:
                    return data

    def snapshot(self, timeout: float | None = None) -> bytes:
        """The retained panel frame (PNG bytes) of the online service."""
        if timeout is not None:
            return RemoteClient(self._config, wait=timeout).snapshot()
        with _Session(self._config, [self._topics.frame], self._wait) as session:
            self._wait_online(session)
            deadline = time.monotonic() + self._wait
            while True:
                msg = session.next_message(deadline, self._no_answer("snapshot", self._wait, None))
                if msg.topic == self._topics.frame and msg.payload:
                    return msg.payload

    def _wait_online(self, session: _Session) -> None:
        """Until our availability says online; other messages (a retained frame) are kept."""
        deadline = time.monotonic() + self._wait
        others: set[str] = set()
        held: list[Inbound] = []
        while True:
            try:
                msg = session.next_message(deadline, "")
            except ServiceUnreachable:
                raise ServiceUnreachable(self._not_online(others)) from None
            if msg.topic == self._topics.availability and msg.payload == b"online":
                session.put_back(held)
                return
            if msg.topic.endswith("/availability"):
                if msg.payload == b"online":
                    others.add(msg.topic.split("/")[-2])
                continue
            held.append(msg)

    def _not_online(self, others: set[str]) -> str:
        mqtt = self._config.mqtt
        device = self._config.device.id
        seen = (
            f"; devices online on this broker: {', '.join(sorted(others))}"
            if others
            else "; no device is online on this broker"
        )
        return (
            f"the ledmatrix service for device '{device}' is not online at the broker "
            f"{mqtt.host}:{mqtt.port} (waited {self._wait:g} s): check that the service is "
            f"running (systemctl status ledmatrix-mqtt), that device.id and mqtt.base_topic "
            f"in {self._config.path or 'the config'} match it, and mqtt.host/mqtt.port{seen}"
        )

    def _no_answer(self, command: str, window: float, long: object) -> str:
        what = (
            f"reported no progress on {command!r} for {window:g} s"
            if long
            else f"did not answer {command!r} within {window:g} s"
        )
        option = "--idle-timeout" if long else "--timeout"
        return (
            f"the ledmatrix service '{self._config.device.id}' is online but {what}; see its "
            f"log (journalctl -u ledmatrix-mqtt) or retry with a longer {option}"
        )


def _decode(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Session:
    """One short-lived connection with a message queue; also watches availability."""

    def __init__(self, config: AppConfig, subscriptions: list[str], wait: float) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        self._early: list[Inbound] = []
        self._wait = wait
        self._mqtt = config.mqtt
        topics = Topics.from_config(config)
        # Every device's availability: a wrong device id can then name the right ones.
        watch = [f"{topics.base}/+/availability"]
        self.connection = BrokerConnection(
            config.mqtt,
            f"ledmatrix-cli-{config.device.id}-{uuid.uuid4().hex[:8]}",
            self._events.put,
            subscriptions=[Subscription(s) for s in watch + subscriptions],
        )

    def __enter__(self) -> _Session:
        self.connection.start()
        deadline = time.monotonic() + self._wait
        where = f"{self._mqtt.host}:{self._mqtt.port}"
        while True:
            event = self._get(
                deadline,
                f"cannot reach the MQTT broker at {where} (waited {self._wait:g} s): check "
                "mqtt.host and mqtt.port in the config and that the broker is running",
            )
            if isinstance(event, ConnectFailed):
                self.connection.stop()
                raise ServiceUnreachable(f"MQTT broker at {where}: {event.reason}")
            if isinstance(event, Subscribed):  # SUBACKs are in: the answer cannot be missed
                return self
            if isinstance(event, Inbound):  # a retained message before the last SUBACK
                self._early.append(event)

    def __exit__(self, *exc: object) -> None:
        self.connection.stop()

    def _get(self, deadline: float, what: str) -> Event:
        try:
            return self._events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ServiceUnreachable(what) from None

    def put_back(self, messages: list[Inbound]) -> None:
        """Deliver ``messages`` again, first, from the next ``next_message`` on."""
        self._early[:0] = messages

    def next_message(self, deadline: float, what: str) -> Inbound:
        if self._early:
            return self._early.pop(0)
        while True:
            event = self._get(deadline, what)
            if isinstance(event, Inbound):
                return event
