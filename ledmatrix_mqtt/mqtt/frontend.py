"""The MQTT front end: command topics in, responses and retained state out.

Threads: paho's network thread enqueues events, except a small ``list``, which
it answers itself from the kept answer (built off the request path, dropped
whenever the plugins change; see ``_receive``). One dispatcher thread
rate-limits, validates and routes every other inbound message; a ``display``
worker runs display commands, a ``list`` with no kept answer and
``enable``/``disable`` (and republishes state), and a ``query`` worker runs
``search``. Store mutations are submitted to the store's one operation queue
without waiting: a duplicate or a full queue is answered ``busy`` at once, and
the response is sent when the operation's future
completes. So a running install never delays ``list``, ``disable`` or ``next``.
Our own retained topics echoed back by the broker go to ``echoes.EchoWatch``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ledmatrix_mqtt.api import DisplayApi, ReconcileReport, StoreApi
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.errors import RateLimited
from ledmatrix_mqtt.lazy import Lazy
from ledmatrix_mqtt.mqtt.broker import EmbeddedBroker
from ledmatrix_mqtt.mqtt.client import (
    BrokerConnection,
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    Inbound,
    Subscription,
)
from ledmatrix_mqtt.mqtt.discovery import DeviceInfo
from ledmatrix_mqtt.mqtt.echoes import EchoWatch
from ledmatrix_mqtt.mqtt.frames import FramePublisher
from ledmatrix_mqtt.mqtt.inbound import EventQueue
from ledmatrix_mqtt.mqtt.limits import MAX_HINT_BYTES
from ledmatrix_mqtt.mqtt.messages import Message, clear
from ledmatrix_mqtt.mqtt.progress import OperationFeed
from ledmatrix_mqtt.mqtt.publisher import StatePublisher
from ledmatrix_mqtt.mqtt.ratelimit import TokenBucket
from ledmatrix_mqtt.mqtt.state import ONLINE, OperationState
from ledmatrix_mqtt.mqtt.topics import Topics
from ledmatrix_mqtt.mqtt.tuning import FrontendStats, FrontendTuning, ReplyRoute
from ledmatrix_mqtt.mqtt.workers import OneShot, Worker

if TYPE_CHECKING:  # the command path loads with the first command (see _command_runner)
    from ledmatrix_mqtt.mqtt.commanding import CommandRunner

_LOG = logging.getLogger(__name__)


class MqttFrontend:
    """Public entry point; see the module docstring and the README topic table."""

    def __init__(
        self,
        config: AppConfig,
        store: StoreApi,
        display: DisplayApi,
        *,
        state_dir: Path,
        version: str,
        tuning: FrontendTuning | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._display = display
        self._tuning = tuning or FrontendTuning(
            rate=config.mqtt.rate_limit, burst=float(config.mqtt.rate_burst)
        )
        self._state_dir = Path(state_dir)
        self.topics = Topics.from_config(config)
        info = DeviceInfo(config.device.id, config.device.name, version)
        self._events = EventQueue()
        self._connection = BrokerConnection(
            config.mqtt,
            config.mqtt.client_id or f"ledmatrix-{config.device.id}",
            self._receive,
            subscriptions=self._subscriptions(),
            will=Message(self.topics.availability, b"offline", 1, True),
            backoff=self._tuning.backoff,
        )
        # Ends the publisher's hold on discovery while loads are in flight (one per connect).
        self._hold_over = OneShot(
            (0.0, 0.0), lambda: self._coalesced("hold", self._publisher.end_hold)
        )
        self._publisher = StatePublisher(
            self.topics,
            info,
            store,
            display,
            self._connection.publish,
            discovery_enabled=config.mqtt.discovery_enabled,
            discovery_mode=config.mqtt.discovery_mode,
            ledger_path=self._state_dir / "mqtt" / "discovery.json",
            wake=self._hold_over.schedule,
        )
        self._frames = FramePublisher(
            self.topics, display, self._connection.publish, interval=self._tuning.frame_interval
        )
        self._bucket = TokenBucket(self._tuning.rate, self._tuning.burst)
        self._display_worker = Worker("display", self._tuning.display_queue)
        self._query_worker = Worker("query", self._tuning.display_queue)
        self._runner = Lazy(lambda: self._command_runner(store, display))
        # One pending republish for any number of HA births (no thread per message).
        self._birth = OneShot(
            self._tuning.birth_delay,
            lambda: self._coalesced("all", self._republish_all),
            min_interval=self._tuning.birth_interval,
        )
        self._dispatcher = threading.Thread(target=self._dispatch, name="mqtt-dispatch")
        self._online = threading.Event()
        self._attempted = threading.Event()  # the first connect attempt is over
        self._stopping = threading.Event()
        self._coalesce_lock = threading.Lock()
        self._pending: set[str] = set()
        self._echoes = EchoWatch(
            self.topics,
            self._publisher,
            self._connection,
            coalesced=self._coalesced,
            take_token=self._take_token,
            republish_all=self._republish_all,
        )
        self._cleared_topics: set[str] = set()
        self._broker: EmbeddedBroker | None = None
        self._starter = threading.Thread(target=self._connect, name="mqtt-start", daemon=True)
        self._rate_limited = 0
        self._retained_cleared = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Start the threads and connect in the background; never waits for the broker."""
        for worker in (self._display_worker, self._query_worker):
            worker.start()
        self._store.add_operation_listener(
            OperationFeed(self._set_operation, self._tuning.progress_interval)
        )
        self._dispatcher.start()
        self._frames.start()
        self._display.add_listener(self._on_display_event)
        self._starter.start()

    def _connect(self) -> None:
        try:
            self._broker = EmbeddedBroker.maybe_start(self._config.mqtt, self._state_dir)
        except OSError as exc:
            _LOG.error("could not start a private mosquitto: %s", exc)
        if not self._stopping.is_set():
            self._connection.start()

    def stop(self) -> None:
        """Publish availability ``offline``, disconnect cleanly, stop every thread."""
        self._stopping.set()
        if self._starter.is_alive():  # a private mosquitto may be starting: stop it too
            self._starter.join(10.0)
        self._birth.cancel()
        self._hold_over.cancel()
        self._echoes.cancel()
        self._frames.stop()
        for worker in (self._display_worker, self._query_worker):
            worker.stop()
        self._connection.stop(final=self._publisher.offline())
        self._online.clear()
        self._events.close()
        if self._dispatcher.is_alive():
            self._dispatcher.join(5.0)
        if self._broker is not None:
            self._broker.stop()

    def wait_online(self, timeout: float) -> bool:
        """True once connected and every retained topic has been (re)published."""
        return self._online.wait(timeout)

    def wait_attempted(self, timeout: float) -> bool:
        """True once the first connect attempt is over, connected or failed (once
        connected, ``online`` is on its way to the broker)."""
        return self._attempted.wait(timeout)

    @property
    def connection_error(self) -> str:
        """The last connect failure in words ("" while healthy); never holds secrets."""
        return self._connection.last_error

    def stats(self) -> FrontendStats:
        return FrontendStats(
            self._events.dropped, self._rate_limited, self._retained_cleared, self._birth.scheduled
        )

    def plugins_changed(self) -> None:
        """Republish plugin state, store summary and discovery (call after any store change).

        The kept ``list`` answer is dropped at once, so no ``list`` after this call
        shows the plugins as they were before it."""
        self._publisher.list_answer.invalidate()  # the one the handlers answer from
        self._coalesced("plugins", lambda: self._publisher.publish_plugins())

    def reconcile_finished(self, report: ReconcileReport) -> None:
        """Publish a reconcile result that did not come through MQTT (the start-up pass)."""
        self._publisher.set_reconcile(report)

    # -- routing --------------------------------------------------------------

    def _subscriptions(self) -> list[Subscription]:
        subs = [
            # our previous run's retained "offline" is not replayed (MQTT 5; on 3.1.1 a
            # replay is the only availability message that arrives flagged retained)
            Subscription(self.topics.availability, own_commands=True, replay=False),
            Subscription(self.topics.command_filter, own_commands=True),
            Subscription(self.topics.state_filter, own_commands=True),
        ]
        if self._config.mqtt.discovery_enabled:
            subs.append(Subscription(self.topics.ha_status))
        return subs

    def _receive(self, event: Event) -> None:
        """On paho's network thread: queue the event for the dispatcher, except a small
        ``list``, whose handling is bounded and never blocks (a token, a parse of at most
        ``MAX_HINT_BYTES``, the kept answer or a worker hand-off), so it is answered here
        without the hop to another thread."""
        if isinstance(event, Inbound) and self._is_quick_list(event):
            try:
                self._on_command("list", event)
            except Exception:  # never on paho's thread: log it, keep the connection
                _LOG.exception("answering list failed")
            return
        self._events.put(event)

    def _is_quick_list(self, msg: Inbound) -> bool:
        small = 0 < len(msg.payload) <= MAX_HINT_BYTES
        return small and not msg.retain and self.topics.command_of(msg.topic) == "list"

    def _dispatch(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            try:
                self._handle_event(event)
            except Exception:  # one bad message must never stop the dispatcher
                _LOG.exception("handling an MQTT event failed")

    def _handle_event(self, event: Event) -> None:
        if isinstance(event, Inbound):
            self._on_inbound(event)
        elif isinstance(event, Connected):
            _LOG.info("connected to the MQTT broker; publishing state")
            self._connection.publish(Message(self.topics.availability, ONLINE, 1, True))
            self._display_worker.submit(lambda: self._republish_all(availability=False))
            self._attempted.set()
        elif isinstance(event, Disconnected | ConnectFailed):
            self._online.clear()
            self._attempted.set()

    def _republish_all(self, *, availability: bool = True) -> None:
        self._publisher.forget()
        self._publisher.publish_all(availability=availability)
        self._frames.republish()
        # "online" means the retained state is on the broker, not just queued
        if self._connection.flush(5.0) and self._connection.connected:
            self._online.set()

    def _on_inbound(self, msg: Inbound) -> None:
        """Bounded work per message: what is not O(1) pays a token of the shared budget."""
        topic = msg.topic
        command = self.topics.command_of(topic)
        if command is not None:
            self._on_command(command, msg)
        elif topic == self.topics.availability:
            if not self._stopping.is_set():
                self._echoes.on_availability(msg)
        elif topic == self.topics.ha_status:
            if msg.payload.strip().lower() == ONLINE and self._birth.schedule():
                _LOG.info("Home Assistant came online; republishing discovery shortly")
        elif topic.startswith(self.topics.state_prefix):
            self._echoes.on_state(topic, msg)

    def _take_token(self) -> bool:
        if self._bucket.take():
            return True
        self._rate_limited += 1
        return False

    def _command_runner(self, store: StoreApi, display: DisplayApi) -> CommandRunner:
        """The command path (table, argument parsing, handlers, transaction journal),
        built on the first command: reaching ``online`` needs none of it."""
        from ledmatrix_mqtt.mqtt.commanding import CommandRunner
        from ledmatrix_mqtt.mqtt.dedup import TransactionJournal
        from ledmatrix_mqtt.mqtt.handlers import CommandHandlers

        return CommandRunner(
            self.topics,
            store,
            CommandHandlers(store, display, self._publisher.selection, self._publisher.list_answer),
            self._publisher,
            self._connection,
            TransactionJournal(self._state_dir / "mqtt"),
            display_worker=self._display_worker,
            query_worker=self._query_worker,
        )

    def _on_command(self, command: str, msg: Inbound) -> None:
        if msg.retain:
            if msg.payload:  # a broker replay would re-run it on every restart
                _LOG.warning("ignoring and clearing a retained command on %s", msg.topic[:200])
                self._retained_cleared += 1
                if not self._connection.is_v5:  # MQTT 5 subscribes noLocal: no echo
                    self._cleared_topics.add(msg.topic)
                self._connection.publish(clear(msg.topic))
            return
        if not msg.payload and msg.topic in self._cleared_topics:
            self._cleared_topics.discard(msg.topic)  # our own clear, echoed on MQTT 3.1.1
            return
        # the codec and the command table load with the first command (not at start-up)
        from ledmatrix_mqtt.mqtt.codec import (
            Rejected,
            decode_request,
            encode_response,
            transaction_of,
        )

        route = ReplyRoute(command, self._reply_topic(msg), msg.correlation)
        if not self._take_token():  # before any parsing: bad payloads pay too
            error = RateLimited("too many commands; slow down and retry")
            tx = transaction_of(msg.payload)
            self._runner.get().reply(route, encode_response(command, error=error, transaction=tx))
            return
        try:
            request = decode_request(command, msg.payload)
        except Rejected as rejected:
            envelope = encode_response(
                command, error=rejected.error, transaction=rejected.transaction
            )
            self._runner.get().reply(route, envelope)
            return
        self._runner.get().submit(request, route)

    def _reply_topic(self, msg: Inbound) -> str:
        topic = msg.response_topic
        if topic and not self.topics.reply_allowed(topic):
            _LOG.warning("refusing response topic %s: outside ROOT/response/", ascii(topic[:80]))
            return ""
        return topic

    def _on_display_event(self, kind: str) -> None:
        if kind == "frame":
            self._frames.frame_changed()
        elif kind == "state":
            self._coalesced("display", lambda: self._publisher.publish_display())
        elif kind == "plugins":  # a plugin's health changed: healthy/error in its state
            self.plugins_changed()

    def _coalesced(self, key: str, job: Callable[[], None]) -> None:
        """Queue ``job`` unless the same kind is already waiting to run."""
        with self._coalesce_lock:
            if key in self._pending:
                return
            self._pending.add(key)

        def run() -> None:
            with self._coalesce_lock:
                self._pending.discard(key)
            job()

        if not self._display_worker.submit(run):
            with self._coalesce_lock:
                self._pending.discard(key)

    def _set_operation(self, op: OperationState) -> None:
        try:
            self._publisher.set_operation(op, plugin_too=True)
        except Exception:  # progress is advisory: never fail the operation over it
            _LOG.exception("publishing operation state failed")
