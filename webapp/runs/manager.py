"""Starting, executing and following runs.

A run executes once, in the process that started it, in its own thread (a greenlet under
gevent), whether or not anyone is listening. Streams attach to it: in the same process they
get every event live; in another process they follow the persisted events from the DB.

Under gevent the store's work leaves the hub (`offhub`), a thread hop per unit: what one step
needs from the DB is read in one unit (a run's creation with its stamp, a poll of a run's events
and status), so a thread hop is paid once per step, not once per query.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import Flask, current_app

from webapp.config import signing_secret
from webapp.metrics import registry
from webapp.offhub import run_blocking
from webapp.runs import events as ev
from webapp.runs.channel import ChannelRegistry, Dropped, Empty, RunChannel, Subscriber
from webapp.runs.errors import UserFacingError
from webapp.runs.request import Attachments, Deadline, RunRequest, RunTimeout
from webapp.runs.slots import QueueFull, SlotPool, WaitTimeout, wait_for_slot
from webapp.stores import stores
from webapp.stores.chatdb.base import ChatStore, Conflict, Row, is_stale
from webapp.stores.sqlite import utcnow
from webapp.stores.unavailable import is_unavailable

log = logging.getLogger("webapp.runs")
EXTENSION = "aizoomdoc.runs"
POLL_EVERY = 0.5
# A run's end is two writes: its status (so a client that hears the end and asks again finds the
# chat free), then its closing event. A run ended longer ago without one crashed in between.
CLOSING_GRACE = 10.0
BACKEND_DOWN_MESSAGE = (
    "A backend of the server (database or object storage) is unreachable; your question is "
    "kept: ask again (rerun) in a moment."
)

Answerer = Callable[[RunRequest, ev.Emit], None]


@dataclass
class Attachment:
    """A stream subscribed to a run executing here: its buffer and the tokens sent before."""

    channel: RunChannel
    subscriber: Subscriber
    tokens: list[tuple[int, str, dict]]


class RunManager:
    def __init__(self, app: Flask, store: ChatStore, answerer: Answerer) -> None:
        self.app = app
        self.store = store
        self.answerer = answerer
        config = app.config
        self.pool = SlotPool(config["MAX_CONCURRENT_REQUESTS"], config["MAX_QUEUE_SIZE"])
        self.channels = ChannelRegistry()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.buffer = int(config["SSE_CLIENT_BUFFER_EVENTS"])
        self.stale_after = float(config["RUN_STALE_SECONDS"])
        self.heartbeat_every = max(0.2, min(10.0, self.stale_after / 4))

    # --- starting -----------------------------------------------------------------------------
    def start(
        self,
        user: Row,
        chat: Row,
        message: Row,
        settings: dict,
        attachments: Attachments,
        base_url: str = "",
    ) -> tuple[Row, Attachment | None]:
        """A new run answering `message` (started now), or the chat's active run; returns the
        run and, when it was started here, the caller's subscription to it — made before the
        run can emit anything, so the caller follows it with `follow(run_id, 0, attachment,
        [])` and misses nothing, tokens included, however fast the run is. A run signs its
        images' links and may decrypt the user's key: without a usable secret it does not start
        (ConfigError)."""
        signing_secret(self.app.config)
        mode = "compare" if attachments.compare else settings.get("model_profile")
        run, created = run_blocking(self._create, chat["id"], message["id"], user["username"], mode)
        if not created:
            return run, None
        channel = RunChannel(self.store, run["id"], buffer=self.buffer, chat_id=chat["id"])
        attachment = Attachment(channel, *channel.subscribe())
        self.channels.add(channel)
        request = RunRequest(
            run["id"],
            user,
            chat,
            message,
            settings,
            attachments,
            Deadline(self.app.config["RUN_TIMEOUT"]),
            base_url,
        )
        thread = threading.Thread(
            target=self._execute, args=(channel, request), name=f"run-{run['id'][:8]}", daemon=True
        )
        thread.start()
        return run, attachment

    def _create(
        self, chat_id: str, message_id: str, username: str, mode: str | None
    ) -> tuple[Row, bool]:
        """One unit of DB work: a new queued run stamped with this worker, or the chat's
        active run; returns (run, created)."""
        try:
            run = self.store.create_run(chat_id, message_id, username, mode)
        except Conflict:
            active = self.store.active_run(chat_id)
            if active is not None:
                return active, False
            run = self.store.create_run(chat_id, message_id, username, mode)
        self.store.update_run(run["id"], heartbeat_at=utcnow(), worker=self.worker_id)
        return run, True

    # --- executing ----------------------------------------------------------------------------
    def _execute(self, channel: RunChannel, request: RunRequest) -> None:
        with self.app.app_context():
            beating = threading.Event()
            beat = threading.Thread(
                target=self._heartbeat, args=(request.run_id, beating), daemon=True
            )
            beat.start()
            started = time.monotonic()
            ticket, outcome, closing = None, "failed", None
            try:
                ticket = self._admit(channel, request)
                self.store.update_run(request.run_id, status="running", started_at=utcnow())
                channel.emit(ev.PROCESSING_STARTED, {"request_id": request.run_id})
                request.deadline = Deadline(self.app.config["RUN_TIMEOUT"])
                self.answerer(request, channel.emit)
                self.store.update_run(request.run_id, status="succeeded", finished_at=utcnow())
                outcome, closing = "succeeded", (ev.COMPLETED, {"message": ev.COMPLETED_MESSAGE})
            except Exception as exc:  # every failure ends the run with exactly one error event
                message, code = self._describe(exc, request.run_id)
                closing = (ev.ERROR, {"message": message, "code": code})
                self._record_failure(request.run_id, message)
            finally:
                # the slot and the counters are settled before the client hears the end, so a
                # client that asks again at once finds the slot free
                beating.set()
                elapsed = time.monotonic() - started
                registry().inc("aizoomdoc_runs_total", "Runs by outcome.", outcome=outcome)
                registry().observe(
                    "aizoomdoc_run_seconds", "Run durations.", elapsed, outcome=outcome
                )
                if ticket is not None:
                    if ticket.holding:
                        self.pool.record_duration(elapsed)
                    ticket.release()
                try:
                    if closing is not None:
                        channel.emit(*closing)
                finally:
                    self.channels.remove(request.run_id)

    def _admit(self, channel: RunChannel, request: RunRequest):
        ticket = self.pool.enter()

        def report(position: int) -> None:
            snapshot = self.pool.snapshot()
            channel.emit(
                ev.QUEUE_POSITION,
                {
                    "position": position,
                    "estimated_wait_seconds": self.pool.eta_seconds(position),
                    "active_requests": snapshot["active"],
                    "queue_size": snapshot["waiting"],
                },
            )

        try:
            wait_for_slot(self.pool, ticket, self.app.config["REQUEST_TIMEOUT"], report)
        except BaseException:
            ticket.release()
            raise
        return ticket

    def _record_failure(self, run_id: str, message: str) -> None:
        """Mark the run failed; with the database down it stays `running` until its heartbeat
        goes stale, and whoever follows it then closes it (`fail_if_stale`)."""
        try:
            self.store.update_run(run_id, status="failed", finished_at=utcnow(), error=message)
        except Exception:
            log.warning("run %s: its failure could not be recorded", run_id, exc_info=True)

    @staticmethod
    def _describe(exc: Exception, run_id: str) -> tuple[str, str]:
        if isinstance(exc, UserFacingError):
            return str(exc), exc.code
        if isinstance(exc, QueueFull):
            return str(exc), "queue_full"
        if isinstance(exc, WaitTimeout):
            return str(exc) + " The server is busy; try again later.", "queue_timeout"
        if isinstance(exc, RunTimeout):
            return str(exc), "run_timeout"
        if is_unavailable(exc):
            log.warning("run %s stopped: a backend is unreachable: %s", run_id, exc)
            return BACKEND_DOWN_MESSAGE, "backend_unavailable"
        log.exception("run %s failed", run_id)
        return f"Internal error while answering (run {run_id}); try again.", "internal_error"

    def _heartbeat(self, run_id: str, stop: threading.Event) -> None:
        with self.app.app_context():
            while not stop.wait(self.heartbeat_every):
                try:
                    self.store.update_run(run_id, heartbeat_at=utcnow())
                except Exception:  # a missed beat is not fatal; the next one may pass
                    log.warning("heartbeat of run %s failed", run_id, exc_info=True)

    # --- following ----------------------------------------------------------------------------
    def fail_if_stale(self, run: Row, seen: int = 0) -> Row:
        """Mark a run whose process died as failed, with its closing error event (once).

        `seen` is the last event the client that follows it has: the dead process numbered its
        live-only events (tokens) past the stored ones, so the error comes after both, and a
        client that re-attaches from a token still receives it."""
        if not is_stale(run, self.stale_after) or self.channels.get(run["id"]):
            return run
        events = self.store.list_events(run["id"])
        seq = max(events[-1]["seq"] if events else 0, seen) + 1
        message = "The server restarted while answering; ask again (rerun) to get an answer."
        try:
            self.store.append_event(
                run["id"], seq, ev.ERROR, {"message": message, "code": "run_interrupted"}
            )
        except Conflict:  # another process closed it at the same moment
            log.info("run %s was closed by another process", run["id"])
        self.store.update_run(run["id"], status="failed", finished_at=utcnow(), error=message)
        return self.store.get_run(run["id"]) or run

    def last_seq(self, run: Row) -> int | None:
        """The number of the run's last event so far, or None where this process cannot know it
        (running in another process, whose live-only events are not stored)."""
        channel = self.channels.get(run["id"])
        if channel is not None:
            return channel.last_seq
        if run["status"] in ("queued", "running"):
            return None
        events = self.store.list_events(run["id"])
        return events[-1]["seq"] if events else 0

    def attach(self, chat_id: str) -> Attachment | None:
        """Subscribe to the chat's run if it executes here, before the DB is read, so that no
        event can fall between that read and the subscription."""
        channel = self.channels.for_chat(chat_id)
        if channel is None:
            return None
        subscriber, tokens = channel.subscribe()
        return Attachment(channel, subscriber, tokens)

    @staticmethod
    def detach(attachment: Attachment) -> None:
        attachment.channel.unsubscribe(attachment.subscriber)

    def follow(
        self,
        run_id: str,
        after_seq: int,
        attachment: Attachment | None = None,
        stored: list[Row] | None = None,
    ) -> Iterator[ev.Event | None]:
        """The run's events after `after_seq`, live, to its end; `None` when nothing happened for
        SSE_HEARTBEAT_SECONDS. With `attachment` (from `attach`) and the `stored` events it
        read after attaching, no DB read is needed before the first event."""
        heartbeat = self.app.config["SSE_HEARTBEAT_SECONDS"]
        if attachment is None:
            channel = self.channels.get(run_id)
            if channel is not None:
                attachment = Attachment(channel, *channel.subscribe())
                stored = None
        if attachment is not None:
            yield from self._follow_live(attachment, after_seq, heartbeat, stored)
        else:
            yield from self._follow_stored(run_id, after_seq, heartbeat)

    def _follow_live(
        self,
        attachment: Attachment,
        after_seq: int,
        heartbeat: float,
        stored: list[Row] | None,
    ) -> Iterator[ev.Event | None]:
        """Everything after `after_seq` in order — stored events, the tokens sent before this
        stream attached, what arrived since — then the live events to the run's end. A stream
        that falls a whole buffer behind ends here; its client re-attaches with Last-Event-ID."""
        channel, subscriber = attachment.channel, attachment.subscriber
        last = after_seq
        try:
            history: dict[int, tuple[str, dict]] = {
                seq: (event, data) for seq, event, data in attachment.tokens if seq > after_seq
            }
            if stored is None:
                stored = self.store.list_events(channel.run_id, after_seq)
            for row in stored:
                history[row["seq"]] = (row["event"], row["data"])
            while True:  # what was emitted while we read the stored events
                try:
                    seq, event, data = subscriber.get(0)
                except Empty:
                    break
                if seq > after_seq:
                    history[seq] = (event, data)
            for seq in sorted(history):
                event, data = history[seq]
                last = seq
                yield ev.Event(seq, event, data)
                if event in ev.TERMINAL:
                    return
            while True:
                try:
                    seq, event, data = subscriber.get(timeout=heartbeat)
                except Empty:  # nothing for a while
                    yield None
                    continue
                if seq <= last:
                    continue
                last = seq
                yield ev.Event(seq, event, data)
                if event in ev.TERMINAL:
                    return
        except Dropped:
            log.info(
                "stream of run %s dropped after event %d: its client fell %d events behind",
                channel.run_id,
                last,
                subscriber.limit,
            )
            registry().inc(
                "aizoomdoc_sse_dropped_total",
                "Streams ended because their client stopped reading (it may re-attach).",
            )
        finally:
            channel.unsubscribe(subscriber)

    def _poll(self, run_id: str, last: int) -> tuple[list[Row], Row | None, bool]:
        """One unit of DB work for a stream following from the DB: the events after `last`,
        then the run; once the run has ended, the events that landed meanwhile and whether its
        closing event is missing (a crash between two writes)."""
        events = self.store.list_events(run_id, last)
        run = self.store.get_run(run_id)
        if events or run is None or run["status"] in ("queued", "running"):
            return events, run, False
        late = self.store.list_events(run_id, last)
        if late:
            return late, run, False
        closed = any(e["event"] in ev.TERMINAL for e in self.store.list_events(run_id))
        return [], run, not closed

    def _follow_stored(
        self, run_id: str, after_seq: int, heartbeat: float
    ) -> Iterator[ev.Event | None]:
        last, quiet_since = after_seq, time.monotonic()
        while True:
            try:
                events, run, unclosed = run_blocking(self._poll, run_id, last)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # the run goes on where it executes; follow it again once the DB answers
                log.warning("following run %s: the chat database is unreachable", run_id)
                if time.monotonic() - quiet_since >= heartbeat:
                    quiet_since = time.monotonic()
                    yield None
                time.sleep(POLL_EVERY)
                continue
            for stored in events:
                last = stored["seq"]
                quiet_since = time.monotonic()
                yield ev.Event(stored["seq"], stored["event"], stored["data"])
                if stored["event"] in ev.TERMINAL:
                    return
            if run is None:
                return
            if run["status"] not in ("queued", "running"):
                if events:
                    continue  # more may have landed while we sent these
                if unclosed and _ended_within(run, CLOSING_GRACE):
                    time.sleep(POLL_EVERY)  # its status is written first, its closing event next
                    continue
                if unclosed:
                    yield ev.Event(
                        last + 1,
                        ev.ERROR,
                        {
                            "message": run.get("error") or "The run ended without an answer.",
                            "code": "run_failed",
                        },
                    )
                return
            self.fail_if_stale(run, last)
            if time.monotonic() - quiet_since >= heartbeat:
                quiet_since = time.monotonic()
                yield None
            time.sleep(POLL_EVERY)


def _ended_within(run: Row, seconds: float) -> bool:
    """The run's `finished_at` is less than `seconds` ago."""
    try:
        ended = datetime.fromisoformat(str(run.get("finished_at")).replace("Z", "+00:00"))
    except ValueError:
        return False
    if ended.tzinfo is None:
        ended = ended.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - ended < timedelta(seconds=seconds)


def init_app(app: Flask, answerer: Answerer) -> None:
    """The run manager of this app (after the stores and metrics), and its gauges."""
    manager = app.extensions[EXTENSION] = RunManager(app, stores(app).chat, answerer)
    metrics = registry(app)
    metrics.gauge(
        "aizoomdoc_runs_active",
        "Runs holding a slot in this worker.",
        lambda: manager.pool.snapshot()["active"],
    )
    metrics.gauge(
        "aizoomdoc_queue_waiting",
        "Runs waiting for a slot in this worker.",
        lambda: manager.pool.snapshot()["waiting"],
    )


def runs() -> RunManager:
    return current_app.extensions[EXTENSION]
