"""Shared fixtures: a real app on real SQLite files in a temporary DATA_DIR, and users."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from webapp import create_app
from webapp.auth.tokens import generate_static_token, hash_token

# PostgreSQL, the PostgREST stand-in and moto (per session); whole-question sessions
pytest_plugins = ["tests.support.fixtures", "tests.support.chat_session"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = (ROOT.parent / "shared" / "samples").resolve()
TEST_SECRET = "test-secret-" + "x" * 40


def app_settings(data_dir: Path, **extra) -> dict:
    return {
        "TESTING": True,
        "DEBUG": False,
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(data_dir),
        "AUTH_CACHE_SECONDS": 0,
        "LOG_LEVEL": "WARNING",
        "CHAT_DB": "sqlite",
        "PROJECTS_DB": "sqlite",
        "STORAGE": "local",
        "LLM_PROVIDER": "local",
        **extra,
    }


@pytest.fixture
def app(tmp_path: Path):
    return create_app(app_settings(tmp_path / "data"))


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class User:
    id: str
    username: str
    token: str
    access: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access}"}


@pytest.fixture
def make_user(app, client) -> Callable[..., User]:
    """Create a user in the chat DB and exchange its token through the API."""

    def make(username: str = "alice", role: str = "user") -> User:
        token = generate_static_token()
        with app.app_context():
            from webapp.stores import chat_db

            row = chat_db().create_user(username, hash_token(token), role)
        response = client.post("/auth/exchange", json={"static_token": token})
        assert response.status_code == 200, response.json
        return User(row["id"], username, token, response.json["access_token"])

    return make


@pytest.fixture
def alice(make_user) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user) -> User:
    return make_user("bob")


def samples_dir(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_dir():
        pytest.skip(f"samples folder {path} not present")
    return path


os.environ.setdefault("AIZOOMDOC_TESTING", "1")
