"""Durable deletion: a purge killed between any two steps resumes where it stopped and leaves
nothing behind; a failed purge is recorded and retried; one background worker per host purges
every PURGE_INTERVAL_SECONDS. On the session's backends (SQLite + files, or Supabase + S3)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_SECRET, User, app_settings
from tests.support.backends import chat_sql, production_env
from tests.support.chat_session import names
from webapp import create_app
from webapp.stores.chatdb.base import DELETION_STEPS
from webapp.stores.sqlite import utcnow

FLASK = str(Path(sys.executable).parent / "flask")


def _rows(app, chat_id: str) -> dict[str, int]:
    """Every row that belongs to the chat, table by table."""
    queries = {
        "chats": ("SELECT count(*) FROM chats WHERE id = ?", chat_id),
        "chat_messages": ("SELECT count(*) FROM chat_messages WHERE chat_id = ?", chat_id),
        "chat_images": ("SELECT count(*) FROM chat_images WHERE chat_id = ?", chat_id),
        "chat_runs": ("SELECT count(*) FROM chat_runs WHERE chat_id = ?", chat_id),
        "chat_run_events": (
            "SELECT count(*) FROM chat_run_events WHERE run_id IN "
            "(SELECT id FROM chat_runs WHERE chat_id = ?)",
            chat_id,
        ),
        "message_attachments": (
            "SELECT count(*) FROM message_attachments WHERE message_id IN "
            "(SELECT id FROM chat_messages WHERE chat_id = ?)",
            chat_id,
        ),
        "render_files": (
            "SELECT count(*) FROM storage_files WHERE storage_path LIKE ?",
            f"chat_images/{chat_id}/%",
        ),
    }
    return {
        table: chat_sql(app.config, sql, (param,))[0][0] for table, (sql, param) in queries.items()
    }


def _job(app, chat_id: str) -> tuple:
    """(status, step, attempts, error) of the chat's deletion job."""
    found = chat_sql(
        app.config,
        "SELECT status, step, attempts, error FROM chat_deletion_jobs WHERE chat_id = ?",
        (chat_id,),
    )
    assert len(found) == 1, found
    return tuple(found[0])


def _keys(app, prefix: str) -> list[str]:
    with app.app_context():
        from webapp.stores import objects

        return sorted(info.key for info in objects().list(prefix))


def _wait(condition: Callable[[], bool], seconds: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.02)


def _deleted_chat(app, client, user, title: str = "t") -> str:
    """A chat with one question, deleted through the API (hidden, its job pending)."""
    chat_id = client.post("/chats", json={"title": title}, headers=user.headers).json["id"]
    posted = client.post(f"/chats/{chat_id}/messages", json={"content": "q"}, headers=user.headers)
    assert posted.status_code == 201, posted.json
    assert client.delete(f"/chats/{chat_id}", headers=user.headers).status_code == 202
    return chat_id


RESUME = """
import json, os, sys
sys.path.insert(0, {root!r})
from webapp import create_app
app = create_app({settings!r})
with app.app_context():
    from webapp.chats.purge import purge_pending
    done = []
    def step(chat_id, name):
        done.append(name)
        if name == {crash_after!r}:
            os._exit(137)  # killed: no cleanup, nothing further recorded
    print(json.dumps({{"result": purge_pending(after_step=step), "steps": done}}))
"""


@pytest.mark.parametrize("crash_after", DELETION_STEPS)
def test_purge_killed_between_steps_resumes(make_session, tmp_path, crash_after):
    session = make_session(gemini=False, LLM_LOG_ENABLED=True)
    app = session.app
    data_dir = Path(app.config["DATA_DIR"])
    upload = session.client.post(
        "/files/upload",
        headers=session.headers,
        data={"file": (io.BytesIO(b"%PDF-1.4"), "own.pdf")},
    ).json
    events = session.ask("Какие стены на плане этажа?", attached_file_ids=[upload["id"]])
    assert names(events)[-1] == "completed"
    chat_id = session.chat_id
    before = _rows(app, chat_id)
    assert before["chat_images"] and before["chat_runs"] and before["message_attachments"]
    assert before["chat_run_events"] and before["render_files"] and before["chats"] == 1
    assert _keys(app, f"chat_images/{chat_id}/")
    log_file = Path(app.config["LLM_LOG_DIR"]) / f"llm_dialog_{chat_id}.log"
    assert log_file.exists()
    tree_docs = _keys(app, "tree_docs/")
    assert tree_docs

    assert session.client.delete(f"/chats/{chat_id}", headers=session.headers).status_code == 202
    settings = app_settings(data_dir, LLM_LOG_ENABLED=True)
    script = RESUME.format(root=str(ROOT), settings=settings, crash_after=crash_after)
    killed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == 137, killed.stderr
    assert _job(app, chat_id)[:2] == ("pending", crash_after)
    assert _keys(app, "tree_docs/") == tree_docs  # documents are never touched

    # the next purge starts after the recorded step: nothing is done twice
    script = RESUME.format(root=str(ROOT), settings=settings, crash_after="(none)")
    resumed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    done_before = DELETION_STEPS.index(crash_after) + 1
    assert report == {"result": [1, 0], "steps": list(DELETION_STEPS[done_before:])}
    assert _job(app, chat_id)[:2] == ("done", DELETION_STEPS[-1])
    assert _rows(app, chat_id) == {table: 0 for table in before}
    assert _keys(app, f"chat_images/{chat_id}/") == []
    assert not log_file.exists()
    assert _keys(app, "tree_docs/") == tree_docs
    assert _keys(app, upload["storage_path"]) == [upload["storage_path"]]  # nor the uploads

    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATA_DIR": str(data_dir),
        "JWT_SECRET_KEY": TEST_SECRET,
        "HOME": str(tmp_path),
        "AIZOOMDOC_ENV_FILE": "",
        "LLM_LOG_ENABLED": "true",
        **production_env(),
    }
    again = subprocess.run(
        [FLASK, "chats", "purge"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "Purged 0 chat(s)."


def test_purge_waits_for_a_running_answer(app, make_user):
    user = make_user("ann")
    with app.app_context():
        from webapp.chats.purge import purge_pending
        from webapp.stores import chat_db

        chat = chat_db().create_chat(user.username, "t", None)
        message = chat_db().add_message(chat["id"], "user", "q")
        run = chat_db().create_run(chat["id"], message["id"], user.username, "simple")
        chat_db().update_run(run["id"], status="running", heartbeat_at=utcnow())
        chat_db().hide_chat(chat["id"])
        chat_db().enqueue_deletion(chat["id"])
        assert purge_pending() == (0, 0)  # still answering: left for the next pass
        assert chat_db().get_message(message["id"])["content"] == "q"
        chat_db().update_run(run["id"], status="succeeded")
        assert purge_pending() == (1, 0)
        assert chat_db().get_message(message["id"]) is None


def test_failed_purge_records_attempts_and_error_then_succeeds(app, client, alice):
    """A chat whose purge fails stays pending with the error and a count of attempts, does not
    hold up the other chats, and is purged by a later pass once the cause is gone."""
    broken = _deleted_chat(app, client, alice, "broken")
    fine = _deleted_chat(app, client, alice, "fine")
    # a folder where the chat's dialog log would be: removing the log fails (even for root)
    trap = Path(app.config["LLM_LOG_DIR"]) / f"llm_dialog_{broken}.log"
    trap.mkdir(parents=True)
    (trap / "keep").write_text("x")
    with app.app_context():
        from webapp.chats.purge import purge_pending

        assert purge_pending() == (1, 1)
        status, step, attempts, error = _job(app, broken)
        assert (status, step, attempts) == ("pending", None, 1)
        assert "Is a directory" in error and str(trap) in error
        assert _job(app, fine)[:3] == ("done", DELETION_STEPS[-1], 0)
        assert set(_rows(app, fine).values()) == {0}

        assert purge_pending() == (0, 1)
        assert _job(app, broken)[:3] == ("pending", None, 2)
        assert _rows(app, broken)["chat_messages"] == 1  # nothing of it deleted yet

        (trap / "keep").unlink()
        trap.rmdir()
        assert purge_pending() == (1, 0)
    status, step, attempts, _ = _job(app, broken)
    assert (status, step, attempts) == ("done", DELETION_STEPS[-1], 2)
    assert set(_rows(app, broken).values()) == {0}


def test_worker_purges_every_interval(app, client, alice):
    """The background worker waits its interval before each pass and purges without the CLI."""
    from webapp.chats.purge import PurgeWorker

    interval = 0.3
    worker = PurgeWorker(app, interval)
    started = time.monotonic()
    worker.start()
    try:
        seen: list[float] = []
        while len(seen) < 3:
            if worker.passes > len(seen):
                seen.append(time.monotonic() - started)
            assert time.monotonic() - started < 30, seen
            time.sleep(0.005)
        assert seen[0] >= interval * 0.95  # it waits before the first pass
        assert seen[2] >= 3 * interval * 0.95  # and between passes
        assert worker.is_leader
        chat_id = _deleted_chat(app, client, alice)
        _wait(lambda: _job(app, chat_id)[0] == "done", what="the worker to purge the chat")
        assert set(_rows(app, chat_id).values()) == {0}
    finally:
        worker.stop(timeout=10)
    assert not worker.is_leader


HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from webapp import create_app
from webapp.chats.purge import PurgeWorker
worker = PurgeWorker(create_app({settings!r}), 0.1)
worker.start()
while not worker.is_leader:
    time.sleep(0.01)
print("leader", flush=True)
sys.stdin.read()
"""


def test_one_worker_per_host_and_another_takes_over(app, client, alice, tmp_path):
    """Workers of one host (here: another process, and this one) share DATA_DIR/purge.lock:
    only its holder purges; when the holder dies, another worker takes over."""
    from webapp.chats.purge import PurgeWorker

    settings = app_settings(Path(app.config["DATA_DIR"]))
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(ROOT), settings=settings)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = PurgeWorker(app, 0.1)
    try:
        assert other.stdout.readline().strip() == "leader", other.stderr.read()
        worker.start()
        first = _deleted_chat(app, client, alice, "first")
        _wait(lambda: _job(app, first)[0] == "done", what="the other process to purge")
        _wait(lambda: worker.rounds >= 3, what="this worker to try the lock a few times")
        assert (worker.is_leader, worker.passes) == (False, 0)

        os.kill(other.pid, signal.SIGKILL)  # the leader dies without any cleanup
        other.wait(10)
        _wait(lambda: worker.passes >= 1, what="this worker to take over")
        assert worker.is_leader
        second = _deleted_chat(app, client, alice, "second")
        _wait(lambda: _job(app, second)[0] == "done", what="the new leader to purge")
    finally:
        worker.stop(timeout=10)
        if other.poll() is None:
            other.kill()
            other.wait(10)


def test_app_starts_the_worker_with_its_first_request(tmp_path, monkeypatch):
    """A serving app starts one worker, lazily (CLI commands never purge in the background);
    PURGE_INTERVAL_SECONDS=0 and TESTING turn it off."""
    monkeypatch.setenv("AIZOOMDOC_ENV_FILE", "")
    assert "aizoomdoc.purge" not in create_app(app_settings(tmp_path / "t")).extensions
    off = create_app(app_settings(tmp_path / "off", TESTING=False, PURGE_INTERVAL_SECONDS=0))
    assert "aizoomdoc.purge" not in off.extensions

    app = create_app(app_settings(tmp_path / "on", TESTING=False, PURGE_INTERVAL_SECONDS=1))
    worker = app.extensions["aizoomdoc.purge"]
    assert worker.interval == 1 and worker.rounds == 0
    client = app.test_client()
    assert client.get("/health").json["status"] == "healthy"
    try:
        from webapp.auth.tokens import generate_static_token, hash_token

        token = generate_static_token()
        with app.app_context():
            from webapp.stores import chat_db

            row = chat_db().create_user("ops", hash_token(token))
        access = client.post("/auth/exchange", json={"static_token": token}).json["access_token"]
        user = User(row["id"], "ops", token, access)
        chat_id = _deleted_chat(app, client, user)
        _wait(lambda: _job(app, chat_id)[0] == "done", what="the background purge")
        assert worker.is_leader and worker.passes >= 1
        assert set(_rows(app, chat_id).values()) == {0}
    finally:
        worker.stop(timeout=10)
