"""What the cross-document index keeps of a document: its analyzed names, sheet titles, block
headings and a digest of its body.

The headings and the digest come from the document's ranking statistics (the analysis its own
block search needs anyway, stored in `search.db`), so cataloguing a document and answering the
first question about it analyze it once between them. Each heading or digest term is listed once,
most widespread first (in how many blocks it occurs), and capped, which keeps a row compact
(a few kilobytes) whatever the document's size. Plain numbers are left out of the digest: every
document has them and they name nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from webapp.documents.analysis import analyze
from webapp.documents.catalog import CatalogEntry
from webapp.documents.model import Document
from webapp.documents.outline import find_title_blocks, title_page_name
from webapp.documents.ranking import DocumentStats

HEADING_TERMS = 800
DIGEST_TERMS = 1500
_NUMBER_RE = re.compile(r"^[\d.,/-]+$")


def _analyzed(texts: Iterable[str | None]) -> str:
    """Terms of each distinct text, in order."""
    return " ".join(
        term for text in dict.fromkeys(t.strip() for t in texts if t) for term in analyze(text)
    )


def _widespread(stats: DocumentStats, field: str, limit: int, skip: set[str]) -> list[str]:
    """Terms of one field by the number of blocks they occur in, most first, at most `limit`."""
    counts: Counter[str] = Counter()
    for entry in stats.blocks.values():
        counts.update(entry.fields[field].positions.keys())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [term for term, _ in ranked if term not in skip][:limit]


def document_names(document: Document, name: str, code: str | None) -> list[str]:
    """Every way the document names itself: node name and code, title, stamp, title page."""
    title_pages = [title_page_name(block) for block in find_title_blocks(document)[:3]]
    return [
        name,
        code or "",
        document.title or "",
        document.stamp or "",
        *filter(None, title_pages),
    ]


def build_entry(
    *,
    document_id: str,
    client_id: str | None,
    name: str,
    code: str | None,
    node_stamp: str,
    content_stamp: str,
    document: Document,
    stats: DocumentStats,
) -> CatalogEntry:
    """The catalog row of one document version."""
    headings = _widespread(stats, "heading", HEADING_TERMS, set())
    numbers = {term for term in stats.document_frequency if _NUMBER_RE.match(term)}
    digest = _widespread(stats, "body", DIGEST_TERMS, numbers | set(headings))
    return CatalogEntry(
        document_id=document_id,
        client_id=client_id,
        name=name,
        node_stamp=node_stamp,
        content_stamp=content_stamp,
        names=_analyzed(document_names(document, name, code)),
        sheets=_analyzed(block.sheet_name for block in document.blocks),
        headings=" ".join(headings),
        digest=" ".join(digest),
    )


def empty_entry(
    document_id: str, client_id: str | None, name: str, node_stamp: str
) -> CatalogEntry:
    """The row of a document that cannot be read: found by its name only, and not tried again
    until its node changes."""
    return CatalogEntry(document_id, client_id, name, node_stamp, "", names=_analyzed([name]))
