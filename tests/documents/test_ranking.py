import json
import statistics
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, sample_text
from webapp.documents.loader import load_document
from webapp.documents.markdown import parse_markdown
from webapp.documents.model import Block, Document
from webapp.documents.search import SearchIndex

LABELLED_SET = ROOT / "scripts" / "bench" / "data" / "retrieval.json"

FLOORS = """## СТРАНИЦА 1
**Лист:** 2
**Наименование листа:** Кладочный план 2-го этажа

### BLOCK [TEXT]: FLOR-0002-001
##### Ведомость дверных проемов 2-го этажа

| Поз. | Ширина | Высота |
|---|---|---|
| 1 | 950 | 2630 |

## СТРАНИЦА 2
**Лист:** 3
**Наименование листа:** Кладочный план 7-го этажа

### BLOCK [TEXT]: FLOR-0007-001
##### Ведомость дверных проемов 7-го этажа

| Поз. | Ширина | Высота |
|---|---|---|
| 1 | 1000 | 2630 |

## СТРАНИЦА 3
**Лист:** 4
**Наименование листа:** Кладочный план 3,4-го этажа

### BLOCK [TEXT]: FLOR-0034-001
##### Ведомость дверных проемов 3,4-го этажа

| Поз. | Ширина | Высота |
|---|---|---|
| 1 | 1050 | 2630 |
"""


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    return SearchIndex(tmp_path / "search.db")


def ids(hits) -> list[str]:
    return [hit.block_id for hit in hits]


def text_document(*texts: str, version: str = "") -> Document:
    blocks = [Block(f"TEST-{number:04d}-001", "text", page=number, text=text)
              for number, text in enumerate(texts, 1)]
    return Document(blocks=blocks, version=version)


@pytest.mark.parametrize("question", [
    "двери 7-го этажа", "на 7-м этаже двери", "двери седьмого этажа", "двери этаж 7",
    "дверные проемы 7 этажа",
])
def test_the_asked_floor_comes_first(index: SearchIndex, question: str) -> None:
    hits = index.search(parse_markdown(FLOORS), question)
    assert ids(hits)[0] == "FLOR-0007-001"
    assert "number" in hits[0].why


@pytest.mark.parametrize("question, floor", [
    ("двери 4-го этажа", "FLOR-0034-001"), ("двери 2,3 этажей", None),
    ("двери с 3 по 4 этаж", "FLOR-0034-001"), ("двери второго этажа", "FLOR-0002-001"),
])
def test_lists_and_ranges_find_each_floor(index: SearchIndex, question: str,
                                          floor: str | None) -> None:
    top = ids(index.search(parse_markdown(FLOORS), question))
    if floor:
        assert top[0] == floor
    else:  # 2 and 3: both the 2nd floor and the 3,4 sheet, never the 7th first
        assert set(top[:2]) == {"FLOR-0002-001", "FLOR-0034-001"}


def test_sheet_title_counts_more_than_body(index: SearchIndex) -> None:
    document = Document(blocks=[
        Block("BODY-0000-001", "text", page=1, text="Примечание: кровля по типу П-1, водосток."),
        Block("TITL-0000-002", "text", page=2, text="Примечание: по типу П-1.",
              sheet_name="План кровли"),
    ], version="v-title")
    hits = index.search(document, "план кровли")
    assert ids(hits)[0] == "TITL-0000-002"
    assert "title" in hits[0].why


def test_heading_counts_more_than_body(index: SearchIndex) -> None:
    document = text_document(
        "Общие указания\n\nВ примечании к листу сказано про экспликацию помещений и площади.",
        "Экспликация помещений\n\n| № | Наименование | Площадь |\n|---|---|---|\n| 1 | Холл | 7 |",
        version="v-heading",
    )
    hits = index.search(document, "экспликация помещений")
    assert ids(hits)[0] == "TEST-0002-001"
    assert "heading" in hits[0].why


def test_table_is_found_by_its_header_row(index: SearchIndex) -> None:
    document = text_document(
        "Перемычки устанавливать на раствор; масса по спецификации не указана в тексте листа.",
        "| Спецификация элементов | | |\n|---|---|---|\n| Поз. | Описание | Масса ед., кг |\n"
        "| 1 | Уголок 40x5 | 3,146 |",
        version="v-header",
    )
    hits = index.search(document, "масса уголка")
    assert ids(hits)[0] == "TEST-0002-001"
    assert "heading" in hits[0].why


def test_words_together_beat_words_apart(index: SearchIndex) -> None:
    filler = " ".join(["текст"] * 30)
    document = text_document(
        f"Лестничная {filler} клетка",
        f"{filler} Лестничная клетка {filler}",
        version="v-proximity",
    )
    hits = index.search(document, "лестничная клетка")
    assert ids(hits)[0] == "TEST-0002-001"
    assert "phrase" in hits[0].why


def test_more_question_words_beat_one_word_repeated(index: SearchIndex) -> None:
    document = text_document(
        "Перемычка перемычка перемычка перемычка перемычка.",
        "Стальная перемычка над дверным проемом.",
        version="v-coverage",
    )
    assert ids(index.search(document, "стальная перемычка над проемом"))[0] == "TEST-0002-001"


def test_abbreviation_finds_the_expansion_and_back(index: SearchIndex) -> None:
    document = text_document(
        "Главный инженер проектов\n\nИ.И. Иванов",
        "Все работы согласовать с заказчиком и проектом.",
        "Отделка МОП по ведомости отделки.",
        version="v-abbreviation",
    )
    hits = index.search(document, "кто ГИП")
    assert ids(hits)[0] == "TEST-0001-001"
    assert "abbreviation" in hits[0].why
    assert ids(index.search(document, "отделка мест общего пользования"))[0] == "TEST-0003-001"


def test_whole_document_question_gets_the_title_blocks(index: SearchIndex) -> None:
    document = text_document(
        "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ\n\n#### РАБОЧАЯ ДОКУМЕНТАЦИЯ\n\n"
        "Кладочные планы\n\n12/34-ТЕСТ-АР\n\nЗАКАЗЧИК: ООО «Пример»",
        "| Ведомость рабочих чертежей | |\n|---|---|\n| Лист | Наименование |\n"
        "| 1 | Общие данные |",
        "Узел крепления перемычки к стене.",
        version="v-whole",
    )
    hits = index.search(document, "о чём этот документ?")
    assert ids(hits)[:2] == ["TEST-0001-001", "TEST-0002-001"]
    assert all("document" in hit.why for hit in hits[:2])
    assert "TEST-0003-001" not in ids(hits)


@pytest.mark.parametrize("query", [
    "", "   ", "?!...,;:", "и в на по для что это", '"', "'''", "*", "стена\" OR NEAR(",
    "AND OR NOT", "a\x00b\x00", "\x00" * 50, "(((()))) {} [] ^ - + :", "этаж " * 200,
    "перемычка В3-14 " * 1300,
])
def test_bad_input_never_raises(index: SearchIndex, query: str) -> None:
    document = parse_markdown(FLOORS)
    hits = index.search(document, query)
    assert isinstance(hits, list)
    if not query.strip(" ?!.,;:\"'*(){}[]^-+\x00") or query.startswith("и в на"):
        assert hits == []


def test_long_question_stays_fast(index: SearchIndex) -> None:
    document = parse_markdown(FLOORS)
    index.search(document, "двери")
    started = time.perf_counter()
    index.search(document, "двери седьмого этажа и лестничная клетка " * 500)
    assert time.perf_counter() - started < 2.0


# --- On the real samples (skipped when they are absent) ---------------------------------------


@pytest.fixture(scope="module")
def ar4() -> Document:
    return load_document(sample_text("ar4", "document.md"), sample_text("ar4", "blocks.json"))


@pytest.fixture(scope="module")
def ar4_index(tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    return SearchIndex(tmp_path_factory.mktemp("ranking") / "search.db")


def test_ar4_chief_engineer_comes_first(ar4: Document, ar4_index: SearchIndex) -> None:
    hits = ar4_index.search(ar4, "Кто ГИП?")
    assert hits[0].block_id == "96YE-Q63A-JUR"
    assert "Якубовский" in ar4.get(hits[0].block_id).text


def floors_named(block: Block) -> set[str]:
    """Floors a block's sheet title or heading names (ranges and lists included)."""
    from webapp.documents.analysis import analyze
    from webapp.documents.outline import index_heading

    text = f"{block.sheet_name or ''} {index_heading(block)}"
    return {term for term in analyze(text) if term.startswith("этаж") and term[4:].isdigit()}


@pytest.mark.parametrize("question, asked, first_sheet", [
    ("Какие двери на 7-м этаже?", {"этаж7"}, "5.1"),
    ("Спецификация перемычек 5-го этажа", {"этаж5"}, "5"),
    ("Экспликация помещений 2,3 этажей", {"этаж2", "этаж3"}, None),
    ("Ведомость материалов стен 14 этажа", {"этаж14"}, "7"),
])
def test_ar4_right_floor_above_other_floors(ar4: Document, ar4_index: SearchIndex,
                                            question: str, asked: set[str],
                                            first_sheet: str | None) -> None:
    top = [ar4.get(hit.block_id) for hit in ar4_index.search(ar4, question, limit=5)]
    assert floors_named(top[0]) & asked
    # A block about other floors only never comes before these; floorless lists may.
    for block in top[:3]:
        assert not floors_named(block) or floors_named(block) & asked, block.id
    if first_sheet is not None:
        assert top[0].sheet == first_sheet


def test_ar4_title_page_heading_is_the_set_name(ar4: Document) -> None:
    from webapp.documents.outline import block_heading

    heading = block_heading(ar4.get("7EW4-WCXE-QPW"))
    assert "Кладочные планы надземной части" in heading and "133/23-ГК-АР4" in heading


def test_ar4_search_latency(ar4: Document, ar4_index: SearchIndex) -> None:
    questions = ["Кто ГИП?", "план 7-го этажа", "масса перемычки В3-14", "о чём документ"]
    for question in questions:
        ar4_index.search(ar4, question)
    timings = []
    for question in questions * 5:
        started = time.perf_counter()
        ar4_index.search(ar4, question)
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.1


def test_labelled_set_recall(tmp_path: Path) -> None:
    """Search recall on the labelled set: a gold block in the top 5 / top 10."""
    questions = json.loads(LABELLED_SET.read_text(encoding="utf-8"))
    documents: dict[str, Document] = {
        "ar4": load_document(sample_text("ar4", "document.md"), sample_text("ar4", "blocks.json")),
        "krv": load_document(None, None, sample_text("krv", "ocr.html")),
    }
    from webapp.drawings.demo_set import build_demo_set

    demo = build_demo_set(tmp_path / "demo")
    documents["demo"] = load_document(demo.document_md.read_text(encoding="utf-8"),
                                      demo.blocks_json.read_text(encoding="utf-8"))
    index = SearchIndex(tmp_path / "search.db")
    ranks = []
    for item in questions:
        document = documents[item["document"]]
        assert all(gold in document for gold in item["gold"]), item["id"]
        top = ids(index.search(document, item["question"], limit=10))
        ranks.append(next((r for r, block_id in enumerate(top, 1) if block_id in item["gold"]),
                          None))
    assert len(questions) >= 70
    assert sum(1 for item in questions if item["group"] == "pre-tuning") >= 20
    recall_5 = sum(1 for rank in ranks if rank and rank <= 5) / len(ranks)
    recall_10 = sum(1 for rank in ranks if rank) / len(ranks)
    assert recall_5 >= 0.95, recall_5
    assert recall_10 >= 0.98, recall_10
