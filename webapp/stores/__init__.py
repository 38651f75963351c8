"""The stores behind small interfaces: chat DB, projects DB and objects (SPEC §3).

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
    if config["CHAT_DB"] == "sqlite":
        from webapp.stores.chatdb.sqlite import SQLiteChatStore

        chat: ChatStore = SQLiteChatStore(data_dir / "chat.db")
    else:
        raise NotImplementedError("CHAT_DB=supabase is not available in this build yet")
    if config["PROJECTS_DB"] == "sqlite":
        from webapp.stores.projectsdb.sqlite import SQLiteProjectsStore

        projects: ProjectsStore = SQLiteProjectsStore(data_dir / "projects.db")
    else:
        raise NotImplementedError("PROJECTS_DB=supabase is not available in this build yet")
    if config["STORAGE"] == "local":
        from webapp.stores.objects.local import LocalObjectStore

        objects: ObjectStore = LocalObjectStore(data_dir / "objects")
    else:
        raise NotImplementedError("STORAGE=s3 is not available in this build yet")
    return Stores(chat, projects, objects)


def init_schema(stores: Stores) -> dict[str, list[str]]:
    """Create or upgrade what the server may create (the embedded databases); idempotent."""
    applied = {"chat": stores.chat.init_schema()}
    init_projects = getattr(stores.projects, "init_schema", None)
    if init_projects:
        applied["projects"] = init_projects()
    return applied


def init_app(app: Flask) -> None:
    stores = build_stores(app.config)
    app.extensions[EXTENSION] = stores
    if app.config.get("AUTO_INIT_SCHEMA", True):
        init_schema(stores)


def stores() -> Stores:
    return current_app.extensions[EXTENSION]


def chat_db() -> ChatStore:
    return stores().chat


def projects_db() -> ProjectsStore:
    return stores().projects


def objects() -> ObjectStore:
    return stores().objects
