"""The projects database interface: the read-only tree of clients, projects and documents.

Rows are plain dicts with the reference columns (`tree_nodes`, `node_files`, `jobs`, `job_files`).
Every implementation passes `tests/stores/test_projectsdb_contract.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from webapp.stores.chatdb.base import Row

NODE_TYPES = ("client", "project", "section", "stage", "task", "document")
DOCUMENT_RESULT_TYPES = ("result_md", "blocks_index", "ocr_html", "annotation", "result_json")


class ProjectsStore(ABC):
    @abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    @abstractmethod
    def list_nodes(
        self,
        client_id: str | None = None,
        parent_id: str | None = None,
        node_type: str | None = None,
        all_nodes: bool = False,
    ) -> list[Row]:
        """Nodes ordered by `sort_order, name`: the roots (or the children of `parent_id`),
        or every node with `all_nodes`; optionally of one client and one type."""

    @abstractmethod
    def get_node(self, node_id: str) -> Row | None: ...

    @abstractmethod
    def search_documents(self, query: str, client_id: str | None, limit: int) -> list[Row]:
        """Document nodes whose name or code contains `query`, case-insensitively."""

    @abstractmethod
    def list_files(
        self, node_ids: list[str], file_types: tuple[str, ...] | None = None
    ) -> list[Row]:
        """Files of these nodes: `node_files` rows (job_id None) and the `job_files` of jobs
        attached to the nodes, each with `node_id` and `job_id`, newest first."""
