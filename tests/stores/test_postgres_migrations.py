"""The PostgreSQL migrations on a real PostgreSQL 15: on a fresh database, and on a database the
reference server left behind (its schema, built from the reference facts, with rows), which the
Supabase stores must then read as the reference wrote it. Every migration is idempotent."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from flask import Flask

from tests.support.fixtures import apply_chat_migrations, create_reference_projects
from tests.support.postgres import apply_sql
from tests.support.postgrest import PostgrestServer
from tests.support.reference_schema import reference_chat_script, seed_reference_rows
from webapp.stores.chatdb.sqlite import SQLiteChatStore
from webapp.stores.chatdb.supabase import SupabaseChatStore, migration_files
from webapp.stores.projectsdb.supabase import SupabaseProjectsStore

KEY = "migration-test-key"
REFERENCE_TABLES = (
    "users",
    "prompts_system",
    "user_prompts",
    "settings",
    "storage_files",
    "chats",
    "chat_messages",
    "chat_images",
    "message_attachments",
    "search_results",
    "folders",
    "folder_items",
)


@pytest.fixture
def database(postgres_cluster):
    """A new, empty database: (cluster, name, dsn)."""
    name = postgres_cluster.create_database("migrations")
    yield postgres_cluster.dsn(name)
    postgres_cluster.drop_database(name)


def columns(dsn: str, tables: tuple[str, ...] | None = None) -> set[tuple]:
    """(table, column, type, nullable, default) of every column in `public`."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    return {r for r in rows if tables is None or r[0] in tables}


def constraints(dsn: str, tables: tuple[str, ...] | None = None) -> set[tuple]:
    """(table, definition) of every constraint, names left out (they may differ)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'"
        ).fetchall()
    return {r for r in rows if tables is None or r[0] in tables}


def snapshot(dsn: str) -> dict:
    """Everything a migration could change: columns, constraints, indexes, recorded versions,
    and row counts."""
    with psycopg.connect(dsn) as conn:
        indexes = set(
            conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        )
        versions = conn.execute(
            "SELECT version, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
        counts = {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for (table,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    return {
        "columns": columns(dsn),
        "constraints": constraints(dsn),
        "indexes": indexes,
        "versions": versions,
        "counts": counts,
    }


def test_fresh_database_gets_every_table_the_sqlite_store_has(database, tmp_path):
    apply_chat_migrations(database)
    with psycopg.connect(database) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [path.stem for path in migration_files()]
    assert versions == ["001_reference_schema", "002_aizoomdoc_v2", "003_runs_and_deletion"]

    sqlite_store = SQLiteChatStore(tmp_path / "chat.db")
    sqlite_store.init_schema()
    with sqlite3.connect(tmp_path / "chat.db") as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        expected = {
            (table, column[1])
            for table in tables
            for column in conn.execute(f'PRAGMA table_info("{table}")')
        }
    present = {(table, column) for table, column, *_ in columns(database)}
    assert expected - present == set()
    assert {(t, c) for t, c in present if t in REFERENCE_TABLES} >= {
        ("search_results", "coords_px"),
        ("folders", "slug"),
        ("folder_items", "added_at"),
    }


def test_migration_001_is_exactly_the_reference_schema(postgres_cluster, database):
    apply_sql(database, migration_files()[:1])
    reference = postgres_cluster.create_database("reference")
    try:
        reference_dsn = postgres_cluster.dsn(reference)
        with psycopg.connect(reference_dsn, autocommit=True) as conn:
            conn.execute(reference_chat_script())
        assert columns(database, REFERENCE_TABLES) == columns(reference_dsn, REFERENCE_TABLES)
        assert constraints(database, REFERENCE_TABLES) == constraints(
            reference_dsn, REFERENCE_TABLES
        )
    finally:
        postgres_cluster.drop_database(reference)


def test_migrations_are_idempotent(database):
    apply_chat_migrations(database)
    before = snapshot(database)
    apply_chat_migrations(database)
    assert snapshot(database) == before


def test_reference_database_is_upgraded_and_read_as_written(database):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(reference_chat_script())
    seeded = seed_reference_rows(database)
    reference_columns = columns(database)
    apply_chat_migrations(database)
    # Additive only: every reference column is still there, unchanged.
    assert reference_columns <= columns(database)
    migrated = snapshot(database)
    apply_chat_migrations(database)
    assert snapshot(database) == migrated

    with PostgrestServer(database, KEY) as server:
        store = SupabaseChatStore(server.url, KEY)
        assert store.init_schema() == []
        admin = store.get_user_by_username("admin")
        assert admin["static_token"] == "dev-static-token-admin-12345"
        assert admin["role"] == "admin" and admin["token_hash"] is None
        assert sorted(u["username"] for u in store.list_users()) == ["admin", "test_user"]

        settings = store.get_settings("test_user")
        assert settings["model_profile"] == "complex"
        assert settings["page_settings"] == {"theme": "dark"}
        assert settings["selected_role_prompt_id"] == seeded["role"]
        assert settings["temperature"] is None
        assert store.get_role(seeded["role"])["content"] == "Ты инженер"

        chats = store.list_chats("test_user", 10)
        assert [c["id"] for c in chats] == [seeded["chat"]]
        assert chats[0]["updated_at"] == "2025-01-01T10:05:00+00:00"
        history = store.list_messages(seeded["chat"], 10)
        assert [m["id"] for m in history] == seeded["messages"]
        assert history[1]["created_at"] == "2025-01-01T10:01:00.500000+00:00"
        assert history[0]["attachments"] is None
        assert store.list_messages(seeded["chat"], 10, before=seeded["messages"][1]) == history[:1]
        images = store.list_images(seeded["messages"])
        assert images[0]["storage_path"] == f"chat_images/{seeded['chat']}/a.png"

        # `flask users migrate-tokens` then stores hashes next to the reference columns.
        store.update_user(admin["id"], token_hash="h-admin", static_token="sha256:h-admin")
        assert store.get_user_by_token_hash("h-admin")["username"] == "admin"
        assert store.create_user("new", "h-new")["static_token"] == "sha256:h-new"

        # The purge removes the reference rows too (search_results points at messages).
        assert [f["id"] for f in store.chat_render_files(seeded["chat"])] == [seeded["file"]]
        for part in ("objects", "images", "runs", "messages", "files", "chat"):
            store.delete_chat_part(seeded["chat"], part)
        assert store.get_chat(seeded["chat"]) is None
        assert store.get_file(seeded["file"]) is None
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM search_results").fetchone()[0] == 0


def test_init_schema_names_the_missing_migrations(database):
    apply_sql(database, migration_files()[:2])
    with PostgrestServer(database, KEY) as server:
        with pytest.raises(RuntimeError, match="003_runs_and_deletion.*flask db sql"):
            SupabaseChatStore(server.url, KEY).init_schema()


def test_init_schema_on_an_empty_database_says_what_to_do(database):
    with PostgrestServer(database, KEY) as server:
        with pytest.raises(RuntimeError, match="001_reference_schema.*flask db sql"):
            SupabaseChatStore(server.url, KEY).init_schema()


def test_flask_db_sql_prints_a_script_that_applies_as_pasted(database):
    from webapp.stores.cli import init_app

    app = Flask(__name__)
    init_app(app)
    result = app.test_cli_runner().invoke(args=["db", "sql"])
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("-- ==== ")]
    assert [h.split()[2] for h in headers] == [p.stem for p in migration_files()]
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(result.output)
        conn.execute(result.output)  # pasting it again is harmless
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [p.stem for p in migration_files()]
    sqlite_output = app.test_cli_runner().invoke(args=["db", "sql", "--dialect", "sqlite"])
    assert "CREATE TABLE chat_runs" in sqlite_output.output


def test_projects_store_reads_the_reference_projects_tables(database):
    create_reference_projects(database)
    with psycopg.connect(database, autocommit=True) as conn:
        client = conn.execute(
            "INSERT INTO tree_nodes (client_id, node_type, name) VALUES ('c1', 'client', 'Клиент') "
            "RETURNING id"
        ).fetchone()[0]
        document = conn.execute(
            "INSERT INTO tree_nodes (parent_id, client_id, node_type, name, code, attributes, "
            "pdf_status) VALUES (%s, 'c1', 'document', 'Планы этажей', 'АР-4', "
            "'{\"pages\": 12}', 'ready') RETURNING id",
            (client,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO node_files (node_id, file_type, r2_key, file_name, created_at) VALUES "
            "(%s, 'pdf', 'tree_docs/d/a.pdf', 'a.pdf', '2025-01-01T00:00:00Z')",
            (document,),
        )
        job = conn.execute(
            "INSERT INTO jobs (client_id, document_id, document_name, node_id) "
            "VALUES ('c1', 'd', 'Планы этажей', %s) RETURNING id",
            (document,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO job_files (job_id, file_type, r2_key, file_name, file_size, created_at) "
            "VALUES (%s, 'result_md', 'tree_docs/d/x_document.md', 'x_document.md', 42, "
            "'2025-02-01T00:00:00Z'), (%s, 'ocr_html', 'tree_docs/d/x_ocr.html', 'x_ocr.html', "
            "7, '2025-01-15T00:00:00Z')",
            (job, job),
        )
    with PostgrestServer(database, KEY) as server:
        store = SupabaseProjectsStore(server.url, KEY)
        store.ping()
        assert [n["name"] for n in store.list_nodes()] == ["Клиент"]
        node = store.get_node(str(document))
        assert node["attributes"] == {"pages": 12} and node["pdf_status"] == "ready"
        assert [n["id"] for n in store.search_documents("ар-4", "c1", 5)] == [str(document)]
        files = store.list_files([str(document)])
        assert [(f["file_type"], f["job_id"]) for f in files] == [
            ("result_md", str(job)),
            ("ocr_html", str(job)),
            ("pdf", None),
        ]
        assert all(f["node_id"] == str(document) for f in files)
        assert files[0]["file_size"] == 42 and files[0]["metadata"] == {}
        md = store.list_files([str(document)], ("result_md",))
        assert [f["r2_key"] for f in md] == ["tree_docs/d/x_document.md"]
