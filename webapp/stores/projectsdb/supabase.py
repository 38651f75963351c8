"""The projects database on Supabase (the reference tables), read through PostgREST.

Read-only: this server never writes the projects tree; the reference tooling fills it.
"""

from __future__ import annotations

from typing import Any

from webapp.stores.chatdb.base import Row
from webapp.stores.postgrest import (
    chunks,
    contains_pattern,
    create_client,
    fetch_all,
    first,
    is_uuid,
    parse_timestamp,
    quote,
    rows,
)
from webapp.stores.projectsdb.base import ProjectsStore

NODE_FILE_COLUMNS = "id,node_id,file_type,r2_key,file_name,file_size,mime_type,metadata,created_at"
JOB_FILE_COLUMNS = "id,job_id,file_type,r2_key,file_name,file_size,created_at"


class SupabaseProjectsStore(ProjectsStore):
    def __init__(self, url: str, key: str, timeout: float = 30.0) -> None:
        self.client = create_client(url, key, "SUPABASE_PROJECTS_URL", timeout)

    def _table(self, name: str) -> Any:
        return self.client.table(name)

    def ping(self) -> None:
        self._table("tree_nodes").select("id").limit(1).execute()

    def list_nodes(
        self,
        client_id: str | None = None,
        parent_id: str | None = None,
        node_type: str | None = None,
        all_nodes: bool = False,
    ) -> list[Row]:
        if not all_nodes and parent_id is not None and not is_uuid(parent_id):
            return []

        def build() -> Any:
            query = self._table("tree_nodes").select("*")
            if not all_nodes:
                if parent_id is None:
                    query = query.is_("parent_id", None)
                else:
                    query = query.eq("parent_id", parent_id)
            if client_id is not None:
                query = query.eq("client_id", client_id)
            if node_type is not None:
                query = query.eq("node_type", node_type)
            return query.order("sort_order").order("name").order("id")

        return fetch_all(build)

    def get_node(self, node_id: str) -> Row | None:
        if not is_uuid(node_id):
            return None
        return first(self._table("tree_nodes").select("*").eq("id", node_id).limit(1).execute())

    def search_documents(self, query: str, client_id: str | None, limit: int) -> list[Row]:
        pattern = quote(contains_pattern(query))
        # PostgREST has no escape for `*`: such a query matches loosely here and is re-checked.
        recheck = "*" in query
        request = (
            self._table("tree_nodes")
            .select("*")
            .eq("node_type", "document")
            .or_(f"name.ilike.{pattern},code.ilike.{pattern}")
        )
        if client_id is not None:
            request = request.eq("client_id", client_id)
        request = request.order("sort_order").order("name").order("id")
        if not recheck:
            return rows(request.limit(limit).execute())
        needle = query.casefold()
        found = [
            node
            for node in rows(request.execute())
            if needle in (node.get("name") or "").casefold()
            or needle in (node.get("code") or "").casefold()
        ]
        return found[:limit]

    def list_files(
        self, node_ids: list[str], file_types: tuple[str, ...] | None = None
    ) -> list[Row]:
        ids = [n for n in dict.fromkeys(node_ids) if is_uuid(n)]
        files: list[Row] = []
        for batch in chunks(ids):
            files += [
                {**f, "job_id": None}
                for f in self._select_files(
                    "node_files", NODE_FILE_COLUMNS, "node_id", batch, file_types
                )
            ]
            jobs = fetch_all(
                lambda batch=batch: self._table("jobs")
                .select("id,node_id")
                .in_("node_id", batch)
                .order("id")
            )
            job_nodes = {job["id"]: job["node_id"] for job in jobs}
            for job_batch in chunks(job_nodes):
                for f in self._select_files(
                    "job_files", JOB_FILE_COLUMNS, "job_id", job_batch, file_types
                ):
                    files.append(
                        {**f, "node_id": job_nodes[f["job_id"]], "mime_type": None, "metadata": {}}
                    )
        files.sort(key=lambda f: parse_timestamp(f["created_at"]), reverse=True)
        return files

    def _select_files(
        self,
        table: str,
        columns: str,
        key: str,
        values: list[str],
        file_types: tuple[str, ...] | None,
    ) -> list[Row]:
        def build() -> Any:
            query = self._table(table).select(columns).in_(key, values)
            if file_types:
                query = query.in_("file_type", list(file_types))
            return query.order("created_at", desc=True).order("id")

        return fetch_all(build)
