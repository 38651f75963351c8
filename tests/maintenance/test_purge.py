"""Durable deletion: a purge killed between any two steps resumes and leaves nothing behind."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_SECRET, app_settings
from tests.support.chat_session import names
from webapp.stores.sqlite import utcnow

STEPS = ["objects", "images", "runs", "messages", "files"]


def _rows(db: Path, chat_id: str) -> dict[str, int]:
    """Every row that belongs to the chat, table by table."""
    queries = {
        "chats": "SELECT count(*) FROM chats WHERE id = ?",
        "chat_messages": "SELECT count(*) FROM chat_messages WHERE chat_id = ?",
        "chat_images": "SELECT count(*) FROM chat_images WHERE chat_id = ?",
        "chat_runs": "SELECT count(*) FROM chat_runs WHERE chat_id = ?",
        "chat_run_events": "SELECT count(*) FROM chat_run_events WHERE run_id IN "
        "(SELECT id FROM chat_runs WHERE chat_id = ?)",
        "message_attachments": "SELECT count(*) FROM message_attachments WHERE message_id IN "
        "(SELECT id FROM chat_messages WHERE chat_id = ?)",
        "render_files": "SELECT count(*) FROM storage_files WHERE storage_path LIKE "
        "'chat_images/' || ? || '/%'",
    }
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(sql, (chat_id,)).fetchone()[0] for table, sql in queries.items()
        }


def _objects(data_dir: Path, prefix: str) -> list[str]:
    root = data_dir / "objects"
    return (
        sorted(p.relative_to(root).as_posix() for p in (root / prefix).rglob("*") if p.is_file())
        if (root / prefix).exists()
        else []
    )


@pytest.mark.parametrize("crash_after", STEPS)
def test_purge_killed_between_steps_resumes(make_session, tmp_path, crash_after):
    session = make_session(gemini=False, LLM_LOG_ENABLED=True)
    data_dir = Path(session.app.config["DATA_DIR"])
    upload = session.client.post(
        "/files/upload",
        headers=session.headers,
        data={"file": (__import__("io").BytesIO(b"%PDF-1.4"), "own.pdf")},
    ).json
    events = session.ask("Какие стены на плане этажа?", attached_file_ids=[upload["id"]])
    assert names(events)[-1] == "completed"
    chat_id = session.chat_id
    before = _rows(data_dir / "chat.db", chat_id)
    assert before["chat_images"] and before["chat_runs"] and before["message_attachments"]
    assert _objects(data_dir, f"chat_images/{chat_id}")
    log_file = data_dir / "logs" / f"llm_dialog_{chat_id}.log"
    assert log_file.exists()
    tree_docs = _objects(data_dir, "tree_docs")

    assert session.client.delete(f"/chats/{chat_id}", headers=session.headers).status_code == 202
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from webapp import create_app
        app = create_app({app_settings(data_dir, LLM_LOG_ENABLED=True)!r})
        with app.app_context():
            from webapp.chats.purge import purge_pending
            def crash(chat_id, step):
                if step == {crash_after!r}:
                    os._exit(137)  # killed: no cleanup, no commit of anything further
            purge_pending(after_step=crash)
    """
    )
    killed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == 137, killed.stderr
    with sqlite3.connect(data_dir / "chat.db") as conn:
        status, step = conn.execute("SELECT status, step FROM chat_deletion_jobs").fetchone()
    assert (status, step) == ("pending", crash_after)

    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATA_DIR": str(data_dir),
        "JWT_SECRET_KEY": TEST_SECRET,
        "HOME": str(tmp_path),
        "AIZOOMDOC_ENV_FILE": "",
        "LLM_LOG_ENABLED": "true",
    }
    resumed = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "chats", "purge"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Purged 1 chat" in resumed.stdout
    assert _rows(data_dir / "chat.db", chat_id) == {table: 0 for table in before}
    assert _objects(data_dir, f"chat_images/{chat_id}") == []
    assert not log_file.exists()
    assert _objects(data_dir, "tree_docs") == tree_docs  # documents are never touched
    assert (data_dir / "objects" / upload["storage_path"]).exists()  # nor the user's uploads
    again = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "chats", "purge"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Purged 0 chat" in again.stdout


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
        assert chat_db().get_message(message["id"]) is not None
        chat_db().update_run(run["id"], status="succeeded")
        assert purge_pending() == (1, 0)
        assert chat_db().get_message(message["id"]) is None
