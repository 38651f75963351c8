"""Server-Sent Events through real gunicorn + gevent workers, with the fake Gemini server
playing a slow model: live delivery, heartbeats, re-attaching, crashes and the queue."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from dataclasses import dataclass

import pytest
import requests

from tests.server.conftest import (
    SSE,
    LiveServer,
    chat_config,
    flask,
    free_port,
    server_env,
    start_server,
)
from tests.support.backends import chat_sql
from tests.support.fake_gemini import API_KEY, FakeGemini, Reply

ANSWER = {
    "needs_more_evidence": False,
    "followup_images": [],
    "followup_rois": [],
    "answer_markdown": "Наружные стены С-1 толщиной 400 мм из газобетона. " * 3,
    "citations": [{"block_id": "DEMO-NOTE-001", "kind": "text_block"}],
}


def slow(delay: float = 0.15, chunk: int = 12) -> Reply:
    return Reply(json=ANSWER, delay=delay, chunk=chunk)


@dataclass
class Setup:
    tmp: object
    fake: FakeGemini
    document_id: str
    token: str
    data_dir: object

    def env(self, **extra) -> dict:
        settings = dict(
            LLM_PROVIDER="gemini",
            DEFAULT_GEMINI_API_KEY=API_KEY,
            GEMINI_BASE_URL=self.fake.url,
            SSE_HEARTBEAT_SECONDS=1,
            RUN_STALE_SECONDS=3,
            LLM_MAX_RETRIES=0,
        )
        settings.update(extra)
        return server_env(self.data_dir, free_port(), **settings)

    def server(self, servers: list, **extra) -> LiveServer:
        server = start_server(self.env(**extra), self.tmp / f"gunicorn-{len(servers)}.log")
        servers.append(server)
        return server


@pytest.fixture
def setup(tmp_path):
    fake = FakeGemini().start()
    data_dir = tmp_path / "data"
    env = server_env(data_dir, 0)
    demo = flask(env, "demo", "--quiet")
    assert demo.returncode == 0, demo.stderr
    user = flask(env, "users", "create", "engineer")
    assert user.returncode == 0, user.stderr
    yield Setup(
        tmp_path,
        fake,
        demo.stdout.strip().splitlines()[-1],
        user.stdout.strip().splitlines()[-1],
        data_dir,
    )
    fake.stop()


def login(server: LiveServer, token: str) -> dict:
    access = requests.post(
        f"{server.url}/auth/exchange", json={"static_token": token}, timeout=10
    ).json()["access_token"]
    return {"Authorization": f"Bearer {access}"}


def question(
    server: LiveServer, headers: dict, document_id: str, text: str = "Какие наружные стены?"
) -> str:
    chat = requests.post(f"{server.url}/chats", json={}, headers=headers, timeout=10).json()
    posted = requests.post(
        f"{server.url}/chats/{chat['id']}/messages",
        headers=headers,
        json={"content": text, "attached_document_ids": [document_id]},
        timeout=10,
    )
    assert posted.status_code == 201
    return chat["id"]


def open_stream(
    server: LiveServer, headers: dict, chat_id: str, last_id: int | None = None, query: str = ""
) -> SSE:
    extra = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    response = requests.get(
        f"{server.url}/chats/{chat_id}/stream{query}",
        headers={**headers, **extra},
        stream=True,
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Accel-Buffering"] == "no"
    return SSE(response)


def history(server: LiveServer, headers: dict, chat_id: str) -> list[dict]:
    return requests.get(f"{server.url}/chats/{chat_id}", headers=headers, timeout=10).json()[
        "messages"
    ]


def test_events_arrive_one_by_one_with_heartbeats(setup, servers):
    server = setup.server(servers)
    setup.fake.add(slow(delay=0.25, chunk=10))
    headers = login(server, setup.token)
    chat_id = question(server, headers, setup.document_id)
    stream = open_stream(server, headers, chat_id)
    seen, sent_at_first_token = [], None
    for seq, event, data in stream:
        seen.append((seq, event))
        if event == "llm_token" and sent_at_first_token is None:
            sent_at_first_token = setup.fake.chunks_sent
        if event in ("completed", "error"):
            break
    total_chunks = setup.fake.chunks_sent
    assert seen[-1][1] == "completed"
    # the first token reached us while the model was still producing the reply
    assert sent_at_first_token is not None and sent_at_first_token < total_chunks
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert stream.pings >= 1  # the slow model left the stream quiet for over a second


def test_disconnect_then_reattach_gets_the_rest(setup, servers):
    server = setup.server(servers)
    setup.fake.add(slow(delay=0.1))
    headers = login(server, setup.token)
    chat_id = question(server, headers, setup.document_id)
    stream = open_stream(server, headers, chat_id)
    last = None
    for seq, event, _ in stream:
        if event == "phase_started" and seq is not None:
            last = seq
        if event == "llm_token":
            break
    stream.close()  # the client goes away mid-answer
    resumed = list(open_stream(server, headers, chat_id, last_id=last))
    assert resumed and all(seq > last for seq, _, _ in resumed)
    names = [event for _, event, _ in resumed]
    assert names[-1] == "completed" and "llm_final" in names
    assert names.count("completed") == 1
    saved = history(server, headers, chat_id)
    assert saved[-1]["role"] == "assistant" and saved[-1]["content"] == ANSWER["answer_markdown"]
    assert len(setup.fake.generations()) == 1  # no second LLM spend
    replay = [event for _, event, _ in open_stream(server, headers, chat_id)]
    assert replay[0] == "processing_started" and replay[-1] == "completed"
    assert "llm_token" not in replay  # tokens are live only


def test_two_processes_follow_one_run(setup, servers):
    first = setup.server(servers)
    second = setup.server(servers)
    setup.fake.add(slow(delay=0.1))
    headers = login(first, setup.token)
    chat_id = question(first, headers, setup.document_id)
    starter = open_stream(first, headers, chat_id)
    starter.until("processing_started")
    follower = list(open_stream(second, headers, chat_id))  # the other process, from the DB
    rest = list(starter)
    assert follower[-1][1] == "completed" and rest[-1][1] == "completed"
    follower_names = [e for _, e, _ in follower]
    assert "llm_final" in follower_names and follower_names.count("completed") == 1
    assert [s for s, _, _ in follower] == sorted({s for s, _, _ in follower})  # no repeats
    assert len(setup.fake.generations()) == 1


def test_killed_worker_leaves_a_failed_run(setup, servers):
    server = setup.server(servers)
    setup.fake.add(slow(delay=0.5, chunk=4))
    headers = login(server, setup.token)
    chat_id = question(server, headers, setup.document_id)
    stream = open_stream(server, headers, chat_id)
    stream.until("llm_token")
    for pid in server.worker_pids():
        os.kill(pid, signal.SIGKILL)
    stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # gunicorn starts a new worker
        try:
            if requests.get(f"{server.url}/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    events = list(open_stream(server, headers, chat_id))
    assert events[-1][1] == "error"
    assert events[-1][2]["code"] == "run_interrupted"
    assert [e for _, e, _ in events].count("error") == 1
    again = list(open_stream(server, headers, chat_id))
    assert [e for _, e, _ in again].count("error") == 1  # closed once, replayed after


def test_reattaching_from_a_token_of_a_killed_worker_gets_the_error(setup, servers):
    """A client resumes from the last id it received, a live-only token's: the dead worker had
    numbered it past every stored event, and the closing error still comes after it."""
    server = setup.server(servers)
    setup.fake.add(slow(delay=0.5, chunk=4))
    headers = login(server, setup.token)
    chat_id = question(server, headers, setup.document_id)
    stream = open_stream(server, headers, chat_id)
    last = None
    for seq, event, _ in stream:
        last = seq
        if event == "llm_token" and seq > 5:
            break
    for pid in server.worker_pids():
        os.kill(pid, signal.SIGKILL)
    stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # gunicorn starts a new worker
        try:
            if requests.get(f"{server.url}/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    resumed = list(open_stream(server, headers, chat_id, last_id=last))
    assert [e for _, e, _ in resumed] == ["error"], resumed
    assert resumed[0][0] > last and resumed[0][2]["code"] == "run_interrupted"
    whole = list(open_stream(server, headers, chat_id))
    assert [e for _, e, _ in whole].count("error") == 1 and whole[-1][1] == "error"


PER_WORKER_QUEUE = (
    "slots and the queue are per worker process, and which worker accepts a connection is the "
    "kernel's choice"
)


@pytest.mark.single_worker(PER_WORKER_QUEUE)
def test_queue_position_then_queue_full(setup, servers):
    server = setup.server(servers, MAX_CONCURRENT_REQUESTS=1, MAX_QUEUE_SIZE=1)
    setup.fake.add(slow(delay=0.2), slow(delay=0.01), slow(delay=0.01))
    headers = login(server, setup.token)
    chats = [question(server, headers, setup.document_id) for _ in range(3)]
    first = open_stream(server, headers, chats[0])
    first.until("processing_started")
    second = open_stream(server, headers, chats[1])
    waiting = next(iter(second))
    assert waiting[1] == "queue_position"
    assert waiting[2]["position"] == 1 and waiting[2]["active_requests"] == 1
    assert waiting[2]["estimated_wait_seconds"] == 30  # no run has ended yet: 30 s assumed
    third = list(open_stream(server, headers, chats[2]))
    assert third[-1][1] == "error" and third[-1][2]["code"] == "queue_full"
    assert "Queue is full" in third[-1][2]["message"]
    assert list(first)[-1][1] == "completed"
    assert list(second)[-1][1] == "completed"


@pytest.mark.single_worker(PER_WORKER_QUEUE)
def test_queue_timeout(setup, servers):
    server = setup.server(servers, MAX_CONCURRENT_REQUESTS=1, REQUEST_TIMEOUT=1)
    setup.fake.add(slow(delay=0.3), slow(delay=0.01))
    headers = login(server, setup.token)
    chats = [question(server, headers, setup.document_id) for _ in range(2)]
    first = open_stream(server, headers, chats[0])
    first.until("processing_started")
    waited = list(open_stream(server, headers, chats[1]))
    assert waited[-1][1] == "error" and waited[-1][2]["code"] == "queue_timeout"
    assert list(first)[-1][1] == "completed"


def test_no_slot_leaks_after_many_runs_with_cancellations(setup, servers):
    server = setup.server(servers, MAX_CONCURRENT_REQUESTS=2, MAX_QUEUE_SIZE=60)
    setup.fake.responder = lambda body: Reply(json=ANSWER, delay=0.01, chunk=40)
    headers = login(server, setup.token)
    rng = random.Random(7)
    chats = []
    for _ in range(50):
        chat_id = question(server, headers, setup.document_id)
        chats.append(chat_id)
        stream = open_stream(server, headers, chat_id)
        for index, _ in enumerate(stream):
            if index >= rng.randint(0, 3):
                break  # the client gives up at a random point
        stream.close()
    outcomes = [list(open_stream(server, headers, c))[-1][1] for c in chats]
    assert outcomes == ["completed"] * 50
    ready = requests.get(f"{server.url}/health/ready", timeout=10).json()
    assert ready["queue"]["active"] == 0 and ready["queue"]["waiting"] == 0
    assert ready["queue"]["runs_here"] == 0


WORKER_LABEL = re.compile(r'aizoomdoc_runs_active\{worker="(\d+)"\}')


def _worker_of(response: requests.Response) -> int:
    """The pid of the worker that answered a `/metrics` scrape."""
    match = WORKER_LABEL.search(response.text)
    assert response.status_code == 200 and match, response.text[:500]
    return int(match.group(1))


def _streams_served(text: str, worker: int) -> float:
    pattern = (
        r'aizoomdoc_http_requests_total\{method="GET",route="/chats/<chat_id>/stream",'
        rf'status="200",worker="{worker}"\}} (\S+)'
    )
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def _each_worker(server: LiveServer, workers: int = 2) -> dict[int, tuple[requests.Session, str]]:
    """Per worker, a keep-alive session to it and its `/metrics` text: new connections until
    every worker has answered one."""
    pinned: dict[int, tuple[requests.Session, str]] = {}
    for _ in range(200):
        session = requests.Session()
        scraped = session.get(f"{server.url}/metrics", timeout=10)
        worker = _worker_of(scraped)
        if worker in pinned:
            session.close()
        else:
            pinned[worker] = (session, scraped.text)
        if len(pinned) == workers:
            return pinned
    raise AssertionError(f"connections reached only the workers {sorted(pinned)}")


def test_a_stream_served_by_the_worker_not_running_the_answer(setup, servers):
    """Two workers: the answer runs in the worker whose stream started it; a second client whose
    connection went to the other worker follows it from the database to the end."""
    server = setup.server(servers, WEB_CONCURRENCY=2, METRICS_ENABLED="true")
    setup.fake.responder = lambda body: slow(delay=0.1)
    headers = login(server, setup.token)
    url = f"{server.url}/chats/{{}}/stream"
    for _ in range(3):  # a keep-alive connection the server closed meanwhile lands anywhere
        chat_id = question(server, headers, setup.document_id)
        generations = len(setup.fake.generations())
        pinned = _each_worker(server)  # just before use: gunicorn keeps connections for 5 s
        (first, _), (second, _) = pinned.values()
        started = SSE(first.get(url.format(chat_id), headers=headers, stream=True, timeout=60))
        started.until("processing_started")
        response = second.get(url.format(chat_id), headers=headers, stream=True, timeout=60)
        assert response.status_code == 200
        followed = list(SSE(response))
        rest = list(started)
        assert followed[-1][1] == "completed" and rest[-1][1] == "completed"
        assert [e for _, e, _ in followed].count("completed") == 1
        assert len(setup.fake.generations()) == generations + 1  # answered once
        # who did what: the run's record names its worker; workers count the streams they served
        ran_in = chat_sql(
            chat_config(server.env), "SELECT worker FROM chat_runs WHERE chat_id = ?", (chat_id,)
        )
        assert len(ran_in) == 1
        runner = int(ran_in[0][0].rsplit(":", 1)[1])
        after = {pid: _streams_served(text, pid) for pid, (_, text) in _each_worker(server).items()}
        served = {pid: after[pid] - _streams_served(text, pid) for pid, (_, text) in pinned.items()}
        if served == {pid: 1.0 for pid in served}:
            break
        assert served[runner] == 2.0, served  # both streams went to the runner: try again
    else:
        raise AssertionError("the follower's stream never reached the other worker")
    names = [event for _, event, _ in followed]
    assert "llm_final" in names and "llm_token" not in names  # from the database: no tokens
    saved = history(server, headers, chat_id)
    assert saved[-1]["content"] == ANSWER["answer_markdown"]


def _raw_stream(server: LiveServer, headers: dict, chat_id: str, receive_buffer: int):
    """A stream on a socket with a small receive buffer, as a slow mobile client has."""
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", int(server.env["PORT"])))
    sock.sendall(
        (
            f"GET /chats/{chat_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {headers['Authorization']}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    return sock


def _events_in(raw: bytes) -> list[tuple[int, str, dict]]:
    """The complete SSE events in a chunked HTTP response read so far."""
    body = raw.split(b"\r\n\r\n", 1)[1]
    text, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        if not size_line or int(size_line, 16) == 0 or len(rest) < int(size_line, 16):
            break
        size = int(size_line, 16)
        text, rest = text + rest[:size], rest[size + 2 :]
    events = []
    for block in text.decode("utf-8").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "event" in fields and "id" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


@pytest.mark.slow
@pytest.mark.single_worker("the client must be attached live to the worker running the answer")
def test_a_client_that_stops_reading_is_dropped_and_resumes(setup, servers):
    """A client that stops reading while a long answer streams: its stream is dropped once it
    is SSE_CLIENT_BUFFER_EVENTS behind (the worker keeps no more of it), the answer and another
    client go on to the end, and the client, reading again and re-attaching with the last id it
    got, ends up with every event once and the whole answer."""
    # ~500 token events at 100 a second: a buffer of 100 is small enough that the stalled
    # client (whose socket buffers hold a few dozen) is dropped, and large enough that the
    # reading client, parsing in Python on a loaded machine, keeps up
    long_answer = {**ANSWER, "answer_markdown": "Стена С-1 из газобетона толщиной 400 мм. " * 400}
    server = setup.server(servers, SSE_CLIENT_BUFFER_EVENTS=100, METRICS_ENABLED="true")
    setup.fake.add(Reply(json=long_answer, delay=0.01, chunk=32))
    headers = login(server, setup.token)
    chat_id = question(server, headers, setup.document_id)
    reader = open_stream(server, headers, chat_id)  # starts the run and reads it all
    reader.until("llm_token")
    stalled = _raw_stream(server, headers, chat_id, receive_buffer=4096)
    received = b""
    while b"event: llm_token" not in received:
        received += stalled.recv(4096)
    rest = list(reader)  # meanwhile the stalled client reads nothing
    assert rest[-1][1] == "completed", server.log.read_text()[-3000:]
    stalled.settimeout(30)
    while not received.endswith(b"\r\n0\r\n\r\n"):  # reading again: what was sent, then
        data = stalled.recv(65536)  # the end of the dropped stream
        if not data:
            break
        received += data
    stalled.close()
    before = _events_in(received)
    assert before and before[-1][1] not in ("completed", "error")  # it was dropped mid-answer
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert re.search(r"^aizoomdoc_sse_dropped_total\{worker=\"\d+\"\} 1$", metrics, re.M), metrics
    assert "fell 100 events behind" in server.log.read_text()
    # the answer has ended: re-attaching replays the stored events after the last one it got
    after = list(open_stream(server, headers, chat_id, last_id=before[-1][0]))
    seqs = [seq for seq, _, _ in before] + [seq for seq, _, _ in after]
    assert seqs == sorted(set(seqs))  # nothing twice, in order
    assert [event for _, event, _ in after][-2:] == ["llm_final", "completed"]
    final = after[-2][2]["content"]
    shown = "".join(data["token"] for _, event, data in before if event == "llm_token")
    assert shown and final.startswith(shown) and len(shown) < len(final)
    assert final == history(server, headers, chat_id)[-1]["content"]
