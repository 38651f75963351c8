"""The README's session against real gunicorn with a gevent worker."""

from __future__ import annotations

import requests


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
    assert "gevent" in live_server.log.read_text().lower() or "geventworker" in (
        live_server.log.read_text().lower()
    )


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
