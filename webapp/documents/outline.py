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
