"""Shared by the benchmarks: the reference server's prompt, counted as it really was."""

from __future__ import annotations

import json

from webapp.documents.model import Document


def reference_round_chars(source_text: str, document: Document) -> int:
    """Characters the reference server sent the model every round: the whole document source
    (document.md, or the OCR HTML when that was the only source) plus the JSON of all blocks —
    each block's index entry (id, page, type, category, crop link) with its text, indented as it
    serialised them. For the AR4 sample this is about 860k characters."""
    blocks = [
        {
            "id": block.id,
            "page_index": (block.page or 1) - 1,
            "block_type": block.kind,
            "category_code": block.category_code,
            "crop_url": block.crop_url,
            "text": block.text,
        }
        for block in document.blocks
    ]
    return len(source_text) + len(json.dumps(blocks, ensure_ascii=False, indent=2))
