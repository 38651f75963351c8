"""`flask users …` through the real CLI: static tokens created, blocked, rotated, migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.backends import chat_sql
from webapp.auth.tokens import hash_token


def _exchange(client, token: str, status: int, error: str | None = None) -> None:
    response = client.post("/auth/exchange", json={"static_token": token})
    assert response.status_code == status, response.json
    if error:
        assert response.json["error"] == error
    else:
        assert response.json["token_type"] == "bearer"


def test_users_create_list_block_unblock_rotate(app, client):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["users", "create", "erin"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 43
    _exchange(client, token, 200)
    stored = chat_sql(app.config, "SELECT static_token, token_hash FROM users")
    assert len(stored) == 1 and token not in stored[0] and stored[0][1] == hash_token(token)

    duplicate = runner.invoke(args=["users", "create", "erin"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output

    listed = runner.invoke(args=["users", "list"])
    assert "erin" in listed.output and "active" in listed.output

    assert runner.invoke(args=["users", "block", "erin"]).exit_code == 0
    _exchange(client, token, 403, "user_blocked")
    assert runner.invoke(args=["users", "unblock", "erin"]).exit_code == 0
    _exchange(client, token, 200)

    rotated = runner.invoke(args=["users", "rotate-token", "erin"])
    new_token = rotated.stdout.strip().splitlines()[-1]
    assert new_token != token
    _exchange(client, token, 401, "invalid_static_token")
    _exchange(client, new_token, 200)
    assert runner.invoke(args=["users", "block", "nobody"]).exit_code != 0


@pytest.mark.embedded_only(
    "writes reference rows into chat.db; on PostgreSQL see "
    "tests/production/test_whole_chat.py::test_app_moves_onto_a_reference_database"
)
def test_migrate_reference_tokens(app, client):
    """A reference database keeps tokens in plain text; migration hashes them in place."""
    with sqlite3.connect(Path(app.config["DATA_DIR"]) / "chat.db") as conn:
        conn.execute(
            "INSERT INTO users (id, username, static_token, status, role, created_at) VALUES "
            "('u1', 'admin', 'dev-static-token-admin-12345', 'active', 'admin', '2026-01-01'),"
            "('u2', 'strong', 'Zq8v3LwX2mYk9pRt6sUe4aHj7bNc5dFg1', 'active', 'user', '2026-01-01')"
        )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "migrate-tokens"])
    assert result.exit_code == 0, result.output
    assert "Hashed 2 token(s)" in result.output
    assert "admin" in result.output.split("Weak tokens")[1] and "strong" not in result.output
    with sqlite3.connect(Path(app.config["DATA_DIR"]) / "chat.db") as conn:
        plain = conn.execute("SELECT count(*) FROM users WHERE static_token LIKE 'dev-%'")
        assert plain.fetchone()[0] == 0
    _exchange(client, "Zq8v3LwX2mYk9pRt6sUe4aHj7bNc5dFg1", 200)
    assert "Hashed 0" in runner.invoke(args=["users", "migrate-tokens"]).output
