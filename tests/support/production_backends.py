"""A pytest plugin that reruns app-level suites on the production backends:

    .venv/bin/python -m pytest -p tests.support.production_backends tests/routes tests/pipeline

Every app built through `tests.conftest.app_settings` (imported by name or not), every gunicorn
server and `flask` command of tests/server then uses CHAT_DB=supabase (the PostgREST-compatible
server over a fresh PostgreSQL database per test) and STORAGE=s3 (a fresh moto bucket).
Tests marked `embedded_only` (they open the SQLite file or the objects folder directly) are
skipped with their reason.
"""

from __future__ import annotations

import pytest

from tests.support import backends


def pytest_configure(config: pytest.Config) -> None:
    backends.enable()


def pytest_report_header(config: pytest.Config) -> str:
    return f"backends: {backends.describe()}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("embedded_only")
    if marker is not None:
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"embedded backends only: {reason}")
