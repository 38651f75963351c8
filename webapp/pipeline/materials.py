"""Choosing and writing out the blocks the model reads, within the budgets (SPEC §8.3).

The whole document is never sent: the search index ranks blocks for the question, links pull in
their neighbours, and the character and block budgets cut the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from webapp.documents.model import Block
from webapp.documents.search import SearchIndex
from webapp.pipeline.sources import LoadedDocument

BLOCK_TEXT_CHARS = 6000
_lock = threading.Lock()


def search_index(app: Flask | None = None) -> SearchIndex:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    index = app.extensions.get("aizoomdoc.search")
    if index is None:
        with _lock:
            index = app.extensions.get("aizoomdoc.search")
            if index is None:
                path = Path(app.config["DATA_DIR"]) / "search.db"
                index = app.extensions["aizoomdoc.search"] = SearchIndex(path)
    return index


@dataclass
class Selection:
    """Blocks chosen for the model, in order of relevance, each with its document."""

    entries: list[tuple[LoadedDocument, Block]] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, document: LoadedDocument, block: Block | None) -> bool:
        if block is None or (document.id, block.id) in self._seen:
            return False
        self._seen.add((document.id, block.id))
        self.entries.append((document, block))
        return True

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self._seen

    def image_blocks(self) -> list[tuple[LoadedDocument, Block]]:
        return [(d, b) for d, b in self.entries if b.is_image]


def ranked_blocks(document: LoadedDocument, question: str, limit: int) -> list[Block]:
    hits = search_index().search(document.document, question, limit=limit)
    blocks = [document.document.get(hit.block_id) for hit in hits]
    return [b for b in blocks if b is not None]


def add_links(selection: Selection, limit: int) -> None:
    """Coverage: blocks linked to selected ones (→ID, both directions)."""
    for document, block in list(selection.entries):
        for linked in [*block.links, *block.backlinks]:
            if len(selection.entries) >= limit:
                return
            selection.add(document, document.document.get(linked))


def find_block(
    documents: list[LoadedDocument], block_id: str
) -> tuple[LoadedDocument, Block] | None:
    for document in documents:
        block = document.document.get(block_id)
        if block is not None:
            return document, block
    return None


def block_text(block: Block) -> str:
    text = block.text.strip()
    if not text and block.fields:
        text = "\n".join(f"{k}: {v}" for k, v in block.fields.items() if v)
    if len(text) > BLOCK_TEXT_CHARS:
        text = text[:BLOCK_TEXT_CHARS] + " …[обрезано]"
    return text


def write_materials(
    selection: Selection, max_blocks: int, max_chars: int, multi_document: bool
) -> tuple[str, list[dict]]:
    """The materials text within budgets, and the structured list of what it contains."""
    lines, used, included = [], 0, []
    for document, block in selection.entries[:max_blocks]:
        where = []
        if document.label:
            where.append(document.label)
        if multi_document or document.label:
            where.append(f"документ «{document.name}»")
        if block.page:
            where.append(f"стр. {block.page}")
        if block.sheet_name:
            where.append(f"лист «{block.sheet_name}»")
        header = f"### BLOCK {block.kind.upper()} {block.id} ({', '.join(where)})"
        body = block_text(block)
        if used + len(header) + len(body) > max_chars:
            if included:
                break
            body = body[: max(0, max_chars - len(header) - 20)]
        lines += [header, body, ""]
        used += len(header) + len(body) + 2
        included.append(
            {
                "id": block.id,
                "kind": block.kind,
                "page": block.page,
                "document": document.name,
                "text": body,
            }
        )
    return "\n".join(lines), included
