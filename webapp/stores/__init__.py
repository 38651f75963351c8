"""The stores behind small interfaces: chat DB, projects DB and objects.

`init_app` builds the implementations the configuration asks for; routes and services reach
them through `chat_db()`, `projects_db()` and `objects()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from webapp.stores.chatdb.base import ChatStore
from webapp.stores.objects.base import ObjectStore
from webapp.stores.projectsdb.base import ProjectsStore

EXTENSION = "aizoomdoc.stores"


@dataclass
class Stores:
    chat: ChatStore
    projects: ProjectsStore
    objects: ObjectStore


def build_stores(config: dict) -> Stores:
    data_dir = Path(config["DATA_DIR"])
    busy = float(config.get("SQLITE_BUSY_TIMEOUT_SECONDS", 10.0))
    timeout = float(config.get("BACKEND_TIMEOUT_SECONDS", 30.0))
    if config["CHAT_DB"] == "sqlite":
        from webapp.stores.chatdb.sqlite import SQLiteChatStore

        chat: ChatStore = SQLiteChatStore(data_dir / "chat.db", busy)
    else:
        from webapp.stores.chatdb.supabase import SupabaseChatStore

        chat = SupabaseChatStore(
            config.get("SUPABASE_URL", ""),
            config.get("SUPABASE_SERVICE_KEY") or config.get("SUPABASE_ANON_KEY", ""),
            timeout,
        )
    if config["PROJECTS_DB"] == "sqlite":
        from webapp.stores.projectsdb.sqlite import SQLiteProjectsStore

        projects: ProjectsStore = SQLiteProjectsStore(data_dir / "projects.db", busy)
    else:
        from webapp.stores.projectsdb.supabase import SupabaseProjectsStore

        projects = SupabaseProjectsStore(
            config.get("SUPABASE_PROJECTS_URL", ""),
            config.get("SUPABASE_PROJECTS_SERVICE_KEY")
            or config.get("SUPABASE_PROJECTS_ANON_KEY", ""),
            timeout,
        )
    if config["STORAGE"] == "local":
        from webapp.stores.objects.local import LocalObjectStore

        objects: ObjectStore = LocalObjectStore(data_dir / "objects")
    else:
        from webapp.stores.objects.s3 import S3ObjectStore, public_base_url

        objects = S3ObjectStore(
            config.get("R2_ENDPOINT_URL", ""),
            config.get("R2_ACCESS_KEY_ID", ""),
            config.get("R2_SECRET_ACCESS_KEY", ""),
            config.get("R2_BUCKET_NAME", ""),
            public_base=public_base_url(config),
            timeout=timeout,
        )
    return Stores(chat, projects, objects)


def init_schema(stores: Stores) -> dict[str, list[str]]:
    """Create or upgrade what the server may create (the embedded databases); idempotent."""
    applied = {"chat": stores.chat.init_schema()}
    init_projects = getattr(stores.projects, "init_schema", None)
    if init_projects:
        applied["projects"] = init_projects()
    return applied


def init_app(app: Flask) -> None:
    from webapp.stores import unavailable

    unavailable.init_app(app)
    stores = build_stores(app.config)
    app.extensions[EXTENSION] = stores
    if app.config.get("AUTO_INIT_SCHEMA", True):
        init_schema(stores)


def stores(app: Flask | None = None) -> Stores:
    """The app's stores (the current app's by default)."""
    return (app or current_app).extensions[EXTENSION]


def chat_db() -> ChatStore:
    return stores().chat


def projects_db() -> ProjectsStore:
    return stores().projects


def objects() -> ObjectStore:
    return stores().objects
