"""The README's session against real gunicorn with gevent workers, and what the serving
processes do by themselves (the background purge)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import requests

from tests.server.conftest import chat_config, flask, free_port, server_env, start_server
from tests.support.backends import chat_sql


def test_readme_session_over_gunicorn(live_server):
    created = live_server.flask("users", "create", "demo-user")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    base = live_server.url
    exchange = requests.post(f"{base}/auth/exchange", json={"static_token": token}, timeout=10)
    assert exchange.status_code == 200
    headers = {"Authorization": f"Bearer {exchange.json()['access_token']}"}
    chat = requests.post(f"{base}/chats", json={"title": "Демо"}, headers=headers, timeout=10)
    assert chat.status_code == 201
    message = requests.post(
        f"{base}/chats/{chat.json()['id']}/messages",
        headers=headers,
        json={"content": "Какие стены на плане?"},
        timeout=10,
    )
    assert message.status_code == 201
    history = requests.get(f"{base}/chats/{chat.json()['id']}", headers=headers, timeout=10)
    assert history.json()["messages"][0]["content"] == "Какие стены на плане?"
    assert requests.get(f"{base}/docs", timeout=10).status_code == 200
    ready = requests.get(f"{base}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert "Using worker: gevent" in live_server.log.read_text()


def test_production_server_refuses_default_secret(tmp_path):
    import subprocess

    from tests.conftest import ROOT
    from tests.server.conftest import BIN, free_port, server_env

    env = server_env(tmp_path, free_port())
    env.pop("JWT_SECRET_KEY")
    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JWT_SECRET_KEY" in result.stdout + result.stderr


def _flock_holders(path: Path) -> list[int]:
    """Processes holding a flock on `path`, from /proc/locks."""
    inode = os.stat(path).st_ino
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        if int(fields[5].split(":")[2]) == inode:
            holders.append(int(fields[4]))
    return holders


def test_server_purges_deleted_chats_in_one_worker(tmp_path, servers):
    """A serving host purges deleted chats by itself every PURGE_INTERVAL_SECONDS, and of all
    its gunicorn workers exactly one holds the purge lock."""
    env = server_env(tmp_path / "data", free_port(), PURGE_INTERVAL_SECONDS=1)
    server = start_server(env, tmp_path / "gunicorn.log")
    servers.append(server)
    created = flask(env, "users", "create", "purger")
    assert created.returncode == 0, created.stderr
    exchange = requests.post(
        f"{server.url}/auth/exchange",
        json={"static_token": created.stdout.strip().splitlines()[-1]},
        timeout=10,
    )
    headers = {"Authorization": f"Bearer {exchange.json()['access_token']}"}
    for _ in range(8):  # fresh connections, so every worker serves one and starts its purger
        assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    chat_id = requests.post(f"{server.url}/chats", json={}, headers=headers, timeout=10).json()[
        "id"
    ]
    posted = requests.post(
        f"{server.url}/chats/{chat_id}/messages", json={"content": "q"}, headers=headers, timeout=10
    )
    assert posted.status_code == 201
    deleted = requests.delete(f"{server.url}/chats/{chat_id}", headers=headers, timeout=10)
    assert deleted.status_code == 202

    config = chat_config(env)
    query = "SELECT status, step FROM chat_deletion_jobs WHERE chat_id = ?"
    deadline = time.monotonic() + 30
    while chat_sql(config, query, (chat_id,)) != [("done", "chat")]:
        assert time.monotonic() < deadline, chat_sql(config, query, (chat_id,))
        time.sleep(0.2)
    assert chat_sql(config, "SELECT count(*) FROM chat_messages WHERE chat_id = ?", (chat_id,)) == [
        (0,)
    ]
    holders = _flock_holders(Path(env["DATA_DIR"]) / "purge.lock")
    assert len(holders) == 1 and holders[0] in server.worker_pids(), (
        holders,
        server.worker_pids(),
    )
