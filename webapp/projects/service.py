"""Tree listings, document search and document results over the projects store."""

from __future__ import annotations

from webapp.documents.model import Block
from webapp.documents.outline import block_heading
from webapp.documents.sources import SourceError, load_node
from webapp.errors import APIError
from webapp.links import object_url
from webapp.offhub import run_blocking
from webapp.stores import projects_db
from webapp.stores.chatdb.base import Row
from webapp.stores.projectsdb.base import DOCUMENT_RESULT_TYPES, NODE_TYPES

NODE_FIELDS = (
    "id",
    "parent_id",
    "client_id",
    "node_type",
    "name",
    "code",
    "version",
    "status",
    "attributes",
    "sort_order",
    "created_at",
    "updated_at",
)
FILE_FIELDS = ("id", "job_id", "file_type", "r2_key", "file_name", "file_size", "created_at")
TREE_FILE_TYPES = ("result_md", "ocr_html")


def _node_out(node: Row, files: list[Row]) -> Row:
    return {**{k: node.get(k) for k in NODE_FIELDS}, "files": files}


def _file_out(row: Row) -> Row:
    return {k: row.get(k) for k in FILE_FIELDS}


def tree(
    client_id: str | None,
    parent_id: str | None,
    node_type: str | None,
    all_nodes: bool,
    include_files: bool,
) -> list[Row]:
    if node_type is not None and node_type not in NODE_TYPES:
        raise APIError(
            422,
            f"node_type must be one of {', '.join(NODE_TYPES)}.",
            details={"node_type": ["unknown node type"]},
        )
    nodes = projects_db().list_nodes(client_id, parent_id, node_type, all_nodes)
    files: dict[str, list[Row]] = {}
    if include_files:
        documents = [n["id"] for n in nodes if n["node_type"] == "document"]
        for row in projects_db().list_files(documents, TREE_FILE_TYPES):
            files.setdefault(row["node_id"], []).append(_file_out(row))
    return [_node_out(n, files.get(n["id"], [])) for n in nodes]


def search(query: str | None, client_id: str | None, limit: int) -> list[Row]:
    text = (query or "").strip()
    if not text:
        raise APIError(
            422, "Give the search text as 'q' (or 'query').", details={"q": ["required"]}
        )
    return [_node_out(n, []) for n in projects_db().search_documents(text, client_id, limit)]


def document_results(document_id: str) -> Row:
    _document_node(document_id)
    files = []
    for row in projects_db().list_files([document_id], DOCUMENT_RESULT_TYPES + ("crops_folder",)):
        files.append(
            {
                **_file_out(row),
                "mime_type": row.get("mime_type"),
                # the reference client's FileInfo names for the same facts
                "filename": row["file_name"],
                "size_bytes": row.get("file_size"),
                "storage_path": row["r2_key"],
                "source_type": "projects_" + row["file_type"],
                "external_url": (
                    object_url(row["r2_key"]) if row["file_type"] != "crops_folder" else None
                ),
            }
        )
    return {"document_node_id": document_id, "files": files}


def _document_node(document_id: str) -> Row:
    node = projects_db().get_node(document_id)
    if node is None:
        raise APIError(404, "Document not found.", "document_not_found")
    if node["node_type"] != "document":
        raise APIError(
            400, f"Node {document_id} is a {node['node_type']}, not a document.", "not_a_document"
        )
    return node


def document_block(document_id: str, block_id: str) -> Row:
    """One block of a document as a reader checks a citation against it: its text, page, sheet
    and kind. The document is parsed (once per process, then cached) off the gevent hub."""
    node = _document_node(document_id)
    try:
        loaded = run_blocking(load_node, document_id, node)
    except SourceError as exc:
        raise APIError(404, f"Document cannot be read: {exc}.", "document_not_found") from None
    block = loaded.document.get(block_id)
    if block is None:
        raise APIError(404, f"No block {block_id} in this document.", "block_not_found")
    return _block_out(document_id, loaded.name, block)


def _block_out(document_id: str, name: str, block: Block) -> Row:
    return {
        "document_id": document_id,
        "document_name": name,
        "block_id": block.id,
        "kind": block.kind,
        "page_number": block.page,
        "sheet": block.sheet,
        "sheet_name": block.sheet_name,
        "heading": block_heading(block),
        "text": block.text,
        "links": list(block.links),
    }
