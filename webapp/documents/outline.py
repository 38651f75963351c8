"""What a block is about, in one short line: its heading.

Image blocks are named by their recognized type and short description; text blocks by their
first heading or first line; tables by their caption or header row. The document map lists these
lines, and the search index weighs a match in a heading above one in the body.
"""

from __future__ import annotations

import re

from webapp.documents.model import Block

HEADING_CHARS = 80
_MARKUP_RE = re.compile(r"^\s*(?:#{1,6}\s*|[-*+]\s+|\d+[.)]\s+|>\s*)")
_EMPHASIS_RE = re.compile(r"\*\*|__|`")
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE_MARKER_RE = re.compile(r"^\s*\*\*\s*\[\s*ИЗОБРАЖЕНИЕ\s*\]", re.IGNORECASE)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", _EMPHASIS_RE.sub("", text)).strip()


def shorten(text: str, width: int = HEADING_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most `width` characters."""
    flat = _flat(text)
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:—-") + "…"


def table_row_cells(line: str) -> list[str]:
    """Non-empty cells of a markdown table row."""
    return [cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip()]


def _text_heading(text: str) -> str:
    for line in text.splitlines():
        if not line.strip() or _TABLE_RULE_RE.match(line):
            continue
        if line.lstrip().startswith("|"):
            return " · ".join(table_row_cells(_EMPHASIS_RE.sub("", line)))
        return _MARKUP_RE.sub("", line)
    return ""


def block_heading(block: Block, width: int = HEADING_CHARS) -> str:
    """One line (≤ `width` chars) saying what the block is about."""
    if block.is_image:
        kind = block.fields.get("image_type") or ""
        about = block.fields.get("short_description") or ""
        if not about:
            about = next(
                (
                    _text_heading(line)
                    for line in block.text.splitlines()
                    if line.strip() and not _IMAGE_MARKER_RE.match(line)
                ),
                "",
            )
        if kind and about.lower().startswith(kind.lower()):
            kind = ""
        return shorten(": ".join(part for part in (kind, about) if part), width)
    return shorten(_text_heading(block.text), width)


_WHOLE_DOCUMENT_RE = re.compile(
    r"(о\s+ч[её]м\b|что\s+(?:это|за)\b.*\b(?:документ|комплект|проект)|состав\w*\s+(?:проект|"
    r"комплект|документ)|переч\w*\s+лист|ведомост\w*\s+(?:рабочих\s+)?чертеж|как\w*\s+раздел|"
    r"содержани|общ\w+\s+данн|кратк\w*\s+(?:опиши|описание|содержание)|что\s+в\s+(?:этом\s+)?"
    r"документ|about\s+this\s+document)",
    re.IGNORECASE,
)
_CONTENTS_RE = re.compile(
    r"(ведомост\w*\s+(?:основных\s+комплектов|рабочих\s+чертеж|ссылочн|ссыльн|спецификац)|"
    r"состав\s+(?:проекта|комплекта|документации)|содержание|общие\s+(?:данные|указания))",
    re.IGNORECASE,
)


def is_whole_document_question(question: str) -> bool:
    """Whether the question is about the document as a whole (what it is, what it contains)."""
    return bool(_WHOLE_DOCUMENT_RE.search(question or ""))


def title_blocks(document) -> list[Block]:
    """The blocks that say what the document is: the title pages and the contents lists."""
    pages = sorted({b.page for b in document.blocks if b.page is not None})
    first_pages = set(pages[:2])
    found = []
    for block in document.blocks:
        if block.is_image:
            continue
        if (block.page in first_pages and not block.sheet) or _CONTENTS_RE.search(
            block_heading(block, 200)
        ):
            found.append(block)
    return found[:12]
