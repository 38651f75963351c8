"""Store implementations under one contract: each fixture is parametrized over every backend
that can run here. Later backends (Supabase over PostgREST, S3 on moto) join the params."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite"])
def chat_store(request, tmp_path):
    if request.param == "sqlite":
        from webapp.stores.chatdb.sqlite import SQLiteChatStore

        store = SQLiteChatStore(tmp_path / "chat.db")
    store.init_schema()
    return store


@pytest.fixture(params=["sqlite"])
def projects_store(request, tmp_path):
    """(store, seed) — `seed(**node)` / `seed_file(**file)` write through the backend's own path."""
    if request.param == "sqlite":
        from webapp.stores.projectsdb.sqlite import SQLiteProjectsStore

        store = SQLiteProjectsStore(tmp_path / "projects.db")
        store.init_schema()
        return store, store.upsert_node, store.upsert_node_file
    raise AssertionError(request.param)


@pytest.fixture(params=["local"])
def object_store(request, tmp_path):
    if request.param == "local":
        from webapp.stores.objects.local import LocalObjectStore

        return LocalObjectStore(tmp_path / "objects")
    raise AssertionError(request.param)
