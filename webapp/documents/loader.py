"""Merging document.md, blocks.json and ocr.html into one Document."""

from __future__ import annotations

from webapp.documents.blocks_index import BlockIndexEntry, parse_blocks_index
from webapp.documents.links import compute_backlinks
from webapp.documents.markdown import content_version, parse_markdown
from webapp.documents.model import Block, Document, DocumentFormatError
from webapp.documents.ocr_html import parse_ocr_html


def _apply_index(block: Block, entry: BlockIndexEntry) -> None:
    """blocks.json only fills what the markdown left empty: the markdown is the primary source."""
    if not block.crop_url and entry.crop_url:
        block.crop_url = entry.crop_url
    if not block.category_code and entry.category_code:
        block.category_code = entry.category_code
    if block.page is None and entry.page is not None:
        block.page = entry.page


def _apply_html(block: Block, html_block: Block) -> None:
    if not block.crop_url and html_block.crop_url:
        block.crop_url = html_block.crop_url
    if block.page is None and html_block.page is not None:
        block.page = html_block.page
    block.sheet = block.sheet or html_block.sheet
    block.sheet_name = block.sheet_name or html_block.sheet_name


def load_document(
    markdown: str | None,
    blocks_index: str | None = None,
    ocr_html: str | None = None,
) -> Document:
    """One Document from whichever sources exist; `version` hashes all three inputs."""
    if markdown is None and ocr_html is None and blocks_index is None:
        raise DocumentFormatError("no document source given (document.md, blocks.json or ocr.html)")
    index = parse_blocks_index(blocks_index) if blocks_index is not None else {}
    html_document = parse_ocr_html(ocr_html) if ocr_html is not None else None

    if markdown is not None:
        document = parse_markdown(markdown)
    elif html_document is not None:
        document = html_document
    else:
        document = Document(blocks=[])

    # Crop priority: the blocks index first, an attached ocr.html last.
    for block in document.blocks:
        entry = index.get(block.id)
        if entry is not None:
            _apply_index(block, entry)
    if markdown is not None and html_document is not None:
        for block in document.blocks:
            html_block = html_document.get(block.id)
            if html_block is not None:
                _apply_html(block, html_block)
        document.title = document.title or html_document.title
        document.stamp = document.stamp or html_document.stamp
    if markdown is None and html_document is None:
        # Only an index: expose its blocks (no text) so crops can still be found and rendered.
        document.blocks = [
            Block(id=entry.id, kind=entry.block_type or "image", page=entry.page,
                  crop_url=entry.crop_url, category_code=entry.category_code)
            for entry in index.values()
        ]
    compute_backlinks(document.blocks)
    document.reindex()
    document.version = content_version(markdown, blocks_index, ocr_html)
    return document
