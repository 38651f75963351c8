"""The server keeps the contract of its /openapi.json: schemathesis fuzzes a real gunicorn server
(examples, coverage and fuzzing phases, every check), seeded and bounded so it is the same run
each time and takes about a minute. scripts/fuzz runs the unbounded, unseeded version.

Every check runs, none excluded; tests/support/schemathesis.toml holds the two adjustments of their
expected statuses, each with its reason (422 for attachment ids that name nothing; gunicorn's 414
as a rejection of overlong queries). The stream's events are validated too: schemathesis reads
text/event-stream and checks each event against the documented event schema.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.server.conftest import LiveServer, flask, free_port, server_env, start_server
from tests.support import contract

SEED = 20261202
MAX_EXAMPLES = 100  # per operation and phase; about a minute on two cores


@pytest.fixture
def fuzz_target(tmp_path: Path, servers: list) -> tuple[LiveServer, str, str]:
    """A server with the demo set and a user: (server, the user's static token, document id)."""
    env = server_env(tmp_path / "data", free_port())
    demo = flask(env, "demo", "--quiet")
    assert demo.returncode == 0, demo.stderr
    user = flask(env, "users", "create", "fuzzer")
    assert user.returncode == 0, user.stderr
    server = start_server(env, tmp_path / "gunicorn.log")
    servers.append(server)
    return server, user.stdout.strip().splitlines()[-1], demo.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_server_keeps_its_openapi_contract(fuzz_target, tmp_path):
    server, token, document_id = fuzz_target
    data = contract.prepare(server.url, token, document_id)
    outcome = contract.run(
        server.url,
        token,
        data,
        workdir=tmp_path / "schemathesis",
        seed=SEED,
        max_examples=MAX_EXAMPLES,
        timeout=600,
    )
    assert outcome.returncode == 0, "schemathesis found problems:\n" + outcome.findings
    tested, total = outcome.tested
    assert tested == total > 20, outcome.output
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-5000:]
    streamed = re.findall(rf'"path": "/chats/{data["chat_id"]}/stream", "status": (\d+)', log)
    assert {"200", "409", "422"} <= set(streamed), streamed  # answers, resumes, bad headers
