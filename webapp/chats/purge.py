"""Durable chat deletion: a persisted job per deleted chat, worked off in steps.

Each step is idempotent and recorded when done, so a purge killed half-way resumes where it
stopped. Order: the chat's rendered objects (and anything else under its `chat_images/` folder,
and its dialog log), then image rows, runs and their events, messages, render file rows, and
last the chat row itself. Nothing under `tree_docs/` is ever touched.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app

from webapp.llm.dialog_log import delete_chat_logs
from webapp.stores import chat_db, objects
from webapp.stores.chatdb.base import DELETION_STEPS, Row, is_stale

log = logging.getLogger("webapp.chats.purge")
StepHook = Callable[[str, str], None]


def _delete_objects(chat_id: str) -> None:
    prefix = f"chat_images/{chat_id}/"
    keys = {
        row["storage_path"]
        for row in chat_db().chat_render_files(chat_id)
        if (row.get("storage_path") or "").startswith(prefix)
    }
    keys.update(info.key for info in objects().list(prefix))
    for key in sorted(keys):
        objects().delete(key)
    delete_chat_logs(current_app.config["LLM_LOG_DIR"], chat_id)


def purge_chat(job: Row, after_step: StepHook | None = None) -> None:
    """Run the job's remaining steps; each completed step is recorded before the next."""
    chat_id = job["chat_id"]
    done = job.get("step")
    remaining = DELETION_STEPS[DELETION_STEPS.index(done) + 1 :] if done else DELETION_STEPS
    for step in remaining:
        if step == "objects":
            _delete_objects(chat_id)
        else:
            chat_db().delete_chat_part(chat_id, step)
        chat_db().update_deletion(job["id"], step=step)
        if after_step:
            after_step(chat_id, step)
    chat_db().update_deletion(job["id"], status="done")


def _answer_in_progress(chat_id: str) -> bool:

    run = chat_db().active_run(chat_id)
    return run is not None and not is_stale(run, current_app.config["RUN_STALE_SECONDS"])


def purge_pending(limit: int = 100, after_step: StepHook | None = None) -> tuple[int, int]:
    """Work off pending jobs: (done, failed). A failed job stays pending for the next pass."""
    done = failed = 0
    for job in chat_db().pending_deletions(limit):
        if _answer_in_progress(job["chat_id"]):
            continue  # purge after the run has ended: it still writes to the chat
        try:
            purge_chat(job, after_step)
            done += 1
        except Exception as exc:  # keep going with the other chats; this one is retried later
            failed += 1
            log.warning("purging chat %s failed: %s", job["chat_id"], exc)
            chat_db().update_deletion(
                job["id"], attempts=(job.get("attempts") or 0) + 1, error=str(exc)[:500]
            )
    return done, failed


class PurgeWorker:
    """One background purger per host: gunicorn workers race for a file lock, the holder works.

    Every `interval` seconds each worker tries the lock (`DATA_DIR/purge.lock`); the one holding
    it runs a purge pass. The lock goes with its process, so when the holder dies another
    worker takes over at its next try.
    """

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        self.rounds = 0  # times it woke up and tried the lock
        self.passes = 0  # purge passes it ran (only while holding the lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file = None

    @property
    def is_leader(self) -> bool:
        """Whether this worker holds the host's purge lock."""
        return self._lock_file is not None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="purge", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """End the loop (after the pass under way) and hand the lock to another worker."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the flock
            self._lock_file = None

    def _holds_lock(self) -> bool:
        if self._lock_file is not None:
            return True
        path = Path(self.app.config["DATA_DIR"]) / "purge.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.rounds += 1
            try:
                if self._holds_lock():
                    with self.app.app_context():
                        purge_pending()
                    self.passes += 1
            except Exception:  # the worker must outlive a bad pass
                log.exception("purge pass failed")


def init_app(app: Flask) -> None:
    """Start the purger with the first request of a serving process (not for CLI commands)."""
    if app.config.get("TESTING") or app.config["PURGE_INTERVAL_SECONDS"] <= 0:
        return
    worker = PurgeWorker(app, app.config["PURGE_INTERVAL_SECONDS"])
    app.extensions["aizoomdoc.purge"] = worker
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: worker.start())
