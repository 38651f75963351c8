"""The ranking statistics stored with the search index: another process loads them instead of
analyzing the document again, and gets exactly the same ranking."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.documents.test_search import MARKDOWN
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import Document
from webapp.documents.ranking import DocumentStats
from webapp.documents.search import SearchIndex


@pytest.fixture
def document() -> Document:
    return parse_markdown(MARKDOWN)


def hits(index: SearchIndex, document: Document, query: str) -> list[tuple[str, float, tuple]]:
    return [(hit.block_id, hit.score, hit.why) for hit in index.search(document, query)]


QUERIES = ["стены", "перемычки В3-14", "кладочный план лестничной клетки", "крепление В21"]


def test_second_process_loads_statistics_and_ranks_the_same(
    tmp_path: Path, document: Document
) -> None:
    db = tmp_path / "search.db"
    first = SearchIndex(db)
    first.ensure(document)
    assert (first.builds, first.stats_built, first.stats_loaded) == (1, 1, 0)
    expected = {query: hits(first, document, query) for query in QUERIES}
    second = SearchIndex(db)  # another worker: nothing in its memory
    assert {query: hits(second, document, query) for query in QUERIES} == expected
    assert (second.builds, second.stats_built, second.stats_loaded) == (0, 0, 1)


def test_restored_statistics_equal_analyzed_ones(document: Document) -> None:
    analyzed = DocumentStats(document)
    restored = DocumentStats.restore(document, analyzed.saved_form())
    assert restored.document_frequency == analyzed.document_frequency
    assert restored.average_length == analyzed.average_length
    assert restored.title_ids == analyzed.title_ids and restored.vocabulary == analyzed.vocabulary
    for block_id, entry in analyzed.blocks.items():
        assert restored.blocks[block_id].weighted == entry.weighted
        assert restored.blocks[block_id].headline_qualified == entry.headline_qualified


def test_damaged_statistics_are_analyzed_again(tmp_path: Path, document: Document) -> None:
    db = tmp_path / "search.db"
    SearchIndex(db).ensure(document)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE search_stats SET data = x'00ff'")
    index = SearchIndex(db)
    assert hits(index, document, "стены")
    assert (index.stats_built, index.stats_loaded) == (1, 0)
    again = SearchIndex(db)  # the analysis was stored again, readable now
    again.stats(document)
    assert (again.stats_built, again.stats_loaded) == (0, 1)


def test_statistics_of_another_document_are_refused(document: Document) -> None:
    other = parse_markdown("## СТРАНИЦА 1\n### BLOCK [TEXT]: ZZZZ-0000-001\nфундаменты")
    with pytest.raises(ValueError):
        DocumentStats.restore(document, DocumentStats(other).saved_form())


def test_drop_forgets_statistics(tmp_path: Path, document: Document) -> None:
    db = tmp_path / "search.db"
    index = SearchIndex(db)
    index.ensure(document)
    index.drop(document.version)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM search_stats").fetchone() == (0,)
    index.ensure(document)
    assert index.stats_built == 2 and index.block_count(document.version) == len(document.blocks)


def test_index_built_from_stored_statistics_ranks_as_a_fresh_one(
    tmp_path: Path, document: Document
) -> None:
    """A process that finds only the statistics (stored when the document was catalogued)
    builds the FTS table from them without analyzing, and finds the same blocks."""
    shared = tmp_path / "shared.db"
    SearchIndex(shared).stats(document)
    second = SearchIndex(shared)
    second.ensure(document)
    assert (second.builds, second.stats_built, second.stats_loaded) == (1, 0, 1)
    fresh = SearchIndex(tmp_path / "fresh.db")
    for query in QUERIES:
        assert hits(second, document, query) == hits(fresh, document, query)
    analyzed = DocumentStats(document)
    rebuilt = DocumentStats.restore(document, analyzed.saved_form()).fts_rows()
    for row, original in zip(rebuilt, analyzed.rows):
        assert row[:3] == original[:3]
        assert [set(a.split()) for a in row[3:]] == [set(b.split()) for b in original[3:]]
