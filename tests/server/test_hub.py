"""The gevent hub never blocks: real gunicorn gevent workers with gevent's monitor thread on
(HUB_MONITOR_SECONDS=0.1) carry many concurrent streams, answers on the offline engine (which
renders the demo set's images), re-attaches and API reads; every worker then reports, through
/metrics, that no greenlet held its hub for more than 100 ms."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.server.conftest import SSE, LiveServer, flask, free_port, server_env, start_server

THRESHOLD = 0.1  # the requirement: no block of the hub over 100 ms
CHATS = 12
FOLLOWERS_PER_CHAT = 10
QUESTIONS = (
    "Какие наружные стены и их толщина?",
    "Где расположены лестницы на плане этажа?",
    "Какие окна на фасаде?",
    "Что указано в общих данных комплекта?",
)
BLOCKS = re.compile(r'^aizoomdoc_hub_blocks\{worker="(\d+)"\} (\S+)$', re.M)
LONGEST = re.compile(r'^aizoomdoc_hub_longest_block_seconds\{worker="(\d+)"\} (\S+)$', re.M)


def _login(server: LiveServer, token: str) -> dict[str, str]:
    access = requests.post(f"{server.url}/auth/exchange", json={"static_token": token}, timeout=30)
    assert access.status_code == 200, access.text
    return {"Authorization": f"Bearer {access.json()['access_token']}"}


def _ask(server: LiveServer, headers: dict, document_id: str, text: str) -> str:
    chat = requests.post(f"{server.url}/chats", json={}, headers=headers, timeout=30).json()
    posted = requests.post(
        f"{server.url}/chats/{chat['id']}/messages",
        headers=headers,
        json={"content": text, "attached_document_ids": [document_id]},
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    return chat["id"]


def _follow(server: LiveServer, headers: dict, chat_id: str, last_id: int | None = None) -> str:
    """Read a stream to its end; return its last event's name."""
    extra = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    response = requests.get(
        f"{server.url}/chats/{chat_id}/stream",
        headers={**headers, **extra},
        stream=True,
        timeout=120,
    )
    assert response.status_code == 200
    last = ""
    for _, event, _ in SSE(response):
        last = event
        if event in ("completed", "error"):
            break
    response.close()
    return last


def _browse(server: LiveServer, headers: dict, chat_ids: list[str], stop: threading.Event) -> int:
    """API reads while the answers run (history with images, the chat list, the projects)."""
    reads = 0
    while not stop.is_set():
        for chat_id in chat_ids:
            assert requests.get(f"{server.url}/chats/{chat_id}", headers=headers, timeout=60).ok
            reads += 1
        assert requests.get(f"{server.url}/chats", headers=headers, timeout=60).ok
        assert requests.get(f"{server.url}/projects/tree", headers=headers, timeout=60).ok
        reads += 2
    return reads


def _hub_reports(server: LiveServer, workers: int) -> dict[int, tuple[float, float]]:
    """Per worker pid: (blocks over the threshold, longest block), from each worker's /metrics."""
    found: dict[int, tuple[float, float]] = {}
    for _ in range(300):
        with requests.Session() as session:  # a new connection may reach another worker
            text = session.get(f"{server.url}/metrics", timeout=30).text
        blocks = BLOCKS.search(text)
        longest = LONGEST.search(text)
        assert blocks and longest, "the hub monitor is off:\n" + text[:2000]
        found[int(blocks.group(1))] = (float(blocks.group(2)), float(longest.group(2)))
        if len(found) == workers:
            return found
    raise AssertionError(f"only the workers {sorted(found)} answered /metrics")


@pytest.mark.slow
def test_no_hub_block_over_100_ms_under_streams_and_answers(tmp_path, servers, server_workers):
    env = server_env(
        tmp_path / "data",
        free_port(),
        HUB_MONITOR_SECONDS=THRESHOLD,
        METRICS_ENABLED="true",
        MAX_CONCURRENT_REQUESTS=4,
        MAX_QUEUE_SIZE=50,
        SSE_HEARTBEAT_SECONDS=1,
    )
    demo = flask(env, "demo", "--quiet")
    assert demo.returncode == 0, demo.stderr
    document_id = demo.stdout.strip().splitlines()[-1]
    user = flask(env, "users", "create", "engineer")
    assert user.returncode == 0, user.stderr
    server = start_server(env, tmp_path / "gunicorn.log")
    servers.append(server)
    headers = _login(server, user.stdout.strip().splitlines()[-1])
    chat_ids = [
        _ask(server, headers, document_id, QUESTIONS[i % len(QUESTIONS)]) for i in range(CHATS)
    ]
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=CHATS * FOLLOWERS_PER_CHAT + 4) as pool:
        browsing = [pool.submit(_browse, server, headers, chat_ids, stop) for _ in range(2)]
        streams = [
            pool.submit(_follow, server, headers, chat_id, None if n % 3 else n)
            for n in range(FOLLOWERS_PER_CHAT)
            for chat_id in chat_ids
        ]
        endings = [stream.result(timeout=600) for stream in streams]
        stop.set()
        reads = sum(browse.result(timeout=120) for browse in browsing)
    assert endings == ["completed"] * len(endings)
    assert reads > 0
    reports = _hub_reports(server, server_workers)
    log = server.log.read_text(errors="replace")
    assert log.count("hub monitor on") == server_workers
    blocked = {pid: report for pid, report in reports.items() if report[0]}
    where = "\n".join(
        line for line in log.splitlines() if "hub blocked" in line or "  File" in line
    )
    assert not blocked, f"hub blocks (count, longest s) per worker: {blocked}\n{where[-6000:]}"
