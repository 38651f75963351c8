"""A question turned into *concepts*: what a block must mention to answer it.

Each concept has alternatives, each a phrase of analyzed terms with a weight: the words as asked
(weight 1) and, for an abbreviation or a synonym, the other forms of the glossary entry (lower
weight), so "Кто ГИП?" also looks for "главный инженер проекта" and the reverse. A qualified
number ("7-го этажа") gives a strong `этаж7` concept, the qualifier word a normal one and the
plain number a weak one. Ranking (`webapp.documents.ranking`) scores blocks by concepts, so a
block that mentions three of four concepts beats one that repeats a single word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from webapp.documents.analysis import query_items
from webapp.documents.glossary import ABBREVIATION, Form, glossary
from webapp.documents.numbers import QUALIFIERS
from webapp.documents.outline import is_whole_document_question

MAX_CONCEPTS = 24
MAX_QUERY_CHARS = 2000
ABBREVIATION_WEIGHT = 0.85  # an expansion of what was asked (or the reverse)
SYNONYM_WEIGHT = 0.6  # a word that usually means the same
QUALIFIED_WEIGHT = 2.5  # `этаж7`: the floor asked about
NUMBER_WEIGHT = 0.3  # a bare number matches many unrelated values
CODE_WEIGHT = 1.5  # `В3-14`: a mark names one thing
_QUALIFIER_NAMES = (*QUALIFIERS.values(), "ось")
_QUALIFIED_RE = re.compile(rf"^(?:{'|'.join(_QUALIFIER_NAMES)})[^\W_]*[\d/.]|^ось[^\W\d_]")
_NUMBER_RE = re.compile(r"^\d+(?:\.\d+)?$")
# "Покажи план 10-го этажа", "чертеж узла": the asker wants to see a drawing, not a table.
DRAWING_REQUEST_RE = re.compile(
    r"^\s*(?:покаж\w*|показа\w*|открой\w*|выведи\w*|нарисуй\w*)\b|\bчерт[её]ж\w*|\bсхем\w*|"
    r"\bфрагмент\w*\s+план",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Alternative:
    """One way a concept may appear in a block: a phrase of terms, its weight and its origin."""

    terms: tuple[str, ...]
    weight: float = 1.0
    via: str = "query"  # "query", "abbreviation" or "synonym"


@dataclass
class Concept:
    """Something the question asks about; `position` orders concepts for proximity."""

    alternatives: list[Alternative]
    kind: str  # "word", "code", "number", "qualified", "phrase"
    weight: float
    position: int

    @property
    def terms(self) -> set[str]:
        return {term for alternative in self.alternatives for term in alternative.terms}


@dataclass
class Query:
    """A parsed question."""

    text: str
    concepts: list[Concept] = field(default_factory=list)
    whole_document: bool = False
    wants_drawing: bool = False

    @property
    def terms(self) -> list[str]:
        """Every term of every alternative, in order, once (for the first-stage index query)."""
        seen: dict[str, None] = {}
        for concept in self.concepts:
            for alternative in concept.alternatives:
                seen.update(dict.fromkeys(alternative.terms))
        return list(seen)

    @property
    def original_terms(self) -> set[str]:
        """Terms as asked (for snippets)."""
        return {term for concept in self.concepts for alternative in concept.alternatives
                if alternative.via == "query" for term in alternative.terms}


def is_qualified_term(term: str) -> bool:
    """`этаж7`, `лист5.1`, `осьб`: a number (or axis) with its qualifier."""
    return bool(_QUALIFIED_RE.match(term))


def _is_acronym(raw: str) -> bool:
    letters = [char for char in raw if char.isalpha()]
    return 2 <= len(letters) <= 5 and all(char.isupper() for char in letters)


def _glossary_match(
    items: list[tuple[str, tuple[str, ...]]], start: int
) -> tuple[Form, int] | None:
    """The longest glossary form starting at item `start`, and how many items it covers."""
    entries = glossary()
    best: tuple[Form, int] | None = None
    for term in items[start][1]:
        for form in entries.by_first_term.get(term, ()):
            length = len(form.terms)
            if start + length > len(items) or (best and length <= len(best[0].terms)):
                continue
            if all(form.terms[k] in items[start + k][1] for k in range(length)):
                raw = items[start][0]
                if form.case_sensitive and not raw.isupper():
                    continue
                best = (form, length)
    return best


def _item_concepts(raw: str, terms: tuple[str, ...], position: int) -> list[Concept]:
    """Concepts of one question item that no glossary form covered."""
    qualified = [term for term in terms if is_qualified_term(term)]
    if qualified:
        numbers = [term for term in terms if _NUMBER_RE.match(term)]
        words = [term for term in terms if term not in qualified and term not in numbers]
        concepts = [Concept([Alternative((term,)) for term in qualified], "qualified",
                            QUALIFIED_WEIGHT, position)]
        concepts += [Concept([Alternative((word,))], "word", 1.0, position) for word in words]
        if numbers:
            concepts.append(Concept([Alternative((n,)) for n in numbers], "number",
                                    NUMBER_WEIGHT, position))
        return concepts
    if len(terms) > 1 and _is_acronym(raw):  # "АИ" → аи (as written) or its stem
        alternatives = [Alternative((terms[0],))]
        alternatives += [Alternative((term,), 0.5) for term in terms[1:]]
        return [Concept(alternatives, "word", 1.0, position)]
    concepts = []
    for term in terms:
        if _NUMBER_RE.match(term):
            concepts.append(Concept([Alternative((term,))], "number", NUMBER_WEIGHT, position))
        elif any(char.isdigit() for char in term) or "-" in term or "/" in term:
            concepts.append(Concept([Alternative((term,))], "code", CODE_WEIGHT, position))
        else:
            concepts.append(Concept([Alternative((term,))], "word", 1.0, position))
    return concepts


def parse_query(text: str) -> Query:
    """Concepts of a question (at most MAX_CONCEPTS); never raises on any input."""
    text = (text or "").replace("\x00", " ")[:MAX_QUERY_CHARS]
    query = Query(text=text, whole_document=is_whole_document_question(text),
                  wants_drawing=bool(DRAWING_REQUEST_RE.search(text)))
    items = [(text[start:end], terms) for start, end, terms in query_items(text)]
    entries = glossary()
    index = 0
    while index < len(items) and len(query.concepts) < MAX_CONCEPTS:
        raw, terms = items[index]
        qualified = any(is_qualified_term(term) for term in terms)
        match = None if qualified else _glossary_match(items, index)
        if match is not None:
            form, length = match
            weight = ABBREVIATION_WEIGHT if form.kind == ABBREVIATION else SYNONYM_WEIGHT
            alternatives = [Alternative(form.terms)]
            alternatives += [Alternative(other.terms, weight, form.kind)
                             for other in entries.alternatives(form)]
            kind = "phrase" if length > 1 else "word"
            query.concepts.append(Concept(alternatives, kind, float(length), index))
            index += length
            continue
        query.concepts.extend(_item_concepts(raw, terms, index))
        index += 1
    del query.concepts[MAX_CONCEPTS:]
    return query
