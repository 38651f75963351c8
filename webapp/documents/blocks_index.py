"""Parser for `blocks.json`, the blocks index that points image blocks at their crops."""

from __future__ import annotations

import json
from dataclasses import dataclass

from webapp.documents.model import DocumentFormatError, normalize_block_id


@dataclass(frozen=True)
class BlockIndexEntry:
    """One row of blocks.json; `page_index` is 0-based as in the file."""

    id: str
    page_index: int | None = None
    block_type: str | None = None
    category_code: str | None = None
    crop_url: str | None = None

    @property
    def page(self) -> int | None:
        """1-based page number, as used by Block.page."""
        return None if self.page_index is None else self.page_index + 1


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _optional_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def parse_blocks_index(text: str | bytes) -> dict[str, BlockIndexEntry]:
    """Entries by canonical block id; rows without a valid id are skipped, later duplicates win."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as error:
        raise DocumentFormatError(f"blocks.json is not valid JSON: {error}") from error
    if isinstance(data, dict):
        rows = data.get("blocks")
        if rows is None:
            raise DocumentFormatError('blocks.json has no "blocks" list')
    elif isinstance(data, list):
        rows = data  # a bare list of rows is accepted: same rows, no wrapper
    else:
        raise DocumentFormatError("blocks.json must be an object with a \"blocks\" list")
    if not isinstance(rows, list):
        raise DocumentFormatError('"blocks" in blocks.json must be a list')

    entries: dict[str, BlockIndexEntry] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        block_id = normalize_block_id(row.get("id") or row.get("block_id"))
        if block_id is None:
            continue
        block_type = _optional_str(row.get("block_type"))
        entries[block_id] = BlockIndexEntry(
            id=block_id,
            page_index=_optional_int(row.get("page_index")),
            block_type=block_type.lower() if block_type else None,
            category_code=_optional_str(row.get("category_code")),
            crop_url=_optional_str(row.get("crop_url")),
        )
    return entries
