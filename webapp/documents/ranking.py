"""Second-stage ranking: the first stage (FTS5/BM25) finds candidates, this orders them.

Per document version, every block's fields are analyzed once and kept in memory with term
positions (`DocumentStats`). A block's score is a BM25F sum over the question's concepts (sheet
title and heading weigh more than body text), multiplied by how much of the question it covers
(three of four concepts beat one concept repeated), with a bonus for concepts standing next to
each other as in the question, a strong preference for the asked floor or sheet (`этаж7`) and a
penalty for a block whose title names another one.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field

from webapp.documents.analysis import iter_tokens
from webapp.documents.model import Block, Document
from webapp.documents.outline import index_heading, title_blocks
from webapp.documents.query import Alternative, Concept, Query, is_qualified_term

FIELDS = ("id", "title", "heading", "body")
FIELD_WEIGHTS = {"id": 6.0, "title": 1.5, "heading": 3.0, "body": 1.0}
FIELD_B = {"id": 0.0, "title": 0.3, "heading": 0.5, "body": 0.75}
K1 = 1.2
PARTIAL_PHRASE = 0.5  # a phrase alternative with some of its words only
PHRASE_BONUS = 1.5  # all words of a phrase alternative next to each other
PROXIMITY_WINDOW = 3  # items between two concepts that still count as "together"
PROXIMITY_BONUS = 0.35
COVERAGE_FLOOR = 0.25  # a block covering little of the question keeps this share of its score
HEADLINE_BONUS = 0.6  # × share of the question found in the block's heading or sheet title
WRONG_NUMBER = 0.4  # the block's title names another floor/sheet than the one asked
WHOLE_DOCUMENT_BOOST = 1.5
DRAWING_BOOST = 1.3  # an image block for "покажи …"
MIN_STEM = 5  # shorter stems ("план") would reach unrelated words ("планк")
STEM_SLACK = 3  # letters a related stem may add or drop
MAX_RELATED = 6
RELATED_WEIGHT = 0.7
_QUALIFIER_RE = re.compile(r"^(этаж|лист|секция|корпус|подъезд|строение|узел|страница|ось)")


def block_fields(block: Block) -> dict[str, str]:
    """Text of each indexed field: id, sheet title (with sheet and page), heading, body."""
    title = " ".join(
        part
        for part in (
            block.sheet_name,
            f"лист {block.sheet}" if block.sheet else None,
            f"страница {block.page}" if block.page is not None else None,
        )
        if part
    )
    extra = [value for value in block.fields.values() if value and value not in block.text]
    return {
        "id": block.id,
        "title": title,
        "heading": index_heading(block),
        "body": "\n".join([block.text, *extra]),
    }


@dataclass
class FieldTerms:
    """Positions (item numbers) of each term in one field, and the field's length in items."""

    positions: dict[str, list[int]]
    length: int


@dataclass
class BlockTerms:
    """A block's analyzed fields, the flat term strings for the FTS table, its qualified terms."""

    block: Block
    fields: dict[str, FieldTerms]
    flat: dict[str, str]
    headline_qualified: set[str] = field(default_factory=set)
    # (field, positions by term, field weight / length normalization), fields with terms only
    weighted: list[tuple[str, dict[str, list[int]], float]] = field(default_factory=list)


def _analyze_field(text: str) -> tuple[FieldTerms, str]:
    positions: dict[str, list[int]] = {}
    flat: list[str] = []
    length = 0
    for length, (_, _, terms) in enumerate(iter_tokens(text, with_parts=True), 1):
        for term in dict.fromkeys(terms):
            positions.setdefault(term, []).append(length - 1)
        flat.extend(terms)
    return FieldTerms(positions, length), " ".join(flat)


class DocumentStats:
    """Analyzed blocks of one document version, with document frequencies and field lengths.

    Analyzing is the slow part (about 0.8 s for a 258-block set); `saved_form()` keeps its
    result as plain lists and dicts so that another process can `restore` it in a few
    milliseconds instead (the search index keeps it in `search.db`).
    """

    def __init__(self, document: Document) -> None:
        self.blocks: dict[str, BlockTerms] = {}
        self.rows: list[tuple] = []  # the FTS rows (only of a freshly analyzed document)
        for block in document.blocks:
            analyzed = {name: _analyze_field(text) for name, text in block_fields(block).items()}
            entry = BlockTerms(
                block,
                {name: terms for name, (terms, _) in analyzed.items()},
                {name: flat for name, (_, flat) in analyzed.items()},
            )
            self.rows.append((block.id, block.kind, block.page, *(entry.flat[f] for f in FIELDS)))
            self.blocks.setdefault(block.id, entry)
        self._summarize(document)

    @classmethod
    def restore(cls, document: Document, saved: list) -> DocumentStats:
        """Statistics of `document` from its `saved_form()` (made for the same version)."""
        stats = cls.__new__(cls)
        stats.blocks, stats.rows = {}, []
        for block_id, fields in saved:
            block = document.get(block_id)
            if block is None:
                raise ValueError(f"saved statistics name block {block_id} the document lacks")
            stats.blocks[block_id] = BlockTerms(
                block,
                {
                    name: FieldTerms(positions, length)
                    for name, (positions, length) in zip(FIELDS, fields)
                },
                {},
            )
        if len(stats.blocks) != len({block.id for block in document.blocks}):
            raise ValueError("saved statistics do not cover the document's blocks")
        stats._summarize(document)
        return stats

    def saved_form(self) -> list:
        """The analyzed fields as plain data: `[[block id, [[positions, length], …]], …]`."""
        return [
            [
                block_id,
                [[entry.fields[name].positions, entry.fields[name].length] for name in FIELDS],
            ]
            for block_id, entry in self.blocks.items()
        ]

    def fts_rows(self) -> list[tuple]:
        """Rows for the FTS table: the analyzed ones, or rebuilt from the kept term positions
        (the same terms per field, each once per item) when the statistics were restored."""
        if self.rows or not self.blocks:
            return self.rows
        rows = []
        for block_id, entry in self.blocks.items():
            flat = []
            for name in FIELDS:
                items = sorted(
                    (position, order, term)
                    for order, (term, positions) in enumerate(entry.fields[name].positions.items())
                    for position in positions
                )
                flat.append(" ".join(term for _, _, term in items))
            rows.append((block_id, entry.block.kind, entry.block.page, *flat))
        return rows

    def _summarize(self, document: Document) -> None:
        """Everything derived from the analyzed fields (cheap next to analyzing them)."""
        for entry in self.blocks.values():
            for name in ("title", "heading"):
                entry.headline_qualified.update(
                    term for term in entry.fields[name].positions if is_qualified_term(term)
                )
        self.count = len(self.blocks)
        self.document_frequency: dict[str, int] = {}
        totals = dict.fromkeys(FIELDS, 0)
        for entry in self.blocks.values():
            terms: set[str] = set()
            for name in FIELDS:
                terms.update(entry.fields[name].positions)
                totals[name] += entry.fields[name].length
            for term in terms:
                self.document_frequency[term] = self.document_frequency.get(term, 0) + 1
        self.average_length = {name: max(1.0, totals[name] / max(1, self.count)) for name in FIELDS}
        for entry in self.blocks.values():
            for name in FIELDS:
                terms = entry.fields[name]
                if terms.length:
                    norm = (
                        1 - FIELD_B[name] + FIELD_B[name] * terms.length / self.average_length[name]
                    )
                    entry.weighted.append((name, terms.positions, FIELD_WEIGHTS[name] / norm))
        self._idf: dict[str, float] = {}
        self.title_ids = [block.id for block in title_blocks(document)]
        self.vocabulary = sorted(
            term for term in self.document_frequency if term.isalpha() and len(term) >= 4
        )

    def related_stems(self, term: str) -> list[str]:
        """Document words whose stem extends or shortens `term` by a few letters.

        Snowball stems of one Russian word are not always equal ("утеплены" → утепл,
        "утепления" → утеплен; "дверной" → дверн, "дверь" → двер), so a question word also
        matches such stems, with a lower weight.
        """
        if len(term) < MIN_STEM or not term.isalpha():
            return []
        related = [
            term[:length]
            for length in range(len(term) - 1, max(MIN_STEM, len(term) - STEM_SLACK) - 1, -1)
            if term[:length] in self.document_frequency
        ]
        start = bisect_left(self.vocabulary, term)
        for candidate in self.vocabulary[start : start + 50]:
            if not candidate.startswith(term):
                break
            if candidate != term and len(candidate) - len(term) <= STEM_SLACK:
                related.append(candidate)
        return related[:MAX_RELATED]

    def idf(self, term: str) -> float:
        value = self._idf.get(term)
        if value is None:
            frequency = self.document_frequency.get(term, 0)
            value = self._idf[term] = math.log(
                1 + (self.count - frequency + 0.5) / (frequency + 0.5)
            )
        return value


@dataclass
class Ranked:
    """A ranked block: its score and what matched (`why`)."""

    block_id: str
    score: float
    why: tuple[str, ...]


@dataclass
class _Match:
    score: float = 0.0
    completeness: float = 0.0
    fields: set[str] = field(default_factory=set)
    terms: tuple[str, ...] = ()
    via: str = ""


def _term_score(stats: DocumentStats, entry: BlockTerms, term: str) -> tuple[float, list[str]]:
    weighted = 0.0
    fields = []
    for name, positions, factor in entry.weighted:
        found = positions.get(term)
        if found:
            weighted += factor * len(found)
            fields.append(name)
    if not weighted:
        return 0.0, fields
    return stats.idf(term) * weighted * (K1 + 1) / (weighted + K1), fields


def _adjacent(entry: BlockTerms, terms: tuple[str, ...]) -> bool:
    """All terms of a phrase within a window as long as the phrase, in one field."""
    window = len(terms) + 1
    for name in ("heading", "title", "body"):
        positions = entry.fields[name].positions
        lists = [positions.get(term) for term in terms]
        if not all(lists):
            continue
        for start in lists[0]:
            if all(_near(other, start, window) for other in lists[1:]):
                return True
    return False


def _near(positions: list[int], point: int, window: int) -> bool:
    index = bisect_left(positions, point - window)
    return index < len(positions) and positions[index] <= point + window


def _concept_match(stats: DocumentStats, entry: BlockTerms, concept: Concept) -> _Match:
    best = _Match()
    for alternative in concept.alternatives:
        score, matched, fields = 0.0, 0, set()
        for term in alternative.terms:
            term_score, term_fields = _term_score(stats, entry, term)
            if term_score:
                score += term_score
                matched += 1
                fields.update(term_fields)
        if not matched:
            continue
        completeness = matched / len(alternative.terms)
        if completeness < 1:
            score *= PARTIAL_PHRASE * completeness
        elif len(alternative.terms) > 1 and _adjacent(entry, alternative.terms):
            score *= PHRASE_BONUS
        score *= alternative.weight
        if score > best.score:
            best = _Match(score, completeness, fields, alternative.terms, alternative.via)
    return best


def _importance(stats: DocumentStats, concept: Concept) -> float:
    """How much a concept counts for coverage: its weight times its (capped) rarity."""
    rarity = max(
        alternative.weight * sum(stats.idf(t) for t in alternative.terms) / len(alternative.terms)
        for alternative in concept.alternatives
    )
    return concept.weight * min(5.0, max(0.2, rarity))


def _close(entry: BlockTerms, first: _Match, second: _Match) -> bool:
    """Two matched concepts within PROXIMITY_WINDOW items of each other in one field."""
    for name in ("heading", "title", "body"):
        positions = entry.fields[name].positions
        right = sorted(p for term in second.terms for p in positions.get(term, ()))
        if not right:
            continue
        for term in first.terms:
            if any(_near(right, point, PROXIMITY_WINDOW) for point in positions.get(term, ())):
                return True
    return False


def _qualifier(concept: Concept) -> str | None:
    for term in concept.terms:
        match = _QUALIFIER_RE.match(term)
        if match:
            return match.group(1)
    return None


def score_block(
    stats: DocumentStats, entry: BlockTerms, query: Query, importance: list[float]
) -> Ranked:
    """Score of one block for a parsed question."""
    total_importance = sum(importance) or 1.0
    matches = [_concept_match(stats, entry, concept) for concept in query.concepts]
    base = sum(concept.weight * match.score for concept, match in zip(query.concepts, matches))
    covered = sum(weight * match.completeness for weight, match in zip(importance, matches))
    headline = sum(
        weight * match.completeness
        for weight, match in zip(importance, matches)
        if match.fields & {"heading", "title"}
    )
    why: dict[str, None] = {}
    for concept, match in zip(query.concepts, matches):
        if not match.score:
            continue
        why.update(dict.fromkeys(name for name in FIELDS if name in match.fields))
        if concept.kind == "qualified":
            why["number"] = None
        if match.via != "query":
            why[match.via] = None
        if concept.kind == "phrase" and match.completeness == 1:
            why["phrase"] = None
    order = sorted(range(len(query.concepts)), key=lambda i: query.concepts[i].position)
    bonus = 0.0
    for left, right in zip(order, order[1:]):
        first, second = matches[left], matches[right]
        if first.score and second.score and _close(entry, first, second):
            bonus += PROXIMITY_BONUS * min(first.score, second.score)
            why["phrase"] = None
    coverage = covered / total_importance
    score = (base + bonus) * (COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * coverage**2)
    score *= 1 + HEADLINE_BONUS * headline / total_importance
    for concept, match in zip(query.concepts, matches):
        if concept.kind != "qualified" or match.score:
            continue
        qualifier = _qualifier(concept)
        if qualifier and any(term.startswith(qualifier) for term in entry.headline_qualified):
            score *= WRONG_NUMBER
    if query.wants_drawing and entry.block.is_image:
        score *= DRAWING_BOOST
    return Ranked(entry.block.id, score, tuple(why))


def add_related_stems(stats: DocumentStats, query: Query) -> Query:
    """Give each question word the document's related stems as weaker alternatives."""
    for concept in query.concepts:
        if concept.kind not in ("word", "phrase"):
            continue
        known = {alternative.terms for alternative in concept.alternatives}
        for alternative in list(concept.alternatives):
            if len(alternative.terms) != 1:
                continue
            for related in stats.related_stems(alternative.terms[0]):
                if (related,) not in known:
                    known.add((related,))
                    concept.alternatives.append(
                        Alternative((related,), alternative.weight * RELATED_WEIGHT, "stem")
                    )
    return query


def rank(stats: DocumentStats, query: Query, candidates: list[str]) -> list[Ranked]:
    """Candidates ordered by score (best first); blocks scoring zero are dropped.

    For a question about the whole document, its title blocks come first (in their own
    order of relevance), marked "document" in `why`.
    """
    importance = [_importance(stats, concept) for concept in query.concepts]
    ids = list(dict.fromkeys(candidates))
    if query.whole_document:
        ids += [block_id for block_id in stats.title_ids if block_id not in ids]
    ranked = [
        score_block(stats, stats.blocks[block_id], query, importance)
        for block_id in ids
        if block_id in stats.blocks
    ]
    if query.whole_document and stats.title_ids:
        top = max((item.score for item in ranked), default=0.0) or 1.0
        titles = {block_id: position for position, block_id in enumerate(stats.title_ids)}
        for item in ranked:
            position = titles.get(item.block_id)
            if position is not None:
                structural = 1 - position / (2 * len(titles))
                item.score = item.score + top * WHOLE_DOCUMENT_BOOST * structural
                item.why = (*item.why, "document")
    ranked = [item for item in ranked if item.score > 0]
    ranked.sort(key=lambda item: (-item.score, item.block_id))
    return ranked
