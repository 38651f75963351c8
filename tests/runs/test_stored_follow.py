"""A stream that follows a run from the DB (the run executes in another process) waits for the
run's closing event, which is written just after its status; only a run that ended long ago
without one (its process died between the two writes) gets a `run_failed` error."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from webapp.runs import events as ev


def _finished_run(app, finished_at: str) -> tuple[object, dict]:
    from webapp.runs.manager import runs
    from webapp.stores import chat_db

    store = chat_db()
    user = store.create_user("u", "h" * 64)
    chat = store.create_chat(user["username"], "t", None)
    message = store.add_message(chat["id"], "user", "?")
    run = store.create_run(chat["id"], message["id"], user["username"], "simple")
    store.append_event(run["id"], 1, ev.PROCESSING_STARTED, {"request_id": run["id"]})
    store.update_run(run["id"], status="succeeded", finished_at=finished_at)
    return runs(), run


def test_the_closing_event_written_after_the_status_is_waited_for(app):
    with app.app_context():
        manager, run = _finished_run(app, datetime.now(timezone.utc).isoformat())
        from webapp.stores import chat_db

        store = chat_db()  # the timer's thread has no app context
        closing = threading.Timer(
            1.2,
            lambda: store.append_event(run["id"], 2, ev.COMPLETED, {"message": "done"}),
        )
        closing.start()
        followed = [event for event in manager.follow(run["id"], 0) if event]
        closing.join()
    assert [(event.seq, event.name) for event in followed] == [
        (1, ev.PROCESSING_STARTED),
        (2, ev.COMPLETED),
    ]


def test_a_run_that_ended_long_ago_without_closing_gets_an_error(app):
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    with app.app_context():
        manager, run = _finished_run(app, long_ago)
        followed = [event for event in manager.follow(run["id"], 0) if event]
    assert [event.name for event in followed] == [ev.PROCESSING_STARTED, ev.ERROR]
    assert followed[-1].data["code"] == "run_failed"
