"""Shared fixtures: a real app on real SQLite files in a temporary DATA_DIR (or, under the
`tests.support.production_backends` plugin, on Supabase and S3 stand-ins), and users."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import backends
from tests.support.backends import production_settings
from webapp import create_app
from webapp.auth.tokens import generate_static_token, hash_token

# PostgreSQL, the PostgREST stand-in and moto (per session); whole-question sessions
pytest_plugins = ["tests.support.fixtures", "tests.support.chat_session"]

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-" + "x" * 40


def find_samples(root: Path = ROOT, env: dict | None = None) -> Path:
    """The third-party samples folder: $AIZOOMDOC_SAMPLES, else `shared/samples` next to the
    repository or in any folder above it (a clone elsewhere still finds them). When none
    exists, the first candidate is returned (tests then skip naming it)."""
    env = os.environ if env is None else env
    if env.get("AIZOOMDOC_SAMPLES"):
        return Path(env["AIZOOMDOC_SAMPLES"]).expanduser().resolve()
    candidates = [folder / "shared" / "samples" for folder in root.resolve().parents]
    return next((path for path in candidates if path.is_dir()), candidates[0])


SAMPLES = find_samples()


def app_settings(data_dir: Path, **extra: Any) -> dict[str, Any]:
    """Settings of a test app; the backends follow the session's choice (embedded unless the
    production plugin is on), and anything in `extra` wins."""
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
        **production_settings(extra),
        **extra,
    }


@pytest.fixture(autouse=True)
def bound_backends(request: pytest.FixtureRequest) -> Iterator[None]:
    """`app_settings` and `chat_sql` reach the running test's database and bucket through this
    (they are made on first use, and only under the production plugin by `app_settings`)."""
    backends.bind(request)
    yield
    backends.bind(None)


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


@pytest.fixture
def demo(app) -> str:
    """The demo set imported into `app` with `flask demo`: its document id."""
    result = app.test_cli_runner().invoke(args=["demo", "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def samples_dir(name: str) -> Path:
    """A folder of the third-party samples. Deliberately a skip even under CI: the samples are
    data from outside the repository, which a CI machine may not have."""
    path = SAMPLES / name
    if not path.is_dir():
        pytest.skip(f"third-party samples folder {path} not present (set AIZOOMDOC_SAMPLES)")
    return path


def sample_text(*parts: str) -> str:
    """Text of a sample file, or skip the test when the samples folder is not here (a skip even
    under CI, on purpose: the samples are third-party data outside the repository)."""
    path = SAMPLES.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"third-party sample {path} not present (set AIZOOMDOC_SAMPLES)")
    return path.read_text(encoding="utf-8")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server-workers",
        type=int,
        default=1,
        help="gunicorn workers of each server the tests in tests/server start (default 1)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"gunicorn workers per test server: {config.getoption('--server-workers')}"


os.environ.setdefault("AIZOOMDOC_TESTING", "1")
