"""The parsed form of a drawing set: blocks with text, labelled fields, links, crops."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from webapp.documents.lookalikes import normalize_dashes, to_latin

BLOCK_ID_RE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{3}$")
BLOCK_KINDS = ("text", "image", "table")


class DocumentFormatError(ValueError):
    """The input is not the expected format at all (not merely noisy)."""


def normalize_block_id(value: object) -> str | None:
    """Canonical block id, or None when `value` is not one.

    Look-alike Cyrillic letters become Latin because OCR output and LLM replies mix alphabets.
    """
    if not isinstance(value, str):
        return None
    candidate = to_latin(normalize_dashes(value.strip()).upper())
    return candidate if BLOCK_ID_RE.match(candidate) else None


@dataclass
class Block:
    """One block of a document: text as it appears plus what was recognized about it."""

    id: str
    kind: str
    page: int | None = None
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    backlinks: list[str] = field(default_factory=list)
    crop_url: str | None = None
    category_code: str | None = None
    sheet: str | None = None
    sheet_name: str | None = None

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


@dataclass
class Page:
    """A page of the set with its sheet label; block ids are in document order."""

    number: int
    sheet: str | None = None
    sheet_name: str | None = None
    block_ids: list[str] = field(default_factory=list)


@dataclass
class Document:
    """Blocks in document order; `version` identifies the source texts (used as a cache key)."""

    blocks: list[Block]
    preamble: str = ""
    stamp: str | None = None
    title: str | None = None
    version: str = ""
    _by_id: dict[str, Block] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the id lookup; call after adding or removing blocks."""
        self._by_id = {}
        for block in self.blocks:
            self._by_id.setdefault(block.id, block)

    def get(self, block_id: str) -> Block | None:
        """The block with this id, tolerant of case and look-alike letters."""
        block = self._by_id.get(block_id) if isinstance(block_id, str) else None
        if block is not None:
            return block
        normalized = normalize_block_id(block_id)
        return self._by_id.get(normalized) if normalized else None

    def __contains__(self, block_id: object) -> bool:
        return isinstance(block_id, str) and self.get(block_id) is not None

    def __len__(self) -> int:
        return len(self.blocks)

    def __iter__(self):
        return iter(self.blocks)

    def image_blocks(self) -> list[Block]:
        return [block for block in self.blocks if block.kind == "image"]

    def pages(self) -> list[Page]:
        """Pages that have blocks, ascending; blocks without a page are left out."""
        pages: dict[int, Page] = {}
        for block in self.blocks:
            if block.page is None:
                continue
            page = pages.get(block.page)
            if page is None:
                page = pages[block.page] = Page(block.page, block.sheet, block.sheet_name)
            page.block_ids.append(block.id)
        return [pages[number] for number in sorted(pages)]
