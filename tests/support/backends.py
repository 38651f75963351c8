"""Which backends the apps built by the tests use.

By default every app is embedded (SQLite files and the objects folder under a temp DATA_DIR).
The `tests.support.production_backends` plugin switches the whole session to the production
ones: `production_settings()` then hands `app_settings` (tests/conftest.py) the settings of a
fresh PostgREST-backed chat database and a fresh moto bucket for the running test, and
`production_env()` the same as environment variables for the servers and CLI commands a test
starts. The switch lives here, not in a monkeypatched `app_settings`, so that tests importing
`app_settings` by name get it too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

_enabled = False
_request: pytest.FixtureRequest | None = None

CHAT_KEYS = ("CHAT_DB", "SUPABASE_URL", "SUPABASE_SERVICE_KEY")
STORAGE_KEYS = (
    "STORAGE",
    "R2_ENDPOINT_URL",
    "R2_ACCESS_KEY_ID",
    "R2_SECRET_ACCESS_KEY",
    "R2_BUCKET_NAME",
)


def enable() -> None:
    """Called once by the plugin: every app of this session runs on the production backends."""
    global _enabled
    _enabled = True


def production() -> bool:
    return _enabled


def bind(request: pytest.FixtureRequest | None) -> None:
    """The running test (bound by tests/conftest.py for every test), whose fixtures provide the
    database and the bucket."""
    global _request
    _request = request


def production_settings(explicit: Mapping[str, Any] = ()) -> dict[str, Any]:
    """Settings that put an app on the production backends ({} when embedded).

    A backend the caller chose itself (`CHAT_DB` or `STORAGE` in `explicit`) is left alone, and
    the database or bucket is only made when a test really builds an app.
    """
    if not _enabled:
        return {}
    if _request is None:
        raise RuntimeError("production backends are on, but no test is running")
    values: dict[str, Any] = {}
    if "CHAT_DB" not in explicit:
        chat = _request.getfixturevalue("supabase_chat_db")
        values.update(CHAT_DB="supabase", SUPABASE_URL=chat.url, SUPABASE_SERVICE_KEY=chat.key)
    if "STORAGE" not in explicit:
        bucket = _request.getfixturevalue("s3_bucket")
        values.update(
            STORAGE="s3",
            R2_ENDPOINT_URL=bucket.endpoint_url,
            R2_ACCESS_KEY_ID=bucket.access_key_id,
            R2_SECRET_ACCESS_KEY=bucket.secret_access_key,
            R2_BUCKET_NAME=bucket.name,
        )
    return values


def production_env() -> dict[str, str]:
    """`production_settings()` as environment variables (for gunicorn and `flask` commands)."""
    return {name: str(value) for name, value in production_settings().items()}


def chat_sql(config: Mapping[str, Any], query: str, params: tuple = ()) -> list[tuple]:
    """Rows of one raw SQL query (`?` placeholders) on the chat database an app uses, SQLite
    file or PostgreSQL, for tests that check what is stored beyond what the API shows."""
    if config["CHAT_DB"] == "sqlite":
        with closing(sqlite3.connect(Path(config["DATA_DIR"]) / "chat.db")) as conn:
            return conn.execute(query, params).fetchall()
    import psycopg

    database = _request.getfixturevalue("supabase_chat_db") if _request else None
    if database is None or database.url != config["SUPABASE_URL"]:
        raise RuntimeError("this app's chat database is not the running test's supabase_chat_db")
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        return conn.execute(query.replace("?", "%s"), params).fetchall()


def describe() -> str:
    return "production (supabase + s3)" if _enabled else "embedded (sqlite + local)"
