"""A thin paho-mqtt 2.x (VERSION2) connection that only hands events to a sink.

paho's callbacks run on the network thread; they translate and call ``sink``
(which must not block) and, in ``on_connect``, resubscribe. Everything else
happens on the owner's threads. The connection runs its own connect loop so it
sees connect exceptions (refused, TLS) and can back off: exponential from
``min_delay`` to ``max_delay``, and a long fixed pause after the broker refused
the credentials (a wrong password is reported once per attempt, never hammered).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ledmatrix_mqtt.core.config_model import MqttConfig
from ledmatrix_mqtt.mqtt.messages import Message

_LOG = logging.getLogger(__name__)

_AUTH_REFUSED = frozenset({"Bad user name or password", "Not authorized"})


@dataclass(frozen=True)
class Connected:
    session_present: bool


@dataclass(frozen=True)
class Subscribed:
    """Every subscription made for the latest connect has been acknowledged."""


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class ConnectFailed:
    reason: str
    auth: bool = False


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    retain: bool
    response_topic: str = ""
    correlation: bytes | None = None


Event = Connected | Subscribed | Disconnected | ConnectFailed | Inbound
EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class Subscription:
    """A topic filter. ``own_commands``: on MQTT 5, keep the retain flag as
    published (so a retained command is recognised even live) and skip our own
    publications (the empty messages we send to clear retained commands)."""

    topic_filter: str
    own_commands: bool = False
    replay: bool = True  # False: on MQTT 5, the broker sends no retained copy on subscribe


@dataclass(frozen=True)
class Backoff:
    min_delay: float = 1.0
    max_delay: float = 30.0
    auth_delay: float = 60.0


_PLAIN_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused (is the broker running?)"),
    (socket.gaierror, "broker host name not found"),
    (TimeoutError, "connection timed out"),
)


def describe_connect_error(exc: BaseException) -> str:
    """A message a person can act on; never includes credentials."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    for kind, text in _PLAIN_REASONS:
        if isinstance(exc, kind):
            return text
    return f"{type(exc).__name__}: {exc}"


def _write_on_network_thread(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Nothing to do: the network loop selects on the socket for writing itself."""


def _no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Disable Nagle: small request/response packets otherwise wait for the
    peer's delayed ACK (~40 ms per round trip on Linux loopback)."""
    with contextlib.suppress(OSError, AttributeError):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BrokerConnection:
    """One MQTT session with automatic reconnects. ``publish`` is thread-safe."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        sink: EventSink,
        *,
        subscriptions: Sequence[Subscription] = (),
        will: Message | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        self._config = config
        self._sink = sink
        self._subscriptions = tuple(subscriptions)
        self._backoff = backoff
        self._v5 = config.protocol == "5"
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._sub_lock = threading.Lock()
        self._last_info: paho.MQTTMessageInfo | None = None
        self._pending_subacks: set[int] = set()
        self._auth_refused = False
        self._thread: threading.Thread | None = None
        self.last_error = ""
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            transport="unix" if config.transport == "unix" else "tcp",
            reconnect_on_failure=False,  # our loop reconnects, with our backoff
        )
        if config.username:
            self._client.username_pw_set(config.username, config.password or None)
        if will is not None:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_socket_open = _no_delay
        # Publishes come from our worker threads. Without a registered writer, paho
        # (run by our own loop, not loop_start) writes to the socket from the calling
        # thread while the network thread reads it; on TLS that corrupts the SSL
        # stream and the broker drops us. Registering one makes paho queue the packet
        # and wake its loop, so only the network thread ever touches the socket.
        self._client.on_socket_register_write = _write_on_network_thread

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def is_v5(self) -> bool:
        return self._v5

    def start(self) -> None:
        """Connect in the background; returns at once."""
        self._thread = threading.Thread(target=self._run, name="mqtt-network", daemon=True)
        self._thread.start()

    def publish(
        self, message: Message, *, correlation: bytes | None = None, response_topic: str = ""
    ) -> bool:
        """Queue one publication; False (and nothing queued) while disconnected.

        Retained state is republished in full on every connect, so dropping
        while offline loses nothing and keeps memory bounded.
        """
        if not self._connected.is_set():
            return False
        props = None
        if (correlation is not None or response_topic) and self._v5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if correlation is not None:
                props.CorrelationData = correlation
            if response_topic:
                props.ResponseTopic = response_topic
        info = self._client.publish(
            message.topic, message.payload, message.qos, message.retain, props
        )
        self._last_info = info
        return info.rc == paho.MQTT_ERR_SUCCESS

    def flush(self, timeout: float) -> bool:
        """Wait until everything published so far has left (QoS 1: been acknowledged).

        Packets go out in order, so waiting for the last one is enough. Never call it
        from a paho callback (the network thread would wait on itself).
        """
        info = self._last_info
        if info is None:
            return True
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):  # disconnected meanwhile
            return False
        return info.is_published()

    def stop(self, final: Message | None = None, timeout: float = 2.0) -> None:
        """Publish ``final`` (e.g. availability offline), disconnect, join the thread."""
        self._stop.set()
        if final is not None and self._connected.is_set():
            info = self._client.publish(final.topic, final.payload, final.qos, final.retain)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                _LOG.debug("final message not confirmed before disconnect")
        self._client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout + 3.0)

    # -- network thread -------------------------------------------------------

    def _configure_tls(self) -> None:
        tls = self._config.tls
        if not tls.enabled:
            return
        self._client.tls_set(
            ca_certs=tls.ca_certs or None,
            certfile=tls.certfile or None,
            keyfile=tls.keyfile or None,
        )
        if tls.insecure:
            self._client.tls_insecure_set(True)

    def _run(self) -> None:
        try:
            self._configure_tls()
        except (OSError, ValueError) as exc:
            self._fail(f"TLS settings unusable: {describe_connect_error(exc)}", auth=False)
            return
        delay = self._backoff.min_delay
        while not self._stop.is_set():
            self._auth_refused = False
            try:
                self._client.connect(
                    self._config.host, self._config.port, keepalive=self._config.keepalive
                )
            except (OSError, ValueError) as exc:
                self._fail(describe_connect_error(exc), auth=False)
            else:
                # loop() (unlike loop_forever) creates paho's wake-up socket pair, so a
                # publish queued by another thread wakes the network loop at once
                self._client.loop(timeout=0.0)
                self._client.loop_forever()
                if self._was_connected_once():
                    delay = self._backoff.min_delay
            if self._stop.is_set():
                break
            pause = self._backoff.auth_delay if self._auth_refused else delay
            self._stop.wait(pause)
            delay = min(self._backoff.max_delay, delay * 2)

    def _was_connected_once(self) -> bool:
        return not self._auth_refused and not self.last_error

    def _fail(self, reason: str, *, auth: bool) -> None:
        self.last_error = reason
        where = (
            self._config.host
            if self._config.transport == "unix"
            else (f"{self._config.host}:{self._config.port}")
        )
        _LOG.error("MQTT connection to %s failed: %s", where, reason)
        self._sink(ConnectFailed(reason, auth))

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            name = reason_code.getName()
            self._auth_refused = name in _AUTH_REFUSED
            hint = " (check mqtt.username and the password in the secrets file)"
            self._fail(
                f"broker refused the connection: {name}" + (hint if self._auth_refused else ""),
                auth=self._auth_refused,
            )
            client.disconnect()
            return
        self.last_error = ""
        pending = set()
        for sub in self._subscriptions:
            retain_handling = (
                SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
                if sub.replay
                else SubscribeOptions.RETAIN_DO_NOT_SEND
            )
            options = SubscribeOptions(qos=1, retainHandling=retain_handling)
            if self._v5 and sub.own_commands:
                options = SubscribeOptions(
                    qos=1, noLocal=True, retainAsPublished=True, retainHandling=retain_handling
                )
            if self._v5:
                _rc, mid = client.subscribe(sub.topic_filter, options=options)
            else:
                _rc, mid = client.subscribe(sub.topic_filter, qos=1)
            if mid is not None:
                pending.add(mid)
        with self._sub_lock:
            self._pending_subacks = pending
        self._connected.set()
        self._sink(Connected(bool(flags.session_present)))
        if not pending:
            self._sink(Subscribed())

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._sub_lock:
            if mid not in self._pending_subacks:
                return
            self._pending_subacks.discard(mid)
            done = not self._pending_subacks
        if done:
            self._sink(Subscribed())

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if not was and not self.last_error and not self._stop.is_set():
            # Closed before any CONNACK: typically plain MQTT sent to a TLS listener.
            # Without a reason here the user saw nothing and the retry never backed off.
            self._fail(
                f"the broker closed the connection before accepting it "
                f"({reason_code.getName()}); check the port and mqtt.tls",
                auth=False,
            )
        if was:
            reason = reason_code.getName()
            if not self._stop.is_set():
                _LOG.warning("MQTT connection lost (%s); reconnecting", reason)
            self._sink(Disconnected(reason))

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", "") if props is not None else ""
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self._sink(
            Inbound(msg.topic, bytes(msg.payload), bool(msg.retain), response_topic, correlation)
        )
