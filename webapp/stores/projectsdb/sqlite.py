"""The projects database in a SQLite file, filled by `flask projects import`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from webapp.offhub import off_hub_methods
from webapp.stores.chatdb.base import Row
from webapp.stores.projectsdb.base import ProjectsStore
from webapp.stores.sqlite import SQLiteStore, placeholders, utcnow

MIGRATIONS = Path(__file__).parent / "migrations" / "sqlite"


def _node(row: Row) -> Row:
    if isinstance(row.get("attributes"), str):
        row["attributes"] = json.loads(row["attributes"] or "{}")
    if isinstance(row.get("metadata"), str):
        row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


@off_hub_methods  # each public call is one unit of work on a pool thread: one hop
class SQLiteProjectsStore(SQLiteStore, ProjectsStore):
    migrations = MIGRATIONS
    ping_table = "tree_nodes"

    def list_nodes(
        self,
        client_id: str | None = None,
        parent_id: str | None = None,
        node_type: str | None = None,
        all_nodes: bool = False,
    ) -> list[Row]:
        where, params = [], []
        if not all_nodes:
            if parent_id is None:
                where.append("parent_id IS NULL")
            else:
                where.append("parent_id = ?")
                params.append(parent_id)
        for column, value in (("client_id", client_id), ("node_type", node_type)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT * FROM tree_nodes {clause} ORDER BY sort_order, name", params
            ).fetchall()
        return [_node(r) for r in rows]

    def get_node(self, node_id: str) -> Row | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM tree_nodes WHERE id = ?", (node_id,)).fetchone()
        return _node(row) if row else None

    def search_documents(self, query: str, client_id: str | None, limit: int) -> list[Row]:
        needle = query.casefold()
        params: list[Any] = [needle, needle]
        client = ""
        if client_id is not None:
            client = "AND client_id = ?"
            params.append(client_id)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM tree_nodes WHERE node_type = 'document' AND "
                "(instr(casefold(name), ?) > 0 OR instr(casefold(coalesce(code, '')), ?) > 0) "
                f"{client} ORDER BY sort_order, name LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_node(r) for r in rows]

    def list_files(
        self, node_ids: list[str], file_types: tuple[str, ...] | None = None
    ) -> list[Row]:
        if not node_ids:
            return []
        nodes = placeholders(node_ids)
        types, type_params = "", []
        if file_types:
            types = f"AND file_type IN ({placeholders(file_types)})"
            type_params = list(file_types)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id, node_id, NULL AS job_id, file_type, r2_key, file_name, file_size, "
                "mime_type, metadata, created_at FROM node_files "
                f"WHERE node_id IN ({nodes}) {types} UNION ALL "
                "SELECT f.id, j.node_id, f.job_id, f.file_type, f.r2_key, f.file_name, "
                "f.file_size, "
                "NULL, '{}', f.created_at FROM job_files f JOIN jobs j ON j.id = f.job_id "
                f"WHERE j.node_id IN ({nodes}) {types.replace('file_type', 'f.file_type')} "
                "ORDER BY created_at DESC",
                (*node_ids, *type_params, *node_ids, *type_params),
            ).fetchall()
        return [_node(r) for r in rows]

    # --- writing: only the embedded store is written, by `flask projects import` and `demo` -----
    def upsert_node(self, **fields: Any) -> Row:
        """Insert or update a node by id (generated when absent); return it."""
        now = utcnow()
        row = {"id": str(uuid.uuid4()), "created_at": now, "updated_at": now, **fields}
        row["attributes"] = json.dumps(row.get("attributes") or {}, ensure_ascii=False)
        columns = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("id", "created_at"))
        with self.db.write() as conn:
            conn.execute(
                f"INSERT INTO tree_nodes ({columns}) VALUES ({placeholders(row)}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                tuple(row.values()),
            )
        return self.get_node(row["id"])  # type: ignore[return-value]

    def upsert_node_file(self, **fields: Any) -> Row:
        """Insert or update a node file by (node_id, r2_key)."""
        now = utcnow()
        row = {"id": str(uuid.uuid4()), "created_at": now, "updated_at": now, **fields}
        row["metadata"] = json.dumps(row.get("metadata") or {}, ensure_ascii=False)
        columns = ", ".join(row)
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in row if c not in ("id", "created_at", "node_id", "r2_key")
        )
        with self.db.write() as conn:
            conn.execute(
                f"INSERT INTO node_files ({columns}) VALUES ({placeholders(row)}) "
                f"ON CONFLICT (node_id, r2_key) DO UPDATE SET {updates}",
                tuple(row.values()),
            )
            saved = conn.execute(
                "SELECT * FROM node_files WHERE node_id = ? AND r2_key = ?",
                (row["node_id"], row["r2_key"]),
            ).fetchone()
        return _node(saved)
