"""Running a decoded command and sending its one response.

Quick commands run on the front end's ``display``/``query`` workers; ``list``
is answered on the calling (dispatcher) thread from the kept answer when there
is one (``listcache``), which costs no store or display read. Store
mutations are submitted to the store's one operation queue without waiting: a
duplicate or a full queue is answered ``busy`` at once, and the response is sent
from the operation future's done callback. Whatever happens (a typed error, a
bug, an unencodable result, a refused publish), the command gets exactly one
response, and duplicates of its ``transaction`` get the same one.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future

from ledmatrix_mqtt.api import OpResult, StoreApi
from ledmatrix_mqtt.errors import Busy, InternalError, LedMatrixError
from ledmatrix_mqtt.mqtt.client import BrokerConnection
from ledmatrix_mqtt.mqtt.codec import Request, encode_ok_raw, encode_response
from ledmatrix_mqtt.mqtt.commands import COMMANDS, Lane
from ledmatrix_mqtt.mqtt.dedup import TransactionJournal
from ledmatrix_mqtt.mqtt.handlers import CommandHandlers, Outcome
from ledmatrix_mqtt.mqtt.messages import Message
from ledmatrix_mqtt.mqtt.publisher import StatePublisher
from ledmatrix_mqtt.mqtt.state import OperationState
from ledmatrix_mqtt.mqtt.topics import Topics
from ledmatrix_mqtt.mqtt.tuning import ReplyRoute
from ledmatrix_mqtt.mqtt.workers import Worker

_LOG = logging.getLogger(__name__)


class CommandRunner:
    def __init__(
        self,
        topics: Topics,
        store: StoreApi,
        handlers: CommandHandlers,
        publisher: StatePublisher,
        connection: BrokerConnection,
        journal: TransactionJournal,
        *,
        display_worker: Worker,
        query_worker: Worker,
    ) -> None:
        self.topics = topics
        self._store = store
        self._handlers = handlers
        self._publisher = publisher
        self._connection = connection
        self._journal = journal
        self._display_worker = display_worker
        self._query_worker = query_worker

    def submit(self, request: Request, route: ReplyRoute) -> None:
        """Run ``request`` on its lane; exactly one response goes to ``route``."""
        tx = request.transaction
        if tx:
            claim = self._journal.claim(request.command, tx, lambda r: self.reply(route, r))
            if not claim.fresh:
                if claim.response is not None:
                    self.reply(route, claim.response)
                return
        if request.command == "list" and self._answer_kept_list(request, route):
            return
        lane = COMMANDS[request.command].lane
        if lane is Lane.STORE:
            self._submit_store(request, route)
            return
        worker = self._query_worker if lane is Lane.QUERY else self._display_worker
        if not worker.submit(lambda: self._run_quick(request, route)):
            self._refuse(request, route, Busy(f"the {worker.name} queue is full; retry later"))

    def _answer_kept_list(self, request: Request, route: ReplyRoute) -> bool:
        """Answer ``list`` at once from the kept answer (no worker hop); False if none."""
        answer = self._handlers.list_answer
        data, due = answer.cached()
        if data is None:
            return False
        if due and not self._display_worker.submit(answer.rebuild):
            answer.refresh_not_started()
        self._answer(request, route, Outcome({}, encoded=data), None)
        return True

    def invalidate_list(self) -> None:
        """The plugins may have changed: the next ``list`` is built afresh."""
        self._handlers.list_answer.invalidate()

    def _submit_store(self, request: Request, route: ReplyRoute) -> None:
        """Hands the operation to the store's queue; the answer comes from its future."""
        try:
            future = self._store.submit(self._handlers.store_op(request))
        except Busy as exc:
            self._note_refused(request, exc)
            self._refuse(request, route, exc)
            return
        except LedMatrixError as exc:
            self._note_refused(request, exc)
            self._answer(request, route, None, exc)
            return
        except Exception:  # a bug: still exactly one answer
            _LOG.exception("submitting %s failed unexpectedly", request.command)
            self._answer(request, route, None, InternalError("internal error; see the log"))
            return
        future.add_done_callback(lambda done: self._store_done(request, route, done))

    def _note_refused(self, request: Request, error: LedMatrixError) -> None:
        """Home Assistant users see a refused store command as the last error."""
        plugin_id = str(getattr(request.args, "plugin_id", ""))
        self._publisher.record_refused(
            OperationState(
                operation=request.command, plugin_id=plugin_id, status="failed",
                stage="failed", message=error.message[:200], error_code=error.code,
                finished_at=time.time(), transaction=request.transaction,
            )
        )  # fmt: skip

    def _refuse(self, request: Request, route: ReplyRoute, error: LedMatrixError) -> None:
        """Not run (busy): answer, and forget the claim so a retry may run."""
        if request.transaction:
            self._journal.release(request.command, request.transaction)
        self.reply(
            route, encode_response(request.command, error=error, transaction=request.transaction)
        )

    def _run_quick(self, request: Request, route: ReplyRoute) -> None:
        outcome: Outcome | None = None
        error: LedMatrixError | None = None
        try:
            outcome = self._handlers.run(request)
        except LedMatrixError as exc:
            error = exc
        except Exception:  # a bug in the store or display: answer, log, keep serving
            _LOG.exception("command %s failed unexpectedly", request.command)
            error = InternalError("internal error; see the service log")
        self._answer(request, route, outcome, error)

    def _store_done(self, request: Request, route: ReplyRoute, future: Future[OpResult]) -> None:
        """On the store queue's thread, when the operation finished."""
        outcome: Outcome | None = None
        error: LedMatrixError | None = None
        try:
            outcome = self._handlers.store_outcome(future.result())
        except LedMatrixError as exc:
            error = exc
        except Exception:
            _LOG.exception("store operation %s failed unexpectedly", request.command)
            error = InternalError("internal error; see the service log")
        self._answer(request, route, outcome, error)

    def _answer(
        self,
        request: Request,
        route: ReplyRoute,
        outcome: Outcome | None,
        error: LedMatrixError | None,
    ) -> None:
        """Republish what changed, record the response, send it (also to duplicates that
        arrived while it ran), then run the outcome's ``after`` work."""
        try:
            self._publish_effects(request, outcome)
        except Exception:  # state publishing must never cost the response
            _LOG.exception("republishing state after %s failed", request.command)
        if outcome is not None and error is None and outcome.encoded is not None:
            envelope = encode_ok_raw(request.command, outcome.encoded, request.transaction)
        else:
            envelope = encode_response(
                request.command,
                data=outcome.data if outcome else None,
                error=error,
                transaction=request.transaction,
            )
        waiters = []
        if request.transaction:  # recorded before the answer: a retry never re-runs it
            durable = COMMANDS[request.command].durable
            finish = self._journal.finish
            waiters = finish(request.command, request.transaction, envelope, durable=durable)
        self.reply(route, envelope)
        for waiter in waiters:
            waiter(envelope)
        if outcome is not None and outcome.after is not None:
            try:
                outcome.after()
            except Exception:  # follow-up work must never break the worker
                _LOG.exception("work after answering %s failed", request.command)

    def _publish_effects(self, request: Request, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.reconcile is not None:
            self._publisher.set_reconcile(outcome.reconcile)
        if COMMANDS[request.command].long or (outcome is not None and outcome.plugins_changed):
            self.invalidate_list()  # before the response: a ``list`` after it sees the change
            self._publisher.publish_plugins()
        if outcome is not None and outcome.display_changed:
            self._publisher.publish_display()

    def reply(self, route: ReplyRoute, envelope: bytes) -> None:
        """Publish ``envelope`` on the command's response topic (and the MQTT 5 one)."""
        targets: list[tuple[str, bytes | None]] = [(self.topics.response(route.command), None)]
        if route.response_topic:
            targets.append((route.response_topic, route.correlation))
        for topic, correlation in targets:
            try:
                self._connection.publish(
                    Message(topic, envelope, 1, False), correlation=correlation
                )
            except Exception:  # e.g. a topic the client library refuses: the other still goes
                _LOG.exception("publishing a response on %s failed", ascii(topic[:80]))
