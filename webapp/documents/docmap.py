"""The document map: a compact catalogue of every block, so the model can reach any of them.

Search decides what text the model reads first, but search misses what is said in other words.
The map lists every block (id, kind, page, sheet, heading) in a few characters each; the model
reads it with every call and asks for any listed block's text or image by id. It depends only on
the document, so it is built once per document version and sits in the cacheable prompt prefix.

A document too long for the character budget gets a coarser map, and the map says so: first the
ids per page without headings, then only the pages with their sheet titles and block counts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import LRUCache

from webapp.documents.model import Block, Document
from webapp.documents.outline import block_heading, shorten

KIND_LETTER = {"text": "T", "table": "B", "image": "I"}
LEGEND = "T — текст, B — таблица, I — изображение (можно запросить картинку или область)"
BLOCK_HEADING_CHARS = 62
PAGE_TITLE_CHARS = 70
LEVELS = ("blocks", "pages", "sheets")

_cache: LRUCache = LRUCache(maxsize=64)
_lock = threading.Lock()


@dataclass(frozen=True)
class DocumentMap:
    text: str
    level: str  # "blocks" (every block with a heading), "pages" (ids per page), "sheets"
    blocks: int

    @property
    def chars(self) -> int:
        return len(self.text)


def _common_title_prefix(names: list[str]) -> str:
    """The leading sentences every sheet title repeats ("Архитектурные решения. Кладочные …")."""
    if len(names) < 2:
        return ""
    split = [[part.strip() for part in name.split(". ")] for name in names]
    prefix: list[str] = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    if prefix and all(len(parts) > len(prefix) for parts in split):
        return ". ".join(prefix) + ". "
    return ""


def _page_title(block: Block, prefix: str) -> str:
    parts = []
    if block.sheet:
        parts.append(f"лист {block.sheet}")
    name = block.sheet_name or ""
    if prefix and name.startswith(prefix):
        name = name[len(prefix) :]
    if name:
        parts.append(shorten(name, PAGE_TITLE_CHARS))
    return " · ".join(parts)


def _pages(document: Document) -> list[tuple[int | None, list[Block]]]:
    pages: list[tuple[int | None, list[Block]]] = []
    for block in document.blocks:
        if not pages or pages[-1][0] != block.page:
            pages.append((block.page, []))
        pages[-1][1].append(block)
    return pages


def _header(document: Document, name: str, label: str | None, prefix: str, level: str) -> list[str]:
    pages = {block.page for block in document.blocks if block.page is not None}
    images = sum(1 for block in document.blocks if block.is_image)
    side = f"{label}: " if label else ""
    lines = [
        f"ДОКУМЕНТ {side}«{name}» — {len(pages)} стр., {len(document.blocks)} блоков "
        f"({images} изображений)"
    ]
    if document.stamp:
        lines.append("Штамп: " + shorten(document.stamp, 160))
    if prefix:
        lines.append(f"Все листы: {prefix.strip()}")
    if level == "pages":
        lines.append("Карта сокращена: по страницам, без заголовков блоков.")
    elif level == "sheets":
        lines.append(
            "Карта сокращена до листов: блоки не перечислены — ищи их через search_queries."
        )
    return lines


def _render(document: Document, name: str, label: str | None, level: str) -> str:
    names = sorted({b.sheet_name for b in document.blocks if b.sheet_name})
    prefix = _common_title_prefix(names)
    lines = _header(document, name, label, prefix, level)
    for page, blocks in _pages(document):
        title = _page_title(blocks[0], prefix)
        where = f"стр. {page}" if page is not None else "без страницы"
        if level == "blocks":
            lines.append(f"{where}" + (f" · {title}" if title else ""))
            for block in blocks:
                heading = block_heading(block, BLOCK_HEADING_CHARS)
                lines.append(f" {block.id} {KIND_LETTER.get(block.kind, '?')} {heading}".rstrip())
        elif level == "pages":
            ids = ", ".join(f"{b.id} {KIND_LETTER.get(b.kind, '?')}" for b in blocks)
            lines.append(f"{where}" + (f" · {title}" if title else "") + f": {ids}")
        else:
            images = sum(1 for b in blocks if b.is_image)
            lines.append(
                f"{where}"
                + (f" · {title}" if title else "")
                + f": {len(blocks)} блоков, {images} изобр."
            )
    return "\n".join(lines)


def page_lines(document: Document) -> list[str]:
    """One line per page: its number, sheet and title (an outline of the set)."""
    names = sorted({b.sheet_name for b in document.blocks if b.sheet_name})
    prefix = _common_title_prefix(names)
    lines = []
    for page, blocks in _pages(document):
        title = _page_title(blocks[0], prefix)
        where = f"стр. {page}" if page is not None else "без страницы"
        lines.append(where + (f" · {title}" if title else ""))
    return lines


def build_map(
    document: Document, name: str, max_chars: int, label: str | None = None
) -> DocumentMap:
    """The finest map of `document` that fits `max_chars` (the coarsest one when none fits)."""
    key = (document.version, name, label, max_chars)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    text, level = "", LEVELS[-1]
    for level in LEVELS:
        text = _render(document, name, label, level)
        if len(text) <= max_chars:
            break
    result = DocumentMap(text, level, len(document.blocks))
    with _lock:
        _cache[key] = result
    return result
