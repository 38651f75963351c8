"""The projects tree, document search and document results."""

from __future__ import annotations

from apiflask import APIBlueprint

from webapp.projects import service
from webapp.routes.common import AUTH_RESPONSES, protected
from webapp.routes.schemas import (
    BlockOut,
    DocumentResultsOut,
    SearchQuery,
    TreeNodeOut,
    TreeQuery,
)

bp = APIBlueprint("projects", __name__, tag="Projects")


@bp.get("/projects/tree")
@protected
@bp.input(TreeQuery, location="query", arg_name="query")
@bp.output(TreeNodeOut(many=True))
@bp.doc(responses=AUTH_RESPONSES)
def tree(query: dict):
    """Tree nodes (roots, children of `parent_id`, or all), ordered by sort order and name."""
    return service.tree(
        query.get("client_id"),
        query.get("parent_id"),
        query.get("node_type"),
        query["all_nodes"],
        query["include_files"],
    )


@bp.get("/projects/search")
@protected
@bp.input(SearchQuery, location="query", arg_name="query")
@bp.output(TreeNodeOut(many=True))
@bp.doc(responses=AUTH_RESPONSES)
def search(query: dict):
    """Documents whose name or code contains `q` (case-insensitive)."""
    return service.search(query["q"], query.get("client_id"), query["limit"])


@bp.get("/projects/documents/<document_id>/results")
@protected
@bp.output(DocumentResultsOut)
@bp.doc(
    responses={
        **AUTH_RESPONSES,
        400: "Not a document (or more than 100 query parameters)",
        404: "Unknown document",
    }
)
def results(document_id: str):
    """A document's OCR results (markdown, blocks index, OCR HTML…) with fetchable URLs."""
    return service.document_results(document_id)


@bp.get("/projects/documents/<document_id>/blocks/<block_id>")
@protected
@bp.output(BlockOut)
@bp.doc(
    responses={
        **AUTH_RESPONSES,
        400: "Not a document (or more than 100 query parameters)",
        404: "Unknown document or block, or a document whose files cannot be read",
    }
)
def block(document_id: str, block_id: str):
    """One block of a document: its text, kind, page and sheet (what a citation `[#ID]` points
    at). Block ids are matched as answers write them (case and look-alike letters tolerated)."""
    return service.document_block(document_id, block_id)
