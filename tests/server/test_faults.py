"""The fault matrix: each dependency down at start, failing mid-run and slow, on one real server.

One gunicorn server per module (per pass of scripts/test) runs on real parts, each reachable only
through something the test can break for real: the chat database (PostgREST stand-in over
PostgreSQL, or the SQLite file another process locks), the projects database (production: a
second stand-in, the demo set published into it and the bucket as the OCR pipeline does; it is
read when a run starts, so it has no mid-run case), object storage (moto), Gemini (the fake)
behind `FaultProxy`s, and Ghostscript behind a `gs` on PATH that answers, fails or stalls as
told. After every case the same invariants hold: the part is named by /health/ready while it
is broken; requests get 503 with Retry-After, never 500; a run ends with exactly one `error` or
`completed`; the user's message stays; no slot, temp file or Ghostscript process is left; and
once the part is back, work resumes without a restart.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_SECRET
from tests.server.conftest import SSE, LiveServer, flask, free_port, start_server
from tests.support import backends
from tests.support.fake_gemini import API_KEY, FakeGemini, Reply
from tests.support.faultproxy import FaultProxy
from tests.support.requirements import missing, require_tool

PLAN = "DEMO-PLAN-001"
ANSWER = {
    "needs_more_evidence": False,
    "followup_images": [],
    "followup_rois": [],
    "answer_markdown": "Наружные стены толщиной 400 мм. " * 4,
    "citations": [{"block_id": "DEMO-NOTE-001", "kind": "text_block"}],
}
WANTS_PLAN = {
    "needs_more_evidence": True,
    "followup_images": [PLAN],
    "answer_markdown": "Смотрю план.",
}
TERMINAL = ("completed", "error")
BACKEND_TIMEOUT = 2  # seconds: a stalled Supabase/S3 request fails after this
RENDER_TIMEOUT = 3
RUN_TIMEOUT = 12
GS_WRAPPER = """#!/bin/sh
# Ghostscript as the fault matrix wants it: ok, fail (exit 1), slow (stalls past every timeout).
mode=$(cat "{mode}" 2>/dev/null || echo ok)
case "$mode" in
  fail) echo "gs: injected failure" >&2; exit 1 ;;
  slow) exec sleep 60 ;;
esac
exec {gs} "$@"
"""

production_only = pytest.mark.skipif(
    "not backends.production()",
    reason="a network service only on the production backends (Supabase, S3): run with "
    "-p tests.support.production_backends",
)


@dataclass
class Rig:
    """The shared server and the handles that break its parts."""

    server: LiveServer
    fake: FakeGemini
    gemini: FaultProxy
    chat_proxy: FaultProxy | None
    storage_proxy: FaultProxy | None
    projects_proxy: FaultProxy | None
    gs_mode: Path
    data_dir: Path
    cache_dir: Path
    document_id: str
    headers: dict
    log_mark: int = 0
    cleanups: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def log_since_mark(self) -> str:
        return self.server.log.read_text(errors="replace")[self.log_mark :]

    def mark_log(self) -> None:
        self.log_mark = len(self.server.log.read_text(errors="replace"))


def publish_demo(dsn: str, endpoint: str, bucket: str, scratch: Path) -> str:
    """What the OCR pipeline does in production (the app never writes the projects DB): the
    demo set's files in the bucket, its rows in the projects DB; returns the document's id."""
    import boto3

    from tests.support.fixtures import insert_row
    from tests.support.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY
    from webapp.drawings.demo_set import build_demo_set

    demo = build_demo_set(scratch)
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name="us-east-1",
    )
    client = insert_row(
        dsn, "tree_nodes", {"client_id": "acme", "node_type": "client", "name": "Заказчик"}
    )
    document = insert_row(
        dsn,
        "tree_nodes",
        {
            "parent_id": client["id"],
            "client_id": "acme",
            "node_type": "document",
            "name": "Демо АР",
            "code": "01/25-ДМ-АР",
        },
    )
    files = {"result_md": demo.document_md, "blocks_index": demo.blocks_json}
    files.update({f"crop:{block}": path for block, path in demo.crops.items()})
    for file_type, path in files.items():
        name = f"crops/{path.name}" if file_type.startswith("crop") else path.name
        key = f"tree_docs/{document['id']}/{name}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        insert_row(
            dsn,
            "node_files",
            {
                "node_id": document["id"],
                "file_type": file_type.split(":")[0],
                "r2_key": key,
                "file_name": path.name,
                "file_size": path.stat().st_size,
            },
        )
    return document["id"]


@pytest.fixture(scope="module")
def rig(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("faults")
    gs = require_tool("gs", "apt-get install ghostscript")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    gs_mode = tmp / "gs-mode"
    gs_mode.write_text("ok")
    wrapper = bin_dir / "gs"
    wrapper.write_text(GS_WRAPPER.format(mode=gs_mode, gs=gs))
    wrapper.chmod(0o755)
    fake = FakeGemini().start()
    fake.responder = lambda body: Reply(json=ANSWER)
    gemini = FaultProxy(fake.port)
    stack = contextlib.ExitStack()
    chat_proxy = storage_proxy = projects_proxy = None
    published: str | None = None
    settings: dict[str, object] = {}
    if backends.production():
        from tests.support.fixtures import (
            apply_chat_migrations,
            create_reference_projects,
            postgrest_database,
        )

        cluster = request.getfixturevalue("postgres_cluster")
        database = stack.enter_context(postgrest_database(cluster, apply_chat_migrations))
        chat_proxy = FaultProxy(int(database.url.rsplit(":", 1)[1]))
        import boto3

        from tests.support.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY

        endpoint = request.getfixturevalue("moto_server")
        bucket = f"faults-{uuid.uuid4().hex[:12]}"
        boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        storage_proxy = FaultProxy(int(endpoint.rsplit(":", 1)[1]))
        projects = stack.enter_context(postgrest_database(cluster, create_reference_projects))
        projects_proxy = FaultProxy(int(projects.url.rsplit(":", 1)[1]))
        published = publish_demo(projects.dsn, endpoint, bucket, tmp / "published")
        settings.update(
            PROJECTS_DB="supabase",
            SUPABASE_PROJECTS_URL=projects_proxy.url,
            SUPABASE_PROJECTS_SERVICE_KEY=projects.key,
            CHAT_DB="supabase",
            SUPABASE_URL=chat_proxy.url,
            SUPABASE_SERVICE_KEY=database.key,
            STORAGE="s3",
            R2_ENDPOINT_URL=storage_proxy.url,
            R2_ACCESS_KEY_ID=ACCESS_KEY_ID,
            R2_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            R2_BUCKET_NAME=bucket,
        )
    data_dir = tmp / "data"
    cache_dir = tmp / "cache"
    cache_dir.mkdir()
    workers = request.config.getoption("--server-workers")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "R2_", "GOOGLE"))}
    env.update(  # server_env's, with this module's own backends (they outlive one test)
        HOST="127.0.0.1",
        PORT=str(free_port()),
        DATA_DIR=str(data_dir),
        DEBUG="false",
        JWT_SECRET_KEY=TEST_SECRET,
        LOG_LEVEL="INFO",
        AIZOOMDOC_ENV_FILE="",
    )
    extra = dict(
        WEB_CONCURRENCY=workers,
        LLM_PROVIDER="gemini",
        DEFAULT_GEMINI_API_KEY=API_KEY,
        GEMINI_BASE_URL=gemini.url,
        LLM_MAX_RETRIES=1,
        SSE_HEARTBEAT_SECONDS=1,
        RUN_STALE_SECONDS=2,
        RUN_TIMEOUT=RUN_TIMEOUT,
        BACKEND_TIMEOUT_SECONDS=BACKEND_TIMEOUT,
        SQLITE_BUSY_TIMEOUT_SECONDS=1.5,
        RENDER_TIMEOUT_SECONDS=RENDER_TIMEOUT,
        EVIDENCE_CACHE_DIR=cache_dir,
        AUTH_CACHE_SECONDS=0,
        PATH=f"{bin_dir}:{os.environ.get('PATH', '')}",
        **settings,
    )
    env.update({k: str(v) for k, v in extra.items()})
    if published is None:  # embedded: the demo set imported into the SQLite projects DB
        demo = flask(env, "demo", "--quiet")
        assert demo.returncode == 0, demo.stderr
        published = demo.stdout.strip().splitlines()[-1]
    user = flask(env, "users", "create", f"faults-{uuid.uuid4().hex[:6]}")
    assert user.returncode == 0, user.stderr
    server = start_server(env, tmp / "gunicorn.log")
    try:
        access = requests.post(
            f"{server.url}/auth/exchange",
            json={"static_token": user.stdout.strip().splitlines()[-1]},
            timeout=10,
        ).json()["access_token"]
        yield Rig(
            server,
            fake,
            gemini,
            chat_proxy,
            storage_proxy,
            projects_proxy,
            gs_mode,
            data_dir,
            cache_dir,
            published,
            {"Authorization": f"Bearer {access}"},
        )
    finally:
        server.stop()
        for proxy in (gemini, chat_proxy, storage_proxy, projects_proxy):
            if proxy is not None:
                proxy.close()
        fake.stop()
        stack.close()


@pytest.fixture
def healthy(rig: Rig) -> Iterator[Rig]:
    """Every part up before and after the case, the case's own invariants checked after it."""
    rig.fake.script.clear()
    rig.mark_log()
    yield rig
    for proxy in (rig.gemini, rig.chat_proxy, rig.storage_proxy, rig.projects_proxy):
        if proxy is not None:
            proxy.set("up")
    rig.gs_mode.write_text("ok")
    rig.fake.script.clear()
    assert_settled(rig)


# --- helpers ----------------------------------------------------------------------------------
def ready(rig: Rig) -> tuple[int, dict]:
    response = requests.get(f"{rig.url}/health/ready", timeout=30)
    return response.status_code, response.json()


def wait_ready(rig: Rig, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status, report = ready(rig)
        if status == 200:
            return report
        assert time.monotonic() < deadline, f"not ready again: {report}"
        time.sleep(0.3)


def assert_names(rig: Rig, part: str) -> None:
    """/health/ready answers 503 with Retry-After and names `part` as down."""
    response = requests.get(f"{rig.url}/health/ready", timeout=30)
    assert response.status_code == 503, response.text
    assert response.headers.get("Retry-After")
    assert part in response.json()["down"], response.json()


def assert_503(response: requests.Response) -> None:
    """The documented answer for a backend out of reach: 503, Retry-After, its error code."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"] == "backend_unavailable"


def assert_settled(rig: Rig) -> None:
    """Nothing is left behind: no slot held or waiting (in any worker we reach), no temp file in
    the data or cache folders, no Ghostscript still running for the server."""
    deadline = time.monotonic() + 15
    while True:
        report = wait_ready(rig)
        queue = report["queue"]
        if queue["active"] == 0 and queue["waiting"] == 0 and queue["runs_here"] == 0:
            break
        assert time.monotonic() < deadline, f"a slot is still held: {queue}"
        time.sleep(0.3)
    leftovers = [
        path
        for folder in (rig.data_dir, rig.cache_dir)
        for path in folder.rglob("*")
        if path.name.startswith((".tmp-", ".upload-"))
    ]
    assert leftovers == []
    deadline = time.monotonic() + 5  # a readiness probe's `gs --version` stops within 2.5 s
    while gs_processes(rig):
        assert time.monotonic() < deadline, f"Ghostscript left running: {gs_processes(rig)}"
        time.sleep(0.2)


def gs_processes(rig: Rig) -> list[int]:
    """Ghostscript (or its stalled stand-in) processes started by the server's workers."""
    workers = set(rig.server.worker_pids())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) in workers and command.rsplit(b"/", 1)[-1] in (b"gs", b"sleep"):
            found.append(int(stat.parent.name))
    return found


def new_question(rig: Rig, text: str = "Какие наружные стены?") -> str:
    chat = requests.post(f"{rig.url}/chats", json={}, headers=rig.headers, timeout=30)
    assert chat.status_code == 201, chat.text
    posted = requests.post(
        f"{rig.url}/chats/{chat.json()['id']}/messages",
        headers=rig.headers,
        json={"content": text, "attached_document_ids": [rig.document_id]},
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    return chat.json()["id"]


def stream(rig: Rig, chat_id: str, query: str = "", on_event=None) -> list[tuple[str, dict]]:
    """The events of one stream of the chat's answer, read to its end; `on_event(name)` is
    called as each arrives (to break a part mid-run)."""
    response = requests.get(
        f"{rig.url}/chats/{chat_id}/stream{query}", headers=rig.headers, stream=True, timeout=60
    )
    assert response.status_code == 200, response.text
    events = []
    for _, name, data in SSE(response):
        events.append((name, data))
        if on_event is not None:
            on_event(name)
        if name in TERMINAL:
            break
    response.close()
    return events


def ended_once(events: list[tuple[str, dict]]) -> tuple[str, dict]:
    """The run's one closing event, which is its last."""
    closing = [(name, data) for name, data in events if name in TERMINAL]
    assert len(closing) == 1, [name for name, _ in events]
    assert events[-1] == closing[0]
    return closing[0]


def messages(rig: Rig, chat_id: str) -> list[dict]:
    response = requests.get(f"{rig.url}/chats/{chat_id}", headers=rig.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def answered(rig: Rig, chat_id: str, attempts: int = 3) -> list[tuple[str, dict]]:
    """Ask again (rerun) until the answer completes: the first rerun may first close a run the
    fault left open (`run_interrupted`), never more than that."""
    for _ in range(attempts):
        events = stream(rig, chat_id, "?rerun=1")
        name, data = ended_once(events)
        if name == "completed":
            return events
        assert data["code"] in ("run_interrupted", "backend_unavailable"), data
    raise AssertionError("the answer never completed after the part came back")


@contextlib.contextmanager
def sqlite_write_lock(path: Path) -> Iterator[None]:
    """Another process's write transaction on a SQLite file, held until the block ends."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


# --- the projects database -------------------------------------------------------------------
@production_only
def test_projects_db_down_at_start(healthy: Rig):
    """Projects DB unreachable (its PostgREST stand-in down): readiness names projects_db, the
    projects tree is 503 + Retry-After, a question about a document ends with exactly one
    `error` and stays; when the DB is back, asking again answers it."""
    rig = healthy
    chat_id = new_question(rig)
    rig.projects_proxy.set("down")
    assert_names(rig, "projects_db")
    assert_503(requests.get(f"{rig.url}/projects/tree", headers=rig.headers, timeout=30))
    name, data = ended_once(stream(rig, chat_id))
    assert name == "error" and data["code"] == "backend_unavailable", data
    assert [m["role"] for m in messages(rig, chat_id)] == ["user"]
    rig.projects_proxy.set("up")
    wait_ready(rig)
    assert requests.get(f"{rig.url}/projects/tree", headers=rig.headers, timeout=30).ok
    assert ended_once(answered(rig, chat_id))[0] == "completed"


@production_only
def test_projects_db_slow(healthy: Rig):
    """Projects DB stalls: the tree is a 503 + Retry-After within the backend timeout, named by
    readiness; once it answers again, so does the server."""
    rig = healthy
    rig.projects_proxy.set("hang")
    started = time.monotonic()
    assert_503(requests.get(f"{rig.url}/projects/tree", headers=rig.headers, timeout=30))
    assert time.monotonic() - started < BACKEND_TIMEOUT * 4
    assert_names(rig, "projects_db")
    rig.projects_proxy.set("up")
    wait_ready(rig)
    assert requests.get(f"{rig.url}/projects/tree", headers=rig.headers, timeout=30).ok


# --- the chat database ------------------------------------------------------------------------
def test_chat_db_down_at_start(healthy: Rig):
    """Chat DB unreachable (stand-in stopped; embedded: its write lock held by another process
    past the busy timeout): readiness names chat_db, a write is 503 + Retry-After, not 500;
    when it is back, the same server takes writes again."""
    rig = healthy
    chat_id = new_question(rig)
    before = messages(rig, chat_id)
    if rig.chat_proxy is not None:
        rig.chat_proxy.set("down")
        context = contextlib.nullcontext()
    else:
        context = sqlite_write_lock(rig.data_dir / "chat.db")
    with context:
        assert_names(rig, "chat_db")
        assert_503(requests.post(f"{rig.url}/chats", json={}, headers=rig.headers, timeout=30))
        assert_503(
            requests.post(
                f"{rig.url}/chats/{chat_id}/messages",
                headers=rig.headers,
                json={"content": "Ещё вопрос"},
                timeout=30,
            )
        )
    if rig.chat_proxy is not None:
        rig.chat_proxy.set("up")
    wait_ready(rig)
    assert messages(rig, chat_id) == before
    ended_once(answered(rig, chat_id))


def test_chat_db_slow(healthy: Rig):
    """Chat DB slow: a lock held shorter than the busy timeout is waited out (the write is
    retried and succeeds, embedded); a PostgREST that stalls past BACKEND_TIMEOUT_SECONDS is a
    503 + Retry-After within that bound, named by readiness (production)."""
    rig = healthy
    if rig.chat_proxy is None:
        conn = sqlite3.connect(
            rig.data_dir / "chat.db", timeout=10, isolation_level=None, check_same_thread=False
        )
        conn.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(0.5, lambda: (conn.execute("ROLLBACK"), conn.close()))
        started = time.monotonic()
        release.start()
        response = requests.post(f"{rig.url}/chats", json={}, headers=rig.headers, timeout=30)
        release.join()
        assert response.status_code == 201, response.text
        assert time.monotonic() - started >= 0.4  # it waited for the lock, then wrote
        return
    rig.chat_proxy.set("hang")
    started = time.monotonic()
    assert_503(requests.post(f"{rig.url}/chats", json={}, headers=rig.headers, timeout=30))
    assert time.monotonic() - started < BACKEND_TIMEOUT * 4
    assert_names(rig, "chat_db")
    rig.chat_proxy.set("up")
    wait_ready(rig)
    assert requests.post(f"{rig.url}/chats", json={}, headers=rig.headers, timeout=30).ok


@production_only
def test_chat_db_fails_mid_run(healthy: Rig):
    """Chat DB gone while the model streams: the run still ends with exactly one `error`
    (backend_unavailable), sent live though it cannot be stored; the question stays; once the
    DB is back, asking again completes."""
    rig = healthy
    chat_id = new_question(rig)
    rig.fake.add(Reply(json=ANSWER, delay=0.15, chunk=12))

    def on_event(name: str) -> None:
        if name == "llm_token" and rig.chat_proxy.mode == "up":
            rig.chat_proxy.set("down")

    events = stream(rig, chat_id, on_event=on_event)
    name, data = ended_once(events)
    assert (name, data["code"]) == ("error", "backend_unavailable"), data
    rig.chat_proxy.set("up")
    wait_ready(rig)
    kept = messages(rig, chat_id)
    assert [m["role"] for m in kept] == ["user"]
    answered(rig, chat_id)
    assert [m["role"] for m in messages(rig, chat_id)] == ["user", "assistant"]


# --- object storage ---------------------------------------------------------------------------
@production_only
def test_storage_down_at_start(healthy: Rig):
    """S3 unreachable: readiness names storage, an upload is 503 + Retry-After; a question
    whose document lives in the bucket ends with one `error`; back up, it is answered."""
    rig = healthy
    chat_id = new_question(rig)
    rig.storage_proxy.set("down")
    assert_names(rig, "storage")
    upload = requests.post(
        f"{rig.url}/files/upload",
        headers=rig.headers,
        files={"file": ("notes.pdf", b"%PDF-1.4 notes", "application/pdf")},
        timeout=60,
    )
    assert_503(upload)
    ended_once(stream(rig, chat_id))
    rig.storage_proxy.set("up")
    wait_ready(rig)
    answered(rig, chat_id)


@production_only
def test_storage_slow(healthy: Rig):
    """S3 stalls past BACKEND_TIMEOUT_SECONDS: readiness names storage within its own bound,
    an upload is 503 + Retry-After (bounded by the timeout and its retries), then it resumes."""
    rig = healthy
    rig.storage_proxy.set("hang")
    started = time.monotonic()
    upload = requests.post(
        f"{rig.url}/files/upload",
        headers=rig.headers,
        files={"file": ("notes.pdf", b"%PDF-1.4 notes", "application/pdf")},
        timeout=60,
    )
    assert_503(upload)
    assert time.monotonic() - started < 30
    assert_names(rig, "storage")
    rig.storage_proxy.set("up")
    wait_ready(rig)


@production_only
def test_storage_fails_mid_run(healthy: Rig):
    """S3 gone after the model asked for a drawing (its render is to be stored with the
    chat): exactly one closing event, the question kept; back up, the answer completes."""
    rig = healthy
    chat_id = new_question(rig, "Что на общем виде плана?")
    rig.fake.add(Reply(json=WANTS_PLAN, delay=0.1, chunk=8))

    def on_event(name: str) -> None:
        if name == "llm_token" and rig.storage_proxy.mode == "up":
            rig.storage_proxy.set("down")

    ended_once(stream(rig, chat_id, on_event=on_event))
    rig.storage_proxy.set("up")
    wait_ready(rig)
    assert messages(rig, chat_id)[0]["role"] == "user"
    answered(rig, chat_id)


# --- Gemini -----------------------------------------------------------------------------------
def test_gemini_down_at_start(healthy: Rig):
    """Gemini unreachable (connection refused): the run ends with one `error`
    (llm_unavailable) after its bounded retries, the slot is free; back up, it is answered."""
    rig = healthy
    chat_id = new_question(rig)
    rig.gemini.set("down")
    name, data = ended_once(stream(rig, chat_id))
    assert (name, data["code"]) == ("error", "llm_unavailable"), data
    rig.gemini.set("up")
    assert [m["role"] for m in messages(rig, chat_id)] == ["user"]
    answered(rig, chat_id)


def test_gemini_fails_mid_run(healthy: Rig):
    """Gemini's stream breaks midway with 503 on every attempt: one `error`, the tokens already
    shown are not an answer (no assistant message); the next question is answered."""
    rig = healthy
    chat_id = new_question(rig)
    broken = Reply(json=ANSWER, status=503, error_after=2, chunk=12)
    rig.fake.add(broken, broken)
    name, data = ended_once(stream(rig, chat_id))
    assert (name, data["code"]) == ("error", "llm_unavailable"), data
    assert [m["role"] for m in messages(rig, chat_id)] == ["user"]
    answered(rig, chat_id)


def test_gemini_slow(healthy: Rig):
    """Gemini stalls (the proxy holds every answer): the run ends at RUN_TIMEOUT with one
    `error` (run_timeout), not later; back to normal, the next answer completes."""
    rig = healthy
    chat_id = new_question(rig)
    rig.gemini.set("hang")
    started = time.monotonic()
    name, data = ended_once(stream(rig, chat_id))
    assert name == "error" and data["code"] in ("run_timeout", "llm_unavailable"), data
    assert time.monotonic() - started < RUN_TIMEOUT + 10
    rig.gemini.set("up")
    answered(rig, chat_id)


# --- rendering --------------------------------------------------------------------------------
def clear_render_caches(rig: Rig) -> None:
    """No render of an earlier case is served: this host's cache and the shared level."""
    cleared = rig.server.flask("cache", "clear", "--yes")
    assert cleared.returncode == 0, cleared.stderr


def render_question(rig: Rig) -> tuple[str, list[tuple[str, dict]]]:
    chat_id = new_question(rig, "Что на общем виде плана?")
    rig.fake.add(Reply(json=WANTS_PLAN))
    return chat_id, stream(rig, chat_id)


def test_render_down_at_start(healthy: Rig):
    """Ghostscript fails: readiness names the renderer; a question that needs a drawing still
    ends with one closing event and no image; back up, the drawing is rendered."""
    rig = healthy
    clear_render_caches(rig)
    rig.gs_mode.write_text("fail")
    assert_names(rig, "renderer")
    chat_id, events = render_question(rig)
    ended_once(events)
    assert not [n for n, _ in events if n == "image_ready"]
    rig.gs_mode.write_text("ok")
    wait_ready(rig)
    rig.fake.add(Reply(json=WANTS_PLAN))
    events = answered(rig, chat_id)
    assert [d for n, d in events if n == "image_ready"]


def test_render_slow(healthy: Rig):
    """Ghostscript stalls: each render is stopped at RENDER_TIMEOUT_SECONDS (no process left),
    the run ends with one closing event; readiness names the renderer meanwhile."""
    rig = healthy
    clear_render_caches(rig)
    rig.gs_mode.write_text("slow")
    _, events = render_question(rig)
    ended_once(events)
    assert gs_processes(rig) == []  # each stalled render was stopped, not left running
    assert_names(rig, "renderer")


def test_render_fails_mid_run(healthy: Rig):
    """Ghostscript starts failing between two renders of one run: the run still ends with one
    closing event, the image rendered before the fault is kept with the chat."""
    rig = healthy
    chat_id = new_question(rig, "Что на общем виде плана и разрезе?")
    rig.fake.add(
        Reply(json=WANTS_PLAN),
        Reply(json={**WANTS_PLAN, "followup_images": ["DEMO-SECT-001"]}),
    )

    def on_event(name: str) -> None:
        if name == "image_ready":
            rig.gs_mode.write_text("fail")

    events = stream(rig, chat_id, on_event=on_event)
    ended_once(events)
    assert len([n for n, _ in events if n == "image_ready"]) >= 1


# --- the render cache's disk ------------------------------------------------------------------
def cache_files(rig: Rig) -> list[Path]:
    return [p for p in rig.cache_dir.glob("??/*.png")]


def test_corrupt_cache_file_is_rendered_again(healthy: Rig):
    """A cached render damaged on disk (same size, bytes flipped) is not served: it is rendered
    again, and the entry replaced by an intact PNG."""
    rig = healthy
    clear_render_caches(rig)
    chat_id, events = render_question(rig)
    ended_once(events)
    cached = cache_files(rig)
    assert cached, "the render was not cached"
    entry = cached[0]
    data = bytearray(entry.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    entry.write_bytes(bytes(data))
    rig.fake.add(Reply(json=WANTS_PLAN))
    events = answered(rig, chat_id)
    images = [d for n, d in events if n == "image_ready"]
    assert images
    png = requests.get(images[0]["url"], headers=rig.headers, timeout=30).content
    from webapp.evidence.pngmeta import png_intact

    assert png_intact(png)
    assert png_intact(entry.read_bytes())
    assert "damaged on disk" in rig.log_since_mark()


def test_cache_disk_full_serves_uncached(healthy: Rig):
    """The render cache's filesystem is full (a 1 MB tmpfs filled up, so writes fail with
    ENOSPC for real): renders are served uncached, a warning is logged, no half-written entry
    or temp file is left; with space again, renders are cached again."""
    rig = healthy
    full = rig.cache_dir
    clear_render_caches(rig)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full)], capture_output=True
    )
    if mounted.returncode != 0:
        missing(f"cannot mount a small tmpfs for the render cache: {mounted.stderr.decode()}")
    try:
        filler = full / "filler"
        with filler.open("wb") as out:
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
        _, events = render_question(rig)
        ended_once(events)
        assert [d for n, d in events if n == "image_ready"]
        assert cache_files(rig) == []
        assert "render cache put failed" in rig.log_since_mark()
        _, report = ready(rig)
        assert "no space" in report["checks"]["render_cache"].get("note", "")
        filler.unlink()
        _, events = render_question(rig)
        ended_once(events)
        assert cache_files(rig)
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)
