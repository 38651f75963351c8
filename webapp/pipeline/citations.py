"""Checked citations: every cited block exists, every quote is in its block.

What the model cites goes to the user as evidence, so it is checked before it is shown: ids that
are not in the run's documents are removed (the model is asked once to name the right block);
a quote the model attributes to a block must occur in it, or the citation is marked unverified.
Each citation then carries what a client needs to show it: document, page, sheet, kind, and the
images rendered of that block in this run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webapp.documents.lookalikes import normalize_dashes, to_latin
from webapp.documents.model import Block
from webapp.documents.sources import LoadedDocument
from webapp.pipeline.answer import Answer
from webapp.pipeline.references import canonical, cited_ids, rewrite

CONTEXT_CHARS = 160  # text around a wrong reference shown to the model when it corrects it
_MARKUP_RE = re.compile(r"\*\*|__|`|\|")
_QUOTES = str.maketrans({c: '"' for c in "«»“”„‟\"'’‘"})


def normalized(text: str) -> str:
    """Text compared for quotes: case, ё, dashes, quotes, look-alike letters, markup and
    whitespace do not matter."""
    text = normalize_dashes(_MARKUP_RE.sub(" ", text or "")).translate(_QUOTES)
    text = to_latin(text.casefold().replace("ё", "е"))
    return re.sub(r"\s+", " ", text).strip()


def quote_in_block(quote: str, block: Block) -> bool:
    """Whether the quote occurs in the block (pieces around an ellipsis in order)."""
    haystack = normalized(" ".join([block.text, *block.fields.values()]))
    pieces = [normalized(p) for p in re.split(r"…|\.\.\.", quote)]
    pieces = [p.strip(" .,;:") for p in pieces if len(p.strip(" .,;:")) >= 3]
    if not pieces:
        return False
    position = 0
    for piece in pieces:
        found = haystack.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


@dataclass
class Checked:
    """The answer after the check: its text with `[#ID]` references, enriched citations."""

    markdown: str
    citations: list[dict[str, Any]]
    diff: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    wrong: list[str] = field(default_factory=list)  # ids that were not in the documents


class CitationChecker:
    """Resolves ids against the run's documents; `corrections` maps wrong ids to right ones."""

    def __init__(self, documents: list[LoadedDocument]) -> None:
        self.documents = documents
        self.corrections: dict[str, str] = {}

    def locate(self, block_id: str) -> tuple[LoadedDocument, Block] | None:
        for document in self.documents:
            block = document.document.get(block_id)
            if block is not None:
                return document, block
        return None

    def resolve(self, block_id: str) -> str | None:
        """The id to write for a canonical id: itself, its correction, "" (dropped), or None."""
        if block_id in self.corrections:
            return self.corrections[block_id]
        found = self.locate(block_id)
        return found[1].id if found else None

    def wrong_ids(self, answer: Answer) -> list[str]:
        """Ids the answer cites (in its text, citations, diff or issues) that do not exist."""
        wrong = list(rewrite(answer.answer_markdown, self.resolve).unknown)
        for raw in self._structured_ids(answer):
            found = canonical(raw) or raw
            if self.resolve(found) is None and found not in wrong:
                wrong.append(found)
        return wrong

    @staticmethod
    def _structured_ids(answer: Answer) -> list[str]:
        ids = [str(c.get("block_id", "")) for c in answer.citations]
        for entry in [*answer.diff, *answer.issues]:
            evidence = entry.get("evidence")
            ids += (
                [str(e) for e in evidence if isinstance(e, str)]
                if isinstance(evidence, list)
                else []
            )
        return [i for i in ids if i.strip()]

    def context_of(self, markdown: str, wrong: list[str]) -> str:
        """The sentences around each wrong reference, for the correction call."""
        lines = []
        for block_id in wrong:
            at = markdown.find(block_id)
            if at < 0:
                lines.append(f"- {block_id}: (только в списке citations)")
                continue
            start, end = max(0, at - CONTEXT_CHARS), at + len(block_id) + CONTEXT_CHARS // 2
            lines.append(f"- {block_id}: …{markdown[start:end]}…")
        return "\n".join(lines)

    # --- the checked answer -------------------------------------------------------------------
    def check(self, answer: Answer, image_urls: Callable[[str], list[str]]) -> Checked:
        """Rewrite references, drop what stays unknown, verify quotes, enrich citations."""
        wrong = self.wrong_ids(answer)
        for block_id in wrong:
            self.corrections.setdefault(block_id, "")  # still unknown: dropped
        markdown = rewrite(answer.answer_markdown, self.resolve).text
        citations: list[dict[str, Any]] = []
        seen: set[str] = set()
        for raw in answer.citations:
            target = self.resolve(canonical(str(raw.get("block_id", ""))) or "")
            if target and target not in seen:
                seen.add(target)
                citations.append(self._enrich(target, raw, image_urls))
        for block_id in cited_ids(markdown):
            if block_id not in seen:
                seen.add(block_id)
                citations.append(self._enrich(block_id, {}, image_urls))
        return Checked(
            markdown,
            citations,
            [self._with_evidence(entry, sides=True) for entry in answer.diff],
            [self._with_evidence(entry) for entry in answer.issues],
            wrong,
        )

    def _enrich(
        self, block_id: str, raw: dict[str, Any], image_urls: Callable[[str], list[str]]
    ) -> dict[str, Any]:
        document, block = self.locate(block_id)  # type: ignore[misc]
        kind = raw.get("kind") if raw.get("kind") in ("text_block", "image_block", "roi") else None
        quote = raw.get("quote") if isinstance(raw.get("quote"), str) else ""
        quote_found = quote_in_block(quote, block) if quote.strip() else None
        citation: dict[str, Any] = {
            "block_id": block.id,
            "kind": kind or ("image_block" if block.is_image else "text_block"),
            "document": document.name,
            "document_id": document.id,
            "page_number": block.page,
            "sheet": block.sheet,
            "verified": quote_found is not False,
            "quote": quote or None,
            "quote_found": quote_found,
            "images": image_urls(block.id),
        }
        if document.label:
            citation["side"] = document.label
        if isinstance(raw.get("note"), str) and raw["note"].strip():
            citation["note"] = raw["note"]
        bbox = raw.get("bbox_norm")
        if isinstance(bbox, list) and len(bbox) == 4:
            citation["bbox_norm"] = bbox
        return citation

    def _with_evidence(self, entry: dict[str, Any], sides: bool = False) -> dict[str, Any]:
        """`evidence` reduced to existing ids; for diff entries, which sides they cite."""
        evidence = entry.get("evidence") if isinstance(entry.get("evidence"), list) else []
        kept: list[str] = []
        for raw in evidence:
            target = self.resolve(canonical(str(raw)) or "") if isinstance(raw, str) else None
            if target and target not in kept:
                kept.append(target)
        result = {**entry, "evidence": kept}
        if sides:
            labels = sorted({self.locate(i)[0].label or "" for i in kept if self.locate(i)} - {""})
            result["sides"] = labels
            result["both_sides"] = labels == ["DOC_A", "DOC_B"]
        return result
