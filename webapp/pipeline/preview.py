"""What the model would receive in round one for a question, without calling it.

The same functions the loop uses choose and write the prefix and the materials; `flask
materials` prints the result (the tool an operator uses to answer "why didn't it find X?") and
the retrieval benchmark measures it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webapp.documents.sources import LoadedDocument
from webapp.pipeline import prompts
from webapp.pipeline.intent import detect_intent
from webapp.pipeline.loop import COLLECT_BLOCKS
from webapp.pipeline.materials import (
    Prefix,
    Selection,
    Written,
    collect_selection,
    prefix_for,
    select_for_question,
    write_materials,
)


@dataclass
class RoundOne:
    """Round one's calls: one answering call (simple), or one collecting call per document."""

    prefix: Prefix
    calls: list[Written]  # the materials of each call
    system_chars: int
    question_chars: int

    @property
    def blocks(self) -> list[dict]:
        seen, result = set(), []
        for written in self.calls:
            for item in written.included:
                if item["id"] not in seen:
                    seen.add(item["id"])
                    result.append(item)
        return result

    @property
    def materials_chars(self) -> int:
        return sum(len(written.text) for written in self.calls)

    @property
    def total_chars(self) -> int:
        """Characters the model reads in round one: every call with its whole prompt."""
        per_call = self.system_chars + len(self.prefix.text) + self.question_chars
        return per_call * len(self.calls) + self.materials_chars

    def as_json(self) -> dict[str, Any]:
        return {
            "blocks": [
                {
                    "block_id": b["id"],
                    "reason": b["reason"],
                    "score": b["score"],
                    "full": b["full"],
                    "document": b["document"],
                }
                for b in self.blocks
            ],
            "map_chars": self.prefix.map_chars,
            "map_levels": self.prefix.levels,
            "prefix_chars": len(self.prefix.text),
            "materials_chars": self.materials_chars,
            "total_chars": self.total_chars,
        }


def round_one(
    documents: list[LoadedDocument], question: str, mode: str, config: Mapping[str, Any]
) -> RoundOne:
    """Round one as the loop builds it for `mode` (simple or complex)."""
    prefix = prefix_for(documents, config, False, prompts.PROMPT_VERSION)
    max_blocks, max_chars = config["MAX_BLOCKS_IN_MATERIALS"], config["MAX_CONTEXT_CHARS"]
    if mode == "complex":
        per_document = max_chars // max(1, len(documents))
        calls = [
            write_materials(
                collect_selection(d, question, d.id in prefix.whole, COLLECT_BLOCKS),
                COLLECT_BLOCKS,
                per_document,
                multi_document=False,
            )
            for d in documents
        ]
        task = prompts.COLLECT
    else:
        selection = Selection()
        select_for_question(
            selection, documents, question, config["MATERIALS_TARGET_CHARS"], whole=prefix.whole
        )
        calls = [write_materials(selection, max_blocks, max_chars, len(documents) > 1)]
        task = prompts.ANSWER
    intent = detect_intent(question)
    question_chars = len(task) + len(question) + len(intent.summary) + 40
    return RoundOne(prefix, calls, len(prompts.system_prompt(None)), question_chars)
