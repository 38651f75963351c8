"""Real gunicorn + gevent servers on 127.0.0.1, started and stopped by the tests.

Each server runs `--server-workers` gevent workers (default 1; scripts/test also runs this folder
with 2, where a stream may land on a process other than the one running the answer), on the
session's backends (the production ones under -p tests.support.production_backends).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, TEST_SECRET
from tests.support.backends import production_env

BIN = Path(sys.executable).parent
WORKERS = {"count": 1}  # set from --server-workers for the session


@pytest.fixture(autouse=True)
def server_workers(request: pytest.FixtureRequest) -> int:
    """The workers per server; tests that need exactly one say so with `single_worker`."""
    count = request.config.getoption("--server-workers")
    WORKERS["count"] = count
    marker = request.node.get_closest_marker("single_worker")
    if marker is not None and count != 1:
        pytest.skip(f"needs one gunicorn worker: {marker.args[0]}")
    return count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, port: int, **extra: object) -> dict[str, str]:
    """The environment of a server or `flask` command: this session's backends and workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "R2_", "GOOGLE"))}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATA_DIR=str(data_dir),
        DEBUG="false",
        JWT_SECRET_KEY=TEST_SECRET,
        WEB_CONCURRENCY=str(WORKERS["count"]),
        LOG_LEVEL="INFO",
        DEFAULT_GEMINI_API_KEY="",
        LLM_PROVIDER="local",
        AIZOOMDOC_ENV_FILE="",
        **production_env(),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def chat_config(env: dict[str, str]) -> dict[str, str]:
    """What `chat_sql` needs to read the chat database of a server started with `env`."""
    return {
        "CHAT_DB": env.get("CHAT_DB", "sqlite"),
        "DATA_DIR": env["DATA_DIR"],
        "SUPABASE_URL": env.get("SUPABASE_URL", ""),
    }


def flask(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


@dataclass
class LiveServer:
    url: str
    env: dict
    process: subprocess.Popen
    log: Path

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return flask(self.env, *args)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(env: dict, log: Path) -> LiveServer:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{env['PORT']}", env, process, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(server.url + "/health", timeout=1).status_code == 200:
                return server
        except requests.RequestException:  # refused, or busy warming up
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("gunicorn did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.2)


@pytest.fixture
def servers(tmp_path) -> Iterator[list]:
    """Start servers with `servers.append(start_server(...))`; all are stopped afterwards."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def live_server(tmp_path, servers) -> LiveServer:
    env = server_env(tmp_path / "data", free_port())
    server = start_server(env, tmp_path / "gunicorn.log")
    servers.append(server)
    return server


class SSE:
    """Reads a live SSE response event by event (and counts `: ping` comments)."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.lines = self._lines(response)
        self.pings = 0

    @staticmethod
    def _lines(response: requests.Response) -> Iterator[str]:
        """Lines as they arrive (iter_lines would wait for a 512-byte chunk)."""
        while True:
            raw = response.raw.readline()
            if not raw:
                return
            yield raw.decode("utf-8").rstrip("\r\n")

    def __iter__(self) -> Iterator[tuple[int | None, str, dict]]:
        fields: dict[str, str] = {}
        for line in self.lines:
            if line is None:
                continue
            if line == "":
                if "event" in fields:
                    seq = int(fields["id"]) if "id" in fields else None
                    yield seq, fields["event"], json.loads(fields["data"])
                fields = {}
            elif line.startswith(":"):
                self.pings += 1
            elif ": " in line:
                key, value = line.split(": ", 1)
                fields[key] = value

    def until(self, name: str) -> None:
        """Read (and drop) events up to and including the first `name`."""
        for _, event, _ in self:
            if event == name:
                return

    def close(self) -> None:
        self.response.close()
