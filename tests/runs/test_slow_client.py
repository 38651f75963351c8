"""A stream whose client stops reading holds a bounded buffer: past SSE_CLIENT_BUFFER_EVENTS it is
dropped (its buffer freed, its stream ended) while the run goes on; re-attaching with
`Last-Event-ID` then gets everything it missed, tokens included, in order."""

from __future__ import annotations

from tests.conftest import app_settings
from webapp import create_app
from webapp.metrics import registry
from webapp.runs import events as ev
from webapp.runs.channel import RunChannel

BUFFER = 50
TOKENS = 20 * BUFFER


def _channel(app) -> RunChannel:
    from webapp.runs.manager import runs
    from webapp.stores import chat_db

    store = chat_db()
    user = store.create_user("u", "h" * 64)
    chat = store.create_chat(user["username"], "t", None)
    message = store.add_message(chat["id"], "user", "?")
    run = store.create_run(chat["id"], message["id"], user["username"], "simple")
    channel = RunChannel(store, run["id"], buffer=runs().buffer, chat_id=chat["id"])
    runs().channels.add(channel)
    return channel


def test_a_client_that_stops_reading_is_dropped_and_catches_up_on_reattach(tmp_path):
    app = create_app(app_settings(tmp_path / "data", SSE_CLIENT_BUFFER_EVENTS=BUFFER))
    with app.app_context():
        from webapp.runs.manager import runs

        manager = runs()
        channel = _channel(app)
        channel.emit(ev.PHASE_STARTED, {"phase": "llm", "description": "…"})
        stalled = manager.follow(channel.run_id, 0)
        seen = next(stalled)  # the client reads one event, then stops reading
        assert seen is not None and seen.seq == 1
        (subscriber,) = channel._subscribers
        answer = ""
        for n in range(TOKENS):
            token = f"слово{n} "
            answer += token
            channel.emit(ev.LLM_TOKEN, {"token": token, "accumulated": answer, "model": "m"})
            if n == TOKENS // 2:
                channel.emit(ev.PHASE_PROGRESS, {"phase": "llm", "message": "half-way"})
        # dropped once a whole buffer behind: detached, its buffer freed, never longer than that
        assert subscriber.dropped and channel.subscribers() == 0 and channel.dropped == 1
        assert subscriber.most_waiting == BUFFER and subscriber.waiting() == 0
        # the run is unaffected: it goes on to its end
        channel.emit(ev.LLM_FINAL, {"content": answer})
        closing = channel.emit(ev.COMPLETED, {"message": ev.COMPLETED_MESSAGE})
        assert [e["event"] for e in channel.store.list_events(channel.run_id)][-2:] == [
            ev.LLM_FINAL,
            ev.COMPLETED,
        ]
        # the stalled stream ends at its next read, without sending anything more
        assert list(stalled) == []
        assert registry().value("aizoomdoc_sse_dropped_total") == 1
        # its client re-attaches after the last event it got, and gets all the rest
        resumed = [event for event in manager.follow(channel.run_id, seen.seq) if event]
    assert [event.seq for event in resumed] == list(range(seen.seq + 1, closing + 1))
    assert "".join(e.data["token"] for e in resumed if e.name == ev.LLM_TOKEN) == answer
    assert [e.name for e in resumed][-2:] == [ev.LLM_FINAL, ev.COMPLETED]


def test_a_reading_client_is_never_dropped(tmp_path):
    """The bound is on how far behind a stream is, not on how much it gets."""
    app = create_app(app_settings(tmp_path / "data", SSE_CLIENT_BUFFER_EVENTS=BUFFER))
    with app.app_context():
        from webapp.runs.manager import runs

        channel = _channel(app)
        stream = runs().follow(channel.run_id, 0)
        channel.emit(ev.PHASE_STARTED, {"phase": "llm", "description": "…"})
        got = [next(stream)]
        for n in range(TOKENS):
            channel.emit(ev.LLM_TOKEN, {"token": f"{n} ", "accumulated": "", "model": "m"})
            got.append(next(stream))
        channel.emit(ev.COMPLETED, {"message": ev.COMPLETED_MESSAGE})
        got += list(stream)
    assert channel.dropped == 0
    assert [event.seq for event in got] == list(range(1, TOKENS + 3))
