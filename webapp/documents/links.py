"""`→ID` links between blocks and the backlinks derived from them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from webapp.documents.model import Block, normalize_block_id

_ID_CHAR = "0-9A-Za-zА-Яа-яЁё"
_DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2212"
LOOSE_ID_PATTERN = (
    f"[{_ID_CHAR}]{{4}}\\s?[{_DASH}]\\s?[{_ID_CHAR}]{{4}}\\s?[{_DASH}]\\s?[{_ID_CHAR}]{{3}}"
)
# "→ID", "→ ID", "-> ID", "=> ID", "⇒ID"; the id must not run on into more letters or digits.
_LINK_RE = re.compile(
    f"(?:→|⟶|⇒|->|=>)\\s*\\[?({LOOSE_ID_PATTERN})(?![{_ID_CHAR}])"
)
LOOSE_ID_RE = re.compile(f"(?<![{_ID_CHAR}])({LOOSE_ID_PATTERN})(?![{_ID_CHAR}])")


def extract_links(text: str, exclude: str | None = None) -> list[str]:
    """Ids that `text` links to with an arrow, in order of appearance, without duplicates."""
    found: list[str] = []
    for match in _LINK_RE.finditer(text or ""):
        block_id = normalize_block_id(re.sub(r"\s", "", match.group(1)))
        if block_id and block_id != exclude and block_id not in found:
            found.append(block_id)
    return found


def find_block_ids(text: str) -> list[str]:
    """Every well-formed block id in `text` (no arrow needed), in order, without duplicates."""
    found: list[str] = []
    for match in LOOSE_ID_RE.finditer(text or ""):
        block_id = normalize_block_id(re.sub(r"\s", "", match.group(1)))
        if block_id and block_id not in found:
            found.append(block_id)
    return found


def merge_links(*groups: Iterable[str]) -> list[str]:
    """Concatenate link lists keeping the first occurrence of each id."""
    merged: list[str] = []
    for group in groups:
        for block_id in group:
            if block_id not in merged:
                merged.append(block_id)
    return merged


def compute_backlinks(blocks: list[Block]) -> None:
    """Fill `backlinks` of every block from the others' `links` (document order, deduped)."""
    known = {block.id: block for block in blocks}
    for block in blocks:
        block.backlinks = []
    for block in blocks:
        for target_id in block.links:
            target = known.get(target_id)
            if target is not None and target is not block and block.id not in target.backlinks:
                target.backlinks.append(block.id)
