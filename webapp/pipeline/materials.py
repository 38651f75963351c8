"""Choosing and writing out what the model reads, within the budgets.

Every call starts with the same *prefix* for a set of documents: a short document is sent whole,
a long one as its document map (every block listed by id). The prefix depends on the documents
only, so it is cached and reused across questions and chats. After it come the question's
*materials*: the blocks the search index ranks best — full text for the strongest matches within
`MATERIALS_TARGET_CHARS`, a matching excerpt for the rest — plus whatever the model asked for
in earlier rounds (blocks by id, its own search queries). Each entry remembers why it was chosen,
which `flask materials` shows.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from webapp.documents.docmap import build_map
from webapp.documents.model import Block
from webapp.documents.search import SearchHit, search_index
from webapp.documents.sources import LoadedDocument
from webapp.offhub import run_blocking

BLOCK_TEXT_CHARS = 6000
EXCERPT_CHARS = 320
SEARCH_BLOCKS = 40
FULL_SCORE_FRACTION = 0.3  # hits scoring below this share of the best get an excerpt only
LINKED_BLOCKS = 12
REVIEW_BLOCKS_PER_PAGE = 2
# reasons a block is in the materials; the first ones are never cut down to an excerpt first
ASKED_REASONS = ("requested", "query", "title", "collect")


@dataclass
class Entry:
    """A block in the materials, why it is there, and whether its full text is sent."""

    document: LoadedDocument
    block: Block
    reason: str  # search, title, link, requested, query, collect
    score: float = 0.0
    snippet: str = ""
    full: bool = True
    in_prefix: bool = False  # its document is sent whole in the prefix: only named here


@dataclass
class Selection:
    """Blocks chosen for the model, in the order they were chosen, each with its document."""

    entries: list[Entry] = field(default_factory=list)
    _index: dict[tuple[str, str], Entry] = field(default_factory=dict)

    def add(
        self,
        document: LoadedDocument,
        block: Block | None,
        reason: str,
        score: float = 0.0,
        snippet: str = "",
        full: bool = True,
        in_prefix: bool = False,
    ) -> bool:
        """Add a block (True when new); a block already there gets its full text if asked."""
        if block is None:
            return False
        known = self._index.get((document.id, block.id))
        if known is not None:
            if full and not known.full:
                known.full = True
                if reason in ASKED_REASONS:
                    known.reason = reason
                return True
            return False
        entry = Entry(document, block, reason, score, snippet, full, in_prefix)
        self._index[(document.id, block.id)] = entry
        self.entries.append(entry)
        return True

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self._index

    def get(self, document_id: str, block_id: str) -> Entry | None:
        return self._index.get((document_id, block_id))

    def image_blocks(self) -> list[tuple[LoadedDocument, Block]]:
        return [(e.document, e.block) for e in self.entries if e.block.is_image]


# --- the prefix ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prefix:
    """The documents' part of every call: the same text for every question on these documents."""

    text: str
    key: str  # identity of the text (documents' versions and budgets), for the context cache
    whole: frozenset[str]  # ids of documents sent whole (their blocks need no materials)
    map_chars: int
    levels: dict[str, str]  # document id → map level, or "whole"


def document_text(document: LoadedDocument) -> str:
    """Every block of a short document, with its page and sheet."""
    lines = []
    for block in document.document.blocks:
        lines += [_block_header(document, block, multi_document=False), block_text(block), ""]
    return "\n".join(lines)


def build_prefix(
    documents: list[LoadedDocument], map_chars: int, whole_chars: int, version: str
) -> Prefix:
    """Short documents whole, the others as maps; `map_chars` is shared by the documents."""
    share = max(2000, map_chars // max(1, len(documents)))
    parts, whole, levels, used = [], set(), {}, 0
    for document in documents:
        side = f" [{document.label}]" if document.label else ""
        text = document_text(document)
        if len(text) <= whole_chars:
            parts.append(f"ДОКУМЕНТ{side} «{document.name}» ЦЕЛИКОМ:\n{text}")
            whole.add(document.id)
            levels[document.id] = "whole"
            continue
        doc_map = build_map(document.document, document.name, share, document.label)
        parts.append("КАРТА ДОКУМЕНТА (все блоки; " + _legend() + "):\n" + doc_map.text)
        levels[document.id] = doc_map.level
        used += doc_map.chars
    digest = hashlib.sha256(
        "\x00".join(
            [version, str(map_chars), str(whole_chars)]
            + [f"{d.id}:{d.document.version}:{d.label or ''}:{d.name}" for d in documents]
        ).encode()
    ).hexdigest()[:32]
    return Prefix("\n\n".join(parts), digest, frozenset(whole), used, levels)


def prefix_for(
    documents: list[LoadedDocument], config: Mapping[str, Any], compare: bool, version: str
) -> Prefix:
    """The run's prefix under the configured budgets (each compared side gets half)."""
    share = 2 if compare else 1
    return build_prefix(
        documents,
        config["DOCUMENT_MAP_MAX_CHARS"],
        min(config["PREFIX_DOCUMENT_CHARS"], config["MAX_CONTEXT_CHARS"] // share),
        version,
    )


def _legend() -> str:
    from webapp.documents.docmap import LEGEND

    return LEGEND


# --- choosing ------------------------------------------------------------------------------------
def ranked_hits(document: LoadedDocument, query: str, limit: int) -> list[SearchHit]:
    """The search runs off the gevent hub: ranking is milliseconds of CPU, and the first search
    of a version builds its index (hundreds of ms, or a wait for another process's build)."""
    return run_blocking(search_index().search, document.document, query, limit=limit)


def select_for_question(
    selection: Selection,
    documents: list[LoadedDocument],
    question: str,
    target_chars: int,
    whole: Iterable[str] = (),
) -> None:
    """Round one: the best blocks of every document for the question (documents share the
    budget evenly), the title blocks for whole-document questions, and linked blocks. Blocks of
    documents in `whole` (sent whole in the prefix) are only named, in order of relevance."""
    from webapp.documents.outline import (
        is_review_question,
        is_whole_document_question,
        title_blocks,
    )

    whole = set(whole)
    searched = [d for d in documents if d.id not in whole]
    whole_question = is_whole_document_question(question)
    for document in documents:
        if document.id in whole:
            if whole_question:
                for block in title_blocks(document.document):
                    selection.add(document, block, "title", in_prefix=True)
            for hit in ranked_hits(document, question, SEARCH_BLOCKS):
                block = document.document.get(hit.block_id)
                selection.add(document, block, "search", hit.score, hit.snippet, in_prefix=True)
    share = target_chars // max(1, len(searched))
    review = is_review_question(question)
    for document in searched:
        used = 0
        if whole_question or review:
            for block in title_blocks(document.document):
                if selection.add(document, block, "title", full=used < share):
                    used += len(block_text(block))
        hits = ranked_hits(document, question, SEARCH_BLOCKS)
        best = hits[0].score if hits else 0.0
        for hit in hits:
            block = document.document.get(hit.block_id)
            if block is None:
                continue
            size = len(block_text(block))
            full = hit.score >= best * FULL_SCORE_FRACTION and used + size <= share
            if selection.add(document, block, "search", hit.score, hit.snippet, full) and full:
                used += size
        if review:
            for block in sheet_overview(document):
                selection.add(document, block, "map", full=False)
        add_links(selection, document)


def sheet_overview(document: LoadedDocument, per_page: int = REVIEW_BLOCKS_PER_PAGE) -> list[Block]:
    """A view of every sheet from the map, for questions that review the whole set: the first
    blocks of each page, tables and texts (the schedules and notes) before drawings."""
    pages: dict[int | None, list[Block]] = {}
    for block in document.document.blocks:
        pages.setdefault(block.page, []).append(block)
    chosen = []
    for blocks in pages.values():
        ordered = sorted(blocks, key=lambda b: b.is_image)
        chosen += ordered[:per_page]
    return chosen


def collect_selection(
    document: LoadedDocument, question: str, in_prefix: bool, limit: int
) -> Selection:
    """What the collecting model reads of one document: its best `limit` blocks."""
    own = Selection()
    for hit in ranked_hits(document, question, limit):
        block = document.document.get(hit.block_id)
        own.add(document, block, "search", hit.score, hit.snippet, in_prefix=in_prefix)
    return own


def add_links(selection: Selection, document: LoadedDocument, limit: int = LINKED_BLOCKS) -> None:
    """Coverage: blocks linked (→ID, both directions) to the fully sent ones, as excerpts."""
    added = 0
    for entry in list(selection.entries):
        if entry.document.id != document.id or not entry.full:
            continue
        for linked in [*entry.block.links, *entry.block.backlinks]:
            if added >= limit:
                return
            if selection.add(document, document.document.get(linked), "link", full=False):
                added += 1


def find_block(
    documents: list[LoadedDocument], block_id: str
) -> tuple[LoadedDocument, Block] | None:
    for document in documents:
        block = document.document.get(block_id)
        if block is not None:
            return document, block
    return None


# --- writing -------------------------------------------------------------------------------------
_FIELD_LINE_RE = re.compile(r"^\s*\*\*\s*(Текст на чертеже|Сущности)\s*:\s*\*\*", re.IGNORECASE)
_WORD_RE = re.compile(r"[0-9A-Za-zА-Яа-яЁё]+(?:[.,-][0-9A-Za-zА-Яа-яЁё]+)*")


def _covered(value: str, other: str, share: float = 0.8) -> bool:
    """Whether most words of `value` appear in `other` (a field that only repeats others)."""
    words = {w.lower() for w in _WORD_RE.findall(value)}
    if not words:
        return True
    present = {w.lower() for w in _WORD_RE.findall(other)}
    return len(words & present) >= share * len(words)


_texts: LRUCache = LRUCache(maxsize=50_000)  # id(block) → (block, its text for the model)
_texts_lock = threading.Lock()


def block_text(block: Block) -> str:
    """The block's text for the model: image blocks without fields that only repeat others
    (the drawing's text when the OCR text has it, the entity list), cut at BLOCK_TEXT_CHARS.
    Computed once per parsed block (documents are cached parsed, and their blocks never change)."""
    with _texts_lock:
        cached = _texts.get(id(block))
    if cached is not None and cached[0] is block:
        return cached[1]
    text = _model_text(block)
    with _texts_lock:
        _texts[id(block)] = (block, text)
    return text


def _model_text(block: Block) -> str:
    text = block.text.strip()
    if block.is_image and block.fields:
        others = " ".join(
            v for k, v in block.fields.items() if k not in ("drawing_text", "entities")
        )
        drop = {
            name
            for name in ("drawing_text", "entities")
            if block.fields.get(name)
            and _covered(block.fields[name], others + " " + block.fields.get("drawing_text", ""))
            and (name != "drawing_text" or _covered(block.fields[name], others))
        }
        if drop:
            text = _without_fields(text, drop)
    if not text and block.fields:
        text = "\n".join(f"{k}: {v}" for k, v in block.fields.items() if v)
    if len(text) > BLOCK_TEXT_CHARS:
        text = text[:BLOCK_TEXT_CHARS] + " …[обрезано]"
    return text


def _without_fields(text: str, names: set[str]) -> str:
    labels = {"drawing_text": "текст на чертеже", "entities": "сущности"}
    wanted = {labels[name] for name in names}
    kept, skipping = [], False
    for line in text.splitlines():
        match = _FIELD_LINE_RE.match(line)
        if match:
            skipping = match.group(1).lower() in wanted
        elif line.lstrip().startswith("**") and skipping:
            skipping = False
        if not skipping:
            kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _block_header(document: LoadedDocument, block: Block, multi_document: bool) -> str:
    where = []
    if document.label:
        where.append(document.label)
    if multi_document or document.label:
        where.append(f"документ «{document.name}»")
    if block.page:
        where.append(f"стр. {block.page}")
    if block.sheet:
        where.append(f"лист {block.sheet}")
    return f"### BLOCK {block.kind.upper()} {block.id}" + (
        f" ({', '.join(where)})" if where else ""
    )


def _excerpt(entry: Entry) -> str:
    text = entry.snippet or re.sub(r"\s+", " ", block_text(entry.block))
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


@dataclass
class Written:
    text: str
    included: list[dict]  # what the text contains, block by block (the local engine reads it)


def write_materials(
    selection: Selection, max_blocks: int, max_chars: int, multi_document: bool
) -> Written:
    """The materials text within the budgets: when the full texts do not fit, the blocks chosen
    by search lose their full text first (lowest ranked first), then what the model asked for."""
    documents = list(dict.fromkeys(e.document.id for e in selection.entries))
    per_document = -(-max_blocks // max(1, len(documents)))  # each document its share
    taken: dict[str, int] = {}
    entries = []
    for entry in selection.entries:
        if taken.get(entry.document.id, 0) < per_document and len(entries) < max_blocks:
            taken[entry.document.id] = taken.get(entry.document.id, 0) + 1
            entries.append(entry)
    full = {id(e): e.full for e in entries}
    size = {id(e): len(block_text(e.block)) if e.full and not e.in_prefix else 0 for e in entries}
    total = sum(size.values()) + sum(len(_excerpt(e)) + 80 for e in entries if not e.full)
    order = [e for e in reversed(entries) if e.reason not in ASKED_REASONS]
    order += [e for e in reversed(entries) if e.reason in ASKED_REASONS]
    for entry in order:
        if total <= max_chars:
            break
        if full[id(entry)]:
            full[id(entry)] = False
            total -= size[id(entry)] - len(_excerpt(entry)) - 80
    lines, used, included = [], 0, []
    for entry in entries:
        header = _block_header(entry.document, entry.block, multi_document)
        if entry.in_prefix:
            lines += [header + " — полный текст в документе выше", ""]
            included.append(_included(entry, True, block_text(entry.block)))
            continue
        if full[id(entry)]:
            body = block_text(entry.block)
        else:
            header += " — фрагмент (полный текст: followup_blocks)"
            body = _excerpt(entry)
        if used + len(header) + len(body) > max_chars:
            if included:
                break
            body = body[: max(0, max_chars - len(header) - 20)]
        lines += [header, body, ""]
        used += len(header) + len(body) + 2
        included.append(_included(entry, full[id(entry)], body))
    return Written("\n".join(lines), included)


def _included(entry: Entry, full: bool, text: str) -> dict:
    return {
        "id": entry.block.id,
        "kind": entry.block.kind,
        "page": entry.block.page,
        "sheet": entry.block.sheet,
        "document": entry.document.name,
        "reason": entry.reason,
        "score": round(entry.score, 4),
        "full": full,
        "in_prefix": entry.in_prefix,
        "snippet": entry.snippet,
        "text": text,
    }
