"""The MQTT front end: command topics in, responses and retained state out.

Threads: paho's network thread only enqueues events; one dispatcher thread
validates, rate-limits and routes commands; a ``display`` worker runs display
commands and ``list`` (and republishes state), a ``query`` worker runs
``search``, and a single ``store`` worker runs store mutations in order, so a
running install never delays ``list`` or ``next``.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Callable
from pathlib import Path

from ledmatrix_mqtt.api import DisplayApi, ReconcileReport, StoreApi
from ledmatrix_mqtt.core.config_model import AppConfig
from ledmatrix_mqtt.core.models import Progress
from ledmatrix_mqtt.errors import Busy, InternalError, LedMatrixError, RateLimited
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
from ledmatrix_mqtt.mqtt.codec import Body, Request, decode_body, encode_response, parse_request
from ledmatrix_mqtt.mqtt.dedup import TransactionJournal
from ledmatrix_mqtt.mqtt.discovery import DeviceInfo
from ledmatrix_mqtt.mqtt.frames import FramePublisher
from ledmatrix_mqtt.mqtt.handlers import (
    LONG_COMMANDS,
    QUERY_COMMANDS,
    STORE_COMMANDS,
    CommandHandlers,
    Outcome,
)
from ledmatrix_mqtt.mqtt.inbound import EventQueue
from ledmatrix_mqtt.mqtt.messages import Message, clear
from ledmatrix_mqtt.mqtt.progress import OperationTracker
from ledmatrix_mqtt.mqtt.publisher import StatePublisher
from ledmatrix_mqtt.mqtt.ratelimit import TokenBucket
from ledmatrix_mqtt.mqtt.state import ONLINE, OperationState
from ledmatrix_mqtt.mqtt.topics import Topics
from ledmatrix_mqtt.mqtt.tuning import FrontendStats, FrontendTuning, ReplyRoute
from ledmatrix_mqtt.mqtt.workers import Worker

_LOG = logging.getLogger(__name__)
_COMMAND_NAME = re.compile(r"[a-z0-9_-]{1,32}")


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
            self._events.put,
            subscriptions=self._subscriptions(),
            will=Message(self.topics.availability, b"offline", 1, True),
            backoff=self._tuning.backoff,
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
        )
        self._frames = FramePublisher(
            self.topics, display, self._connection.publish, interval=self._tuning.frame_interval
        )
        self._handlers = CommandHandlers(config, store, display, self._publisher.selection)
        self._journal = TransactionJournal(self._state_dir / "mqtt" / "transactions.json")
        self._bucket = TokenBucket(self._tuning.rate, self._tuning.burst)
        self._display_worker = Worker("display", self._tuning.display_queue)
        self._query_worker = Worker("query", self._tuning.display_queue)
        self._store_worker = Worker("store", self._tuning.store_queue)
        self._dispatcher = threading.Thread(target=self._dispatch, name="mqtt-dispatch")
        self._online = threading.Event()
        self._stopping = threading.Event()
        self._coalesce_lock = threading.Lock()
        self._pending: set[str] = set()
        self._cleared_topics: set[str] = set()
        self._timers: list[threading.Timer] = []
        self._broker: EmbeddedBroker | None = None
        self._starter = threading.Thread(target=self._connect, name="mqtt-start", daemon=True)
        self._rate_limited = 0
        self._retained_cleared = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Start the threads and connect in the background; never waits for the broker."""
        for worker in (self._display_worker, self._query_worker, self._store_worker):
            worker.start()
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
        for timer in self._timers:
            timer.cancel()
        self._frames.stop()
        for worker in (self._display_worker, self._query_worker, self._store_worker):
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

    @property
    def connection_error(self) -> str:
        """The last connect failure in words ("" while healthy); never holds secrets."""
        return self._connection.last_error

    def stats(self) -> FrontendStats:
        return FrontendStats(self._events.dropped, self._rate_limited, self._retained_cleared)

    def plugins_changed(self) -> None:
        """Republish plugin state, store summary and discovery (call after any store change)."""
        self._coalesced("plugins", lambda: self._publisher.publish_plugins())

    def reconcile_finished(self, report: ReconcileReport) -> None:
        """Publish a reconcile result that did not come through MQTT (the start-up pass)."""
        self._publisher.set_reconcile(report)

    # -- routing --------------------------------------------------------------

    def _subscriptions(self) -> list[Subscription]:
        subs = [
            Subscription(self.topics.command_filter, own_commands=True),
            Subscription(self.topics.availability, own_commands=True),
            Subscription(self.topics.state_plugin_filter, own_commands=True),
        ]
        if self._config.mqtt.discovery_enabled:
            subs.append(Subscription(self.topics.ha_status))
        return subs

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
            self._display_worker.submit(self._republish_all)
        elif isinstance(event, Disconnected | ConnectFailed):
            self._online.clear()

    def _republish_all(self) -> None:
        self._publisher.forget()
        self._publisher.publish_all()
        self._frames.republish()
        # "online" means the retained state is on the broker, not just queued
        if self._connection.flush(5.0) and self._connection.connected:
            self._online.set()

    def _on_inbound(self, msg: Inbound) -> None:
        topic = msg.topic
        command = self.topics.command_of(topic)
        if command is not None:
            self._on_command(command, msg)
        elif topic == self.topics.availability:
            if msg.payload != ONLINE and not self._stopping.is_set():
                _LOG.warning("our availability was overwritten or lost; republishing everything")
                self._coalesced("all", self._republish_all)
        elif topic == self.topics.ha_status and msg.payload.strip().lower() == b"online":
            self._schedule_birth_republish()
        elif msg.payload and (plugin_id := self.topics.plugin_of_state(topic)):
            self._display_worker.submit(lambda: self._clear_stale(plugin_id))

    def _clear_stale(self, plugin_id: str) -> None:
        self._publisher.clear_stale_plugin(plugin_id)

    def _schedule_birth_republish(self) -> None:
        low, high = self._tuning.birth_delay
        delay = random.uniform(low, high)
        _LOG.info("Home Assistant came online; republishing discovery in %.1f s", delay)
        timer = threading.Timer(delay, lambda: self._coalesced("all", self._republish_all))
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _on_command(self, command: str, msg: Inbound) -> None:
        if msg.retain:
            if msg.payload:  # a broker replay would re-run it on every restart
                _LOG.warning("ignoring and clearing a retained command on %s", msg.topic)
                self._retained_cleared += 1
                if not self._connection.is_v5:  # MQTT 5 subscribes noLocal: no echo
                    self._cleared_topics.add(msg.topic)
                self._connection.publish(clear(msg.topic))
            return
        if not msg.payload and msg.topic in self._cleared_topics:
            self._cleared_topics.discard(msg.topic)  # our own clear, echoed on MQTT 3.1.1
            return
        route = ReplyRoute(command, self._valid_response_topic(msg), msg.correlation)
        body: Body | None = None
        try:
            body = decode_body(command, msg.payload)
            if not self._bucket.take():
                self._rate_limited += 1
                raise RateLimited("too many commands; slow down and retry")
            request = parse_request(body)
        except LedMatrixError as exc:
            self._reply(route, encode_response(command, error=exc, transaction=_tx(body)))
            return
        self._submit(request, route)

    def _valid_response_topic(self, msg: Inbound) -> str:
        topic = msg.response_topic
        if topic and self.topics.is_reserved(topic):
            _LOG.warning("refusing response topic %r: it names a protected topic", topic[:80])
            return ""
        return topic

    def _submit(self, request: Request, route: ReplyRoute) -> None:
        tx = request.transaction
        if tx:
            claim = self._journal.claim(request.command, tx, lambda r: self._reply(route, r))
            if not claim.fresh:
                if claim.response is not None:
                    self._reply(route, claim.response)
                return
        if request.command in STORE_COMMANDS:
            worker = self._store_worker
        elif request.command in QUERY_COMMANDS:
            worker = self._query_worker
        else:
            worker = self._display_worker
        if not worker.submit(lambda: self._execute(request, route)):
            if tx:
                self._journal.release(request.command, tx)
            busy = Busy(f"the {worker.name} queue is full; retry later")
            self._reply(route, encode_response(request.command, error=busy, transaction=tx))

    # -- execution (on the workers) -------------------------------------------

    def _execute(self, request: Request, route: ReplyRoute) -> None:
        long = request.command in LONG_COMMANDS
        tracker = (
            OperationTracker(request, self._set_operation, self._tuning.progress_interval)
            if long
            else None
        )
        outcome: Outcome | None = None
        error: LedMatrixError | None = None
        try:
            outcome = self._handlers.run(request, tracker.report if tracker else _ignore)
        except LedMatrixError as exc:
            error = exc
        except Exception:  # a bug in the store or display: answer, log, keep serving
            _LOG.exception("command %s failed unexpectedly", request.command)
            error = InternalError("internal error; see the service log")
        if tracker is not None:
            tracker.finish(error)
        self._publish_effects(request, outcome, long)
        envelope = encode_response(
            request.command,
            data=outcome.data if outcome else None,
            error=error,
            transaction=request.transaction,
        )
        self._reply(route, envelope)
        if request.transaction:
            for waiter in self._journal.finish(request.command, request.transaction, envelope):
                waiter(envelope)

    def _publish_effects(self, request: Request, outcome: Outcome | None, long: bool) -> None:
        try:
            if outcome is not None and outcome.reconcile is not None:
                self._publisher.set_reconcile(outcome.reconcile)
            if long or (outcome is not None and outcome.plugins_changed):
                self._publisher.publish_plugins()
            if outcome is not None and outcome.display_changed:
                self._publisher.publish_display()
        except LedMatrixError as exc:
            _LOG.warning("republishing state after %s failed: %s", request.command, exc.message)

    def _reply(self, route: ReplyRoute, envelope: bytes) -> None:
        name = route.command if _COMMAND_NAME.fullmatch(route.command) else "unknown"
        self._connection.publish(Message(self.topics.response(name), envelope, 1, False))
        if route.response_topic:
            self._connection.publish(
                Message(route.response_topic, envelope, 1, False), correlation=route.correlation
            )

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

    def _set_operation(self, op: OperationState, plugin_too: bool) -> None:
        try:
            self._publisher.set_operation(op, plugin_too=plugin_too)
        except LedMatrixError as exc:
            _LOG.warning("publishing operation state failed: %s", exc.message)


def _tx(body: Body | None) -> str:
    return body.transaction if body is not None else ""


def _ignore(progress: Progress) -> None:
    return None
