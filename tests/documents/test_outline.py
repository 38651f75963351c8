import pytest

from tests.conftest import sample_text
from webapp.documents.loader import load_document
from webapp.documents.model import Block, Document
from webapp.documents.outline import (
    block_heading,
    index_heading,
    is_whole_document_question,
    title_blocks,
)

TITLE = (
    "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ\n\n«ПРИМЕР»\n#### РАБОЧАЯ ДОКУМЕНТАЦИЯ\n\n"
    "Кладочные планы надземной части\n\n12/34-ПР-АР4\n\nОБЪЕКТ: Жилой дом\n\nЗАКАЗЧИК: ООО «Заказ»"
)


@pytest.mark.parametrize("question", [
    "О чём этот документ?", "о чем данный комплект", "Что это за документ?", "Состав проекта",
    "состав комплекта", "Перечень листов", "ведомость чертежей", "какие разделы есть",
    "сколько листов в комплекте", "Покажи общие данные", "общие указания", "Кто ГИП?",
    "кто разработал проект", "Кто заказчик?", "кто главный архитектор проекта",
    "какой шифр у комплекта", "опиши документ кратко",
])
def test_whole_document_questions(question: str) -> None:
    assert is_whole_document_question(question)


@pytest.mark.parametrize("question", [
    "Какая площадь вестибюля на первом этаже?", "Покажи кладочный план 7-го этажа",
    "масса перемычки В3-14", "из каких слоёв состоит кровля", "", "???",
])
def test_questions_about_a_part_are_not_whole_document(question: str) -> None:
    assert not is_whole_document_question(question)


def test_title_page_heading_is_the_set_name() -> None:
    block = Block("TITL-0000-001", "text", page=1, text=TITLE)
    assert block_heading(block) == "Кладочные планы надземной части · 12/34-ПР-АР4"
    # A sentence that merely mentions "рабочая документация" is not a title page.
    notes = Block("NOTE-0000-001", "text", page=4,
                  text="Общие указания\n\nРабочая документация разработана на основании договора.")
    assert block_heading(notes) == "Общие указания"


def test_index_heading_has_table_caption_and_header_row() -> None:
    block = Block("TABL-0000-001", "text", text=(
        "| Спецификация перемычек | | |\n|---|---|---|\n| Марка | Масса ед., кг | Кол. |\n"
        "| В3-14 | 7,83 | 2 |"
    ))
    heading = index_heading(block)
    assert "Спецификация перемычек" in heading and "Масса ед., кг" in heading
    assert "7,83" not in heading


def test_title_blocks_by_structure_and_content() -> None:
    blocks = [
        Block("TITL-0000-001", "text", page=1, text=TITLE),
        Block("SIGN-0000-002", "text", page=2, text="Главный инженер проекта\n\nИ.И. Иванов"),
        Block("NOTE-0000-003", "text", page=3, text="##### Общие указания\n\n1. Кладку вести …"),
        Block("LIST-0000-004", "text", page=3, text=(
            "| Ведомость рабочих чертежей | |\n|---|---|\n| Лист | Наименование |"
        )),
        Block("PLAN-0000-005", "image", page=4, text="План этажа"),
        Block("REFS-0000-006", "text", page=6, text="Общие указания см. лист 1."),
    ]
    found = [block.id for block in title_blocks(Document(blocks=blocks))]
    assert found == ["TITL-0000-001", "SIGN-0000-002", "LIST-0000-004", "NOTE-0000-003"]


def test_ar4_title_blocks() -> None:
    document = load_document(sample_text("ar4", "document.md"), sample_text("ar4", "blocks.json"))
    found = [block.id for block in title_blocks(document)]
    assert found[:3] == ["7EW4-WCXE-QPW", "96YE-Q63A-JUR", "FHJH-Y6YD-XDP"]
    assert {"7FRD-ERXN-4JE", "4XQA-9PEY-X7P"} <= set(found)
    assert all(document.get(block_id).page <= 4 for block_id in found)


def test_krv_title_blocks() -> None:
    document = load_document(None, None, sample_text("krv", "ocr.html"))
    found = [block.id for block in title_blocks(document)]
    assert found[:3] == ["699A-4Q4J-UL3", "6DXH-H46X-9P7", "9XJD-NUUL-MKW"]
    assert "4KH6-UCUK-GJE" not in found  # "Общие указания см. лист 1" only points to them


@pytest.mark.parametrize(
    "question, review",
    [
        ("Какие ошибки есть в проекте?", True),
        ("Найди несоответствия между листами", True),
        ("Проверь комплект на замечания", True),
        ("Есть ли коллизии?", True),
        ("Какая толщина стены?", False),
        ("Кто проверил чертёж?", False),
    ],
)
def test_review_questions(question, review):
    from webapp.documents.outline import is_review_question

    assert is_review_question(question) is review
