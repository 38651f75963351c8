import pytest

from webapp.documents.analysis import analyze_query
from webapp.documents.glossary import ABBREVIATIONS, glossary
from webapp.documents.query import parse_query


def alternatives(question: str) -> list[set[tuple[str, ...]]]:
    concepts = parse_query(question).concepts
    return [{alt.terms for alt in concept.alternatives} for concept in concepts]


@pytest.mark.parametrize("abbreviation, expansion", [
    ("ГИП", "главный инженер проекта"),
    ("ГАП", "главный архитектор проекта"),
    ("МОП", "места общего пользования"),
    ("НФС", "навесная фасадная система"),
    ("ППР", "проект производства работ"),
    ("СОУЭ", "система оповещения и управления эвакуацией"),
    ("ЛК", "лестничная клетка"),
    ("ЖБ", "железобетон"),
])
def test_abbreviations_match_both_ways(abbreviation: str, expansion: str) -> None:
    short, long = tuple(analyze_query(abbreviation)), tuple(analyze_query(expansion))
    assert any(long in group for group in alternatives(f"кто {abbreviation}"))
    assert any(short in group for group in alternatives(expansion))


def test_multi_word_expansion_is_one_concept_with_a_lower_weight() -> None:
    concepts = parse_query("Кто главный инженер проектов?").concepts
    assert len(concepts) == 1
    original, *others = concepts[0].alternatives
    assert original.terms == tuple(analyze_query("главный инженер проектов"))
    assert original.weight == 1.0 and original.via == "query"
    assert [(alt.terms, alt.via) for alt in others] == [(("гип",), "abbreviation")]
    assert others[0].weight < original.weight


def test_every_spelling_of_reinforced_concrete_is_one_entry() -> None:
    groups = [alternatives(spelling)[0] for spelling in ("ж/б", "ж.б.", "ЖБ", "железобетонный")]
    assert all(group == groups[0] for group in groups)


def test_case_sensitive_abbreviation_is_not_a_pronoun() -> None:
    assert any(("техническ", "услов") in group for group in alternatives("ТУ на кирпич"))
    assert not any(("техническ", "услов") in group for group in alternatives("на ту сторону"))


def test_synonyms_are_alternatives() -> None:
    assert any(("масс",) in group for group in alternatives("сколько весит перемычка"))
    assert any(("отверст",) in group for group in alternatives("проём в стене"))


def test_every_entry_has_at_least_two_distinct_forms() -> None:
    compiled = glossary()
    assert len(compiled.entries) >= len(ABBREVIATIONS)
    assert all(len(entry) >= 2 for entry in compiled.entries)
