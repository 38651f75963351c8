"""Documents of a drawing set: parsing (document.md, blocks.json, ocr.html) and block search.

Generating drawings (the demo set, synthesized crops) is `webapp.drawings`' job, not this one's.
"""

from webapp.documents.blocks_index import BlockIndexEntry, parse_blocks_index
from webapp.documents.loader import load_document
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import (
    BLOCK_ID_RE,
    Block,
    Document,
    DocumentFormatError,
    Page,
    normalize_block_id,
)
from webapp.documents.ocr_html import parse_ocr_html
from webapp.documents.search import SearchHit, SearchIndex

__all__ = [
    "BLOCK_ID_RE",
    "Block",
    "BlockIndexEntry",
    "Document",
    "DocumentFormatError",
    "Page",
    "SearchHit",
    "SearchIndex",
    "load_document",
    "normalize_block_id",
    "parse_blocks_index",
    "parse_markdown",
    "parse_ocr_html",
]
