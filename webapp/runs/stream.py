"""`GET /chats/{id}/stream`: start, re-attach to or replay the answer to the latest question."""

from __future__ import annotations

from collections.abc import Iterator

from webapp.accounts import settings as user_settings
from webapp.chats.attachments import AttachmentError
from webapp.chats.service import NOT_OWNER, NOT_OWNER_MESSAGE, is_chat_owner
from webapp.errors import APIError
from webapp.runs import events as ev
from webapp.runs.manager import runs
from webapp.runs.request import parse_attachments
from webapp.stores import chat_db
from webapp.stores.chatdb.base import Row


def latest_question(chat_id: str) -> Row | None:
    for message in reversed(chat_db().list_messages(chat_id, 10)):
        if message["role"] == "user":
            return message
    return None


def wants_rerun(args) -> bool:
    return args.get("rerun") in ("1", "true", "yes")


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
    problems become `error` events."""
    message = latest_question(chat["id"])
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
    manager = runs()
    run = chat_db().latest_run(message["id"])
    rerun = wants_rerun(args)
    if run is not None:
        run = manager.fail_if_stale(run)
    if run is None or (rerun and run["status"] not in ("queued", "running")):
        if not is_chat_owner(user, chat):  # an admin may follow an answer, not start one
            yield ev.Event(1, ev.ERROR, {"message": NOT_OWNER_MESSAGE, "code": NOT_OWNER})
            return
        settings = user_settings.effective(user)
        run, started = manager.start(user, chat, message, settings, attachments, base_url)
        if started:
            after = 0
    yield from manager.follow(run["id"], after)
