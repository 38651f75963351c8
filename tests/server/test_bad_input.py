"""Bad input through real gunicorn: the answers the OpenAPI document promises (gunicorn's own
414 for an overlong request line included), and the same workers serving afterwards."""

from __future__ import annotations

import requests

from tests.server.conftest import LiveServer


def _login(server: LiveServer) -> dict:
    created = server.flask("users", "create", "prober")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    access = requests.post(
        f"{server.url}/auth/exchange", json={"static_token": token}, timeout=10
    ).json()["access_token"]
    return {"Authorization": f"Bearer {access}"}


def test_bad_input_leaves_the_workers_serving(live_server):
    headers = _login(live_server)
    workers = live_server.worker_pids()
    big = b'{"title": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    json_headers = {**headers, "Content-Type": "application/json"}
    sized = requests.post(f"{live_server.url}/chats", data=big, headers=json_headers, timeout=30)
    assert sized.status_code == 413 and sized.json()["error"] == "payload_too_large"
    chunked = requests.post(
        f"{live_server.url}/chats",
        data=iter([big[:5_000_000], big[5_000_000:]]),
        headers=json_headers,
        timeout=30,
    )
    assert chunked.status_code == 413 and chunked.json()["error"] == "payload_too_large"
    deep = requests.post(
        f"{live_server.url}/chats",
        data=b"[" * 200_000 + b"]" * 200_000,
        headers=json_headers,
        timeout=30,
    )
    assert (
        deep.status_code == 400 and deep.json()["message"] == "Request body is nested too deeply."
    )
    many = "&".join(f"p{i}={i}" for i in range(10_000))
    overlong = requests.get(f"{live_server.url}/chats?{many}", headers=headers, timeout=10)
    assert overlong.status_code == 414 and "text/html" in overlong.headers["Content-Type"]
    hundreds = "&".join(f"p{i}" for i in range(500))  # fits gunicorn's request line
    refused = requests.get(f"{live_server.url}/chats?{hundreds}", headers=headers, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "bad_request"
    fine = requests.post(
        f"{live_server.url}/chats", json={"title": "ok"}, headers=headers, timeout=10
    )
    assert fine.status_code == 201
    assert live_server.worker_pids() == workers  # no worker died or was replaced
    assert "Traceback" not in live_server.log.read_text(errors="replace")
