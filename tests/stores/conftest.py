"""Store implementations under one contract: each fixture is parametrized over every backend
that can run here: SQLite and local files, Supabase through a PostgREST-compatible server over a
real PostgreSQL 15, and S3 on a moto server."""

from __future__ import annotations

import pytest

from tests.support.fixtures import insert_row


@pytest.fixture(params=["sqlite", "supabase"])
def chat_store(request, tmp_path):
    if request.param == "sqlite":
        from webapp.stores.chatdb.sqlite import SQLiteChatStore

        store = SQLiteChatStore(tmp_path / "chat.db")
    else:
        from webapp.stores.chatdb.supabase import SupabaseChatStore

        database = request.getfixturevalue("supabase_chat_db")
        store = SupabaseChatStore(database.url, database.key)
    store.init_schema()
    return store


@pytest.fixture(params=["sqlite", "supabase"])
def projects_store(request, tmp_path):
    """(store, seed) — `seed(**node)` / `seed_file(**file)` write through the backend's own path."""
    if request.param == "sqlite":
        from webapp.stores.projectsdb.sqlite import SQLiteProjectsStore

        store = SQLiteProjectsStore(tmp_path / "projects.db")
        store.init_schema()
        return store, store.upsert_node, store.upsert_node_file
    if request.param == "supabase":
        from webapp.stores.projectsdb.supabase import SupabaseProjectsStore

        database = request.getfixturevalue("supabase_projects_db")
        store = SupabaseProjectsStore(database.url, database.key)
        return (
            store,
            lambda **node: insert_row(database.dsn, "tree_nodes", node),
            lambda **file: insert_row(database.dsn, "node_files", file),
        )
    raise AssertionError(request.param)


@pytest.fixture(params=["local", "s3"])
def object_store(request, tmp_path):
    if request.param == "local":
        from webapp.stores.objects.local import LocalObjectStore

        return LocalObjectStore(tmp_path / "objects")
    if request.param == "s3":
        from webapp.stores.objects.s3 import S3ObjectStore

        bucket = request.getfixturevalue("s3_bucket")
        return S3ObjectStore(
            bucket.endpoint_url, bucket.access_key_id, bucket.secret_access_key, bucket.name
        )
    raise AssertionError(request.param)
