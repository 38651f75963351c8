"""`GET /chats/{id}/stream`: start, re-attach to or replay the answer to the latest question."""

from __future__ import annotations

from collections.abc import Iterator

from webapp.accounts import settings as user_settings
from webapp.chats.attachments import AttachmentError
from webapp.chats.service import NOT_OWNER, NOT_OWNER_MESSAGE, is_chat_owner
from webapp.errors import APIError
from webapp.offhub import run_blocking
from webapp.runs import events as ev
from webapp.runs.manager import BACKEND_DOWN_MESSAGE, runs
from webapp.runs.request import parse_attachments
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row
from webapp.stores.unavailable import is_unavailable


def latest_question(chat_id: str) -> Row | None:
    for message in reversed(chat_db().list_messages(chat_id, 10)):
        if message["role"] == "user":
            return message
    return None


def wants_rerun(args) -> bool:
    return args.get("rerun") in ("1", "true", "yes")


def _look_up(
    chat_id: str, attached_run: str | None, after: int
) -> tuple[Row | None, Row | None, list[Row] | None]:
    """What a stream needs from the DB before its first event, in one unit (one thread hop
    under gevent): the latest question, its newest run, and — when the stream is already
    attached to that run — the run's stored events after `after`."""
    message = latest_question(chat_id)
    if message is None:
        return None, None, None
    run = chat_db().latest_run(message["id"])
    if run is None or run["id"] != attached_run:
        return message, run, None
    return message, run, chat_db().list_events(run["id"], after)


def check_resume(chat: Row, args, after: int) -> None:
    """Refuse (409) a resume point past the last event of the answer the stream would follow:
    it was never sent, and following from there would skip the answer's end."""
    message = latest_question(chat["id"]) if after else None
    run = chat_db().latest_run(message["id"]) if message else None
    if run is None or (wants_rerun(args) and run["status"] not in ("queued", "running")):
        return  # a new answer starts, from its first event
    last = runs().last_seq(run)
    if last is not None and after > last:
        raise APIError(
            409,
            f"Last-Event-ID {after} is past this answer's last event ({last}); reconnect "
            "without it to get the whole answer.",
            "last_event_id_ahead",
        )


def open_stream(user: Row, chat: Row, args, after: int, base_url: str) -> Iterator[ev.Event | None]:
    """The events of the answer to the chat's latest question (`None`: a heartbeat is due);
    problems become `error` events — a database that stops answering too, so the stream still
    ends with one closing event rather than a cut connection."""
    last = after
    try:
        for event in _events(user, chat, args, after, base_url):
            if event is not None:
                last = max(last, event.seq)
            yield event
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        yield ev.Event(
            last + 1, ev.ERROR, {"message": BACKEND_DOWN_MESSAGE, "code": "backend_unavailable"}
        )


def _events(user: Row, chat: Row, args, after: int, base_url: str) -> Iterator[ev.Event | None]:
    manager = runs()
    attachment = manager.attach(chat["id"])  # the chat's run executing here, if any
    try:
        attached_run = attachment.channel.run_id if attachment else None
        message, run, stored = run_blocking(_look_up, chat["id"], attached_run, after)
        if message is None:
            yield ev.Event(
                1,
                ev.ERROR,
                {
                    "message": "The chat has no question to answer: post a message first.",
                    "code": "no_question",
                },
            )
            return
        try:
            attachments = parse_attachments(args, message.get("attachments"))
        except AttachmentError as exc:
            yield ev.Event(1, ev.ERROR, {"message": str(exc), "code": "bad_request"})
            return
        if attachment is not None and stored is not None:
            live, attachment = attachment, None  # follow() unsubscribes it from now on
            yield from manager.follow(live.channel.run_id, after, live, stored)
            return
        rerun = wants_rerun(args)
        if run is not None:
            run = manager.fail_if_stale(run, after)
        if run is None or (rerun and run["status"] not in ("queued", "running")):
            if not is_chat_owner(user, chat):  # an admin may follow an answer, not start one
                yield ev.Event(1, ev.ERROR, {"message": NOT_OWNER_MESSAGE, "code": NOT_OWNER})
                return
            settings = user_settings.effective(user)
            run, started = manager.start(user, chat, message, settings, attachments, base_url)
            if started is not None:  # a new run: nothing stored yet, everything live
                yield from manager.follow(run["id"], 0, started, [])
                return
    finally:
        if attachment is not None:
            manager.detach(attachment)
    yield from manager.follow(run["id"], after)
