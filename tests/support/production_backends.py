"""A pytest plugin that reruns app-level suites on the production backends:

    .venv/bin/python -m pytest -p tests.support.production_backends tests/api tests/pipeline

Every app built by `tests.conftest.app_settings` then uses CHAT_DB=supabase (the
PostgREST-compatible server over a fresh PostgreSQL database per test) and STORAGE=s3 (a fresh
moto bucket). Tests that open the SQLite file or the objects folder directly do not apply there.
"""

from __future__ import annotations

import pytest

from tests.support.fixtures import (  # noqa: F401 - fixtures used through getfixturevalue
    moto_server,
    postgres_cluster,
    s3_bucket,
    supabase_chat_db,
)


@pytest.fixture(autouse=True)
def production_backends(request, monkeypatch):
    import tests.conftest as root

    chat = request.getfixturevalue("supabase_chat_db")
    bucket = request.getfixturevalue("s3_bucket")
    embedded = root.app_settings

    def settings(data_dir, **extra):
        values = embedded(data_dir, **extra)
        values.update(
            CHAT_DB="supabase",
            SUPABASE_URL=chat.url,
            SUPABASE_SERVICE_KEY=chat.key,
            STORAGE="s3",
            R2_ENDPOINT_URL=bucket.endpoint_url,
            R2_ACCESS_KEY_ID=bucket.access_key_id,
            R2_SECRET_ACCESS_KEY=bucket.secret_access_key,
            R2_BUCKET_NAME=bucket.name,
        )
        return values

    monkeypatch.setattr(root, "app_settings", settings)
