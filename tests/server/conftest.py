"""A real gunicorn + gevent server on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

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

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    env: dict
    process: subprocess.Popen
    log: Path

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "flask"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def server_env(data_dir: Path, port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "R2_", "GOOGLE"))}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATA_DIR=str(data_dir),
        DEBUG="false",
        JWT_SECRET_KEY=TEST_SECRET,
        WEB_CONCURRENCY="1",
        LOG_LEVEL="INFO",
        DEFAULT_GEMINI_API_KEY="",
        LLM_PROVIDER="local",
        AIZOOMDOC_ENV_FILE="",
        **extra,
    )
    return env


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    port = free_port()
    env = server_env(tmp_path / "data", port)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", env, process, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(server.url + "/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.2)
    try:
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
