"""Answer tokens are live-only (never stored): a stream that attaches to a running answer late —
the one that started it, or a reload with `Last-Event-ID` — still gets every event it has not
seen, tokens included, in order, so the joined tokens stay the whole answer."""

from __future__ import annotations

import threading

from webapp.runs import events as ev
from webapp.runs.channel import RunChannel


def _run(app):
    from webapp.runs.manager import runs
    from webapp.stores import chat_db

    store = chat_db()
    user = store.create_user("u", "h" * 64)
    chat = store.create_chat(user["username"], "t", None)
    message = store.add_message(chat["id"], "user", "?")
    run = store.create_run(chat["id"], message["id"], user["username"], "simple")
    channel = RunChannel(store, run["id"])
    runs().channels.add(channel)
    return runs(), channel


def _tokens(events) -> str:
    return "".join(data["token"] for _, name, data in events if name == ev.LLM_TOKEN)


def test_a_late_stream_gets_the_tokens_it_missed(app):
    with app.app_context():
        manager, channel = _run(app)
        channel.emit(ev.PHASE_STARTED, {"phase": "llm", "description": "…"})
        first = channel.emit(
            ev.LLM_TOKEN, {"token": "Стена ", "accumulated": "Стена ", "model": "flash"}
        )
        channel.emit(ev.LLM_TOKEN, {"token": "400 ", "accumulated": "Стена 400 ", "model": "flash"})
        received: list = []
        follower = threading.Thread(
            target=lambda: received.extend(manager.follow(channel.run_id, 0)), daemon=True
        )
        again: list = []
        reload = threading.Thread(
            target=lambda: again.extend(manager.follow(channel.run_id, first)), daemon=True
        )
        follower.start()
        reload.start()
        while len(channel._subscribers) < 2:  # both attached before the rest is sent
            threading.Event().wait(0.01)
        channel.emit(
            ev.LLM_TOKEN, {"token": "мм.", "accumulated": "Стена 400 мм.", "model": "flash"}
        )
        channel.emit(ev.COMPLETED, {"message": "Обработка завершена"})
        follower.join(5)
        reload.join(5)
    events = [e for e in received if e is not None]
    assert _tokens(events) == "Стена 400 мм."
    assert [seq for seq, _, _ in events] == [1, 2, 3, 4, 5]  # every event once, in order
    assert events[2][2]["accumulated"] == "Стена 400 "
    assert (
        _tokens([e for e in again if e is not None]) == "400 мм."
    ), again  # only what it had not seen
