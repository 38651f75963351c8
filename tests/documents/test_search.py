import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, sample_text
from webapp.documents.loader import load_document
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import Block, Document
from webapp.documents.search import SearchIndex

MARKDOWN = """## СТРАНИЦА 1
### BLOCK [TEXT]: WALL-0000-001
Наружная стена из газобетона толщиной 300 мм.

### BLOCK [TEXT]: CODE-0000-002
Перемычки марки В3-14 устанавливать на раствор. Крепление по типу В2.

### BLOCK [TEXT]: CODE-0000-003
Крепление перегородок санузлов по типу В21.

## СТРАНИЦА 2
**Лист:** 2
**Наименование листа:** Кладочный план

### BLOCK [IMAGE]: PLAN-0000-004
**[ИЗОБРАЖЕНИЕ]** | Тип: План этажа

**Краткое описание:** Кладочный план: стены и перегородки, стены лестничной клетки.

**Описание:** Стены показаны штриховкой. Кирпич марки М150.

### BLOCK [TEXT]: MISC-0000-005
Кровля, водосточные воронки и ограждения. Про стену здесь одно слово.
"""


@pytest.fixture
def document() -> Document:
    return parse_markdown(MARKDOWN)


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    return SearchIndex(tmp_path / "search.db")


def ids(hits) -> list[str]:
    return [hit.block_id for hit in hits]


def test_stemming_and_case(index: SearchIndex, document: Document) -> None:
    assert "WALL-0000-001" in ids(index.search(document, "стены"))
    assert "WALL-0000-001" in ids(index.search(document, "СТЕНОЙ"))
    assert ids(index.search(document, "КИРПИЧА")) == ["PLAN-0000-004"]


def test_lookalike_codes_match_whole(index: SearchIndex, document: Document) -> None:
    latin = ids(index.search(document, "B3-14"))  # Latin B, as OCR writes it
    assert latin == ["CODE-0000-002"]
    assert ids(index.search(document, "В3-14")) == latin
    assert ids(index.search(document, "В2")) == ["CODE-0000-002"]
    assert ids(index.search(document, "B21")) == ["CODE-0000-003"]
    assert index.search(document, "В3-1") == []


def test_ranking_prefers_focused_blocks(index: SearchIndex, document: Document) -> None:
    hits = index.search(document, "стены лестничной клетки")
    assert hits[0].block_id == "PLAN-0000-004"
    assert hits[0].kind == "image" and hits[0].page == 2
    assert ids(hits)[-1] == "MISC-0000-005"
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all(isinstance(hit.score, float) for hit in hits)


def test_snippet_is_original_text_around_the_match(index: SearchIndex,
                                                   document: Document) -> None:
    hit = index.search(document, "водосточные воронки")[0]
    assert "водосточные воронки" in hit.snippet
    assert "**" not in index.search(document, "штриховкой")[0].snippet


def test_sheet_name_and_block_id_are_searchable(index: SearchIndex, document: Document) -> None:
    assert "PLAN-0000-004" in ids(index.search(document, "кладочный"))
    assert ids(index.search(document, "plan-0000-004"))[0] == "PLAN-0000-004"


def test_kinds_and_limit(index: SearchIndex, document: Document) -> None:
    assert ids(index.search(document, "стены", kinds=["image"])) == ["PLAN-0000-004"]
    assert index.search(document, "стены", kinds=[]) == []
    assert len(index.search(document, "стены", limit=1)) == 1


@pytest.mark.parametrize(
    "query", ["", "и в на", "?!...", '"', "*", "стена\" OR NEAR(", "AND OR NOT"])
def test_user_text_never_breaks_the_query(index: SearchIndex, document: Document,
                                          query: str) -> None:
    hits = index.search(document, query)
    assert isinstance(hits, list)
    if query.startswith("стена"):
        assert "WALL-0000-001" in ids(hits)
    elif query != "AND OR NOT":
        assert hits == []


def test_index_is_reused_not_rebuilt(tmp_path: Path, document: Document) -> None:
    db = tmp_path / "search.db"
    first = SearchIndex(db)
    first.ensure(document)
    first.ensure(document)
    assert first.builds == 1
    with sqlite3.connect(db) as connection:
        built_at = connection.execute("SELECT built_at FROM search_index_meta").fetchall()
    second = SearchIndex(db)  # e.g. another worker process opening the same file
    assert second.is_built(document.version)
    assert ids(second.search(document, "стены"))
    assert second.builds == 0
    assert second.block_count(document.version) == len(document.blocks)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT built_at FROM search_index_meta").fetchall() == built_at


def test_versions_are_separate_and_drop_forgets(tmp_path: Path, document: Document) -> None:
    index = SearchIndex(tmp_path / "search.db")
    other = parse_markdown("## СТРАНИЦА 1\n### BLOCK [TEXT]: ZZZZ-0000-001\nфундаменты")
    assert index.search(other, "стены") == []
    assert ids(index.search(document, "стены"))
    assert ids(index.search(other, "фундамент")) == ["ZZZZ-0000-001"]
    index.drop(document.version)
    assert not index.is_built(document.version)
    assert index.block_count(document.version) == 0
    assert index.is_built(other.version)
    assert ids(index.search(document, "стены"))  # rebuilt on demand
    assert index.builds == 3


def test_unversioned_documents_do_not_share_an_index(index: SearchIndex) -> None:
    first = Document(blocks=[Block("UNVR-0000-001", "text", text="фундамент")])
    second = Document(blocks=[Block("UNVR-0000-002", "text", text="кровля")])
    assert ids(index.search(first, "фундамент")) == ["UNVR-0000-001"]
    assert ids(index.search(second, "кровля")) == ["UNVR-0000-002"]
    assert index.search(second, "фундамент") == []


def test_blocks_without_text_are_indexed_by_fields(index: SearchIndex) -> None:
    document = Document(blocks=[Block("FLDS-0000-001", "image", fields={"description": "Фасад"},
                                      sheet_name="Фасады")], version="v-fields")
    hits = index.search(document, "фасад")
    assert ids(hits) == ["FLDS-0000-001"] and "Фасад" in hits[0].snippet


WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from webapp.documents.markdown import parse_markdown
    from webapp.documents.search import SearchIndex
    document = parse_markdown(Path({source!r}).read_text(encoding="utf-8"))
    index = SearchIndex({db!r})
    connect, waiting = index._connect, Path({waiting!r})

    def traced():
        # Says when this process starts its build transaction, i.e. waits for the write lock.
        connection = connect()
        connection.set_trace_callback(
            lambda sql: waiting.touch() if sql.startswith("BEGIN IMMEDIATE") else None)
        return connection

    index._connect = traced
    index.ensure(document)
    hits = index.search(document, "перегородки")
    print(json.dumps({{"builds": index.builds, "hits": len(hits)}}))
""")


def test_two_processes_building_at_once_build_once(tmp_path: Path) -> None:
    """Both processes find no index and start building while the test holds the database's
    write lock; once it lets go, one builds and the other, re-checking under the lock, reuses
    it. The overlap is certain: the lock is released only when both are waiting for it."""
    sentence = "Перегородки из кирпича, стены лестничной клетки и перемычки В3-{}. "
    blocks = "\n".join(
        f"### BLOCK [TEXT]: PROC-{number:04d}-001\n" + sentence.format(number % 40) * 3
        for number in range(1500)
    )
    source = tmp_path / "document.md"
    source.write_text("## СТРАНИЦА 1\n" + blocks, encoding="utf-8")
    db = tmp_path / "search.db"
    SearchIndex(db)  # the database exists (WAL) before anyone builds
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiting = [tmp_path / f"waiting-{n}" for n in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER.format(root=str(ROOT), source=str(source), db=str(db),
                                                 waiting=str(flag))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for flag in waiting
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in waiting):
            assert all(worker.poll() is None for worker in workers), "a worker ended early"
            assert time.monotonic() < deadline, "the workers never reached the build"
            time.sleep(0.01)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(result["builds"] for result in results) == [0, 1]
    assert all(result["hits"] == 10 for result in results)
    document = parse_markdown(source.read_text(encoding="utf-8"))
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM search_index_meta").fetchone() == (1,)
    assert SearchIndex(db).block_count(document.version) == 1500


def test_ar4_sample_search(tmp_path: Path) -> None:
    document = load_document(sample_text("ar4", "document.md"), sample_text("ar4", "blocks.json"))
    index = SearchIndex(tmp_path / "search.db")
    hits = index.search(document, "B3-14", limit=20)
    assert hits and all("В3-14" in document.get(hit.block_id).text
                        or "B3-14" in document.get(hit.block_id).text for hit in hits)
    top = index.search(document, "спецификация перемычек 1-го этажа")[0]
    assert document.get(top.block_id).page == 5
    assert index.search(document, "перемычки", kinds=["text"])[0].kind == "text"
